#include "sched/stack.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

namespace gort::sched {
namespace {

int count_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) n++;
  return n;
}

// Pages of [lo, hi) resident in memory, by mincore.
size_t resident_pages(uintptr_t lo, uintptr_t hi) {
  std::vector<unsigned char> vec((hi - lo) / kPageSize);
  EXPECT_EQ(mincore(reinterpret_cast<void*>(lo), hi - lo, vec.data()), 0);
  size_t n = 0;
  for (unsigned char c : vec) n += c & 1;
  return n;
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kManyStacks = 2000;
#else
constexpr int kManyStacks = 40000;
#endif

// Invariant: stacks are disjoint, page aligned, of the asked size, writable
// over their whole range, and guarded (or else carry the canary).
TEST(StackTest, DisjointWritableWithCanary) {
  StackAllocator a(64 * 1024);
  std::vector<Stack*> stacks;
  for (int i = 0; i < 100; i++) {
    Stack* s = a.allocate();
    EXPECT_EQ(s->size(), 64u * 1024);
    EXPECT_EQ(s->lo % kPageSize, 0u);
    EXPECT_TRUE(s->canary_intact());
    for (Stack* o : stacks) EXPECT_TRUE(s->hi <= o->lo - kPageSize || s->lo >= o->hi);
    reinterpret_cast<volatile char*>(s->hi)[-1] = 1;
    stacks.push_back(s);
  }
  for (Stack* s : stacks) a.free(s);
  EXPECT_EQ(a.stats().stacks_live, 0u);
}

// Invariant: guards do not split mappings, so tens of thousands of stacks
// cost a handful of mappings, not two each (vm.max_map_count is 65530).
TEST(StackTest, ManyStacksFewMappings) {
  StackAllocator a;
  int before = count_mappings();
  std::vector<Stack*> stacks;
  for (int i = 0; i < kManyStacks; i++) stacks.push_back(a.allocate());
  int after = count_mappings();
  if (a.guard_mode() == GuardMode::kGuardInstall) {
    EXPECT_LT(after - before, 64) << "mappings grew per stack";
    EXPECT_EQ(a.stats().guards_installed, static_cast<uint64_t>(kManyStacks));
  }
  for (Stack* s : stacks) a.free(s);
}

// Invariant: a write to the page below a stack faults (the guard), whatever
// the guard mode within its budget.
TEST(StackDeathTest, GuardPageFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StackAllocator a;
  Stack* s = a.allocate();
  ASSERT_NE(a.guard_mode(), GuardMode::kCanaryOnly);
  EXPECT_DEATH(reinterpret_cast<volatile char*>(s->lo)[-1] = 1, "");
  a.free(s);
}

// Invariant: a stack is reserved, not committed (an untouched stack costs
// no resident page but the canary's), and freed stacks beyond the cache
// limit, or released explicitly, give their pages back to the OS.
TEST(StackTest, LazyCommitAndRelease) {
  StackAllocator a;
  a.set_cache_limit(0);
  Stack* s = a.allocate();
  EXPECT_EQ(resident_pages(s->lo, s->hi), s->has_canary ? 1u : 0u);
  memset(reinterpret_cast<void*>(s->lo), 1, s->size());
  EXPECT_EQ(resident_pages(s->lo, s->hi), s->size() / kPageSize);
  a.free(s);  // over the cache limit: released
  EXPECT_EQ(resident_pages(s->lo, s->hi), 0u);
  Stack* t = a.allocate();  // reuses the released stack
  EXPECT_EQ(t, s);
  EXPECT_TRUE(t->canary_intact());
  a.set_cache_limit(16);
  memset(reinterpret_cast<void*>(t->lo), 1, t->size());
  a.free(t);
  EXPECT_GT(resident_pages(t->lo, t->hi), 1u);
  a.release_cached();
  EXPECT_EQ(resident_pages(t->lo, t->hi), 0u);
  EXPECT_EQ(a.stats().stacks_cached, 1u);
}

// Invariant: StackSys covers StackInuse, and both follow allocations.
TEST(StackTest, Stats) {
  StackAllocator a(32 * 1024);
  Stack* s1 = a.allocate();
  Stack* s2 = a.allocate();
  StackStats st = a.stats();
  EXPECT_EQ(st.inuse_bytes, 2u * 32 * 1024);
  EXPECT_GE(st.sys_bytes, st.inuse_bytes);
  a.free(s1);
  a.free(s2);
  EXPECT_EQ(a.stats().inuse_bytes, 0u);
  EXPECT_EQ(a.stats().stacks_cached, 2u);
}

}  // namespace
}  // namespace gort::sched
