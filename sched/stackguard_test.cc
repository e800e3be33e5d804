// Tests of the runtime's SIGSEGV/SIGBUS handler (sched/stackguard.cc):
// stack overflow in a goroutine is Go's fatal error, a fault in the
// runtime's own code is Go's "unexpected signal during runtime execution",
// and any other fault is left to whoever handled it before the runtime (the
// default action, or ASan's reporter).
//
// Each case runs in a child process (gtest death tests, "threadsafe"
// style: the child re-executes the binary, so it starts a runtime of its
// own rather than inheriting a forked copy without its threads).
//
// Outside namespace gort on purpose: the handler counts code named in
// namespace gort as the runtime's (sched/preempt.cc).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>

#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/context.h"

namespace {

using gort::sched::testing::kAsan;
using gort::sched::testing::kTsan;

// Always true; volatile so that the compiler cannot prove the recursion
// endless (GCC warns about, and may transform, recursion it sees never
// ends).
volatile bool g_keep_going = true;

// Uses about 1 KiB of stack per call until the stack runs out.
[[gnu::noinline]] int recurse(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[sizeof(frame) - 1] = 1;
  if (!g_keep_going) return frame[0];
  return recurse(depth + 1) + frame[0] + frame[sizeof(frame) - 1];
}

// An address that is never mapped (below mmap_min_addr).
volatile uintptr_t g_unmapped_address = 0x10;

class StackGuardDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// Test (c). Invariant: endless recursion in a goroutine ends the process
// with status 2 and Go's messages: the limit line naming the goroutine,
// then `fatal error: stack overflow`, then the goroutine dump with the
// overflowing goroutine first.
TEST_F(StackGuardDeathTest, OverflowInGoroutineIsFatal) {
  EXPECT_EXIT(
      {
        gort::run([] {
          gort::go([] { recurse(0); });
          for (;;) gort::yield();
        });
      },
      ::testing::ExitedWithCode(2),
      "runtime: goroutine [0-9]+ stack exceeds [0-9]+-byte limit\n"
      "runtime: sp=0x[0-9a-f]+ stack=\\[0x[0-9a-f]+, 0x[0-9a-f]+\\]\n"
      "fatal error: stack overflow\n\ngoroutine [0-9]+ \\[running\\]:");
}

// Invariant: the same holds for the main goroutine of run().
TEST_F(StackGuardDeathTest, OverflowInMainGoroutineIsFatal) {
  EXPECT_EXIT(gort::run([] { return recurse(0); }),
              ::testing::ExitedWithCode(2), "fatal error: stack overflow");
}

// Invariant: a fault inside the runtime's own code (here the context
// switch, loading a frame from an unmapped address) is Go's "unexpected
// signal during runtime execution", with the signal and the faulting
// address, and exit status 2.
TEST_F(StackGuardDeathTest, FaultInRuntimeCodeIsUnexpectedSignal) {
  EXPECT_EXIT(
      {
        gort::run([] {
          void* save = nullptr;
          // Below mmap_min_addr: never mapped.
          gort_context_switch(&save, reinterpret_cast<void*>(0x8000), 0);
        });
      },
      ::testing::ExitedWithCode(2),
      "fatal error: unexpected signal during runtime execution\n"
      "\\[signal SIGSEGV: segmentation violation code=0x[0-9a-f]+ "
      "addr=0x8000 pc=0x[0-9a-f]+\\]");
}

// Invariant: a fault in the user's own code that is not a stack overflow is
// not the runtime's to report: the process dies as it would without gort
// (killed by SIGSEGV), or, under a sanitizer, with the sanitizer's report.
TEST_F(StackGuardDeathTest, UserFaultIsLeftToThePreviousHandler) {
  auto crash = [] {
    gort::run([] {
      // Through a volatile global: a store the compiler can prove is to
      // nullptr is undefined behaviour, and GCC deletes it.
      *reinterpret_cast<volatile int*>(g_unmapped_address) = 1;
    });
  };
  if (kAsan) {
    EXPECT_EXIT(crash(), ::testing::ExitedWithCode(1),
                "AddressSanitizer: SEGV on unknown address 0x0+10");
  } else if (kTsan) {  // TSan's reporter; 66 is its default exitcode
    EXPECT_EXIT(crash(), ::testing::ExitedWithCode(66),
                "ThreadSanitizer: SEGV on unknown address 0x0+10");
  } else {
    EXPECT_EXIT(crash(), ::testing::KilledBySignal(SIGSEGV), "");
  }
}

}  // namespace
