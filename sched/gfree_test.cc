// Dead goroutines keep their stacks for reuse; beyond a cache, sysmon gives
// the stack memory back to the OS.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <vector>

#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

namespace gort::sched {
namespace {

using testing::kTsan;
using testing::Latch;
using testing::Sem;

size_t resident_pages(const Stack* s) {
  std::vector<unsigned char> vec(s->size() / kPageSize);
  EXPECT_EQ(mincore(reinterpret_cast<void*>(s->lo), s->size(), vec.data()), 0);
  size_t n = 0;
  for (unsigned char c : vec) n += c & 1;
  return n;
}

// Invariant: after a burst of N parked goroutines finishes, at most about
// 2 × 1024 dead Gs keep committed stacks; sysmon releases the rest within a
// bounded time, and a released stack has no resident page.
TEST(GFreeTest, SurplusStacksReturnedToOS) {
  const int n = kTsan ? 3000 : 20000;
  run([n] {
    std::vector<Sem> gates(n);
    Latch started(n);
    Latch finished(n);
    for (int i = 0; i < n; i++) {
      go([&, i] {
        started.done();
        gates[i].wait();
        finished.done();
      });
    }
    started.wait();
    for (int i = 0; i < n; i++) gates[i].post();
    finished.wait();
  });
  Sched& s = sched();
  // Committed stacks may stay on the global list (up to 2 × 1024) and on
  // each P's list (up to 64).
  const int32_t bound =
      n - 2 * 1024 - 64 * s.gomaxprocs.load(std::memory_order_relaxed);
  int64_t deadline = sys::nanotime() + 5'000'000'000;
  int32_t released = 0;
  G* sample = nullptr;
  while (sys::nanotime() < deadline) {
    {
      sys::MutexLock l(s.gfree_lock);
      released = s.gfree_released_count;
      sample = s.gfree_released;
    }
    if (released >= bound) break;
    usleep(10'000);
  }
  EXPECT_GE(released, bound);
  ASSERT_NE(sample, nullptr);
  EXPECT_EQ(resident_pages(sample->stack), 0u);
  // Released Gs are reused: a new burst still works.
  int sum = run([] {
    Latch done(100);
    std::atomic<int> count{0};
    for (int i = 0; i < 100; i++) go([&] {
        count.fetch_add(1);
        done.done();
      });
    done.wait();
    return count.load();
  });
  EXPECT_EQ(sum, 100);
}

}  // namespace
}  // namespace gort::sched
