// sched/test_util.h: helpers shared by the scheduler's tests (testonly).
//
//   Sem          a counting semaphore built from park/ready only: the
//                "simple wait" the tests use to join and to hand off
//   Latch        waits until n done() calls (a WaitGroup of fixed count)
//   Watchdog     aborts a hung test with the goroutine dump (SIGQUIT)
//   ScopedProcs  sets GOMAXPROCS for a scope and restores it
//   SchedTest    a fixture whose TearDown fails on leaked goroutines
//   kScale       how far stress tests scale down under sanitizers
//
// Thread safety: Sem::post and Latch::done may be called from goroutines
// and plain threads; Sem::wait and Latch::wait only on a goroutine (they
// park). Everything else is used by one thread.
//
// Memory ordering: a Sem's count and waiter are under its sys::Mutex; the
// lock orders whatever the poster wrote before post() before whatever the
// waiter does after wait() returns (the waiter either takes the count under
// the lock or is readied by the poster after the poster's critical section,
// and ready() publishes through the run queue). Latch's counter is an
// acq_rel RMW, so the last done() sees every earlier done()'s writes before
// it posts.
#ifndef GORT_SCHED_TEST_UTIL_H_
#define GORT_SCHED_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <thread>

#include "sched/internal.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "sys/fatal.h"
#include "sys/mutex.h"

namespace gort::sched::testing {

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAsan = true;
#else
inline constexpr bool kAsan = false;
#endif

// The kernel thread id, read by a real syscall every time (a cached TLS
// value could be stale after the goroutine moved to another M).
inline int32_t gettid_now() { return static_cast<int32_t>(::syscall(SYS_gettid)); }

// A counting semaphore from park/ready. post() hands its token straight to a
// parked waiter (so the waiter never re-checks), else banks it. At most one
// goroutine waits at a time (the tests give each Sem one owner).
//
// post and wait are out of line on purpose: they hold a thread-blocking
// sys::Mutex, and a goroutine preempted by signal while holding it would
// block every other goroutine that tries to take it with their Ms and Ps
// (and a stop-the-world waiting for those Ps forever). Functions named in
// namespace gort are never preempted asynchronously (sched/preempt.h), but
// only if their code is not inlined into the caller's.
class Sem {
 public:
  // Gives one token: readies the waiter if one is parked, else counts it.
  [[gnu::noinline]] void post() {
    mu_.lock();
    G* g = waiter_;
    if (g != nullptr) {
      waiter_ = nullptr;
      mu_.unlock();
      ready(g);
      return;
    }
    count_++;
    mu_.unlock();
  }

  // Takes one token, parking until there is one. REQUIRES: on a goroutine;
  // no other goroutine waits on this Sem at the same time.
  [[gnu::noinline]] void wait() {
    mu_.lock();
    if (count_ > 0) {
      count_--;
      mu_.unlock();
      return;
    }
    GORT_CHECK(waiter_ == nullptr);
    waiter_ = current_g();
    GORT_CHECK(waiter_ != nullptr);
    park_unlock(&mu_, WaitReason::kSemacquire);  // post() gave us the token
  }

  // Banked tokens (for checks after the fact).
  [[gnu::noinline]] int64_t count() {
    sys::MutexLock l(mu_);
    return count_;
  }

 private:
  sys::Mutex mu_;
  int64_t count_ = 0;   // under mu_
  G* waiter_ = nullptr;  // under mu_; kWaiting once mu_ is released by park
};

// Waits for n done() calls.
class Latch {
 public:
  explicit Latch(int64_t n) : left_(n) {}
  void done() {
    // acq_rel: the last one sees every earlier done()'s writes and publishes
    // them through sem_.
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) sem_.post();
  }
  // REQUIRES: on a goroutine; one waiter.
  // Called once.
  void wait() { sem_.wait(); }

 private:
  std::atomic<int64_t> left_;
  Sem sem_;
};

// Prints a message and raises SIGQUIT (the runtime's dump handler prints
// every goroutine and exits 2) if not destroyed within `seconds`: a hung
// test fails fast, with the state of every goroutine, instead of at Bazel's
// timeout.
class Watchdog {
 public:
  Watchdog(const char* what, int seconds)
      : what_(what), thread_([this, seconds] { watch(seconds); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  void watch(int seconds) {
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, std::chrono::seconds(seconds), [this] { return done_; })) return;
    fprintf(stderr, "watchdog: %s did not finish within %d s (hang or lost wakeup)\n", what_,
            seconds);
    fflush(stderr);
    raise(SIGQUIT);
    std::abort();  // if no dump handler is installed
  }

  const char* what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Sets GOMAXPROCS to n until the end of the scope.
class ScopedProcs {
 public:
  explicit ScopedProcs(int n) : old_(gomaxprocs(n)) {}
  ~ScopedProcs() { gomaxprocs(old_); }

 private:
  int old_;
};

// How much of a stress test's full scale to run: the sanitizers are 5-50x
// slower, and GCC's TSan dies past ~8000 live fibers (every G ever made is
// one, since Gs are reused, never freed).
inline constexpr int64_t scaled(int64_t full, int64_t asan, int64_t tsan) {
  return kTsan ? tsan : kAsan ? asan : full;
}

// Invariant checked after every test: every goroutine the test started has
// exited (num_goroutine() drops back to what it was before the test; a
// goroutine that finishes after signalling its waiter gets a grace period).
class SchedTest : public ::testing::Test {
 protected:
  void SetUp() override { baseline_ = num_goroutine(); }
  void TearDown() override {
    int64_t deadline = sys::nanotime() + 5'000'000'000;
    while (num_goroutine() > baseline_ && sys::nanotime() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(num_goroutine(), baseline_) << "goroutines leaked by the test";
  }

 private:
  int64_t baseline_ = 0;
};

}  // namespace gort::sched::testing

#endif  // GORT_SCHED_TEST_UTIL_H_
