// syncx/mutex.h: Go's sync.Mutex and sync.RWMutex on gort's scheduler.
//
//   Mutex        a mutual-exclusion lock with Go's algorithm (spinning,
//                woken flag, LIFO re-queue, starvation mode); Lockable, so
//                std::lock_guard / std::unique_lock / std::scoped_lock work
//   RWMutex      a reader/writer lock, writer-preferring as Go's; also
//                Lockable for writers, with lock_shared/unlock_shared for
//                std::shared_lock
//   RLocker      RWMutex's read side as a Lockable (Go's RWMutex.RLocker)
//   MutexStats   test hook: how often any Mutex entered and left starvation
//
// Waiters park (goroutines) or block in the kernel (plain threads) on the
// runtime semaphores of sched/sema.h; the two kinds may contend for one
// Mutex. The zero state is unlocked, as in Go; a Mutex may be constinit.
// Neither lock is recursive, and neither is tied to its locker: like Go,
// one goroutine may lock and another unlock.
//
// Errors, as Go's: unlock of an unlocked Mutex is `fatal error: sync:
// unlock of unlocked mutex`; RWMutex's are `fatal error: sync: RUnlock of
// unlocked RWMutex` and `fatal error: sync: Unlock of unlocked RWMutex`
// (exit 2, not catchable).
//
// Thread safety: every method from any goroutine or thread, concurrently.
//
// Memory ordering: a successful lock/try_lock is an acquire RMW of the
// state word and unlock a release RMW, so what a holder wrote before unlock
// happens-before what the next holder does after lock. A waiter handed the
// lock by the semaphore (starvation mode) is ordered by sched/sema.h's
// guarantee. RWMutex: reader counts are seq_cst RMWs; unlock happens-before
// every later rlock that succeeds, and every runlock before the lock of a
// writer that waited for it.
#ifndef GORT_SYNCX_MUTEX_H_
#define GORT_SYNCX_MUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"

namespace gort::syncx {

class ABSL_LOCKABLE Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Blocks until the caller holds the lock. Fast path: one CAS.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    int32_t expected = 0;
    // Acquire pairs with unlock's release.
    if (state_.compare_exchange_strong(expected, kLocked,
                                       std::memory_order_acquire,
                                       std::memory_order_relaxed)) [[likely]] {
      return;
    }
    lock_slow();
  }

  // Takes the lock if it is free and not in starvation mode; never blocks
  // (Go's TryLock). True if taken.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    int32_t old = state_.load(std::memory_order_relaxed);
    if ((old & (kLocked | kStarving)) != 0) return false;
    return state_.compare_exchange_strong(old, old | kLocked,
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  // Releases the lock, waking a waiter if one should run. REQUIRES: locked
  // (by anyone; unlocked: fatal error).
  void unlock() ABSL_UNLOCK_FUNCTION() {
    // Release pairs with the next lock's acquire.
    int32_t now = state_.fetch_sub(kLocked, std::memory_order_release) - kLocked;
    if (now != 0) [[unlikely]]
      unlock_slow(now);
  }

  // Go's state bits (sync/mutex.go): exposed for tests and the essay.
  static constexpr int32_t kLocked = 1;    // held
  static constexpr int32_t kWoken = 2;     // a waiter is awake and trying
  static constexpr int32_t kStarving = 4;  // ownership is handed over
  static constexpr int kWaiterShift = 3;   // waiters counted above the bits

  // The raw state, for tests (a snapshot).
  int32_t state_for_testing() const {
    return state_.load(std::memory_order_relaxed);
  }

 private:
  friend class RWMutex;
  void lock_slow();
  void unlock_slow(int32_t now);

  // Go's state word: kLocked | kWoken | kStarving | waiters << 3. RMWs
  // acquire when they take the lock, release when they drop it (see the
  // header comment); everything else relaxed (mutex.cc).
  std::atomic<int32_t> state_{0};
  // The semaphore waiters park on (sched/sema.h); touched only through it.
  uint32_t sema_ = 0;
};

class ABSL_LOCKABLE RWMutex {
 public:
  constexpr RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  // Write side (Go's Lock, TryLock, Unlock). A blocked writer keeps new
  // readers out until it has had the lock.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION();
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true);
  // REQUIRES: write-locked (else fatal: sync: Unlock of unlocked RWMutex).
  void unlock() ABSL_UNLOCK_FUNCTION();

  // Read side (Go's RLock, TryRLock, RUnlock). Not recursive: a reader that
  // read-locks again while a writer waits deadlocks, as in Go.
  void rlock() ABSL_SHARED_LOCK_FUNCTION() {
    // seq_cst: the reader count is the Dekker pair of lock()'s subtraction.
    if (reader_count_.fetch_add(1, std::memory_order_seq_cst) + 1 < 0)
        [[unlikely]]
      rlock_slow();
  }
  bool try_rlock() ABSL_SHARED_TRYLOCK_FUNCTION(true);
  // REQUIRES: read-locked (else fatal: sync: RUnlock of unlocked RWMutex).
  void runlock() ABSL_UNLOCK_FUNCTION() {
    int32_t r = reader_count_.fetch_sub(1, std::memory_order_seq_cst) - 1;
    if (r < 0) [[unlikely]]
      runlock_slow(r);
  }

  // std::shared_lock's names for the read side.
  void lock_shared() ABSL_SHARED_LOCK_FUNCTION() { rlock(); }
  bool try_lock_shared() ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    return try_rlock();
  }
  void unlock_shared() ABSL_UNLOCK_FUNCTION() { runlock(); }

  static constexpr int32_t kMaxReaders = 1 << 30;  // Go's rwmutexMaxReaders

 private:
  void rlock_slow();
  void runlock_slow(int32_t r);

  Mutex w_;                   // held by writers while they wait or hold
  uint32_t writer_sem_ = 0;   // a writer waits here for departing readers
  uint32_t reader_sem_ = 0;   // readers wait here for the writer
  // Readers in or waiting; minus kMaxReaders while a writer is pending.
  std::atomic<int32_t> reader_count_{0};
  // Readers the pending writer still waits for to leave.
  std::atomic<int32_t> reader_wait_{0};
};

// RWMutex's read side as a Lockable: lock() is rlock() (Go's RLocker).
class RLocker {
 public:
  explicit RLocker(RWMutex& rw) : rw_(&rw) {}
  void lock() { rw_->rlock(); }
  bool try_lock() { return rw_->try_rlock(); }
  void unlock() { rw_->runlock(); }

 private:
  RWMutex* rw_;
};

// Counters over every Mutex since the process started (relaxed; test hook
// for starvation mode, which Go observes only through timing).
struct MutexStats {
  uint64_t starvation_entered = 0;  // a waiter set kStarving
  uint64_t starvation_left = 0;     // a handed-off waiter cleared it
};
MutexStats mutex_stats();

}  // namespace gort::syncx

#endif  // GORT_SYNCX_MUTEX_H_
