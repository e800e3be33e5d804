// chan/test_util.h: what chan's tests share (testonly).
//
//   Watchdog, ScopedProcs, kTsan, kAsan   sched/test_util.h's, re-exported
//   ChanTest     a fixture whose TearDown fails on leaked goroutines
//   scaled       how far a stress test scales down under the sanitizers
//   queued_receivers / queued_senders
//                parties blocked on a channel now (to wait until a
//                goroutine has really parked before acting on it)
//   wait_until   yields until a condition holds
//   KeepRunnable a goroutine that yields until destroyed, so that Go's
//                deadlock check (which cannot see plain threads) does not
//                fire while goroutines wait for a plain thread
//
// Thread safety: each object is used by the thread that made it.
#ifndef GORT_CHAN_TEST_UTIL_H_
#define GORT_CHAN_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "chan/chan.h"
#include "sched/test_util.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::chan_testing {

// Shared with the scheduler's tests (sched/test_util.h).
using sched::testing::kAsan;
using sched::testing::kTsan;
using sched::testing::ScopedProcs;
using sched::testing::Watchdog;

// Full scale in the default build; smaller under ASan and TSan (slower, and
// GCC's TSan dies past ~8000 live fibers).
inline constexpr int64_t scaled(int64_t full, int64_t asan, int64_t tsan) {
  return kTsan ? tsan : kAsan ? asan : full;
}


// Checked after every test: every goroutine the test started has exited
// (a goroutine that signals and then returns gets a grace period).
class ChanTest : public ::testing::Test {
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

template <typename T>
int64_t queued_receivers(const Chan<T>& c) {
  return chan_internal::Access::hchan(c)->queued_receivers();
}
template <typename T>
int64_t queued_senders(const Chan<T>& c) {
  return chan_internal::Access::hchan(c)->queued_senders();
}

// Yields (a goroutine to others, a thread to the OS) until pred() holds.
// Tests that use it run under a Watchdog, which ends a wait that never does.
template <typename Pred>
void wait_until(Pred pred) {
  while (!pred()) yield();
}

// REQUIRES: made and destroyed on the same goroutine.
class KeepRunnable {
 public:
  KeepRunnable() : done_(make_chan<int>()) {
    go([this] {
      while (!stop_.load(std::memory_order_relaxed)) yield();
      done_.send(0);
    });
  }
  ~KeepRunnable() {
    stop_.store(true, std::memory_order_relaxed);
    done_.recv();
  }

 private:
  std::atomic<bool> stop_{false};
  Chan<int> done_;
};

}  // namespace gort::chan_testing

#endif  // GORT_CHAN_TEST_UTIL_H_
