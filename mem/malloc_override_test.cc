// Tests of //mem:malloc, gort's allocator as the process's malloc: that the
// C functions and operator new really are gort's (its statistics move and
// its size classes show through malloc_usable_size), and that each keeps
// its C or C++ contract, glibc's choices included.
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mem/mem.h"
#include "mem/sizeclasses.h"

namespace gort::mem {
namespace {

// The C library's functions through pointers, so the compiler cannot fold
// a malloc/free pair away or assume errno untouched.
void* (*volatile c_malloc)(size_t) = &::malloc;
void (*volatile c_free)(void*) = &::free;

// Invariant: malloc, calloc and new are served by gort::mem: each counts in
// MemStats.Mallocs, and a 100-byte block has class 112's usable size
// (glibc would say 104).
TEST(MallocOverrideTest, CFunctionsAndNewAreGorts) {
  MemStats before = read_mem_stats();
  void* a = c_malloc(100);
  void* b = ::calloc(3, 33);
  int* c = new int[25];
  MemStats after = read_mem_stats();
  EXPECT_GE(after.mallocs - before.mallocs, 3u);
  EXPECT_EQ(::malloc_usable_size(a), class_size(size_to_class(100)));
  EXPECT_EQ(::malloc_usable_size(a), 112u);
  EXPECT_EQ(usable_size(b), ::malloc_usable_size(b));
  EXPECT_EQ(usable_size(c), ::malloc_usable_size(c));
  delete[] c;
  ::free(b);
  c_free(a);
  EXPECT_GE(read_mem_stats().frees - after.frees, 3u);
}

// Invariants: malloc(0) is a unique, freeable pointer; calloc zeroes, and
// an overflowing count × size is ENOMEM, not a short block.
TEST(MallocOverrideTest, MallocZeroAndCalloc) {
  void* z1 = c_malloc(0);
  void* z2 = c_malloc(0);
  ASSERT_NE(z1, nullptr);
  ASSERT_NE(z2, nullptr);
  EXPECT_NE(z1, z2);
  c_free(z1);
  c_free(z2);
  c_free(nullptr);

  // Dirty a block first so calloc must really zero what it reuses.
  auto* dirty = static_cast<unsigned char*>(c_malloc(4096));
  std::memset(dirty, 0xa5, 4096);
  c_free(dirty);
  auto* p = static_cast<unsigned char*>(::calloc(64, 64));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 4096; i++) ASSERT_EQ(p[i], 0) << i;
  ::free(p);

  errno = 0;
  EXPECT_EQ(::calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

// Invariants: realloc keeps the contents up to the smaller size, grows and
// shrinks, realloc(nullptr, n) is malloc, realloc(p, 0) frees and returns
// nullptr (glibc), and an impossible size fails with ENOMEM leaving p valid.
TEST(MallocOverrideTest, Realloc) {
  auto* p = static_cast<unsigned char*>(::realloc(nullptr, 10));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 10; i++) p[i] = static_cast<unsigned char>(i);
  for (size_t n : {size_t{20}, size_t{1000}, size_t{70000}, size_t{5}, size_t{3000}}) {
    p = static_cast<unsigned char*>(::realloc(p, n));
    ASSERT_NE(p, nullptr);
    ASSERT_GE(::malloc_usable_size(p), n);
    for (int i = 0; i < 5; i++) ASSERT_EQ(p[i], i) << "after realloc to " << n;
  }
  errno = 0;
  EXPECT_EQ(::realloc(p, SIZE_MAX - 4096), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(p[4], 4);  // still ours
  EXPECT_EQ(::realloc(p, 0), nullptr);

  errno = 0;
  EXPECT_EQ(::reallocarray(nullptr, SIZE_MAX / 2, 4), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

// Invariants: every aligned form returns memory aligned as asked, and bad
// alignments fail as POSIX and glibc say (EINVAL).
TEST(MallocOverrideTest, AlignedForms) {
  for (size_t align : {size_t{8}, size_t{16}, size_t{64}, size_t{4096}, size_t{1} << 20}) {
    void* p = nullptr;
    ASSERT_EQ(::posix_memalign(&p, align, 100), 0) << align;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
    ::free(p);
    void* q = ::aligned_alloc(align, 3 * align);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % align, 0u) << align;
    ::free(q);
    void* r = ::memalign(align, 1);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r) % align, 0u) << align;
    ::free(r);
  }
  void* p = nullptr;
  EXPECT_EQ(::posix_memalign(&p, 24, 100), EINVAL);
  EXPECT_EQ(::posix_memalign(&p, 4, 100), EINVAL);  // < sizeof(void*)
  errno = 0;
  EXPECT_EQ(::aligned_alloc(48, 96), nullptr);
  EXPECT_EQ(errno, EINVAL);

  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* v = ::valloc(10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v) % page, 0u);
  ::free(v);
  void* pv = ::pvalloc(page + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pv) % page, 0u);
  EXPECT_GE(::malloc_usable_size(pv), 2 * page);
  ::free(pv);
}

// Invariants: aligned and sized operator new/delete work; an impossible
// size throws std::bad_alloc after calling the new-handler, and the nothrow
// form returns nullptr.
TEST(MallocOverrideTest, OperatorNewForms) {
  struct alignas(256) Wide {
    char bytes[256];
  };
  auto w = std::make_unique<Wide[]>(3);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.get()) % 256, 0u);
  Wide* one = new Wide;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(one) % 256, 0u);
  delete one;

  static int handler_calls = 0;
  handler_calls = 0;
  std::set_new_handler([] {
    handler_calls++;
    std::set_new_handler(nullptr);  // the next failure throws
  });
  size_t huge = SIZE_MAX / 4;
  EXPECT_THROW((void)::operator new(huge), std::bad_alloc);
  EXPECT_EQ(handler_calls, 1);
  EXPECT_EQ(::operator new(huge, std::nothrow), nullptr);
}

// Invariant: blocks freed by another thread than the one that allocated
// them come back intact to the allocator (std::string and vector traffic,
// as real programs make it).
TEST(MallocOverrideTest, CrossThreadTraffic) {
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> made(4);
  std::vector<std::thread> makers;
  for (int t = 0; t < 4; t++) {
    makers.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; i++) {
        made[t].push_back(std::string(static_cast<size_t>(17 + i % 300), 'a' + t));
      }
    });
  }
  for (auto& th : makers) th.join();
  std::vector<std::thread> freers;
  for (int t = 0; t < 4; t++) {
    freers.emplace_back([&made, t] {
      auto& mine = made[(t + 1) % 4];
      for (int i = 0; i < kPerThread; i++) {
        const std::string& s = mine[static_cast<size_t>(i)];
        if (s.size() != static_cast<size_t>(17 + i % 300) ||
            s.find_first_not_of(static_cast<char>('a' + (t + 1) % 4)) != std::string::npos) {
          std::abort();  // corrupted
        }
      }
      mine.clear();
      mine.shrink_to_fit();
    });
  }
  for (auto& th : freers) th.join();
  MemStats s = read_mem_stats();
  EXPECT_EQ(s.heap_objects, s.mallocs - s.frees);
}

}  // namespace
}  // namespace gort::mem
