// Tests for sys/signal.h: alternate signal stacks and handler installation.
#include "sys/signal.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "sys/syscall.h"
#include "sys/thread.h"

namespace gort::sys {
namespace {

// Written by the handler (async-signal-safe: lock-free atomics only).
std::atomic<uintptr_t> g_handler_local{0};
std::atomic<int> g_handler_calls{0};

void record_stack(int sig, siginfo_t* info, void* ucontext) {
  volatile char local = 0;
  g_handler_local.store(reinterpret_cast<uintptr_t>(&local),
                        std::memory_order_relaxed);
  g_handler_calls.fetch_add(1, std::memory_order_relaxed);
}

// Sends SIGUSR1 to the calling thread and returns once the handler ran.
// pthread_kill (not sys::tgkill) on purpose: ThreadSanitizer defers
// asynchronous signals and later runs the handler from its own code on the
// ordinary stack, but it runs a signal a thread sends itself through
// pthread_kill at once, inside its wrapper, on the stack the kernel chose.
// Without TSan both deliver on return from the tgkill syscall.
void deliver_sigusr1_to_self() {
  const int before = g_handler_calls.load();
  ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
  ASSERT_EQ(g_handler_calls.load(), before + 1);
}

// Invariant: a handler installed with install_signal_handler runs on the
// thread's SignalStack: the address of a local in the handler lies inside
// the stack's [lo, hi).
TEST(SignalTest, HandlerRunsOnTheAlternateStack) {
  ASSERT_EQ(install_signal_handler(SIGUSR1, &record_stack), 0);
  SignalStack stack;
  EXPECT_GE(stack.size(), SignalStack::kDefaultSize);
  deliver_sigusr1_to_self();
  const uintptr_t local = g_handler_local.load();
  EXPECT_TRUE(stack.contains(reinterpret_cast<void*>(local)))
      << std::hex << local << " not in [" << stack.lo() << ", " << stack.hi()
      << ")";
}

// Invariant: the same holds on a thread started by sys::Thread with its
// own SignalStack (each thread has its own alternate stack).
TEST(SignalTest, EachThreadUsesItsOwnStack) {
  ASSERT_EQ(install_signal_handler(SIGUSR1, &record_stack), 0);
  SignalStack main_stack;
  bool inside = false;
  bool inside_main = true;
  Thread t([&] {
    SignalStack stack(128 * 1024);
    deliver_sigusr1_to_self();
    auto* local = reinterpret_cast<void*>(g_handler_local.load());
    inside = stack.contains(local);
    inside_main = main_stack.contains(local);
  });
  t.join();
  EXPECT_TRUE(inside);
  EXPECT_FALSE(inside_main);
}

// Invariant: install_signal_handler sets SA_SIGINFO, SA_ONSTACK and
// SA_RESTART plus the extra flags, blocks every signal while the handler
// runs, and rejects signals that cannot be caught with -EINVAL.
TEST(SignalTest, HandlerFlagsAndMask) {
  ASSERT_EQ(install_signal_handler(SIGUSR2, &record_stack, SA_NODEFER), 0);
  struct sigaction sa = {};
  ASSERT_EQ(sigaction(SIGUSR2, nullptr, &sa), 0);
  EXPECT_EQ(sa.sa_sigaction, &record_stack);
  const int want = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
  EXPECT_EQ(sa.sa_flags & want, want);
  EXPECT_EQ(sigismember(&sa.sa_mask, SIGINT), 1);
  EXPECT_EQ(sigismember(&sa.sa_mask, SIGTERM), 1);
  EXPECT_EQ(install_signal_handler(SIGKILL, &record_stack), -EINVAL);
  signal(SIGUSR2, SIG_DFL);
}

// Invariant: a SignalStack is installed for its lifetime only: while it
// lives sigaltstack reports it, and afterwards the thread's previous
// alternate stack (none, or the sanitizer's) is back exactly as it was.
TEST(SignalTest, PreviousStackIsRestored) {
  stack_t before = {}, during = {}, after = {};
  ASSERT_EQ(sigaltstack(nullptr, &before), 0);
  {
    SignalStack stack;
    ASSERT_EQ(sigaltstack(nullptr, &during), 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(during.ss_sp), stack.lo());
    EXPECT_EQ(during.ss_size, stack.size());
    EXPECT_EQ(during.ss_flags & SS_DISABLE, 0);
  }
  ASSERT_EQ(sigaltstack(nullptr, &after), 0);
  EXPECT_EQ(after.ss_sp, before.ss_sp);
  EXPECT_EQ(after.ss_size, before.ss_size);
  EXPECT_EQ(after.ss_flags, before.ss_flags);
}

// Invariant: the page below the stack is a guard: writing to it faults
// (a handler overflowing its stack dies instead of corrupting memory).
// The child must get past the constructor (the marker is printed) and then
// die of the fault: SIGSEGV itself, or the sanitizer's report of it (exit
// status neither 0 nor fatal()'s 2).
TEST(SignalDeathTest, GuardPageBelowTheStackFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto died_of_fault = [](int status) {
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGSEGV;
    return WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
           WEXITSTATUS(status) != 2;
  };
  EXPECT_EXIT(
      {
        SignalStack stack;
        fprintf(stderr, "touching the guard page\n");
        *reinterpret_cast<volatile char*>(stack.lo() - 1) = 1;
        fprintf(stderr, "guard page was writable\n");
        _exit(0);
      },
      died_of_fault, "touching the guard page");
}

}  // namespace
}  // namespace gort::sys
