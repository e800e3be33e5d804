// syncx/waitgroup.h: Go's sync.WaitGroup, sync.Once and sync.Cond.
//
//   WaitGroup  waits for a collection of goroutines (or threads) to finish:
//              add(n) before starting them, done() in each, wait() to block
//              until the counter is zero
//   Once       runs a function exactly once (Go's Once.Do, here call)
//   Cond       a condition variable on any Lockable (Wait/Signal/Broadcast
//              as wait/signal/broadcast), woken in ticket order
//
// Errors, as Go's panics (gort::Panic, catchable): `sync: negative
// WaitGroup counter`; `sync: WaitGroup misuse: Add called concurrently with
// Wait`; `sync: WaitGroup is reused before previous Wait has returned`.
//
// Thread safety: every method from any goroutine or thread, concurrently,
// within Go's rules (an add that starts a new round happens before the
// round's wait; a Cond's wait with its lock held).
//
// Memory ordering: WaitGroup: every done() (and whatever its caller wrote
// before it) happens-before the return of the wait() it releases: the
// counter is one seq_cst 64-bit word, and the last done() wakes the waiters
// through the semaphore. Once: the first call's f returns (or throws)
// before any call returns: done_ is stored with release after f, and read
// with acquire. Cond: as NotifyList (sched/sema.h): what a signaller wrote
// before signal/broadcast happens-before what a waiter it wakes does after
// wait() returns.
#ifndef GORT_SYNCX_WAITGROUP_H_
#define GORT_SYNCX_WAITGROUP_H_

#include <atomic>
#include <cstdint>
#include <utility>

#include "sched/preempt.h"
#include "sched/sema.h"
#include "syncx/mutex.h"

namespace gort::syncx {

class WaitGroup {
 public:
  constexpr WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds delta (may be negative) to the counter; at zero, releases every
  // waiter. Throws Panic when the counter goes negative, or when an add
  // from zero races a wait.
  void add(int64_t delta);
  // add(-1).
  void done() { add(-1); }
  // Blocks until the counter is zero. Throws Panic when the group is
  // reused (add from zero) before this wait has returned.
  void wait();

 private:
  // Go's state: the counter in the high 32 bits, waiters in the low 32.
  // seq_cst RMWs (Go's atomic.AddUint64 and CAS).
  std::atomic<uint64_t> state_{0};
  uint32_t sema_ = 0;  // waiters park here (sched/sema.h)
};

class Once {
 public:
  constexpr Once() = default;
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;

  // Calls f() if and only if no call on this Once has called it before.
  // Every call returns only after the one f has returned or thrown; if f
  // throws, the exception propagates from that call and the Once counts as
  // done (as Go's Do when f panics). f may not call this Once (deadlock).
  template <typename F>
  void call(F&& f) {
    // Acquire pairs with the release store after f in call_slow.
    if (done_.load(std::memory_order_acquire) == 0) [[unlikely]]
      call_slow(f);
  }

  // True once f has run (or thrown).
  bool done() const { return done_.load(std::memory_order_acquire) != 0; }

 private:
  template <typename F>
  void call_slow(F& f) {
    struct Finish {
      Once* once;
      bool ran = false;
      ~Finish() {
        // Release: f's effects before any caller's acquire of done_.
        if (ran) once->done_.store(1, std::memory_order_release);
        once->mu_.unlock();
      }
    } finish{this};
    mu_.lock();
    if (done_.load(std::memory_order_relaxed) == 0) {
      finish.ran = true;
      gort_user_call(f);  // f's code stays preemptible (sched/preempt.h)
    }
  }

  std::atomic<uint32_t> done_{0};
  Mutex mu_;
};

class Cond {
 public:
  // L is any BasicLockable (Mutex, RWMutex, RLocker, std::mutex on plain
  // threads). The Cond keeps a reference: l must outlive it.
  template <typename L>
  explicit Cond(L& l)
      : lock_(&l),
        lock_fn_([](void* p) { static_cast<L*>(p)->lock(); }),
        unlock_fn_([](void* p) { static_cast<L*>(p)->unlock(); }) {}
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  // Atomically unlocks the lock and waits; relocks before returning.
  // REQUIRES: the caller holds the lock. As in Go, the condition must be
  // re-checked in a loop after wait returns.
  void wait();
  // Wakes the longest-waiting waiter, if any (Go's Signal).
  void signal() { notify_.notify_one(); }
  // Wakes every waiter (Go's Broadcast).
  void broadcast() { notify_.notify_all(); }

 private:
  void* lock_;
  void (*lock_fn_)(void*);
  void (*unlock_fn_)(void*);
  sched::NotifyList notify_;
};

}  // namespace gort::syncx

#endif  // GORT_SYNCX_WAITGROUP_H_
