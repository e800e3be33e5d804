// Tests for sys/fatal.h: the message, the exit status, the hooks, the
// checks, and that the fatal path does not allocate.
#include "sys/fatal.h"

#include <unistd.h>

#include <cstdlib>
#include <new>

#include "gtest/gtest.h"

namespace {

// Set by the death tests that forbid allocation: operator new then dies
// with a distinctive message (and status 3, not fatal's 2).
bool g_forbid_allocation = false;

}  // namespace

// A replacement operator new that aborts when allocation is forbidden.
// Counts only what goes through operator new (not malloc); enough to show
// that the fatal path builds no std::string and throws nothing. Out of
// line so that GCC does not pair a library `new` with this file's `free`
// (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(size_t n) {
  if (g_forbid_allocation) {
    static const char kMsg[] = "allocation on the fatal path\n";
    ssize_t ignored = ::write(2, kMsg, sizeof(kMsg) - 1);
    (void)ignored;
    _exit(3);
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

namespace gort::sys {
namespace {

// Invariant: fatal prints exactly `fatal error: MSG\n` and exits 2.
TEST(FatalDeathTest, MessageAndStatus) {
  EXPECT_EXIT(fatal("all goroutines are asleep - deadlock!"),
              ::testing::ExitedWithCode(2),
              "^fatal error: all goroutines are asleep - deadlock!\n$");
}

// Invariant: fatalf formats into the same line.
TEST(FatalDeathTest, Formatted) {
  EXPECT_EXIT(fatalf("sync: unlock of unlocked mutex %d/%s", 7, "x"),
              ::testing::ExitedWithCode(2),
              "^fatal error: sync: unlock of unlocked mutex 7/x\n$");
}

void hook_a() {
  static const char kMsg[] = "hook a\n";
  ssize_t ignored = ::write(2, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
}
void hook_b() {
  static const char kMsg[] = "hook b\n";
  ssize_t ignored = ::write(2, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
}
void hook_fails() { fatal("inside a hook"); }

// Invariant: hooks run after the message, in the order they were added.
TEST(FatalDeathTest, HooksRunInOrder) {
  EXPECT_EXIT(
      {
        add_fatal_hook(hook_a);
        add_fatal_hook(hook_b);
        fatal("boom");
      },
      ::testing::ExitedWithCode(2), "^fatal error: boom\nhook a\nhook b\n$");
}

// Invariant: a hook that calls fatal ends the process at once with status 2
// (no recursion into the hooks, later hooks skipped).
TEST(FatalDeathTest, RecursiveFatalInHookExits) {
  EXPECT_EXIT(
      {
        add_fatal_hook(hook_a);
        add_fatal_hook(hook_fails);
        add_fatal_hook(hook_b);
        fatal("first");
      },
      ::testing::ExitedWithCode(2),
      "^fatal error: first\nhook a\nfatal error: inside a hook\n$");
}

void noop_hook() {}

// Invariant: the registry holds kMaxFatalHooks hooks and refuses more.
TEST(FatalDeathTest, HookRegistryIsBounded) {
  EXPECT_EXIT(
      {
        for (int i = 0; i < kMaxFatalHooks; ++i) {
          if (!add_fatal_hook(noop_hook)) fatal("refused too early");
        }
        if (add_fatal_hook(noop_hook)) fatal("accepted too many");
        fatal("bounded");
      },
      ::testing::ExitedWithCode(2), "^fatal error: bounded\n$");
}

// Invariant: the fatal path does not call operator new.
TEST(FatalDeathTest, DoesNotAllocate) {
  EXPECT_EXIT(
      {
        g_forbid_allocation = true;
        fatalf("no %s here: %d", "allocation", 42);
      },
      ::testing::ExitedWithCode(2), "^fatal error: no allocation here: 42\n$");
}

// The operator-new trap itself works (so the test above can fail).
TEST(FatalDeathTest, AllocationTrapWorks) {
  EXPECT_EXIT(
      {
        g_forbid_allocation = true;
        int* volatile p = new int(1);
        (void)p;
      },
      ::testing::ExitedWithCode(3), "allocation on the fatal path");
}

// Invariant: GORT_CHECK is on in every build and names the condition and
// the place.
TEST(CheckDeathTest, CheckFails) {
  int x = 3;
  EXPECT_EXIT(GORT_CHECK(x == 4), ::testing::ExitedWithCode(2),
              "^fatal error: check failed: x == 4 at sys/fatal_test.cc:[0-9]+"
              "\n$");
}

TEST(CheckDeathTest, CheckOpPrintsOperands) {
  int x = 3;
  EXPECT_EXIT(GORT_CHECK_EQ(x, 4), ::testing::ExitedWithCode(2),
              "^fatal error: check failed: x == 4 \\(3 vs. 4\\) at "
              "sys/fatal_test.cc:[0-9]+\n$");
  EXPECT_EXIT(GORT_CHECK_LT(5, x), ::testing::ExitedWithCode(2),
              "check failed: 5 < x \\(5 vs. 3\\)");
}

// Invariant: passing checks evaluate their operands exactly once and do
// nothing else.
TEST(CheckTest, PassingChecksEvaluateOnce) {
  int n = 0;
  GORT_CHECK(++n == 1);
  GORT_CHECK_EQ(++n, 2);
  GORT_CHECK_GE(n++, 2);
  EXPECT_EQ(n, 3);
}

// Invariant: GORT_DCHECK evaluates its condition only in debug builds
// (NDEBUG unset), yet always compiles it.
TEST(CheckTest, DcheckEvaluatesOnlyInDebug) {
  int evaluated = 0;
  GORT_DCHECK(++evaluated > 0);
#ifdef NDEBUG
  EXPECT_EQ(evaluated, 0);
#else
  EXPECT_EQ(evaluated, 1);
#endif
}

#ifndef NDEBUG
TEST(CheckDeathTest, DcheckFailsInDebug) {
  EXPECT_EXIT(GORT_DCHECK(1 + 1 == 3), ::testing::ExitedWithCode(2),
              "check failed: 1 \\+ 1 == 3");
}
#endif

}  // namespace
}  // namespace gort::sys
