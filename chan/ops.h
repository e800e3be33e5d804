// chan/ops.h: the operations on a locked channel that chan ops
// (hchan.cc) and select (select.cc) share. Private to //chan.
//
//   LockedOps    S2, S3, R2, R3 of hchan.cc's essay, on a locked channel
//   wake         wakes a waiter whose sudog was completed
//   wait_unlock  parks (or sleeps) a waiter, releasing a channel lock
//
// Thread safety: LockedOps' functions REQUIRE the channel's lock; the
// ones returning a Waiter leave the caller to unlock and then wake it.
#ifndef GORT_CHAN_OPS_H_
#define GORT_CHAN_OPS_H_

#include <cstdint>
#include <cstring>

#include "chan/hchan.h"
#include "sched/g.h"
#include "sched/preempt.h"
#include "sys/mutex.h"

namespace gort::chan_internal {

// memcpy with the common sizes spelled as constants, so that the compiler
// emits a move or two instead of a call.
inline void copy_bytes(void* dst, const void* src, size_t n) {
  switch (n) {
    case 1:
      std::memcpy(dst, src, 1);
      return;
    case 2:
      std::memcpy(dst, src, 2);
      return;
    case 4:
      std::memcpy(dst, src, 4);
      return;
    case 8:
      std::memcpy(dst, src, 8);
      return;
    case 16:
      std::memcpy(dst, src, 16);
      return;
    default:
      std::memcpy(dst, src, n);
  }
}

inline void HChan::move_elem(void* dst, void* src) const {
  if (ops_->size == 0) return;
  if (ops_->trivial) {
    copy_bytes(dst, src, ops_->size);
  } else {
    sched::NoAsyncPreempt no_preempt;
    ops_->move(dst, src);
  }
}

inline void HChan::destroy_elem(void* p) const {
  if (ops_->size == 0 || ops_->trivial) return;
  sched::NoAsyncPreempt no_preempt;
  ops_->destroy(p);
}

inline void HChan::take_elem(void* dst, void* src) const {
  if (ops_->size == 0) return;
  if (ops_->trivial) {
    copy_bytes(dst, src, ops_->size);
  } else {
    sched::NoAsyncPreempt no_preempt;
    ops_->move(dst, src);
    ops_->destroy(src);
  }
}

// Wakes a waiter whose sudog was just completed. REQUIRES: no channel lock
// held (ready may take scheduler locks). Reads the waiter before the wake
// and never touches it after (invariant 4 of hchan.cc).
void wake(Waiter* w);

// Parks (goroutine) or sleeps (plain thread) until a waker completes one
// of w's sudogs. REQUIRES: `lock` held and w's sudogs queued; returns
// without the lock.
void wait_unlock(Waiter* w, sys::Mutex* lock, sched::WaitReason reason);

// The operations on a locked channel shared by chan ops and select. Each
// REQUIRES c's lock; the ones returning a Waiter leave the caller to
// unlock and then wake it.
struct LockedOps {
  // S2 (Go's send): v goes straight into the queued receiver sg's slot.
  static Waiter* send_to_receiver(HChan* c, Sudog* sg, void* v) {
    if (sg->elem != nullptr) c->move_elem(sg->elem, v);
    return complete(sg);
  }

  // R2 (Go's recv): from the queued sender sg, directly (unbuffered) or
  // through the full buffer (head out to the receiver, sender's value in
  // at the tail, which is the same slot).
  static Waiter* recv_from_sender(HChan* c, Sudog* sg, void* dst) {
    if (c->dataqsiz_ == 0) {
      if (dst != nullptr) c->move_elem(dst, sg->elem);
    } else {
      void* qp = c->slot(c->recvx_);
      if (dst != nullptr) {
        c->take_elem(dst, qp);
      } else {
        c->destroy_elem(qp);
      }
      c->move_elem(qp, sg->elem);
      if (++c->recvx_ == c->dataqsiz_) c->recvx_ = 0;
      c->sendx_ = c->recvx_;
    }
    return complete(sg);
  }

  // S3. REQUIRES: qcount < cap.
  static void buffer_send(HChan* c, void* v) {
    c->move_elem(c->slot(c->sendx_), v);
    if (++c->sendx_ == c->dataqsiz_) c->sendx_ = 0;
    // release: pairs with the fast paths' acquire loads.
    c->qcount_.store(c->qcount_.load(std::memory_order_relaxed) + 1,
                     std::memory_order_release);
  }

  // R3. REQUIRES: qcount > 0.
  static void buffer_recv(HChan* c, void* dst) {
    void* qp = c->slot(c->recvx_);
    if (dst != nullptr) {
      c->take_elem(dst, qp);
    } else {
      c->destroy_elem(qp);
    }
    if (++c->recvx_ == c->dataqsiz_) c->recvx_ = 0;
    c->qcount_.store(c->qcount_.load(std::memory_order_relaxed) - 1,
                     std::memory_order_release);
  }

  static Waiter* complete(Sudog* sg) {
    sg->success = true;
    Waiter* w = sg->waiter;
    w->fired = sg;
    return w;
  }

  static uint64_t qcount(const HChan* c) {
    return c->qcount_.load(std::memory_order_relaxed);
  }
  static bool closed(const HChan* c) {
    return c->closed_.load(std::memory_order_relaxed) != 0;
  }
  static sys::Mutex& lock(HChan* c) { return c->lock_; }
  static WaitQueue& recvq(HChan* c) { return c->recvq_; }
  static WaitQueue& sendq(HChan* c) { return c->sendq_; }
  static uint64_t cap(const HChan* c) { return c->dataqsiz_; }
};

}  // namespace gort::chan_internal

#endif  // GORT_CHAN_OPS_H_
