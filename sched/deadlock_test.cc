// Tests of the runtime's fatal paths (sched/run.cc): Go's deadlock
// detection, uncaught panics, and the goroutine dump they print; and the
// cases that must NOT be called a deadlock. Each runs in a child process
// (death tests, threadsafe style: the child re-executes this binary).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "sched/internal.h"
#include "sched/sched.h"
#include "sched/sema.h"
#include "sched/test_util.h"
#include "sys/syscall.h"

namespace gort::sched {
namespace {

using testing::Latch;
using testing::Sem;

class DeadlockTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Parks the calling goroutine forever: nothing can ever ready it.
void park_forever(WaitReason reason) { park(nullptr, nullptr, reason); }

// A goroutine header of Go's dump: `goroutine 7 [chan receive]:`.
#define GOROUTINE_LINE "goroutine [0-9]+ \\[[a-z ()]+\\]:"

// The main goroutine parks with nothing to wake it and no other goroutine:
// Go's `fatal error: all goroutines are asleep - deadlock!`, then the dump
// (a blank line, then `goroutine N [reason]:`), exit status 2.
TEST_F(DeadlockTest, MainParkedForever) {
  EXPECT_EXIT(run([] { park_forever(WaitReason::kSelectNoCases); }),
              ::testing::ExitedWithCode(2),
              "^fatal error: all goroutines are asleep - deadlock!\n\n" GOROUTINE_LINE);
}

// With other goroutines parked too, the dump lists every one of them with
// its wait reason: the main goroutine as the run() call, the others with
// where they were created. (Checked one line at a time: gort prints the
// goroutines newest first, Go oldest first.)
void deadlock_with_three_goroutines() {
  run([] {
    Latch started(2);
    go([&] {
      started.done();
      park_forever(WaitReason::kChanReceive);
    });
    go([&] {
      started.done();
      park_forever(WaitReason::kSemacquire);
    });
    started.wait();
    park_forever(WaitReason::kChanSend);
  });
}

TEST_F(DeadlockTest, DumpListsEveryGoroutine) {
  const char* kDeadlock = "^fatal error: all goroutines are asleep - deadlock!\n\n" GOROUTINE_LINE;
  EXPECT_EXIT(deadlock_with_three_goroutines(), ::testing::ExitedWithCode(2), kDeadlock);
  EXPECT_EXIT(deadlock_with_three_goroutines(), ::testing::ExitedWithCode(2),
              "\ngoroutine [0-9]+ \\[chan send\\]:\ngort::run\\(\\.\\.\\.\\)\n");
  EXPECT_EXIT(deadlock_with_three_goroutines(), ::testing::ExitedWithCode(2),
              "\ngoroutine [0-9]+ \\[chan receive\\]:\ncreated by [^\n]* in goroutine [0-9]+\n"
              "\t[^\n]*sched/deadlock_test.cc:[0-9]+\n");
  EXPECT_EXIT(deadlock_with_three_goroutines(), ::testing::ExitedWithCode(2),
              "\ngoroutine [0-9]+ \\[semacquire\\]:\ncreated by ");
}

// A goroutine whose exception escapes: `panic: <what()>`, the dump starting
// with the panicking goroutine ([running]), exit status 2.
TEST_F(DeadlockTest, UncaughtExceptionPanics) {
  EXPECT_EXIT(run([] {
                Sem never;
                go([] { throw std::runtime_error("boom"); });
                never.wait();
              }),
              ::testing::ExitedWithCode(2), "^panic: boom\n\ngoroutine [0-9]+ \\[running\\]:\n");
}

// The same from the main goroutine, and for an exception that is not a
// std::exception.
TEST_F(DeadlockTest, UncaughtExceptionInMainPanics) {
  EXPECT_EXIT(run([] { throw std::logic_error("main boom"); }), ::testing::ExitedWithCode(2),
              "^panic: main boom\n\ngoroutine [0-9]+ \\[running\\]:\ngort::run");
  EXPECT_EXIT(run([] { throw 17; }), ::testing::ExitedWithCode(2),
              "^panic: unknown exception");
}

// ready() of a goroutine that is not parked is a fatal error (it would put a
// running goroutine on a run queue a second time).
TEST_F(DeadlockTest, ReadyOfRunningGoroutineIsFatal) {
  EXPECT_EXIT(run([] { ready(current_g()); }), ::testing::ExitedWithCode(2),
              "^fatal error: bad g->status in ready: running");
}

// Not a deadlock: the only goroutine is in blocking() (its M is in the
// kernel and will come back), so the idle Ms must not report one.
TEST_F(DeadlockTest, BlockedInSyscallIsNotDeadlock) {
  EXPECT_EXIT(
      {
        int r = run([] {
          blocking([] { sys::nanosleep(200'000'000); });
          return 3;
        });
        std::exit(r);
      },
      ::testing::ExitedWithCode(3), "");
}

// The main goroutine waits on a semaphore that only a plain thread will
// release, 100 ms later. `wake`: the thread releases it (else it just ends).
// Returns run()'s result, 7.
int wait_for_foreign_thread(bool wake) {
  return run([wake] {
    uint32_t sema = 0;
    std::atomic<bool> registered{false};
    std::thread t([&sema, &registered, wake] {
      ForeignThread foreign;
      registered.store(true, std::memory_order_release);
      sys::nanosleep(100'000'000);
      if (wake) semrelease(&sema, false);
    });
    t.detach();
    // Park only once the thread counts, or the check could run before.
    while (!registered.load(std::memory_order_acquire)) yield();
    semacquire(&sema, false);
    return 7;
  });
}

// Not a deadlock: every M is idle while the main goroutine waits, but a
// registered plain thread (ForeignThread) may still wake it, and does.
TEST_F(DeadlockTest, ForeignThreadKeepsDeadlockQuiet) {
  EXPECT_EXIT(std::exit(wait_for_foreign_thread(true)),
              ::testing::ExitedWithCode(7), "");
}

// When the last ForeignThread ends without waking anyone, nothing can run
// again: the deadlock is reported then, with the semacquire in the dump.
TEST_F(DeadlockTest, ForeignThreadEndingReportsDeadlock) {
  EXPECT_EXIT(std::exit(wait_for_foreign_thread(false)),
              ::testing::ExitedWithCode(2),
              "^fatal error: all goroutines are asleep - deadlock!\n\n"
              "goroutine [0-9]+ \\[semacquire\\]:");
}

}  // namespace
}  // namespace gort::sched
