// Tests of the allocator's API (mem/mem.h) on one or two threads: sizes,
// alignment, zeroing, the tiny allocator, frees from another thread,
// MemStats at quiescence, and the fatal errors of bad frees.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "mem/mcache.h"
#include "mem/mcentral.h"
#include "mem/mem.h"
#include "mem/mheap.h"
#include "mem/tally.h"
#include "mem/sizeclasses.h"

namespace gort::mem {
namespace {

// Every size up to 40 KiB (and some large ones) gets at least its size in
// usable bytes, writable end to end, 8-byte aligned.
TEST(Malloc, EverySizeIsUsable) {
  std::vector<size_t> sizes;
  for (size_t s = 0; s <= 40000; s += (s < 2048 ? 1 : 37)) sizes.push_back(s);
  for (size_t s : {size_t{65536}, size_t{100000}, size_t{1} << 20,
                   (size_t{1} << 20) + 1, size_t{70} << 20}) {
    sizes.push_back(s);
  }
  for (size_t s : sizes) {
    char* p = static_cast<char*>(alloc(s));
    ASSERT_NE(p, nullptr) << s;
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u) << s;
    size_t u = usable_size(p);
    ASSERT_GE(u, s) << s;
    std::memset(p, 0xab, u);
    if (s > 0 && s <= kMaxSmallSize) {
      ASSERT_EQ(u, class_size(size_to_class(s)));
    }
    free(p);
  }
}

// Power-of-two sizes up to a page are naturally aligned; alloc_aligned
// honours every power-of-two alignment up to 64 MiB.
TEST(Malloc, Alignment) {
  for (size_t s = 8; s <= kPageSize; s *= 2) {
    void* p = alloc(s);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % s, 0u) << s;
    free(p);
  }
  for (size_t align = 1; align <= (size_t{64} << 20); align *= 2) {
    for (size_t s : {size_t{1}, size_t{24}, size_t{100}, size_t{5000},
                     size_t{40000}, size_t{3} << 20}) {
      if (align > (size_t{1} << 22) && s > 5000) continue;  // keep it fast
      void* p = alloc_aligned(s, align);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u)
          << "size " << s << " align " << align;
      EXPECT_GE(usable_size(p), s);
      std::memset(p, 1, s);
      free(p);
    }
  }
  EXPECT_EQ(alloc_aligned(16, 24), nullptr);  // not a power of two
  EXPECT_EQ(alloc_aligned(16, size_t{128} << 20), nullptr);
  EXPECT_EQ(alloc(size_t{1} << 50), nullptr);
}

// kZero memory is zero even when the slot held data before.
TEST(Malloc, ZeroFlag) {
  for (size_t s : {size_t{8}, size_t{200}, size_t{4000}, size_t{50000}}) {
    std::vector<void*> ps;
    for (int i = 0; i < 300; ++i) {
      void* p = alloc(s);
      std::memset(p, 0x5a, s);
      ps.push_back(p);
    }
    for (void* p : ps) free(p);
    for (int i = 0; i < 600; ++i) {
      unsigned char* p = static_cast<unsigned char*>(alloc(s, kZero));
      ASSERT_TRUE(std::all_of(p, p + s, [](unsigned char c) { return c == 0; }))
          << "size " << s;
      if (i < 300) {
        ps[i] = p;  // kept, dirtied: the next round's slots are not zero
        std::memset(p, 0x77, s);
      } else {
        free(p);
      }
    }
    for (int i = 0; i < 300; ++i) free(ps[i]);
  }
}

// Live objects never overlap.
TEST(Malloc, NoOverlap) {
  std::mt19937_64 rng(7);
  std::vector<std::pair<uintptr_t, size_t>> live;
  for (int i = 0; i < 20000; ++i) {
    size_t s = 1 + rng() % (rng() % 8 == 0 ? 100000 : 600);
    unsigned flags = rng() % 2 ? kNoScan : kNoFlags;
    live.emplace_back(reinterpret_cast<uintptr_t>(alloc(s, flags)), s);
  }
  std::sort(live.begin(), live.end());
  for (size_t i = 1; i < live.size(); ++i) {
    ASSERT_LE(live[i - 1].first + live[i - 1].second, live[i].first);
  }
  for (auto& [p, s] : live) free(reinterpret_cast<void*>(p));
}

