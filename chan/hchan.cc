// Channels (Go's runtime/chan.go, Go 1.19): the type-erased core under
// Chan<T>. select's half is in select.cc; both follow this essay.
//
// ## Glossary
//
// An *hchan* is one channel: a lock, a ring buffer of `cap` slots with a
// send index and a receive index (sendx, recvx) and a count (qcount), a
// closed flag, and two FIFO wait queues, recvq and sendq, of *sudogs*. A
// sudog is one blocked operation of one goroutine (or plain thread) on one
// channel: which waiter, which channel, and `elem`, a pointer to the value
// being sent (in the sender's frame) or to the raw slot the value is to be
// received into (in the receiver's frame). A *waiter* is the blocked
// goroutine or thread itself; a select has one waiter and one sudog per
// case. *Park* and *ready* are the scheduler's block and wake
// (sched/internal.h); a plain thread sleeps on the waiter's note instead.
//
// ## Invariants (chan.go's list, and what this file adds)
//
// 1. At least one of recvq and sendq is empty, except on an unbuffered
//    channel with one select waiting to both send and receive on it (its
//    sudogs may then sit in both queues).
// 2. Buffered channels: qcount > 0 implies recvq is empty; qcount < cap
//    implies sendq is empty. (Whoever makes room or brings a value first
//    hands it to a queued party instead: the fast paths below.)
// 3. Buffer slots [recvx, recvx + qcount) mod cap hold constructed
//    elements; the others are raw storage. The buffer owns the former; the
//    last handle's destruction destroys them.
// 4. A queued sudog's waiter is parked (kWaiting) or asleep on its note,
//    and stays so until whoever dequeues the sudog wakes it; so the sudog
//    and the sender's value it points at stay alive while queued.
// 5. closed goes 0 -> 1 once, under the lock; after that nothing is ever
//    queued on the channel and no value is ever added to the buffer.
// 6. A select's waiter is claimed at most once (select_done CAS 0 -> 1):
//    only the claimant moves a value for it and wakes it.
//
// ## Where sudogs live (a rejected alternative)
//
// Go allocates sudogs from a per-P cache (acquireSudog), because Go stacks
// move: a sudog on the stack would dangle when the stack is copied, and Go
// needs `activeStackChans` even for the elem pointers. gort's goroutine
// stacks never move (sched/stack.h), so a sudog is a local of the blocking
// call, as the semaphore's waiter record is (sched/sema.cc): no cache, no
// allocation on any path, nothing to free. Invariant 4 is what makes it
// safe: the frame cannot return while the sudog is queued, and a waker
// reads what it needs from the sudog before it wakes the owner and never
// touches it after (close reads the next sudog of its list first).
//
// ## The paths (as chan.go)
//
// send(v):
//   S0. Nil channel: park forever (kChanSendNilChan). Non-blocking: if the
//       channel is open and full (unbuffered: no receiver queued), fail
//       without the lock.
//   S1. Lock. Closed: unlock, panic "send on closed channel".
//   S2. A receiver is queued: move v straight into its slot, mark it
//       successful, unlock, ready it. (The buffer is empty by invariant 2,
//       so no value is overtaken.)
//   S3. Room in the buffer: move v into slot sendx, advance, unlock.
//   S4. Non-blocking: unlock, fail. Else queue a sudog on sendq and park
//       (the scheduler unlocks once the goroutine is off its stack). Woken:
//       success means a receiver took v; otherwise close woke it: panic.
// recv():
//   R0. Nil channel: park forever (kChanReceiveNilChan). Non-blocking and
//       empty: if not closed, fail without the lock; if closed and still
//       empty, return the zero value (the order of these loads: below).
//   R1. Lock. Closed and empty: unlock, zero value, ok = false.
//   R2. Open and a sender is queued: unbuffered, move its value straight
//       into our slot; buffered (then full, by invariant 2), take the head
//       slot and move the sender's value into the slot just freed, which is
//       the tail. Mark it successful, unlock, ready it.
//   R3. A value is buffered: take slot recvx, advance, unlock.
//   R4. Non-blocking: unlock, fail. Else queue a sudog on recvq and park.
//       Woken: success means a value is in the slot; otherwise close woke
//       it (zero value, ok = false).
// close():
//   Nil: panic "close of nil channel". Lock; closed already: panic "close
//   of closed channel". Set closed; dequeue every receiver (ok = false)
//   and every sender (they will panic) onto a private list; unlock; wake
//   them all. Nobody is readied under the lock (Go's rule: ready may take
//   scheduler locks, and a woken G could otherwise spin on ours).
//
// ## The lock-free fast paths and the order of their loads
//
// A non-blocking operation that plainly cannot proceed returns without the
// lock (Go's full()/empty() checks). qcount_, closed_ and the queue heads
// are atomics stored with release under the lock. try_send reads closed,
// then full: if it sees "open" and then "full", there was a moment when
// both held, and failing is a correct answer for that moment. try_recv
// reads empty, then closed, with acquire loads so that the second cannot
// be satisfied earlier than the first: "empty, then open" means there was a
// moment when the channel was empty and open (a channel never reopens).
// If it sees closed, it must re-read empty: a value may have been buffered
// between the two loads, and it must be drained before the zero value is
// returned. That re-read is ordered after the send that buffered the value
// because close and send are separate critical sections of the same lock
// and the closed load acquired the close's release store.
//
// ## Plain threads
//
// A blocking operation on a thread that is no goroutine (current_g() is
// null) blocks the thread: its waiter carries a sys::Note, and a waker that
// finds no G in the waiter wakes the note instead of calling ready(). The
// note's futex wake may touch the word after the sleeper has returned
// (the word lies on a live thread's stack; a stray FUTEX_WAKE there only
// causes a spurious wakeup, which every futex loop tolerates).
//
// ## Element types
//
// The core is not a template: an ElemOps table moves and destroys elements.
// Trivially copyable elements are copied with memcpy, inline, so the core
// never calls out of the runtime's code for them. Other elements call the
// type's move constructor and destructor through the table, inside a
// NoAsyncPreempt scope: that code may lie outside the runtime's names, and
// a goroutine preempted there while it holds a channel lock would stall
// every other M that wants the lock (sched/preempt.h). Empty, trivial
// element types get no storage: the buffer is not allocated and nothing
// moves (Go allocates no buffer for zero-size elements either).
//
// ## select (select.cc): lock order and the wakeup race
//
// When it cannot finish on the fast path (below), selectgo locks every
// channel of its cases, in ascending address order, each channel once
// however many cases name it (Go's sellock). Every other operation holds
// at most one channel lock at a time, so the locks are always acquired in
// one global order and no cycle of waiters can form: no deadlock. With all
// locks held, pass 1 looks at the cases in a uniformly random order (a
// Fisher-Yates shuffle from the P's generator) and completes the first
// that is ready; else pass 2 queues one sudog per case, all pointing at
// the one waiter, and parks; the scheduler's unlock function releases the
// locks (highest first) only after the goroutine is off its stack. The
// first waker to dequeue one of those sudogs claims the waiter (CAS on
// select_done, in WaitQueue::dequeue); a later waker on another channel
// that dequeues another of its sudogs fails the CAS and skips it (dropping
// it from that queue). Woken, the selector locks all the channels again
// and removes its other sudogs from their queues (pass 3), so none stays
// behind on a quiet channel. It cannot return while a waker still holds a
// pointer into its frame: a waker touches a sudog only under that sudog's
// channel lock, and pass 3 takes every one of those locks before the frame
// is left. Pass 2 queues in the random poll order, so that when several
// cases name one channel, which of them a counterpart meets first is
// random (Go gets the same by sorting the poll order into its lock order).
//
// ## select's fast path (gort's; Go has none)
//
// Locking every channel costs two atomic RMWs per case even when the
// first case polled is ready, which is the common case of a busy select.
// So before pass 1, selectgo walks the poll order and, for each case whose
// channel looks ready without the lock (the same hints as the non-blocking
// fast paths), takes that one lock and tries the case; the first case that
// completes is the select's choice. Why this is still Go's select: (a) a
// case is completed only under its channel's lock and only if it can
// proceed at that moment, so the select is linearised there as a choice of
// a ready case; (b) the choice is uniform among the cases that are ready
// (the hints are exact when nothing changes concurrently, and the poll
// order is a uniform permutation), and under concurrent change no
// observer can tell which cases were "ready at the same moment" anyway;
// (c) the conclusion that *no* case is ready, which decides default and
// blocking, is never drawn from the hints: it is drawn only in pass 1,
// with every lock held, as in Go (per-case hints taken at different moments
// could each see "not ready" while some case was ready at every moment).
#include "chan/hchan.h"

