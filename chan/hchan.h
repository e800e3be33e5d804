// chan/hchan.h: the channel's type-erased core (Go's runtime/chan.go and
// select.go). Not for users: chan/chan.h and chan/select.h are the API.
//
//   ElemOps     how the core moves and destroys elements of one type
//   HChan       a channel: lock, ring buffer, wait queues, closed flag
//   Waiter      one blocked goroutine or thread (one per blocking call)
//   Sudog       one waiting operation of a Waiter on one channel
//   WaitQueue   a channel's FIFO of Sudogs (recvq, sendq)
//   SelectCase  one case of a select (Go's scase)
//
// The design essay, the invariants and the lock-order argument for select
// are at the top of chan/hchan.cc.
//
// Thread safety: every function may be called from any goroutine or plain
// thread, concurrently, on the same or different channels. A blocking call
// parks a goroutine, and blocks a plain thread in the kernel. HChan's
// mutable fields are under its lock_ except where a field says otherwise.
//
// Memory ordering: everything a sender wrote before a send happens-before
// whatever the receiver of that value does after its receive returns, and a
// close happens-before a receive that returns because of it: values and
// state pass under the channel lock, and a woken party is handed over by
// ready() (or its note), which publish through the run queue (or the futex
// word). The lock-free fast paths (try_send/try_recv on a channel that is
// plainly not ready, len) read qcount_, closed_ and the queue heads with
// acquire loads, which pair with the release stores made under the lock;
// hchan.cc's essay says why the order of those loads matters.
#ifndef GORT_CHAN_HCHAN_H_
#define GORT_CHAN_HCHAN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "sched/g.h"
#include "sys/mutex.h"
#include "sys/note.h"

namespace gort::chan_internal {

// How the core handles one element type without being a template.
// REQUIRES of the type: nothrow move construction and destruction (the
// core moves elements under the channel lock and cannot unwind there).
struct ElemOps {
  // Bytes per element; 0 for an empty type, which gets no storage at all
  // (its values carry no state, so there is nothing to move).
  size_t size;
  size_t align;
  // Trivially copyable: moves are memcpy and destruction is nothing, with
  // no call out of the runtime's code.
  bool trivial;
  // Move-constructs *dst from *src; *src stays constructed (moved-from).
  void (*move)(void* dst, void* src) noexcept;
  void (*destroy)(void* p) noexcept;
};

template <typename T>
inline constexpr bool kNoStorage =
    std::is_empty_v<T>&& std::is_trivially_copyable_v<T>&&
        std::is_trivially_default_constructible_v<T>;

template <typename T>
struct ElemOpsFor {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "a channel's element type must be nothrow move constructible");
  static_assert(std::is_nothrow_destructible_v<T>,
                "a channel's element type must be nothrow destructible");
  static void move(void* dst, void* src) noexcept {
    ::new (dst) T(std::move(*std::launder(static_cast<T*>(src))));
  }
  static void destroy(void* p) noexcept {
    std::launder(static_cast<T*>(p))->~T();
  }
  static constexpr ElemOps kOps = {
      kNoStorage<T> ? 0 : sizeof(T),
      alignof(T),
      std::is_trivially_copyable_v<T>,
      &ElemOpsFor::move,
      &ElemOpsFor::destroy,
  };
};

class HChan;
struct Waiter;

// One waiting operation: a goroutine or thread blocked sending to or
// receiving from one channel (Go's sudog). Lives on the waiter's stack
// (gort's stacks never move; see the essay). While queued, every field but
// `waiter` and `c` is under c's lock.
struct Sudog {
  Waiter* waiter = nullptr;
  HChan* c = nullptr;
  // Send: the sender's value (moved from by whoever completes the send).
  // Receive: raw storage the value is moved into, or nullptr to drop it.
  void* elem = nullptr;
  Sudog* next = nullptr;  // the channel's queue
  Sudog* prev = nullptr;
  Sudog* wake_link = nullptr;  // close's list of Sudogs to wake
  bool is_select = false;
  // Set by whoever dequeues it: true if the value moved, false if the
  // channel was closed.
  bool success = false;
};

// One blocked goroutine or thread: what its Sudogs point back to.
struct Waiter {
  sched::G* g = nullptr;  // the parked goroutine; nullptr: a plain thread
  sys::Note note;         // a plain thread sleeps here
  // Select only: 0 until one waker claims the select (CAS 0 -> 1, acq_rel;
  // Go's g.selectDone). Only the claimant completes a case and wakes it.
  std::atomic<uint32_t> select_done{0};
  // Select only: the Sudog of the case that fired, written by the claimant
  // under that case's channel lock (Go's g.param).
  Sudog* fired = nullptr;
};

// A FIFO of Sudogs (Go's waitq). Under the channel lock, except that
// `first_` is read lock-free by the fast paths (release stores under the
// lock, acquire loads outside it).
class WaitQueue {
 public:
  bool empty_hint() const {
    return first_.load(std::memory_order_acquire) == nullptr;
  }
  void enqueue(Sudog* sg);
  // Removes and returns the first Sudog that may fire: a select's Sudog is
  // skipped (and dropped from the queue) if another case of its select
  // already fired. nullptr if none.
  Sudog* dequeue();
  // Removes sg if it is still queued (a select cleaning up its other cases).
  void remove(Sudog* sg);
  // Sudogs queued (stale select sudogs included).
  int64_t size() const;

 private:
  std::atomic<Sudog*> first_{nullptr};
  Sudog* last_ = nullptr;
};

// What a receive did: `selected` is false only for a non-blocking receive
// that would have blocked; `received` is false when the channel was closed
// and drained (the receiver's slot is then untouched: the caller makes the
// zero value).
struct RecvResult {
  bool selected;
  bool received;
};

