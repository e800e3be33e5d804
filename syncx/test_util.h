// syncx/test_util.h: what syncx's tests share (testonly).
//
//   KeepRunnable  a goroutine that yields until destroyed, so that Go's
//                 deadlock check (which cannot see plain threads) does not
//                 fire while goroutines wait for a plain thread
//   busy_for      spins for a while without leaving the P
//
// Thread safety: each object is used by the goroutine that made it.
#ifndef GORT_SYNCX_TEST_UTIL_H_
#define GORT_SYNCX_TEST_UTIL_H_

#include <atomic>
#include <cstdint>

#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

namespace gort::syncx::testing {

// REQUIRES: made and destroyed on a goroutine.
class KeepRunnable {
 public:
  KeepRunnable() : done_(1) {
    go([this] {
      while (!stop_.load(std::memory_order_relaxed)) yield();
      done_.done();
    });
  }
  ~KeepRunnable() {
    stop_.store(true, std::memory_order_relaxed);
    done_.wait();
  }

 private:
  std::atomic<bool> stop_{false};
  sched::testing::Latch done_;
};

inline void busy_for(int64_t ns) {
  int64_t end = sys::nanotime() + ns;
  while (sys::nanotime() < end) {
  }
}

}  // namespace gort::syncx::testing

#endif  // GORT_SYNCX_TEST_UTIL_H_
