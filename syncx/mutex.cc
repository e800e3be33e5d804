// Mutex and RWMutex (Go's sync/mutex.go and rwmutex.go, Go 1.19). The
// package's design essay is in syncx/syncx.cc; this is the Mutex part.
//
// ## The state word
//
// One int32: kLocked (1), kWoken (2), kStarving (4), and the number of
// parked waiters from bit 3 up. Lock's fast path is one CAS 0 -> kLocked,
// inline in mutex.h; unlock's is one atomic subtract whose result is 0 when
// nobody waits. Everything else is here, out of line.
//
// ## Normal mode and starvation mode (Go's words)
//
// Normal mode: waiters queue FIFO on the semaphore, but a woken waiter does
// not own the lock: it competes with goroutines arriving now, which already
// run on a CPU and usually win. A waiter that loses re-queues at the head
// of the queue (semacquire's lifo), so it is next again. Newcomers may spin
// (can_spin: several CPUs, another P busy, nothing else queued locally; at
// most 4 rounds of 30 pauses) in the hope that the holder is about to
// unlock; a spinner sets kWoken so that unlock does not wake a waiter in
// vain while a spinner is about to take the lock.
//
// Starvation mode: a waiter that has waited over 1 ms sets kStarving when
// it next fails. From then on unlock hands the lock straight to the head
// waiter (semrelease with handoff: the count goes to the waiter and the
// unlocker yields so the waiter runs at once); newcomers neither spin nor
// take the lock, they queue at the tail. The waiter that receives the lock
// leaves starvation mode if it is the last waiter or waited under 1 ms.
// Normal mode is much faster (a goroutine can take the lock many times in a
// row without switching); starvation mode bounds the tail latency.
//
// ## Invariants
//
// 1. kStarving is set only while kLocked is set or a handoff is in flight;
//    in a handoff the state has kStarving, not kLocked, and the waiter
//    count includes the receiver, which fixes both with one add (step S3).
// 2. kWoken is set by at most one party: a spinner that saw waiters and no
//    woken waiter, or unlock_slow when it wakes a waiter. The woken party
//    clears it in its next CAS.
// 3. A waiter count is decremented only by unlock_slow (normal mode, when it
//    wakes one) or by the handoff receiver (starvation mode).
//
// ## lock_slow, step by step
//
//   L1. If the lock is held in normal mode and can_spin(iter): set kWoken if
//       waiters exist and nobody is woken (so unlock does not wake anyone),
//       spin, re-read, repeat.
//   L2. Compute the new state: take kLocked unless starving; count
//       ourselves as a waiter if the lock is held or starving; set
//       kStarving if we are starving and it is held; clear kWoken if we set
//       it or were woken.
//   L3. CAS. If we took a free, non-starving lock: done. Else park on the
//       semaphore (at the head if we have waited before).
//   S3. Woken in starvation mode: we own the lock. Add kLocked, remove
//       ourselves from the waiter count, and clear kStarving if we are the
//       last waiter or did not wait long.
//   N3. Woken in normal mode: we are the woken party (kWoken is ours); go
//       back to L1 with the spin counter reset.
#include "syncx/mutex.h"

#include "sched/g.h"
#include "sched/sema.h"
#include "sched/sync_support.h"
#include "sys/clock.h"
#include "sys/fatal.h"