// Tiny objects pack several to a 16-byte block and the block is freed once
// every object in it is (HeapObjects counts blocks; Mallocs and Frees
// count tiny objects both at allocation, as Go does).
TEST(Malloc, TinyAllocatorPacksAndFrees) {
  // A thread of its own, so that its cache (and tiny block) is destroyed
  // at exit and the counts can be compared exactly (less what the harness
  // allocated meanwhile when gort is the process's malloc: mem/tally.h).
  tally_on();
  Tally t0 = tally_read();
  MemStats before = read_mem_stats();
  std::thread([] {
    std::vector<char*> ps;
    for (int i = 0; i < 4000; ++i) {
      char* p = static_cast<char*>(alloc(1 + i % 3, kNoScan));  // 1..3 B
      *p = static_cast<char>(i);
      ps.push_back(p);
    }
    // Consecutive tiny objects share blocks.
    int shared = 0;
    for (size_t i = 1; i < ps.size(); ++i) {
      shared += (reinterpret_cast<uintptr_t>(ps[i]) & ~uintptr_t{15}) ==
                (reinterpret_cast<uintptr_t>(ps[i - 1]) & ~uintptr_t{15});
    }
    EXPECT_GT(shared, 2000);
    for (size_t i = 0; i < ps.size(); ++i) {
      EXPECT_EQ(*ps[i], static_cast<char>(i));  // nobody overwrote it
    }
    MemStats mid = read_mem_stats();
    EXPECT_LT(mid.heap_objects, 4000u);
    for (char* p : ps) free(p);
  }).join();
  MemStats after = subtract_tally(read_mem_stats(), t0, tally_read());
  EXPECT_EQ(after.heap_objects, before.heap_objects);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_EQ(after.mallocs - before.mallocs, after.frees - before.frees);
}

// Objects freed by another thread are accounted at once and their memory
// is reused: after many rounds the heap stays bounded.
TEST(Malloc, CrossThreadFreesAreReused) {
  std::vector<void*> batch(5000);
  MemStats before = read_mem_stats();
  size_t peak = 0;
  for (int round = 0; round < 40; ++round) {
    for (auto& p : batch) p = alloc(48);
    std::thread([&] {
      for (void* p : batch) free(p);
    }).join();
    peak = std::max(peak, size_t{read_mem_stats().heap_inuse});
  }
  MemStats after = read_mem_stats();
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_EQ(after.heap_objects, before.heap_objects);
  // 5000 x 48 B = 240 KB live at most; 40 rounds without reuse would
  // need 9.6 MB.
  EXPECT_LT(peak, before.heap_inuse + (size_t{2} << 20));
}

// A thread that frees an object of a span it does not own reuses it for
// its next allocation of that class (LIFO from its batch), and a batch that
// fills is applied to the spans: their objects become allocatable again
// for the owner.
TEST(Malloc, BatchedFreesAreReusedAndApplied) {
  void* p = alloc(200);
  std::thread([p] {
    free(p);
    void* q = alloc(200);
    EXPECT_EQ(q, p);  // the newest batched object comes back first
    free(q);
  }).join();
  // The thread exited: its batch was applied, so the main thread's span
  // folds p back in when it runs out. Before that span, the main thread's
  // allocations take back its own batch of remote frees, which earlier
  // tests may have left (at most kRemoteBatchMax objects).
  std::vector<void*> ps;
  bool seen = false;
  const int enough =
      kRemoteBatchMax + 2 * static_cast<int>(class_objects(size_to_class(200)));
  for (int i = 0; i < enough; ++i) {
    void* r = alloc(200);
    seen |= r == p;
    ps.push_back(r);
  }
  EXPECT_TRUE(seen);
  for (void* r : ps) free(r);
}

