// Tests for sys/note.h: one-shot notifications across threads.
#include "sys/note.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "sys/clock.h"
#include "sys/thread.h"

namespace gort::sys {
namespace {

#if defined(__SANITIZE_THREAD__)  // TSan: ~10x slower per atomic; scale down
constexpr int kRoundTrips = 20'000;
#else
constexpr int kRoundTrips = 100'000;
#endif

// Invariant: every wakeup is seen by exactly the sleeper it was meant for,
// in order, and carries happens-before: two threads alternately increment
// a plain (non-atomic) counter, handing the turn over through two notes;
// each side sees exactly the count the other left, the final count is
// exact, and TSan reports no race on it. A lost wakeup hangs (timeout).
TEST(NoteTest, PingPongHandsOffTheTurnEveryTime) {
  Note ping, pong;
  int64_t counter = 0;  // guarded by the turn, not by any lock
  int64_t bad_b = 0;    // written by B only, read after join
  Thread b([&] {
    for (int i = 0; i < kRoundTrips; ++i) {
      ping.sleep();
      ping.clear();  // A cannot wake ping again before pong.wakeup() below
      if (counter != 2 * i + 1) ++bad_b;
      ++counter;
      pong.wakeup();
    }
  });
  int64_t bad_a = 0;
  const int64_t start = nanotime();
  for (int i = 0; i < kRoundTrips; ++i) {
    ++counter;
    ping.wakeup();
    pong.sleep();
    pong.clear();
    if (counter != 2 * i + 2) ++bad_a;
  }
  const int64_t elapsed = nanotime() - start;
  b.join();
  EXPECT_EQ(counter, 2 * int64_t{kRoundTrips});
  EXPECT_EQ(bad_a, 0);
  EXPECT_EQ(bad_b, 0);
  std::printf("note ping-pong: %d round trips, %.2f us per round trip\n",
              kRoundTrips, elapsed / 1e3 / kRoundTrips);
}

// Invariant: a note woken before anyone sleeps on it does not block its
// sleeper: sleep() returns, and sleep_for() returns true without waiting
// out its (long) timeout.
TEST(NoteTest, WokenBeforeSleepDoesNotSleep) {
  Note n;
  EXPECT_FALSE(n.signalled());
  n.wakeup();
  EXPECT_TRUE(n.signalled());
  const int64_t start = nanotime();
  n.sleep();
  EXPECT_TRUE(n.sleep_for(10'000'000'000));  // 10 s
  EXPECT_TRUE(n.sleep_for(0));
  EXPECT_LT(nanotime() - start, 1'000'000'000);
  n.clear();
  EXPECT_FALSE(n.signalled());
}

// Invariant: sleep_for on a note nobody wakes returns false, and never
// before its timeout has passed on nanotime()'s clock.
TEST(NoteTest, SleepForTimesOutNeverEarly) {
  Note n;
  for (int64_t ns :
       {int64_t{0}, int64_t{1'000}, int64_t{100'000}, int64_t{1'000'000},
        int64_t{5'000'000}, int64_t{20'000'000}}) {
    for (int rep = 0; rep < 5; ++rep) {
      const int64_t start = nanotime();
      EXPECT_FALSE(n.sleep_for(ns));
      const int64_t elapsed = nanotime() - start;
      EXPECT_GE(elapsed, ns) << "timeout " << ns << " ns";
    }
  }
  EXPECT_FALSE(n.signalled());
}

// Invariant: a timed sleeper is woken by a wakeup from another thread long
// before its timeout, and sees what the waker wrote before waking it. The
// timeout is the largest there is: the deadline must saturate, not wrap.
TEST(NoteTest, SleepForIsWokenByAnotherThread) {
  Note n;
  int payload = 0;
  const int64_t start = nanotime();
  Thread waker([&] {
    Note pause;
    pause.sleep_for(5'000'000);  // let the sleeper get into the futex
    payload = 42;
    n.wakeup();
  });
  EXPECT_TRUE(n.sleep_for(std::numeric_limits<int64_t>::max()));
  const int64_t elapsed = nanotime() - start;
  EXPECT_EQ(payload, 42);
  EXPECT_LT(elapsed, 5'000'000'000);
  waker.join();
}

// Invariant: a wakeup racing a timed sleep's timeout is never lost. The
// sleeper polls with short, varying timeouts while the waker wakes at
// varying moments; every round the sleeper must end up seeing the wakeup
// (a lost one would leave it polling forever: the test times out), and a
// true return is only given when the note really was woken.
TEST(NoteTest, WakeupRacingTimeoutIsNeverLost) {
#if defined(__SANITIZE_THREAD__)  // TSan: ~10x slower per atomic; scale down
  constexpr int kRounds = 2'000;
#else
  constexpr int kRounds = 10'000;
#endif
  Note go, done;
  std::atomic<int> woken_round{-1};  // relaxed; the notes order it
  Thread waker([&] {
    for (int i = 0; i < kRounds; ++i) {
      go.sleep();
      go.clear();
      for (int spin = 0; spin < (i * 37) % 2000; ++spin) {
        asm volatile("" ::: "memory");  // a delay the compiler keeps
      }
      woken_round.store(i, std::memory_order_relaxed);
      done.wakeup();
    }
  });
  int timeouts = 0;
  for (int i = 0; i < kRounds; ++i) {
    go.wakeup();
    while (!done.sleep_for((i % 7) * 3'000)) ++timeouts;
    ASSERT_EQ(woken_round.load(std::memory_order_relaxed), i);
    done.clear();
  }
  waker.join();
  std::printf("racing wakeups: %d rounds, %d timeouts on the way\n", kRounds,
              timeouts);
}

// Invariant: waking a note twice without a clear is Go's fatal error:
// the message on stderr and exit status 2.
TEST(NoteDeathTest, DoubleWakeupIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Note n;
        n.wakeup();
        n.wakeup();
      },
      testing::ExitedWithCode(2), "fatal error: notewakeup - double wakeup");
}

}  // namespace
}  // namespace gort::sys