// A channel (Go's hchan). Reference counted by the Chan<T> handles.
class HChan {
 public:
  // Go's makechan. Throws Panic("makechan: size out of range") if cap < 0
  // or cap elements do not fit in memory (the rule of chan.go: size*cap
  // overflows or exceeds the largest allocation).
  static HChan* make(const ElemOps* ops, int64_t cap);

  // Handles: copy = ref(), drop = unref() (the last one frees the channel
  // and destroys any elements still buffered).
  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref() {
    // acq_rel: the last unref sees every other handle's use of the channel.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

  int64_t cap() const { return static_cast<int64_t>(dataqsiz_); }
  int64_t len() const {
    return static_cast<int64_t>(qcount_.load(std::memory_order_relaxed));
  }

  // Go's full(): a send would block right now (instantaneous answer).
  bool full_hint() const {
    if (dataqsiz_ == 0) return recvq_.empty_hint();
    return qcount_.load(std::memory_order_acquire) == dataqsiz_;
  }
  // Go's empty(): a receive would block right now (instantaneous answer).
  bool empty_hint() const {
    if (dataqsiz_ == 0) return sendq_.empty_hint();
    return qcount_.load(std::memory_order_acquire) == 0;
  }
  bool closed_hint() const {
    return closed_.load(std::memory_order_acquire) != 0;
  }

  // Receivers and senders queued now (takes the lock): for tests and
  // introspection. A select waiting on the channel counts once per case.
  int64_t queued_receivers();
  int64_t queued_senders();

 private:
  friend bool chansend(HChan* c, void* elem, bool block);
  friend RecvResult chanrecv(HChan* c, void* elem, bool block);
  friend void closechan(HChan* c);
  friend struct LockedOps;

  HChan(const ElemOps* ops, uint64_t cap, unsigned char* buf)
      : ops_(ops), dataqsiz_(cap), buf_(buf) {}
  void destroy();

  void* slot(uint64_t i) const { return buf_ + i * ops_->size; }
  // Moves *src into raw *dst (nothing for an empty type).
  void move_elem(void* dst, void* src) const;
  // Moves *src into raw *dst and destroys *src (a buffer slot).
  void take_elem(void* dst, void* src) const;
  void destroy_elem(void* p) const;

  // ---- immutable ----
  const ElemOps* ops_;
  const uint64_t dataqsiz_;   // capacity (Go's dataqsiz)
  unsigned char* const buf_;  // dataqsiz_ slots, or nullptr (no storage)

  std::atomic<int64_t> refs_{1};

  // ---- under lock_ ----
  sys::Mutex lock_;
  // Elements in the buffer. Written under lock_ (release), read lock-free
  // by len() (relaxed) and the fast paths (acquire).
  std::atomic<uint64_t> qcount_{0};
  uint64_t sendx_ ABSL_GUARDED_BY(lock_) = 0;  // next slot to fill
  uint64_t recvx_ ABSL_GUARDED_BY(lock_) = 0;  // next slot to drain
  // 0 open, 1 closed. Written once under lock_ (release), read lock-free by
  // the fast paths (acquire).
  std::atomic<uint32_t> closed_{0};
  WaitQueue recvq_;  // blocked receivers
  WaitQueue sendq_;  // blocked senders
};

// Go's chansend. c == nullptr is the nil channel: blocks forever
// (kChanSendNilChan), or returns false without block. Returns true when the
// value moved (out of *elem: *elem is then moved-from), false when !block
// and the send would have blocked (*elem untouched). Throws
// Panic("send on closed channel"), *elem untouched.
bool chansend(HChan* c, void* elem, bool block);

// Go's chanrecv: receives into raw storage *elem (nullptr: drop the value).
// c == nullptr blocks forever (kChanReceiveNilChan), or returns
// {false, false} without block. See RecvResult.
RecvResult chanrecv(HChan* c, void* elem, bool block);

// Go's closechan: wakes every receiver (received = false) and every sender
// (which panics). Throws Panic("close of nil channel") for nullptr and
// Panic("close of closed channel") the second time.
void closechan(HChan* c);

// Uninitialised room for one Sudog: select's per-case sudogs are built
// only if it has to wait (pass 2), not on every select.
struct SudogStorage {
  alignas(Sudog) unsigned char bytes[sizeof(Sudog)];
};
static_assert(std::is_trivially_destructible_v<Sudog>);

// One case of a select (Go's scase). c == nullptr: a nil channel, never
// ready.
struct SelectCase {
  HChan* c;
  void* elem;  // send: the value; receive: raw storage (nullptr: drop)
  bool is_send;
};

struct SelectResult {
  int index;      // the case that fired, or -1 (non-blocking, none ready)
  bool received;  // for a receive case: a value (true) or closed (false)
};

// Go's selectgo over cases[0, n) with room for per-case Sudogs `sudogs`
// and scratch `order` (2n entries), all on the caller's stack. Picks
// uniformly at random among the cases ready now; with none ready, returns
// {-1, false} if !block, else waits for the first to become ready. n == 0
// with block waits forever (kSelectNoCases). Throws Panic("send on closed
// channel") if the chosen case is a send on a closed channel.
// REQUIRES: n <= 65535.
SelectResult selectgo(SelectCase* cases, SudogStorage* sudogs, uint16_t* order,
                      int n, bool block);

// Blocks the caller forever: parks a goroutine with `reason`, sleeps a
// plain thread.
[[noreturn]] void block_forever(sched::WaitReason reason);

}  // namespace gort::chan_internal

#endif  // GORT_CHAN_HCHAN_H_
