// Tests of syncx/mutex.h: mutual exclusion from goroutines on 1, 2 and 8 Ps
// and from plain threads at once; try_lock; the standard lock adaptors;
// fairness and starvation mode (Go's TestMutexFairness shape); RWMutex
// exclusion and writer preference; and Go's fatal errors, each in a child
// process.
#include "syncx/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "syncx/test_util.h"
#include "syncx/waitgroup.h"

namespace gort::syncx {
namespace {

using sched::testing::kTsan;
using sched::testing::Latch;
using sched::testing::ScopedProcs;
using sched::testing::scaled;
using sched::testing::SchedTest;
using sched::testing::Watchdog;

class MutexTest : public SchedTest {};

// The lock holder's "work": a busy wait (gort has no sleep yet, and a busy
// wait keeps the P, which is what makes the fairness test hard).
using testing::busy_for;
using testing::KeepRunnable;

// Invariant: at most one holder at a time, and no increment is lost, with
// 8 goroutines on `procs` Ps and 2 plain threads contending.
void check_exclusion(int procs) {
  ScopedProcs p(procs);
  Watchdog dog("mutex exclusion", 60);
  const int64_t iters = scaled(20000, 5000, 1000);
  Mutex mu;
  int64_t counter = 0;   // under mu
  int holders = 0;       // under mu; must be 1 inside
  std::atomic<bool> bad{false};
  auto body = [&] {
    for (int64_t i = 0; i < iters; i++) {
      mu.lock();
      if (++holders != 1) bad.store(true);
      counter++;
      if (i % 64 == 0) yield();  // a holder that parks off the P
      holders--;
      mu.unlock();
    }
  };
  run([&] {
    KeepRunnable keep;  // goroutines may all wait for a thread
    Latch done(10);
    for (int g = 0; g < 8; g++) {
      go([&] {
        body();
        done.done();
      });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; t++) {
      threads.emplace_back([&] {
        for (int64_t i = 0; i < iters; i++) {
          std::lock_guard<Mutex> l(mu);
          if (++holders != 1) bad.store(true);
          counter++;
          holders--;
        }
        done.done();
      });
    }
    done.wait();
    for (auto& t : threads) t.join();
  });
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(counter, 10 * iters);
  EXPECT_EQ(mu.state_for_testing(), 0);
}

TEST_F(MutexTest, ExclusionOneP) { check_exclusion(1); }
TEST_F(MutexTest, ExclusionTwoPs) { check_exclusion(2); }
TEST_F(MutexTest, ExclusionEightPs) { check_exclusion(8); }

// try_lock takes a free lock and fails on a held one, without blocking;
// unique_lock, lock_guard and scoped_lock work (Lockable).
TEST_F(MutexTest, TryLockAndAdaptors) {
  Mutex mu;
  EXPECT_TRUE(mu.try_lock());
  EXPECT_FALSE(mu.try_lock());
  mu.unlock();
  {
    std::unique_lock<Mutex> l(mu, std::try_to_lock);
    EXPECT_TRUE(l.owns_lock());
    EXPECT_FALSE(mu.try_lock());
  }
  {
    Mutex other;
    std::scoped_lock l(mu, other);
    EXPECT_FALSE(other.try_lock());
  }
  EXPECT_EQ(mu.state_for_testing(), 0);
  // One goroutine may unlock what another locked (as in Go).
  run([&] {
    mu.lock();
    Latch done(1);
    go([&] {
      mu.unlock();
      done.done();
    });
    done.wait();
    EXPECT_TRUE(mu.try_lock());
    mu.unlock();
  });
}

// Go's TestMutexFairness shape: one goroutine loops lock / work 100 µs /
// leave the CPU / unlock (Go's sleeps; here it yields, on one P), while
// another locks 10 times; each of those locks must succeed within 10 ms.
// Without starvation mode the looping goroutine re-takes the lock every
// time before the woken waiter runs (the waiter is only in runnext), and
// the waiter re-queues forever. Starvation mode (after 1 ms) hands the lock
// over. The machine is shared and noisy: an attempt that a descheduled
// thread spoils is retried, up to 3 times; a mutex without starvation mode
// fails all 3. Also checks, through the test hook, that starvation mode was
// entered and left.
TEST_F(MutexTest, FairnessAndStarvationMode) {
  ScopedProcs procs(1);
  Watchdog dog("mutex fairness", 120);
  const int64_t kBound = kTsan ? 50'000'000 : 10'000'000;
  MutexStats before = mutex_stats();
  int64_t worst = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    worst = 0;
    run([&] {
      Mutex mu;
      std::atomic<bool> stop{false};
      Latch hog_done(1);
      go([&] {
        while (!stop.load(std::memory_order_relaxed)) {
          mu.lock();
          busy_for(100'000);
          yield();  // Go's hog sleeps holding the lock
          mu.unlock();
        }
        hog_done.done();
      });
      yield();  // let the hog take the lock first
      for (int i = 0; i < 10; i++) {
        yield();
        int64_t t0 = sys::nanotime();
        mu.lock();
        worst = std::max(worst, sys::nanotime() - t0);
        mu.unlock();
      }
      stop.store(true);
      hog_done.wait();
    });
    if (worst < kBound) break;
  }
  EXPECT_LT(worst, kBound) << "a lock waited " << worst / 1e6 << " ms";
  MutexStats after = mutex_stats();
  EXPECT_GT(after.starvation_entered, before.starvation_entered);
  EXPECT_GT(after.starvation_left, before.starvation_left);
}

// RWMutex: readers share, writers exclude readers and each other: under
// contention from goroutines and a thread, a writer never sees a reader
// inside and readers never see a writer.
TEST_F(MutexTest, RWMutexExclusion) {
  ScopedProcs p(2);
  Watchdog dog("rwmutex exclusion", 60);
  const int64_t iters = scaled(20000, 5000, 1000);
  RWMutex rw;
  std::atomic<int> readers{0};
  std::atomic<int> writers{0};
  std::atomic<bool> bad{false};
  std::atomic<int> max_readers{0};
  auto reader = [&] {
    for (int64_t i = 0; i < iters; i++) {
      std::shared_lock<RWMutex> l(rw);
      int r = readers.fetch_add(1) + 1;
      if (writers.load() != 0) bad.store(true);
      int m = max_readers.load();
      while (r > m && !max_readers.compare_exchange_weak(m, r)) {
      }
      if (i % 32 == 0) yield();
      readers.fetch_sub(1);
    }
  };
  auto writer = [&] {
    for (int64_t i = 0; i < iters / 10; i++) {
      std::lock_guard<RWMutex> l(rw);
      if (writers.fetch_add(1) != 0 || readers.load() != 0) bad.store(true);
      writers.fetch_sub(1);
    }
  };
  run([&] {
    Latch done(6);
    for (int g = 0; g < 4; g++) {
      go([&] {
        reader();
        done.done();
      });
    }
    go([&] {
      writer();
      done.done();
    });
    KeepRunnable keep;
    std::thread t([&] {
      writer();
      done.done();
    });
    done.wait();
    t.join();
  });
  EXPECT_FALSE(bad.load());
  EXPECT_GT(max_readers.load(), 1) << "readers never overlapped";
}

// Writer preference: while a reader holds the lock and a writer waits, a
// new reader cannot get in (try_rlock fails, rlock blocks) until the writer
// has had the lock; RLocker locks the read side.
TEST_F(MutexTest, RWMutexWriterPreference) {
  ScopedProcs p(1);
  Watchdog dog("rwmutex writer preference", 60);
  run([] {
    RWMutex rw;
    std::vector<int> order;  // appended by whoever holds the lock
    RLocker rlocker(rw);
    rlocker.lock();  // reader 1 in
    Latch done(2);
    go([&] {
      rw.lock();  // waits for reader 1
      order.push_back(1);
      rw.unlock();
      done.done();
    });
    yield();  // one P: the writer runs until it parks waiting for reader 1
    EXPECT_FALSE(rw.try_rlock()) << "a reader got in past a waiting writer";
    EXPECT_FALSE(rw.try_lock());
    go([&] {
      rw.rlock();  // reader 2: must queue behind the writer
      order.push_back(2);
      rw.runlock();
      done.done();
    });
    yield();
    yield();
    EXPECT_TRUE(order.empty());
    rlocker.unlock();  // reader 1 out: the writer, then reader 2
    done.wait();
    ASSERT_EQ(order.size(), 2u);
    EXPECT_EQ(order[0], 1);
    EXPECT_EQ(order[1], 2);
    EXPECT_TRUE(rw.try_lock());
    rw.unlock();
  });
}

// ---- fatal errors: Go's messages, exit status 2, in child processes ----------

class MutexDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MutexDeathTest, UnlockOfUnlockedMutex) {
  EXPECT_EXIT(run([] {
                Mutex mu;
                mu.unlock();
              }),
              ::testing::ExitedWithCode(2),
              "^fatal error: sync: unlock of unlocked mutex\n");
  // From a plain thread too, and after a lock/unlock pair.
  EXPECT_EXIT(
      {
        Mutex mu;
        mu.lock();
        mu.unlock();
        mu.unlock();
      },
      ::testing::ExitedWithCode(2), "^fatal error: sync: unlock of unlocked mutex\n");
}

TEST_F(MutexDeathTest, RUnlockOfUnlockedRWMutex) {
  EXPECT_EXIT(run([] {
                RWMutex rw;
                rw.runlock();
              }),
              ::testing::ExitedWithCode(2),
              "^fatal error: sync: RUnlock of unlocked RWMutex\n");
  // While write-locked, a runlock is just as wrong.
  EXPECT_EXIT(run([] {
                RWMutex rw;
                rw.lock();
                rw.runlock();
              }),
              ::testing::ExitedWithCode(2),
              "^fatal error: sync: RUnlock of unlocked RWMutex\n");
}

TEST_F(MutexDeathTest, UnlockOfUnlockedRWMutex) {
  EXPECT_EXIT(run([] {
                RWMutex rw;
                rw.unlock();
              }),
              ::testing::ExitedWithCode(2),
              "^fatal error: sync: Unlock of unlocked RWMutex\n");
  EXPECT_EXIT(run([] {
                RWMutex rw;
                rw.rlock();
                rw.unlock();
              }),
              ::testing::ExitedWithCode(2),
              "^fatal error: sync: Unlock of unlocked RWMutex\n");
}

}  // namespace
}  // namespace gort::syncx
