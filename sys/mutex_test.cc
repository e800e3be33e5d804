// Tests for sys/mutex.h: the runtime's internal lock.
#include "sys/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <vector>

#include "sys/clock.h"
#include "sys/syscall.h"
#include "sys/thread.h"

namespace gort::sys {
namespace {

#if defined(__SANITIZE_THREAD__)  // TSan: ~10x slower per atomic; scale down
constexpr int kIncrements = 50'000;
#else
constexpr int kIncrements = 200'000;
#endif

// Invariant: mutual exclusion and visibility. N threads each add 1 to a
// plain int64 under the lock kIncrements times; any overlap of critical
// sections or missed publication loses updates, so the total is exact only
// if the lock works (and TSan sees the happens-before chain).
void counter_stress(int threads) {
  Mutex mu;
  int64_t counter = 0;  // guarded by mu
  // Start gate, so that the workers really overlap instead of finishing
  // one by one as they are created. The gate carries no data (the lock
  // under test does all the publishing); its orders are only conventional.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      ready.fetch_add(1, std::memory_order_relaxed);
      while (!go.load(std::memory_order_acquire)) sched_yield();
      for (int i = 0; i < kIncrements; ++i) {
        MutexLock hold(mu);
        ++counter;
      }
    });
  }
  while (ready.load(std::memory_order_relaxed) < threads) sched_yield();
  const int64_t start = nanotime();
  go.store(true, std::memory_order_release);
  for (Thread& w : workers) w.join();
  const int64_t elapsed = nanotime() - start;
  MutexLock hold(mu);
  EXPECT_EQ(counter, int64_t{threads} * kIncrements);
  std::printf("%d threads x %d increments: %.1f ns per lock+unlock\n", threads,
              kIncrements,
              static_cast<double>(elapsed) / (int64_t{threads} * kIncrements));
}

TEST(MutexTest, FourThreadsCountExactly) { counter_stress(4); }
TEST(MutexTest, EightThreadsCountExactly) { counter_stress(8); }

// Invariant: the standard lock adaptors work on Mutex (it is Lockable):
// lock_guard, unique_lock and scoped_lock take and release it.
TEST(MutexTest, StandardGuardsTakeAndRelease) {
  Mutex mu;
  {
    std::lock_guard<Mutex> hold(mu);
    EXPECT_FALSE(mu.try_lock());
  }
  {
    std::unique_lock<Mutex> hold(mu);
    EXPECT_FALSE(mu.try_lock());
    hold.unlock();
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
  }
  {
    std::scoped_lock hold(mu);
    EXPECT_FALSE(mu.try_lock());
  }
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
}

// Invariant: try_lock takes a free lock and only a free one: true when
// unlocked, false while anyone (this thread or another) holds it, true
// again once released.
TEST(MutexTest, TryLockTakesOnlyAFreeLock) {
  Mutex mu;
  ASSERT_TRUE(mu.try_lock());
  EXPECT_FALSE(mu.try_lock());
  bool other_got_it = true;
  Thread other([&] { other_got_it = mu.try_lock(); });
  other.join();
  EXPECT_FALSE(other_got_it);
  mu.unlock();
  Thread again([&] {
    other_got_it = mu.try_lock();
    if (other_got_it) mu.unlock();
  });
  again.join();
  EXPECT_TRUE(other_got_it);
}

// Busy-waits: no syscall, so that the futex count below is the lock's own.
void spin_for(int64_t ns) {
  const int64_t deadline = nanotime() + ns;
  while (nanotime() < deadline) {
  }
}

// Invariant: waiters held off for longer than the spin phase sleep in the
// futex (the futex syscall is counted) and every one of them is woken and
// gets the lock in turn: no wakeup is lost when several threads sleep and
// the holder lets go.
TEST(MutexTest, LongHoldPutsWaitersToSleepAndWakesThemAll) {
  constexpr int kWaiters = 3;
  constexpr int kRounds = 20;
  Mutex mu;
  int inside = 0;     // guarded by mu; must be 0 on entry
  int64_t taken = 0;  // guarded by mu
  bool overlap = false;
  reset_syscall_stats();
  set_accounting(AccountingMode::kSummary);
  std::vector<Thread> waiters;
  mu.lock();
  for (int t = 0; t < kWaiters; ++t) {
    waiters.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        MutexLock hold(mu);
        if (inside != 0) overlap = true;
        ++inside;
        ++taken;
        spin_for(100'000);  // hold 0.1 ms: the others go to sleep
        --inside;
      }
    });
  }
  spin_for(20'000'000);  // 20 ms: every waiter is asleep by now
  mu.unlock();
  for (Thread& w : waiters) w.join();
  set_accounting(AccountingMode::kOff);
  uint64_t futex_calls = 0;
  for (const SyscallStat& s : syscall_stats()) {
    if (s.nr == SYS_futex) futex_calls = s.calls;
  }
  MutexLock hold(mu);
  EXPECT_FALSE(overlap);
  EXPECT_EQ(taken, int64_t{kWaiters} * kRounds);
  EXPECT_GE(futex_calls, uint64_t{kWaiters});
}

// Invariant: unlocking a lock nobody holds is Go's fatal error: the
// message on stderr and exit status 2.
TEST(MutexDeathTest, UnlockOfUnlockedIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Mutex mu;
        mu.unlock();
      },
      testing::ExitedWithCode(2), "fatal error: unlock of unlocked lock");
  EXPECT_EXIT(
      {
        Mutex mu;
        mu.lock();
        mu.unlock();
        mu.unlock();
      },
      testing::ExitedWithCode(2), "fatal error: unlock of unlocked lock");
}

}  // namespace
}  // namespace gort::sys
