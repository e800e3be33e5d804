// WaitGroup and Cond (Go's sync/waitgroup.go and cond.go, Go 1.19); the
// package essay is in syncx/syncx.cc.
//
// WaitGroup's protocol. The state word holds the counter (high half) and
// the number of waiters (low half), so that add and wait see both in one
// atomic read:
//   W1. wait: if the counter is 0, return. Else CAS waiters += 1 and park
//       on the semaphore. Woken: the state must be 0 again, else an add
//       started a new round before this wait returned: panic (reuse).
//   A1. add: state += delta << 32 (one RMW). Counter < 0: panic. An add
//       from zero with waiters present means an add raced a wait: panic.
//   A2. Counter > 0, or no waiters: done.
//   A3. Counter == 0 with waiters: nobody else may change the state now
//       (adds from zero are misuse, waits see 0 and return), so re-read it
//       to catch misuse, store 0, and release the semaphore once per
//       waiter.
#include "syncx/waitgroup.h"

#include "sched/g.h"
#include "sched/panic.h"
#include "sched/sema.h"

namespace gort::syncx {

void WaitGroup::add(int64_t delta) {
  // A1. seq_cst, as Go's atomic add: pairs with wait's CAS and loads.
  uint64_t state = state_.fetch_add(static_cast<uint64_t>(delta) << 32,
                                    std::memory_order_seq_cst) +
                   (static_cast<uint64_t>(delta) << 32);
  int32_t v = static_cast<int32_t>(state >> 32);
  uint32_t w = static_cast<uint32_t>(state);
  if (v < 0) throw Panic("sync: negative WaitGroup counter");
  if (w != 0 && delta > 0 && v == static_cast<int32_t>(delta)) {
    throw Panic("sync: WaitGroup misuse: Add called concurrently with Wait");
  }
  if (v > 0 || w == 0) return;  // A2
  // A3.
  if (state_.load(std::memory_order_seq_cst) != state) {
    throw Panic("sync: WaitGroup misuse: Add called concurrently with Wait");
  }
  state_.store(0, std::memory_order_seq_cst);
  for (; w != 0; w--) sched::semrelease(&sema_, false);
}

void WaitGroup::wait() {
  uint64_t state = state_.load(std::memory_order_seq_cst);
  for (;;) {
    if ((state >> 32) == 0) return;  // W1
    if (state_.compare_exchange_weak(state, state + 1,
                                     std::memory_order_seq_cst)) {
      sched::semacquire(&sema_, false, sched::WaitReason::kSemacquire);
      if (state_.load(std::memory_order_seq_cst) != 0) {
        throw Panic(
            "sync: WaitGroup is reused before previous Wait has returned");
      }
      return;
    }
  }
}

void Cond::wait() {
  // Go's order: take the ticket while the lock is held, so a signal sent
  // after we unlock cannot be missed.
  uint32_t ticket = notify_.add();
  unlock_fn_(lock_);
  notify_.wait(ticket);
  lock_fn_(lock_);
}

}  // namespace gort::syncx
