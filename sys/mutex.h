// sys/mutex.h: the runtime's internal lock (Go's runtime.mutex).
//
//   Mutex      a one-word futex lock: spin, then yield, then sleep
//   MutexLock  RAII guard that holds a Mutex for a scope
//
// This is the lock under the scheduler, the heap and the timers: it blocks
// the OS thread, never a goroutine. The goroutine-aware lock users see is
// gort::syncx::Mutex. Mutex is Lockable (lock/unlock/try_lock), so
// std::lock_guard and std::unique_lock work too; MutexLock adds Clang's
// thread-safety analysis (ABSL_SCOPED_LOCKABLE).
//
// Thread safety: lock() and try_lock() from any thread; unlock() by the
// holder. The lock is not recursive (relocking deadlocks) and not fair.
// Unlocking an unlocked Mutex is a fatal error
// (`fatal error: unlock of unlocked lock`, exit 2), as in Go.
//
// Memory ordering: every operation that takes the lock is an acquire RMW on
// the state word and unlock() is a release exchange of it, so everything a
// holder wrote before unlock() happens-before whatever the next holder does
// after taking the lock. ThreadSanitizer sees these atomics and needs no
// annotations; the futex calls only park and wake threads.
#ifndef GORT_SYS_MUTEX_H_
#define GORT_SYS_MUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"

namespace gort::sys {

class ABSL_LOCKABLE Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  // Blocks until the caller holds the lock.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    // Fast path: one exchange. Acquire pairs with unlock()'s release.
    uint32_t v = key_.exchange(kLocked, std::memory_order_acquire);
    if (v != kUnlocked) lock_slow(v);
  }

  // Takes the lock if it is free; never blocks. True if taken.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    uint32_t expected = kUnlocked;
    // Acquire on success pairs with unlock()'s release.
    return key_.compare_exchange_strong(expected, kLocked,
                                        std::memory_order_acquire,
                                        std::memory_order_relaxed);
  }

  // Releases the lock, waking one sleeper if there may be any.
  // REQUIRES: held by the caller (unlocked: fatal error).
  void unlock() ABSL_UNLOCK_FUNCTION() {
    // Release pairs with the acquire of the next lock()/try_lock().
    uint32_t v = key_.exchange(kUnlocked, std::memory_order_release);
    if (v != kLocked) unlock_slow(v);
  }

 private:
  // The values of key_ (Go's mutex_unlocked/locked/sleeping).
  static constexpr uint32_t kUnlocked = 0;  // free
  static constexpr uint32_t kLocked = 1;    // held, nobody asleep on it
  static constexpr uint32_t kSleeping = 2;  // held, sleepers may be queued

  void lock_slow(uint32_t v);
  void unlock_slow(uint32_t v);

  // The state and the futex word. Read and written only by the RMWs and
  // relaxed spin loads in mutex.h/.cc; see Memory ordering above.
  std::atomic<uint32_t> key_{kUnlocked};
};

// Holds `mu` from construction to destruction.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_.lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace gort::sys

#endif  // GORT_SYS_MUTEX_H_