// At quiescence MemStats counts exactly what was allocated, and a thread's
// spans go back to the heap when it exits.
TEST(Malloc, MemStatsExactAtQuiescence) {
  tally_on();  // see TinyAllocatorPacksAndFrees
  Tally t0 = tally_read();
  MemStats before = read_mem_stats();
  Tally t1;
  MemStats during;
  std::thread([&] {
    std::vector<void*> ps;
    for (int i = 0; i < 1000; ++i) ps.push_back(alloc(100));  // class 112
    ps.push_back(alloc(100000));                              // 13 pages
    during = read_mem_stats();
    t1 = tally_read();
    for (void* p : ps) free(p);
  }).join();
  during = subtract_tally(during, t0, t1);
  Tally t2 = tally_read();
  MemStats after = subtract_tally(read_mem_stats(), t0, t2);
  EXPECT_EQ(during.heap_alloc - before.heap_alloc, 1000 * 112 + 13 * 8192u);
  EXPECT_EQ(during.mallocs - before.mallocs, 1001u);
  EXPECT_EQ(during.heap_objects - before.heap_objects, 1001u);
  EXPECT_EQ(during.total_alloc - before.total_alloc, 1000 * 112 + 13 * 8192u);
  EXPECT_EQ(during.by_size[size_to_class(100)].mallocs -
                before.by_size[size_to_class(100)].mallocs,
            1000u);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_EQ(after.frees - before.frees, 1001u);
  // Every span returned, but for those that objects the harness allocated
  // meanwhile (through the replaced malloc, if it is) still hold.
  EXPECT_LE(after.heap_inuse, before.heap_inuse + tally_span_bound(t0, t2));
  if (t2.mallocs + t2.frees == 0) EXPECT_EQ(after.heap_inuse, before.heap_inuse);
  for (const MemStats* m : {&before, &during, &after}) {
    EXPECT_EQ(m->heap_sys, m->heap_idle + m->heap_inuse);
    EXPECT_LE(m->heap_released, m->heap_idle);
    EXPECT_LE(m->heap_alloc, m->heap_inuse);
    EXPECT_EQ(m->mallocs - m->frees, m->heap_objects);
    EXPECT_EQ(m->sys, m->heap_sys + m->stack_sys + m->mspan_sys +
                          m->mcache_sys + m->buck_hash_sys + m->gc_sys +
                          m->other_sys);
  }
  heap().verify();
}

TEST(Malloc, StackStatsAreReported) {
  MemStats before = read_mem_stats();
  add_stack_stats(8192, 65536);
  MemStats after = read_mem_stats();
  EXPECT_EQ(after.stack_inuse - before.stack_inuse, 8192u);
  EXPECT_EQ(after.stack_sys - before.stack_sys, 65536u);
  EXPECT_EQ(after.sys - before.sys - (after.heap_sys - before.heap_sys) -
                (after.mspan_sys - before.mspan_sys) -
                (after.mcache_sys - before.mcache_sys) -
                (after.gc_sys - before.gc_sys) -
                (after.other_sys - before.other_sys),
            65536u);
  add_stack_stats(-8192, -65536);
}

// The per-P seam: a registered hook's cache is used instead of the
// thread's, and destroying it returns its spans.
MCache* g_test_cache = nullptr;
MCache* test_hook() { return g_test_cache; }

TEST(Malloc, CurrentCacheHook) {
  g_test_cache = new_cache();
  set_current_cache_hook(test_hook);
  void* p = alloc(64);
  MSpan* s = heap().span_of(reinterpret_cast<uintptr_t>(p));
  EXPECT_EQ(s->owner.load(), g_test_cache);
  free(p);
  set_current_cache_hook(nullptr);
  MCache* c = g_test_cache;
  g_test_cache = nullptr;
  destroy_cache(c);
}

