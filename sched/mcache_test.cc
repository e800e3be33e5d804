// Go's mcache per P: a goroutine allocates from its P's cache (made at the
// P's first allocation), and a P destroyed by gomaxprocs gives its cache
// back (Go's freemcache). Observed through MemStats.MCacheInuse: four Ps
// allocating at once make caches for the three that had none, and
// shrinking to one P destroys those again.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "mem/mem.h"
#include "sched/sched.h"
#include "sched/test_util.h"

namespace gort::sched {
namespace {

TEST(PerPCache, EachPAllocatesFromItsOwnAndGivesItBack) {
  constexpr int kProcs = 4;
  gort::run([] {
    gort::gomaxprocs(kProcs);
    mem::MemStats before = mem::read_mem_stats();
    std::atomic<int> arrived{0};
    std::atomic<bool> go_on{false};
    testing::Latch finished(kProcs);
    for (int i = 0; i < kProcs; i++) {
      go([&] {
        // All kProcs run at once, so each is on a P of its own.
        arrived.fetch_add(1, std::memory_order_acq_rel);
        while (arrived.load(std::memory_order_acquire) < kProcs) {
        }
        std::vector<void*> ps;
        for (int j = 0; j < 100; j++) ps.push_back(mem::alloc(64));
        for (void* p : ps) mem::free(p);
        finished.done();
        while (!go_on.load(std::memory_order_acquire)) gort::yield();
      });
    }
    finished.wait();
    mem::MemStats during = mem::read_mem_stats();
    go_on.store(true, std::memory_order_release);
    // New caches for the Ps that had never allocated (at least kProcs - 1).
    EXPECT_GT(during.mcache_inuse, before.mcache_inuse);
    gort::gomaxprocs(1);
    mem::MemStats after = mem::read_mem_stats();
    // Three Ps were destroyed, and their caches with them.
    EXPECT_LT(after.mcache_inuse, during.mcache_inuse);
    EXPECT_EQ(after.heap_sys, after.heap_idle + after.heap_inuse);
  });
}

}  // namespace
}  // namespace gort::sched
