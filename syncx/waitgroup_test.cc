// Tests of syncx/waitgroup.h: WaitGroup (races, waiters from goroutines
// and threads, the panics), Once (exactly once under a race, done even if
// f throws), Cond (signal wakes in wait order, broadcast wakes all).
#include "syncx/waitgroup.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sched/panic.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "syncx/mutex.h"
#include "syncx/test_util.h"

namespace gort::syncx {
namespace {

using sched::testing::Latch;
using sched::testing::ScopedProcs;
using sched::testing::scaled;
using sched::testing::SchedTest;
using sched::testing::Watchdog;
using testing::KeepRunnable;

class WaitGroupTest : public SchedTest {};

// Go's TestWaitGroupRace: in every round, two goroutines increment a
// counter and call done; wait returns only after both increments.
TEST_F(WaitGroupTest, Race) {
  ScopedProcs p(2);
  Watchdog dog("waitgroup race", 60);
  const int rounds = static_cast<int>(scaled(1000, 300, 50));
  run([&] {
    for (int r = 0; r < rounds; r++) {
      WaitGroup wg;
      std::atomic<int> n{0};
      wg.add(2);
      go([&] {
        n.fetch_add(1);
        wg.done();
      });
      go([&] {
        n.fetch_add(1);
        wg.done();
      });
      wg.wait();
      ASSERT_EQ(n.load(), 2) << "round " << r;
    }
  });
}

// Several waiters, goroutines and threads, all released by the last done;
// everything each worker wrote is visible to every waiter.
TEST_F(WaitGroupTest, ManyWaitersGoroutinesAndThreads) {
  ScopedProcs p(2);
  Watchdog dog("waitgroup waiters", 60);
  run([] {
    KeepRunnable keep;
    WaitGroup work;
    std::vector<int> results(16, 0);
    work.add(16);
    std::atomic<int> released{0};
    WaitGroup waiters;
    waiters.add(6);
    for (int i = 0; i < 4; i++) {
      go([&] {
        work.wait();
        for (int v : results) EXPECT_EQ(v, 1);
        released.fetch_add(1);
        waiters.done();
      });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; i++) {
      threads.emplace_back([&] {
        work.wait();
        for (int v : results) EXPECT_EQ(v, 1);
        released.fetch_add(1);
        waiters.done();
      });
    }
    for (int i = 0; i < 16; i++) {
      go([&, i] {
        results[i] = 1;
        work.done();
      });
    }
    waiters.wait();
    EXPECT_EQ(released.load(), 6);
    for (auto& t : threads) t.join();
  });
}

// Go's panic for a negative counter, catchable as gort::Panic.
TEST_F(WaitGroupTest, NegativeCounterPanics) {
  WaitGroup wg;
  wg.add(1);
  wg.done();
  try {
    wg.done();
    FAIL() << "no panic";
  } catch (const Panic& p) {
    EXPECT_STREQ(p.what(), "sync: negative WaitGroup counter");
  }
}

// Reuse before the previous wait has returned: on one P, the last done()
// readies the waiter (into runnext) but keeps running and starts a new
// round with add(1) before the waiter runs; the waiter then finds the
// state non-zero and panics with Go's message.
TEST_F(WaitGroupTest, ReuseBeforeWaitReturnedPanics) {
  ScopedProcs procs(1);
  Watchdog dog("waitgroup reuse", 60);
  std::string message;
  run([&] {
    WaitGroup wg;
    Latch done(1);
    wg.add(1);
    go([&] {
      try {
        wg.wait();
      } catch (const Panic& p) {
        message = p.what();
      }
      done.done();
    });
    yield();  // the waiter parks in wait()
    wg.done();
    wg.add(1);  // reuse at once
    done.wait();
    wg.done();
  });
  EXPECT_EQ(message, "sync: WaitGroup is reused before previous Wait has returned");
}

// Go's TestOnce shape with a race: many goroutines and a thread call the
// same Once; f runs exactly once and every caller returns after it.
TEST_F(WaitGroupTest, OnceRunsExactlyOnce) {
  ScopedProcs p(2);
  Watchdog dog("once", 60);
  for (int round = 0; round < scaled(200, 50, 10); round++) {
    Once once;
    std::atomic<int> calls{0};
    int value = 0;  // written by f, read by every caller after call
    run([&] {
      KeepRunnable keep;
      WaitGroup wg;
      wg.add(9);
      auto body = [&] {
        once.call([&] {
          calls.fetch_add(1);
          value = 42;
        });
        EXPECT_EQ(value, 42);
        wg.done();
      };
      for (int i = 0; i < 8; i++) go(body);
      std::thread t(body);
      wg.wait();
      t.join();
    });
    ASSERT_EQ(calls.load(), 1);
    EXPECT_TRUE(once.done());
  }
}

// Go's TestOncePanic: if f throws, the exception propagates from that call
// and the Once is done: later calls do not run f.
TEST_F(WaitGroupTest, OnceDoneEvenIfFThrows) {
  Once once;
  EXPECT_THROW(once.call([] { throw std::runtime_error("f failed"); }),
               std::runtime_error);
  bool ran = false;
  once.call([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_TRUE(once.done());
}

// Cond: waiters that waited in a known order (one at a time, each
// registered under the lock) are woken by signal in that order, one per
// signal; broadcast wakes all the rest.
TEST_F(WaitGroupTest, CondSignalOrderAndBroadcast) {
  ScopedProcs p(1);
  Watchdog dog("cond", 60);
  run([] {
    Mutex mu;
    Cond cond(mu);
    int waiting = 0;             // under mu
    std::vector<int> woken;      // under mu
    std::vector<bool> go_ahead(6, false);  // under mu
    WaitGroup wg;
    wg.add(6);
    for (int i = 0; i < 6; i++) {
      go([&, i] {
        std::unique_lock<Mutex> l(mu);
        waiting++;
        while (!go_ahead[i]) cond.wait();
        woken.push_back(i);
        wg.done();
      });
      // One P: the goroutine runs until it parks in wait().
      while (true) {
        yield();
        std::lock_guard<Mutex> l(mu);
        if (waiting == i + 1) break;
      }
    }
    // Every waiter may go; signal wakes the oldest ticket each time.
    {
      std::lock_guard<Mutex> l(mu);
      for (int i = 0; i < 6; i++) go_ahead[i] = true;
    }
    for (int i = 0; i < 3; i++) {
      cond.signal();
      for (int k = 0; k < 4; k++) yield();
      std::lock_guard<Mutex> l(mu);
      ASSERT_EQ(woken.size(), static_cast<size_t>(i + 1));
      EXPECT_EQ(woken[i], i);
    }
    cond.broadcast();
    wg.wait();
    std::lock_guard<Mutex> l(mu);
    ASSERT_EQ(woken.size(), 6u);
    for (int i = 0; i < 3; i++) EXPECT_EQ(woken[i], i);
  });
}

// Cond with a plain thread waiting on a std::mutex, signalled by a
// goroutine (Cond works with any BasicLockable, and from threads).
TEST_F(WaitGroupTest, CondFromThread) {
  Watchdog dog("cond thread", 60);
  std::mutex mu;
  Cond cond(mu);
  bool ready = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> l(mu);
    while (!ready) cond.wait();
  });
  run([&] {
    go([&] {
      std::lock_guard<std::mutex> l(mu);
      ready = true;
      cond.broadcast();
    });
  });
  t.join();
  EXPECT_TRUE(ready);
}

}  // namespace
}  // namespace gort::syncx
