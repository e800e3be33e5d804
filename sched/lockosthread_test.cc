// lock_os_thread: a locked goroutine keeps its thread and owns it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

namespace gort::sched {
namespace {

using testing::gettid_now;
using testing::Latch;
using testing::ScopedProcs;
using testing::Sem;
using testing::Watchdog;

bool thread_exists(int32_t tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
  return access(path, F_OK) == 0;
}

bool is_wired_here() {
  G* g = current_g();
  M* m = getm();
  return g != nullptr && g->locked_m == m && m->locked_g == g;
}

class LockOSThreadTest : public testing::SchedTest,
                         public ::testing::WithParamInterface<int> {};

// Invariants, with 1 and 2 Ps: (a) a locked goroutine sees one kernel
// thread id across 1000 yields and 1000 parks, while busy goroutines run;
// (b) while it is locked no other goroutine ever runs on its thread; (c) the
// others keep running meanwhile (with one P, a locked goroutine that parks
// must hand its P over, or its waker never runs and the test hangs).
TEST_P(LockOSThreadTest, LockedGoroutineKeepsAndOwnsItsThread) {
  const int procs = GetParam();
  const int iters = 1000;
  constexpr int kWorkers = 4;
  Watchdog watchdog("LockedGoroutineKeepsAndOwnsItsThread", 120);
  std::atomic<int32_t> locked_tid{0};
  std::atomic<bool> active{false};
  std::atomic<bool> done{false};
  std::atomic<int> moved{0};
  std::atomic<int> intruders{0};
  std::atomic<int64_t> worker_runs{0};
  std::atomic<int> parks{0};
  std::mutex tids_mu;
  std::set<int32_t> worker_tids;
  run([&] {
    ScopedProcs scoped(procs);
    Latch finished(kWorkers + 2);
    Sem ping;  // the locked goroutine -> its waker
    Sem pong;  // the waker -> the locked goroutine (which parks on it)
    go([&] {
      lock_os_thread();
      int32_t tid = gettid_now();
      locked_tid.store(tid);
      active.store(true);  // from here until `active` is false: locked
      for (int i = 0; i < iters; i++) {
        yield();
        if (gettid_now() != tid) moved.fetch_add(1);
        ping.post();
        pong.wait();  // parks until the waker runs somewhere else
        parks.fetch_add(1);
        if (gettid_now() != tid) moved.fetch_add(1);
      }
      active.store(false);
      unlock_os_thread();
      done.store(true);
      ping.post();
      finished.done();
    });
    go([&] {  // the waker
      for (;;) {
        ping.wait();
        if (done.load()) break;
        pong.post();
      }
      finished.done();
    });
    for (int w = 0; w < kWorkers; w++) {
      go([&] {
        std::set<int32_t> seen;
        while (!done.load()) {
          // A goroutine only changes thread when it yields, so `active`
          // and the tid are read on one thread: if the locked goroutine is
          // wired at the first read and this is its thread, that is a bug.
          bool locked_now = active.load();
          int32_t tid = gettid_now();
          if (locked_now && tid == locked_tid.load()) intruders.fetch_add(1);
          seen.insert(tid);
          worker_runs.fetch_add(1);
          yield();
        }
        std::lock_guard<std::mutex> l(tids_mu);
        worker_tids.insert(seen.begin(), seen.end());
        finished.done();
      });
    }
    finished.wait();
  });
  EXPECT_EQ(parks.load(), iters);
  EXPECT_EQ(moved.load(), 0) << "the locked goroutine changed thread";
  EXPECT_EQ(intruders.load(), 0)
      << "another goroutine ran on the locked thread";
  EXPECT_GT(worker_runs.load(), 0);
  EXPECT_FALSE(worker_tids.empty());
}

INSTANTIATE_TEST_SUITE_P(Procs, LockOSThreadTest, ::testing::Values(1, 2));

class LockOSThreadBasics : public testing::SchedTest {};

// Invariant: calls nest (Go 1.10+): the goroutine stays wired until it has
// unlocked as many times as it locked; an extra unlock is a no-op; a plain
// thread's calls do nothing.
TEST_F(LockOSThreadBasics, CallsNest) {
  lock_os_thread();  // a plain thread: no effect, no crash
  unlock_os_thread();
  bool after_two_locks = false, after_one_unlock = false,
       after_two_unlocks = true, after_extra_unlock = true, relocked = false;
  bool stayed = true;
  run([&] {
    lock_os_thread();
    lock_os_thread();
    after_two_locks = is_wired_here();
    unlock_os_thread();
    after_one_unlock = is_wired_here();
    int32_t tid = gettid_now();
    for (int i = 0; i < 50; i++) {
      yield();
      if (gettid_now() != tid) stayed = false;
    }
    unlock_os_thread();
    after_two_unlocks = is_wired_here();
    unlock_os_thread();
    after_extra_unlock = is_wired_here();
    lock_os_thread();
    relocked = is_wired_here();
    unlock_os_thread();
  });
  EXPECT_TRUE(after_two_locks);
  EXPECT_TRUE(after_one_unlock);
  EXPECT_TRUE(stayed);
  EXPECT_FALSE(after_two_unlocks);
  EXPECT_FALSE(after_extra_unlock);
  EXPECT_TRUE(relocked);
}

// Invariant: a goroutine that exits still locked takes its thread with it
// (Go kills the thread): the thread ends, its M leaves allm and mcount, and
// the scheduler goes on running goroutines. The main goroutine too.
TEST_F(LockOSThreadBasics, ExitingLockedGoroutineEndsItsThread) {
  Watchdog watchdog("ExitingLockedGoroutineEndsItsThread", 60);
  std::atomic<int32_t> tid{0};
  M* locked_m = nullptr;
  run([&] {
    Latch latch(1);
    go([&] {
      lock_os_thread();
      locked_m = getm();
      tid.store(gettid_now());
      latch.done();
    });  // returns locked
    latch.wait();
  });
  ASSERT_NE(tid.load(), 0);
  int64_t deadline = sys::nanotime() + 10'000'000'000;
  while (thread_exists(tid.load()) && sys::nanotime() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(thread_exists(tid.load())) << "the locked thread did not end";
  {
    Sched& s = sched();
    sys::MutexLock l(s.lock);
    for (M* m = s.allm; m != nullptr; m = m->all_link) {
      EXPECT_NE(m, locked_m) << "the retired M is still on allm";
    }
  }
  // The same for the main goroutine: run returns, and its thread ends.
  std::atomic<int32_t> main_tid{0};
  run([&] {
    lock_os_thread();
    main_tid.store(gettid_now());
  });
  deadline = sys::nanotime() + 10'000'000'000;
  while (thread_exists(main_tid.load()) && sys::nanotime() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(thread_exists(main_tid.load()));
  // The runtime still works, on the remaining and new threads.
  std::atomic<int> n{0};
  run([&] {
    Latch latch(100);
    for (int i = 0; i < 100; i++) {
      go([&] {
        yield();
        n.fetch_add(1);
        latch.done();
      });
    }
    latch.wait();
  });
  EXPECT_EQ(n.load(), 100);
}

// Invariant: a locked goroutine keeps its thread across blocking() calls,
// including when sysmon took the P away during the call and no P is free
// when it returns (the M then waits for the goroutine instead of going
// idle).
TEST_F(LockOSThreadBasics, KeepsItsThreadAcrossBlockingCalls) {
  Watchdog watchdog("KeepsItsThreadAcrossBlockingCalls", 60);
  std::atomic<bool> done{false};
  int moved = 0;
  run([&] {
    ScopedProcs scoped(2);
    Latch finished(3);
    for (int w = 0; w < 2; w++) {  // keep both Ps busy
      go([&] {
        while (!done.load()) yield();
        finished.done();
      });
    }
    go([&] {
      lock_os_thread();
      int32_t tid = gettid_now();
      for (int i = 0; i < 5; i++) {
        blocking([] { usleep(20'000); });  // > 10 ms: sysmon retakes the P
        if (gettid_now() != tid) moved++;
        yield();
        if (gettid_now() != tid) moved++;
      }
      unlock_os_thread();
      done.store(true);
      finished.done();
    });
    finished.wait();
  });
  EXPECT_EQ(moved, 0);
}

// Invariant: an M asleep for its locked goroutine counts as idle in
// deadlock detection (nmidlelocked): with every goroutine parked for good,
// one of them locked, the runtime reports Go's deadlock instead of hanging.
TEST(LockOSThreadDeathTest, LockedIdleMCountsAsIdleForDeadlock) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog watchdog("deadlock detection", 20);
        run([] {
          static Sem never_locked;
          static Sem never_main;
          go([] {
            lock_os_thread();
            never_locked.wait();
          });
          never_main.wait();
        });
      },
      ::testing::ExitedWithCode(2), "all goroutines are asleep - deadlock!");
}

}  // namespace
}  // namespace gort::sched
