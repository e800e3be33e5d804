// Tests of the syscall hand-off (blocking(f), sched/syscall.cc): a goroutine
// blocked in the kernel does not hold up the others, and the bookkeeping
// survives the goroutine coming back on another M.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::sched {
namespace {

using testing::gettid_now;
using testing::Latch;
using testing::scaled;
using testing::SchedTest;
using testing::ScopedProcs;
using testing::Watchdog;

using SyscallTest = SchedTest;

// blocking(f) returns f's value, on a goroutine and on a plain thread, and
// an exception thrown by f leaves through it with the goroutine back in
// kRunning (the exit half ran), able to yield and to block again.
TEST_F(SyscallTest, ReturnsValueAndPropagatesExceptions) {
  EXPECT_EQ(blocking([] { return 5; }), 5);  // plain thread: just calls f
  run([] {
    EXPECT_EQ(blocking([] { return 6; }), 6);
    G* g = current_g();
    GStatus inside = GStatus::kIdle;
    blocking([&] { inside = g->status.load(); });
    EXPECT_EQ(inside, GStatus::kSyscall);
    EXPECT_EQ(g->status.load(), GStatus::kRunning);
    EXPECT_THROW(blocking([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
    EXPECT_EQ(g->status.load(), GStatus::kRunning);
    yield();
    EXPECT_EQ(blocking([] { return 7; }), 7);
  });
}

// Two goroutines sleep 1 s in blocking() on 2 Ps while a third does 50 ms
// of work in 1 ms chunks with a yield between chunks. Invariant: sysmon
// retakes a P from the sleepers and hands it over, so the worker is not
// blocked behind them: it finishes while they still sleep, and the time it
// spends waiting to run (its wall time minus the wall time of its own
// chunks) stays under 100 ms.
TEST_F(SyscallTest, SleepersDoNotBlockOthers) {
  ScopedProcs procs(2);
  Watchdog dog("SyscallTest.SleepersDoNotBlockOthers", 30);
  constexpr int64_t kSleepNs = 1'000'000'000;
  constexpr int kChunks = 50;
  std::atomic<int> sleepers_done{0};
  int64_t spawned_at = 0, finished_at = 0, work_ns = 0;
  bool sleepers_were_asleep = false;
  run([&] {
    Latch all(3);
    Latch asleep(2);
    for (int i = 0; i < 2; i++) {
      go([&] {
        asleep.done();
        blocking([&] { sys::nanosleep(kSleepNs); });
        sleepers_done.fetch_add(1);
        all.done();
      });
    }
    asleep.wait();
    // Let both sleepers get into the kernel with their Ps in kSyscall.
    blocking([] { sys::nanosleep(5'000'000); });
    spawned_at = sys::nanotime();
    go([&] {
      for (int c = 0; c < kChunks; c++) {
        int64_t start = sys::nanotime();
        while (sys::nanotime() - start < 1'000'000) {
        }
        work_ns += sys::nanotime() - start;
        yield();
      }
      finished_at = sys::nanotime();
      sleepers_were_asleep = sleepers_done.load() == 0;
      all.done();
    });
    all.wait();
  });
  int64_t total = finished_at - spawned_at;
  printf("worker: %.1f ms wall, %.1f ms in its chunks\n", total / 1e6, work_ns / 1e6);
  EXPECT_TRUE(sleepers_were_asleep) << "the worker only finished after the sleepers woke";
  EXPECT_LT(total - work_ns, 100'000'000) << "worker waited " << (total - work_ns) / 1e6 << " ms";
}

// On one P, a goroutine in a long blocking() call does not stop the others:
// sysmon retakes the P and they run to completion meanwhile.
TEST_F(SyscallTest, OnePBlockedCallHandsOffP) {
  ScopedProcs procs(1);
  Watchdog dog("SyscallTest.OnePBlockedCallHandsOffP", 30);
  std::atomic<bool> sleeper_done{false};
  int others_finished_early = 0;
  run([&] {
    Latch all(11);
    go([&] {
      blocking([] { sys::nanosleep(500'000'000); });
      sleeper_done.store(true);
      all.done();
    });
    yield();  // let the sleeper enter its call
    for (int i = 0; i < 10; i++) {
      go([&] {
        for (int j = 0; j < 100; j++) yield();
        if (!sleeper_done.load()) others_finished_early++;  // one P: no race
        all.done();
      });
    }
    all.wait();
  });
  EXPECT_EQ(others_finished_early, 10);
}

// A goroutine whose P was taken while it was in blocking() comes back
// without a P, is queued and resumes on whatever M picks it up; its M's
// `locks` count (no async preemption while > 0) must be balanced on every M
// all the same. Invariant: whenever blocking() returns, the M the goroutine
// is now on has locks == 0, and once the goroutines are done every M has.
TEST_F(SyscallTest, MigratingOutOfSyscallKeepsMLocksBalanced) {
  ScopedProcs procs(1);
  Watchdog dog("SyscallTest.MigratingOutOfSyscallKeepsMLocksBalanced", 60);
  // Calls go on until kWanted of them came back on another M, for at most
  // 10 s. Each sleeps 20 ms: sysmon retakes a P only from a call that spans
  // two of its looks, and an idle sysmon looks only every 10 ms (Go's
  // backoff), so shorter calls are seldom retaken (under TSan, never).
  constexpr int kWanted = 10;
  const int64_t deadline_calls = sys::nanotime() + 10'000'000'000;
  std::atomic<int> calls{0};
  std::atomic<int> migrations{0};
  std::atomic<int> unbalanced{0};  // returns to an M whose locks != 0
  std::atomic<bool> stop{false};
  run([&] {
    Latch done(3);
    // Keeps the P busy, so that a returning sleeper finds no idle P.
    go([&] {
      while (!stop.load()) {
        int64_t until = sys::nanotime() + 20'000;
        while (sys::nanotime() < until) {
        }
        yield();
      }
      done.done();
    });
    Latch sleepers(2);
    for (int s = 0; s < 2; s++) {
      go([&] {
        while (migrations.load() < kWanted && sys::nanotime() < deadline_calls) {
          calls.fetch_add(1);
          int32_t before = gettid_now();
          blocking([] { sys::nanosleep(20'000'000); });
          if (gettid_now() != before) migrations.fetch_add(1);
          // Back in user code: this M is not inside the runtime.
          if (getm()->locks.load(std::memory_order_relaxed) != 0) unbalanced.fetch_add(1);
        }
        sleepers.done();
        done.done();
      });
    }
    sleepers.wait();
    stop.store(true);
    done.wait();
  });
  EXPECT_GE(migrations.load(), kWanted) << "calls seldom came back on another M: path not exercised";
  EXPECT_EQ(unbalanced.load(), 0) << "blocking() returned on an M with locks != 0";
  Sched& s = sched();
  // No goroutine is in a call any more; give the Ms a moment to settle.
  int64_t deadline = sys::nanotime() + 2'000'000'000;
  std::vector<std::pair<int64_t, int32_t>> bad;
  for (;;) {
    bad.clear();
    {
      sys::MutexLock l(s.lock);
      for (M* m = s.allm; m != nullptr; m = m->all_link) {
        int32_t locks = m->locks.load(std::memory_order_relaxed);
        if (locks != 0) bad.push_back({m->id, locks});
      }
    }
    if (bad.empty() || sys::nanotime() > deadline) break;
    sys::nanosleep(1'000'000);
  }
  for (auto [id, locks] : bad) ADD_FAILURE() << "M" << id << " idle with locks=" << locks;
  printf("%d of %d calls came back on another M\n", migrations.load(), calls.load());
}

}  // namespace
}  // namespace gort::sched