namespace gort::syncx {
namespace {

// Go's starvationThresholdNs.
constexpr int64_t kStarvationThresholdNs = 1'000'000;

// Relaxed: statistics for tests.
constinit std::atomic<uint64_t> g_starvation_entered{0};
constinit std::atomic<uint64_t> g_starvation_left{0};

}  // namespace

MutexStats mutex_stats() {
  return MutexStats{
      .starvation_entered = g_starvation_entered.load(std::memory_order_relaxed),
      .starvation_left = g_starvation_left.load(std::memory_order_relaxed),
  };
}

void Mutex::lock_slow() {
  int64_t wait_start = 0;
  bool starving = false;
  bool awoke = false;
  int iter = 0;
  int32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // L1. Spin only in normal mode while the lock is held: in starvation
    // mode ownership goes to the waiters, so spinning cannot win.
    if ((old & (kLocked | kStarving)) == kLocked && sched::can_spin(iter)) {
      if (!awoke && (old & kWoken) == 0 && (old >> kWaiterShift) != 0 &&
          state_.compare_exchange_weak(old, old | kWoken,
                                       std::memory_order_relaxed)) {
        awoke = true;
      }
      sched::do_spin();
      iter++;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    // L2.
    int32_t now = old;
    if ((old & kStarving) == 0) now |= kLocked;  // newcomers never barge
    if ((old & (kLocked | kStarving)) != 0) now += 1 << kWaiterShift;
    // Switch to starvation mode only if the lock is held: an unlocked
    // starving mutex would have nobody to hand it over (Go's reasoning).
    if (starving && (old & kLocked) != 0) now |= kStarving;
    if (awoke) {
      if ((now & kWoken) == 0) sys::fatal("sync: inconsistent mutex state");
      now &= ~kWoken;
    }
    // L3. acq_rel: acquire when this CAS takes the lock (pairs with
    // unlock's release); release is harmless otherwise.
    if (state_.compare_exchange_weak(old, now, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      if ((old & (kLocked | kStarving)) == 0) return;  // took it
      if ((now & kStarving) != 0 && (old & kStarving) == 0) {
        g_starvation_entered.fetch_add(1, std::memory_order_relaxed);
      }
      bool lifo = wait_start != 0;
      if (wait_start == 0) wait_start = sys::nanotime();
      sched::semacquire(&sema_, lifo, sched::WaitReason::kSyncMutexLock);
      starving = starving ||
                 sys::nanotime() - wait_start > kStarvationThresholdNs;
      old = state_.load(std::memory_order_relaxed);
      if ((old & kStarving) != 0) {
        // S3. The lock was handed to us: kLocked and kWoken are clear and
        // we are still counted as a waiter.
        if ((old & (kLocked | kWoken)) != 0 || (old >> kWaiterShift) == 0) {
          sys::fatal("sync: inconsistent mutex state");
        }
        int32_t delta = kLocked - (1 << kWaiterShift);
        if (!starving || (old >> kWaiterShift) == 1) {
          delta -= kStarving;
          g_starvation_left.fetch_add(1, std::memory_order_relaxed);
        }
        // acquire: pairs with the unlocker's release (the semaphore's
        // handoff orders it too).
        state_.fetch_add(delta, std::memory_order_acq_rel);
        return;
      }
      // N3.
      awoke = true;
      iter = 0;
    }
    // A failed CAS reloaded old.
  }
}

void Mutex::unlock_slow(int32_t now) {
  if (((now + kLocked) & kLocked) == 0) {
    sys::fatal("sync: unlock of unlocked mutex");
  }
  if ((now & kStarving) == 0) {
    int32_t old = now;
    for (;;) {
      // No waiters, or someone already took the lock, is woken, or the
      // mutex went into starvation mode: nobody to wake.
      if ((old >> kWaiterShift) == 0 ||
          (old & (kLocked | kWoken | kStarving)) != 0) {
        return;
      }
      // Take a waiter off the count and mark it woken.
      int32_t next = (old - (1 << kWaiterShift)) | kWoken;
      if (state_.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
        sched::semrelease(&sema_, false);
        return;
      }
    }
  }
  // Starvation mode: hand the lock to the head waiter and let it run now.
  // kLocked stays clear until it sets it (S3); a newcomer sees kStarving
  // and queues instead of taking the lock.
  sched::semrelease(&sema_, true);
}

// ---- RWMutex (Go's rwmutex.go) ----------------------------------------------
//
// reader_count_ counts readers; a writer subtracts kMaxReaders, so a
// negative count tells new readers that a writer is pending (they park on
// reader_sem_: writer preference). The writer then waits on writer_sem_
// for the readers that were already in (reader_wait_, counted down by their
// runlock). unlock adds kMaxReaders back and releases every reader that
// queued meanwhile.

void RWMutex::rlock_slow() {
  // A writer is pending: wait until its unlock releases us.
  sched::semacquire(&reader_sem_, false, sched::WaitReason::kSyncRWMutexRLock);
}

bool RWMutex::try_rlock() {
  int32_t c = reader_count_.load(std::memory_order_relaxed);
  for (;;) {
    if (c < 0) return false;
    if (reader_count_.compare_exchange_weak(c, c + 1,
                                            std::memory_order_seq_cst,
                                            std::memory_order_relaxed)) {
      return true;
    }
  }
}

void RWMutex::runlock_slow(int32_t r) {
  if (r + 1 == 0 || r + 1 == -kMaxReaders) {
    sys::fatal("sync: RUnlock of unlocked RWMutex");
  }
  // A writer is pending: the last of the readers it waits for wakes it.
  if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) {
    sched::semrelease(&writer_sem_, false);
  }
}

void RWMutex::lock() {
  w_.lock();  // first, exclude other writers
  // Announce the writer; r is the number of readers inside.
  int32_t r = reader_count_.fetch_sub(kMaxReaders, std::memory_order_seq_cst);
  if (r != 0 &&
      reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0) {
    sched::semacquire(&writer_sem_, false, sched::WaitReason::kSyncRWMutexLock);
  }
}

bool RWMutex::try_lock() {
  if (!w_.try_lock()) return false;
  int32_t expected = 0;
  if (!reader_count_.compare_exchange_strong(expected, -kMaxReaders,
                                             std::memory_order_seq_cst,
                                             std::memory_order_relaxed)) {
    w_.unlock();
    return false;
  }
  return true;
}

void RWMutex::unlock() {
  // Announce to readers that there is no writer.
  int32_t r = reader_count_.fetch_add(kMaxReaders, std::memory_order_seq_cst) +
              kMaxReaders;
  if (r >= kMaxReaders) sys::fatal("sync: Unlock of unlocked RWMutex");
  // Release the readers that queued while we held it.
  for (int32_t i = 0; i < r; i++) sched::semrelease(&reader_sem_, false);
  w_.unlock();
}

}  // namespace gort::syncx