#include <algorithm>

#include "chan/ops.h"
#include "sched/internal.h"
#include "sched/panic.h"
#include "sched/preempt.h"
#include "sys/fatal.h"

namespace gort::chan_internal {

namespace {

// Go's maxAlloc on linux/amd64 (malloc.go: 1 << heapAddrBits, 48 bits).
constexpr uint64_t kMaxAlloc = uint64_t{1} << 48;

bool unlock_chan(sched::G*, void* mu) {
  static_cast<sys::Mutex*>(mu)->unlock();
  return true;
}

bool park_forever(sched::G*, void*) { return true; }

}  // namespace

// Wakes a waiter whose sudog was just completed. REQUIRES: no channel lock
// held (ready may take scheduler locks). Reads the waiter before the wake
// and never touches it after (invariant 4).
void wake(Waiter* w) {
  sched::G* g = w->g;
  if (g != nullptr) {
    sched::ready(g);
  } else {
    w->note.wakeup();
  }
}

// Parks or sleeps until a waker completes one of the waiter's sudogs.
// REQUIRES: `lock` held, the waiter's sudogs queued; returns without it.
void wait_unlock(Waiter* w, sys::Mutex* lock, sched::WaitReason reason) {
  if (w->g != nullptr) {
    sched::park(unlock_chan, lock, reason);
  } else {
    lock->unlock();
    w->note.sleep();
  }
}

void block_forever(sched::WaitReason reason) {
  if (sched::current_g() != nullptr) {
    sched::park(park_forever, nullptr, reason);
    sys::fatal("unreachable: a goroutine parked forever was readied");
  }
  sys::Note never;
  never.sleep();
  sys::fatal("unreachable: a thread blocked forever woke up");
}

// ---- WaitQueue (Go's waitq) -------------------------------------------------

void WaitQueue::enqueue(Sudog* sg) {
  sg->next = nullptr;
  Sudog* x = last_;
  if (x == nullptr) {
    sg->prev = nullptr;
    first_.store(sg, std::memory_order_release);
    last_ = sg;
    return;
  }
  sg->prev = x;
  x->next = sg;
  last_ = sg;
}

Sudog* WaitQueue::dequeue() {
  for (;;) {
    Sudog* sg = first_.load(std::memory_order_relaxed);  // under the lock
    if (sg == nullptr) return nullptr;
    Sudog* y = sg->next;
    if (y == nullptr) {
      first_.store(nullptr, std::memory_order_release);
      last_ = nullptr;
    } else {
      y->prev = nullptr;
      first_.store(y, std::memory_order_release);
      sg->next = nullptr;  // removed: remove() will find it unlinked
    }
    // A select's sudog: between another case firing and the selector
    // relocking this channel to remove it, the sudog is still here. Claim
    // the selector, or drop this stale sudog and look at the next one.
    // acq_rel: the claim orders this waker's later writes to the sudog and
    // waiter after any earlier claimant's (there is none if it succeeds).
    if (sg->is_select) {
      uint32_t expected = 0;
      if (!sg->waiter->select_done.compare_exchange_strong(
              expected, 1, std::memory_order_acq_rel,
              std::memory_order_acquire)) {
        continue;
      }
    }
    return sg;
  }
}

void WaitQueue::remove(Sudog* sg) {
  Sudog* x = sg->prev;
  Sudog* y = sg->next;
  if (x != nullptr) {
    if (y != nullptr) {
      x->next = y;
      y->prev = x;
      sg->next = nullptr;
      sg->prev = nullptr;
      return;
    }
    x->next = nullptr;
    last_ = x;
    sg->prev = nullptr;
    return;
  }
  if (y != nullptr) {
    y->prev = nullptr;
    first_.store(y, std::memory_order_release);
    sg->next = nullptr;
    return;
  }
  // Alone in the queue, or already dequeued by a waker.
  if (first_.load(std::memory_order_relaxed) == sg) {
    first_.store(nullptr, std::memory_order_release);
    last_ = nullptr;
  }
}

int64_t WaitQueue::size() const {
  int64_t n = 0;
  for (Sudog* sg = first_.load(std::memory_order_relaxed); sg != nullptr;
       sg = sg->next)
    ++n;
  return n;
}

// ---- HChan ------------------------------------------------------------------

HChan* HChan::make(const ElemOps* ops, int64_t cap) {
  uint64_t mem = 0;
  if (cap < 0 ||
      __builtin_mul_overflow(static_cast<uint64_t>(ops->size),
                             static_cast<uint64_t>(cap), &mem) ||
      mem > kMaxAlloc - sizeof(HChan)) {
    throw Panic("makechan: size out of range");
  }
  // One block: the header, then the buffer at the element's alignment (Go
  // allocates hchan and a pointer-free buffer together the same way).
  const size_t align = std::max(alignof(HChan), ops->align);
  const size_t header =
      (sizeof(HChan) + ops->align - 1) / ops->align * ops->align;
  void* raw = ::operator new(header + mem, std::align_val_t(align));
  unsigned char* buf =
      mem == 0 ? nullptr : static_cast<unsigned char*>(raw) + header;
  return ::new (raw) HChan(ops, static_cast<uint64_t>(cap), buf);
}

void HChan::destroy() {
  // No handle is left, so nobody can be queued (a blocked party holds a
  // handle); a queued sudog here is a use-after-free in the making.
  GORT_CHECK(recvq_.empty_hint() && sendq_.empty_hint());
  if (buf_ != nullptr && !ops_->trivial) {
    uint64_t n = qcount_.load(std::memory_order_relaxed);
    uint64_t i = recvx_;
    sched::NoAsyncPreempt no_preempt;
    for (uint64_t k = 0; k < n; ++k) {
      ops_->destroy(slot(i));
      if (++i == dataqsiz_) i = 0;
    }
  }
  const size_t align = std::max(alignof(HChan), ops_->align);
  this->~HChan();
  ::operator delete(static_cast<void*>(this), std::align_val_t(align));
}

int64_t HChan::queued_receivers() {
  sys::MutexLock l(lock_);
  return recvq_.size();
}

int64_t HChan::queued_senders() {
  sys::MutexLock l(lock_);
  return sendq_.size();
}

// ---- the operations ---------------------------------------------------------

bool chansend(HChan* c, void* elem, bool block) {
  if (c == nullptr) {
    if (!block) return false;
    block_forever(sched::WaitReason::kChanSendNilChan);
  }
  // S0: see "the order of their loads" in the essay.
  if (!block && !c->closed_hint() && c->full_hint()) return false;

  c->lock_.lock();
  if (c->closed_.load(std::memory_order_relaxed) != 0) {
    c->lock_.unlock();
    throw Panic("send on closed channel");
  }
  if (Sudog* sg = c->recvq_.dequeue()) {  // S2
    Waiter* w = LockedOps::send_to_receiver(c, sg, elem);
    c->lock_.unlock();
    wake(w);
    return true;
  }
  if (c->qcount_.load(std::memory_order_relaxed) < c->dataqsiz_) {  // S3
    LockedOps::buffer_send(c, elem);
    c->lock_.unlock();
    return true;
  }
  if (!block) {  // S4
    c->lock_.unlock();
    return false;
  }
  Waiter w;
  w.g = sched::current_g();
  Sudog sg;
  sg.waiter = &w;
  sg.c = c;
  sg.elem = elem;
  c->sendq_.enqueue(&sg);
  wait_unlock(&w, &c->lock_, sched::WaitReason::kChanSend);
  if (!sg.success) throw Panic("send on closed channel");  // close woke us
  return true;
}

RecvResult chanrecv(HChan* c, void* elem, bool block) {
  if (c == nullptr) {
    if (!block) return {false, false};
    block_forever(sched::WaitReason::kChanReceiveNilChan);
  }
  // R0: empty, then closed, then empty again (see the essay).
  if (!block && c->empty_hint()) {
    if (!c->closed_hint()) return {false, false};
    if (c->empty_hint()) return {true, false};
  }

  c->lock_.lock();
  if (c->closed_.load(std::memory_order_relaxed) != 0) {
    if (c->qcount_.load(std::memory_order_relaxed) == 0) {  // R1
      c->lock_.unlock();
      return {true, false};
    }
    // Closed with values still buffered: drain them first (R3).
  } else if (Sudog* sg = c->sendq_.dequeue()) {  // R2
    Waiter* w = LockedOps::recv_from_sender(c, sg, elem);
    c->lock_.unlock();
    wake(w);
    return {true, true};
  }
  if (c->qcount_.load(std::memory_order_relaxed) > 0) {  // R3
    LockedOps::buffer_recv(c, elem);
    c->lock_.unlock();
    return {true, true};
  }
  if (!block) {  // R4
    c->lock_.unlock();
    return {false, false};
  }
  Waiter w;
  w.g = sched::current_g();
  Sudog sg;
  sg.waiter = &w;
  sg.c = c;
  sg.elem = elem;
  c->recvq_.enqueue(&sg);
  wait_unlock(&w, &c->lock_, sched::WaitReason::kChanReceive);
  return {true, sg.success};
}

void closechan(HChan* c) {
  if (c == nullptr) throw Panic("close of nil channel");
  c->lock_.lock();
  if (c->closed_.load(std::memory_order_relaxed) != 0) {
    c->lock_.unlock();
    throw Panic("close of closed channel");
  }
  // release: pairs with the fast paths' acquire loads of closed_.
  c->closed_.store(1, std::memory_order_release);
  Sudog* wake_list = nullptr;
  // Receivers get the zero value (their slot is left raw; the caller
  // constructs it), senders will panic; both see success == false.
  for (WaitQueue* q : {&c->recvq_, &c->sendq_}) {
    while (Sudog* sg = q->dequeue()) {
      sg->success = false;
      sg->waiter->fired = sg;
      sg->wake_link = wake_list;
      wake_list = sg;
    }
  }
  c->lock_.unlock();
  while (wake_list != nullptr) {
    Sudog* next = wake_list->wake_link;  // before the wake: see invariant 4
    wake(wake_list->waiter);
    wake_list = next;
  }
}

}  // namespace gort::chan_internal