// The front end (mcache.h, FreeList): with a cache of its own, a freed
// object of the cache's span comes back first (LIFO), from a list that never
// exceeds its bound; an overflow forgets the list (its objects stay free in
// the span's bits), release empties every list, a kZero allocation from the
// list is zeroed link word included, and the counts stay exact.
TEST(Malloc, FrontEndLifo) {
  g_test_cache = new_cache();
  set_current_cache_hook(test_hook);
  MCache* c = g_test_cache;
  constexpr size_t kSize = 320;  // a noscan class no other test uses
  const int sc = make_span_class(size_to_class(kSize), true);
  EXPECT_EQ(c->lifo[sc].limit, free_list_limit(size_to_class(kSize)));
  for (int k = 1; k < kNumSizeClasses; ++k) {
    EXPECT_GE(free_list_limit(k), 1u);
    EXPECT_LE(free_list_limit(k) * class_size(k),
              std::max(kFreeListBytes, class_size(k)));
  }
  // Reserved first: under --custom_malloc=//mem:malloc the vectors'
  // buffers are counted too.
  std::vector<void*> same, others;
  same.reserve(1000);
  others.reserve(1000);
  MemStats before = read_mem_stats();

  // Five objects of one span (the cache's current one).
  for (int i = 0; i < 1000 && same.size() < 5; ++i) {
    void* p = alloc(kSize, kNoScan);
    MSpan* s = heap().span_of(reinterpret_cast<uintptr_t>(p));
    if (!same.empty() &&
        heap().span_of(reinterpret_cast<uintptr_t>(same[0])) != s) {
      others.insert(others.end(), same.begin(), same.end());
      same.clear();
    }
    same.push_back(p);
  }
  ASSERT_EQ(same.size(), 5u);
  ASSERT_EQ(heap().span_of(reinterpret_cast<uintptr_t>(same[0])),
            c->alloc[sc]);

  // Push and pop: the newest comes back first.
  std::memset(same[0], 0xff, kSize);
  free(same[0]);
  EXPECT_EQ(c->lifo[sc].n, 1u);
  void* z = alloc(kSize, kNoScan | kZero);
  EXPECT_EQ(z, same[0]);
  EXPECT_EQ(c->lifo[sc].n, 0u);
  const char* b = static_cast<const char*>(z);
  EXPECT_TRUE(std::all_of(b, b + kSize, [](char ch) { return ch == 0; }));

  // The bound: with a limit of 4, the fifth free forgets the list.
  c->lifo[sc].limit = 4;
  for (int i = 0; i < 5; ++i) {
    free(same[i]);
    EXPECT_LE(c->lifo[sc].n, 4u);
  }
  EXPECT_EQ(c->lifo[sc].n, 1u);
  EXPECT_EQ(alloc(kSize, kNoScan), same[4]);
  free(same[4]);

  // Release empties every list; the objects are reusable, never twice.
  cache_release(c);
  for (const FreeList& l : c->lifo) EXPECT_EQ(l.n, 0u);
  for (void* p : others) free(p);
  cache_release(c);
  MemStats after = read_mem_stats();
  EXPECT_EQ(after.mallocs - before.mallocs, after.frees - before.frees);
  std::vector<void*> live;
  for (int i = 0; i < 200; ++i) live.push_back(alloc(kSize, kNoScan));
  std::vector<void*> sorted = live;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  for (void* p : live) free(p);

  set_current_cache_hook(nullptr);
  g_test_cache = nullptr;
  destroy_cache(c);
}

using MallocDeathTest = ::testing::Test;

TEST(MallocDeathTest, BadFreesAreFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        void* p = alloc(32);
        free(p);
        free(p);
      },
      ::testing::ExitedWithCode(2), "fatal error: free of already freed");
  // Through the front end: an object on the LIFO, one popped from it, and
  // one whose list overflowed (forgotten, still free in the span's bits).
  EXPECT_EXIT(
      {
        void* p = alloc(32);
        free(p);
        void* q = alloc(32);
        free(q);
        free(p);
      },
      ::testing::ExitedWithCode(2), "fatal error: free of already freed");
  EXPECT_EXIT(
      {
        MCache* c = current_cache();
        int sc = make_span_class(size_to_class(48), false);
        c->lifo[sc].limit = 1;
        void* p = alloc(48);
        void* q = alloc(48);
        free(p);
        free(q);  // overflows: p's list is forgotten
        free(p);
      },
      ::testing::ExitedWithCode(2), "fatal error: free of already freed");
  EXPECT_EXIT(
      {
        char* p = static_cast<char*>(alloc(64));
        free(p + 8);
      },
      ::testing::ExitedWithCode(2), "fatal error: free of interior pointer");
  EXPECT_EXIT(
      {
        void* p = alloc(100000);
        free(p);
        free(p);
      },
      ::testing::ExitedWithCode(2), "fatal error: free of pointer");
  EXPECT_EXIT(
      {
        static int x;
        free(&x);
      },
      ::testing::ExitedWithCode(2), "not allocated by gort");
}

}  // namespace
}  // namespace gort::mem
