// Tests of stop-the-world and GOMAXPROCS changes (sched/stw.cc): the number
// of Ps changes while goroutines run, park and sit in syscalls, and nothing
// is lost or stuck.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::sched {
namespace {

using testing::Latch;
using testing::scaled;
using testing::SchedTest;
using testing::ScopedProcs;
using testing::Sem;
using testing::Watchdog;

using StwTest = SchedTest;

// gomaxprocs(n) sets the P count and returns the previous one; n < 1 only
// reports it; from plain threads and from goroutines alike. Ps beyond the
// count are kDead, those below it are not.
TEST_F(StwTest, GomaxprocsSetsAndReports) {
  int old = gomaxprocs(0);
  EXPECT_GE(old, 1);
  EXPECT_EQ(gomaxprocs(3), old);
  EXPECT_EQ(gomaxprocs(0), 3);
  EXPECT_EQ(gomaxprocs(-2), 3);
  run([] {
    EXPECT_EQ(gomaxprocs(5), 3);
    EXPECT_EQ(gomaxprocs(0), 5);
  });
  EXPECT_EQ(gomaxprocs(old), 5);
  Sched& s = sched();
  for (int i = 0; i < kMaxProcs; i++) {
    bool dead = s.allp[i]->status.load() == PStatus::kDead;
    EXPECT_EQ(dead, i >= old) << "P" << i;
  }
}

// The work the GOMAXPROCS tests run: `n` goroutines, `k` rounds each of a
// few µs of computation, a yield, and a park/ready hand-off (in round r
// goroutine i posts to (i + r + 1) mod n and waits for its own token, so
// each receives exactly k tokens). Returns when all are done; checks that
// every goroutine finished every round.
void run_workers(int64_t n, int64_t k, std::atomic<int64_t>* rounds_done) {
  std::vector<Sem> sems(n);
  Latch latch(n);
  for (int64_t i = 0; i < n; i++) {
    go([&, i] {
      for (int64_t r = 0; r < k; r++) {
        int64_t until = sys::nanotime() + 2'000 * (1 + (i + r) % 3);
        while (sys::nanotime() < until) {
        }
        yield();
        sems[(i + r + 1) % n].post();
        sems[i].wait();
        rounds_done->fetch_add(1, std::memory_order_relaxed);
      }
      latch.done();
    });
  }
  latch.wait();
  int64_t banked = 0;
  for (auto& s : sems) banked += s.count();
  EXPECT_EQ(banked, 0);
}

// Checks the P array against `procs`: allp[0, procs) live, the rest dead.
void expect_procs(int procs) {
  Sched& s = sched();
  EXPECT_EQ(s.gomaxprocs.load(), procs);
  for (int i = 0; i < 16; i++) {
    bool dead = s.allp[i]->status.load() == PStatus::kDead;
    EXPECT_EQ(dead, i >= procs) << "P" << i << " with gomaxprocs " << procs;
  }
}

// GOMAXPROCS goes 1 -> 8 -> 2 -> 1 again and again, from a goroutine, while
// workers run, yield and park. Invariant: every worker completes every round
// (Gs on a removed P's queue move to the global queue and still run; none is
// lost, none runs twice), and each change takes effect.
TEST_F(StwTest, ChangesUnderLoadFromGoroutine) {
  const int64_t n = scaled(2'000, 2'000, 500);
  const int64_t k = scaled(100, 100, 60);
  ScopedProcs scoped(2);
  Watchdog dog("StwTest.ChangesUnderLoadFromGoroutine", 60);
  std::atomic<int64_t> rounds_done{0};
  std::atomic<bool> workers_done{false};
  int changes = 0;
  run([&] {
    Latch controller_done(1);
    go([&] {
      const int seq[] = {1, 8, 2, 1};
      while (!workers_done.load()) {
        for (int procs : seq) {
          gomaxprocs(procs);
          expect_procs(procs);
          changes++;
          blocking([] { sys::nanosleep(1'000'000); });
        }
      }
      controller_done.done();
    });
    run_workers(n, k, &rounds_done);
    workers_done.store(true);
    controller_done.wait();
  });
  EXPECT_EQ(rounds_done.load(), n * k);
  EXPECT_GE(changes, 4);
  printf("%d GOMAXPROCS changes during the run\n", changes);
}

// The same with the changes made from a plain thread (no M, no P of its
// own to stop).
TEST_F(StwTest, ChangesUnderLoadFromPlainThread) {
  const int64_t n = scaled(2'000, 2'000, 500);
  const int64_t k = scaled(100, 100, 60);
  ScopedProcs scoped(2);
  Watchdog dog("StwTest.ChangesUnderLoadFromPlainThread", 60);
  std::atomic<int64_t> rounds_done{0};
  std::atomic<bool> workers_done{false};
  int changes = 0;
  std::thread controller([&] {
    const int seq[] = {1, 8, 2, 1};
    while (!workers_done.load()) {
      for (int procs : seq) {
        gomaxprocs(procs);
        expect_procs(procs);
        changes++;
        sys::nanosleep(1'000'000);
      }
    }
  });
  run([&] { run_workers(n, k, &rounds_done); });
  workers_done.store(true);
  controller.join();
  EXPECT_EQ(rounds_done.load(), n * k);
  EXPECT_GE(changes, 4);
  printf("%d GOMAXPROCS changes during the run\n", changes);
}

// Stopping the world does not wait for goroutines in blocking() calls: their
// Ps are taken (kSyscall -> kGCStop) and they come back after the world
// restarted. Invariant: with two goroutines asleep for 1 s, two GOMAXPROCS
// changes finish well within that second, and the sleepers then complete.
TEST_F(StwTest, DoesNotWaitForSyscalls) {
  ScopedProcs scoped(2);
  Watchdog dog("StwTest.DoesNotWaitForSyscalls", 30);
  int64_t stw_ns = 0;
  std::atomic<int> woke{0};
  run([&] {
    Latch asleep(2);
    Latch done(2);
    for (int i = 0; i < 2; i++) {
      go([&] {
        asleep.done();
        blocking([] { sys::nanosleep(1'000'000'000); });
        woke.fetch_add(1);
        done.done();
      });
    }
    asleep.wait();
    blocking([] { sys::nanosleep(5'000'000); });  // into the kernel, both
    int64_t t0 = sys::nanotime();
    gomaxprocs(3);
    gomaxprocs(2);
    stw_ns = sys::nanotime() - t0;
    EXPECT_EQ(woke.load(), 0);
    done.wait();
  });
  EXPECT_EQ(woke.load(), 2);
  EXPECT_LT(stw_ns, 200'000'000) << "stop-the-world waited for the syscalls";
  printf("two GOMAXPROCS changes with 2 Ps in syscalls: %.2f ms\n", stw_ns / 1e6);
}

}  // namespace
}  // namespace gort::sched
