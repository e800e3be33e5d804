// Tests for sys/thread.h: OS threads with a chosen stack size.
#include "sys/thread.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "sys/syscall.h"

namespace gort::sys {
namespace {

// The stack size pthread reports for the calling thread.
size_t my_stack_size() {
  pthread_attr_t attr;
  EXPECT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  size_t size = 0;
  pthread_attr_getstacksize(&attr, &size);
  pthread_attr_destroy(&attr);
  return size;
}

// Recurses, 4 KiB of frame at a time, until the stack has grown `depth`
// bytes below `top`. Returns a value that depends on every frame so that
// the compiler can neither drop the frames nor turn this into a loop.
__attribute__((noinline)) int recurse(uintptr_t top, size_t depth) {
  volatile char frame[4096];
  frame[0] = 1;
  frame[sizeof(frame) - 1] = 1;
  const auto here = reinterpret_cast<uintptr_t>(&frame[0]);
  if (top - here >= depth) return frame[0];
  return recurse(top, depth) + frame[sizeof(frame) - 1];
}

// Invariant: the requested stack size is honoured. A thread asking for
// 32 MiB gets at least that much (pthread's view of its own stack), and
// recursion 24 MiB deep, three times the 8 MiB default, runs without
// faulting.
TEST(ThreadTest, LargeStackSizeIsHonoured) {
  constexpr size_t kStack = 32 << 20;
  constexpr size_t kDepth = 24 << 20;
  size_t seen = 0;
  int frames = 0;
  Thread t(
      [&] {
        seen = my_stack_size();
        volatile char top_marker = 0;
        frames = recurse(reinterpret_cast<uintptr_t>(&top_marker), kDepth);
      },
      {.stack_size = kStack});
  t.join();
  EXPECT_GE(t.stack_size(), kStack);
  EXPECT_GE(seen, kStack);
  EXPECT_GE(frames, static_cast<int>(kDepth / 4096 / 2));
}

// Invariant: a small request is honoured too (rounded up to whole pages,
// never below what was asked).
TEST(ThreadTest, SmallStackSizeIsHonoured) {
  constexpr size_t kStack = 100'000;  // not a page multiple
  size_t seen = 0;
  Thread t([&] { seen = my_stack_size(); }, {.stack_size = kStack});
  t.join();
  EXPECT_GE(t.stack_size(), kStack);
  EXPECT_EQ(t.stack_size() % static_cast<size_t>(sysconf(_SC_PAGESIZE)), 0u);
  EXPECT_GE(seen, kStack);
}

// Invariant: the function runs on a different OS thread, and its effects
// are visible after join(); tid() is that thread's kernel id, the same as
// gettid(2) inside it, and current_tid() agrees with gettid(2) on both
// threads.
TEST(ThreadTest, RunsOnANewThreadWithItsOwnTid) {
  int32_t inside_cached = 0;
  long inside_syscall = 0;
  Thread t([&] {
    inside_cached = current_tid();
    inside_syscall = sys::gettid();
  });
  const int32_t reported = t.tid();
  t.join();
  EXPECT_EQ(inside_cached, inside_syscall);
  EXPECT_EQ(reported, inside_cached);
  EXPECT_NE(reported, current_tid());
  EXPECT_EQ(current_tid(), sys::gettid());
  EXPECT_EQ(t.tid(), reported);  // still valid after join
}

void set_flag(void* arg) {
  static_cast<std::atomic<int>*>(arg)->store(7, std::memory_order_relaxed);
}

// Invariant: the function-pointer form runs fn(arg).
TEST(ThreadTest, FunctionPointerFormRunsWithArgument) {
  std::atomic<int> flag{0};
  Thread t(&set_flag, &flag);
  t.join();
  EXPECT_EQ(flag.load(), 7);
}

// Invariant: the thread takes the requested name, cut to the kernel's 15
// bytes.
TEST(ThreadTest, NameIsSetAndTruncated) {
  char name[32] = {};
  Thread t([&] { pthread_getname_np(pthread_self(), name, sizeof(name)); },
           {.name = "gort-worker-123456789"});
  t.join();
  EXPECT_STREQ(name, "gort-worker-123");
}

// Invariant: a detached thread still runs to completion (it reports back
// through an atomic the test waits for) and its tid stays readable.
TEST(ThreadTest, DetachedThreadRuns) {
  std::atomic<int> done{0};
  Thread t([&] { done.store(1, std::memory_order_release); });
  t.detach();
  EXPECT_FALSE(t.joinable());
  EXPECT_GT(t.tid(), 0);
  while (done.load(std::memory_order_acquire) == 0) sys::sched_yield();
}

// Invariant: moving a Thread moves the obligation to join it.
TEST(ThreadTest, MoveTransfersOwnership) {
  std::atomic<int> ran{0};
  Thread a([&] { ran.store(1); });
  Thread b(std::move(a));
  EXPECT_FALSE(a.joinable());
  EXPECT_TRUE(b.joinable());
  b.join();
  EXPECT_EQ(ran.load(), 1);
}

// Invariant: the cached thread id is not inherited by a forked child: in
// the child current_tid() is the child's own id (its pid), not the
// parent's cached value.
TEST(ThreadTest, CurrentTidIsFreshAfterFork) {
  const int32_t parent = current_tid();  // primes the cache
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int32_t child = current_tid();
    _exit(child == getpid() && child != parent ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Invariant: destroying a Thread that was neither joined nor detached is a
// fatal error (as std::thread terminates), not a silent leak.
TEST(ThreadDeathTest, DestroyingAJoinableThreadIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::atomic<bool> stop{false};
        Thread t([&] {
          while (!stop.load()) sys::sched_yield();
        });
      },
      testing::ExitedWithCode(2),
      "fatal error: thread: destroyed while joinable");
}

}  // namespace
}  // namespace gort::sys
