// chan/chan.h: Go's channels (the public API of //chan).
//
//   Chan<T>          a channel of T: a copyable handle (copies share the
//                    channel); default-constructed, it is the nil channel
//   make_chan<T>(n)  a new channel with a buffer of n elements (Go's make)
//   select(...)      Go's select statement over on_recv / on_send /
//                    on_default cases (chan/select.h, included here)
//
// Semantics are Go's (the Go memory model's channel rules included):
//
//   operation   nil channel     open channel        closed channel
//   send(v)     blocks forever  delivers or blocks  panics
//   recv()      blocks forever  value, or blocks    drains, then T{}
//   recv_ok()   blocks forever  {v, true}, blocks   drains, then {T{}, false}
//   try_send(v) false           true if delivered   panics
//   try_recv()  nullopt         {v, true} if ready  drains, then {T{}, false}
//   close()     panics          closes, wakes all   panics
//   len(),cap() 0, 0            buffered, capacity  buffered, capacity
//
// Panics are gort::Panic (sched/panic.h) with Go's messages: "send on closed
// channel", "close of closed channel", "close of nil channel", "makechan:
// size out of range". close() makes every blocked receiver return T{} with
// ok = false and every blocked sender panic. A range-for over a channel
// receives until it is closed and drained. A goroutine blocked forever (a
// nil channel, a channel nobody will use) counts as asleep for Go's
// deadlock detection (`fatal error: all goroutines are asleep - deadlock!`).
//
// Element types: any T that is nothrow move constructible and nothrow
// destructible, move-only types included (send(std::move(p))); receiving
// needs T to be default constructible (the zero value a closed channel
// gives). An empty, trivial T (struct{}) takes no buffer storage.
//
// Blocking operations park a goroutine; on a plain thread (not a
// goroutine) they block the thread, and goroutines and threads may share a
// channel.
//
// Thread safety: a Chan handle is like a std::shared_ptr: different
// handles to one channel may be used concurrently from any goroutines and
// threads; one handle object must not be assigned while it is being used.
// Every operation on the channel itself is safe concurrently with every
// other.
//
// Memory ordering: as Go's memory model says. A send happens-before the
// corresponding receive completes; closing happens-before a receive that
// returns because the channel is closed; the k-th receive on a channel of
// capacity C happens-before the (k+C)-th send completes (an unbuffered
// receive happens-before its send completes). The channel lock and the
// scheduler's ready() (or a thread's futex note) carry these; see
// chan/hchan.cc.
#ifndef GORT_CHAN_CHAN_H_
#define GORT_CHAN_CHAN_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "chan/hchan.h"
#include "sched/panic.h"

namespace gort {

template <typename T>
class Chan;

namespace chan_internal {

// Raw storage a value is received into (the elem of a receiving sudog).
template <typename T>
class Slot {
 public:
  void* addr() { return kNoStorage<T> ? nullptr : static_cast<void*>(buf_); }
  // Moves the received value out and destroys it in the slot.
  // REQUIRES: a value was received into this slot.
  T take() {
    if constexpr (kNoStorage<T>) {
      return T{};
    } else {
      T* p = std::launder(reinterpret_cast<T*>(buf_));
      T v(std::move(*p));
      p->~T();
      return v;
    }
  }

 private:
  alignas(T) unsigned char buf_[kNoStorage<T> ? 1 : sizeof(T)];
};

// Go's zero value: what a receive from a closed channel gives.
template <typename T>
T zero_value() {
  static_assert(
      std::is_default_constructible_v<T>,
      "receiving from a channel needs a default-constructible element type "
      "(the zero value a closed channel gives)");
  return T{};
}

// select.h's access to a handle's channel.
struct Access {
  template <typename T>
  static HChan* hchan(const Chan<T>& c) {
    return c.c_;
  }
};

}  // namespace chan_internal

template <typename T>
class Chan {
 public:
  using value_type = T;

  // The nil channel.
  constexpr Chan() noexcept = default;
  constexpr Chan(std::nullptr_t) noexcept {}

  Chan(const Chan& other) noexcept : c_(other.c_) {
    if (c_ != nullptr) c_->ref();
  }
  Chan(Chan&& other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
  Chan& operator=(const Chan& other) noexcept {
    Chan(other).swap(*this);
    return *this;
  }
  Chan& operator=(Chan&& other) noexcept {
    Chan(std::move(other)).swap(*this);
    return *this;
  }
  ~Chan() {
    if (c_ != nullptr) c_->unref();
  }
  void swap(Chan& other) noexcept { std::swap(c_, other.c_); }

  // Sends v, blocking until a receiver takes it or the buffer has room.
  // Throws Panic("send on closed channel") (also when the channel is closed
  // while the sender waits). The rvalue overload leaves v untouched if it
  // throws.
  void send(T&& v) const { chan_internal::chansend(c_, &v, true); }
  void send(const T& v) const requires std::copy_constructible<T> {
    T copy(v);
    chan_internal::chansend(c_, &copy, true);
  }

  // Sends v if that can be done without blocking; returns whether it was.
  // On false, the rvalue overload leaves v untouched. Throws
  // Panic("send on closed channel"). Takes no lock when the channel is
  // plainly full (Go's select with default, selectnbsend).
  bool try_send(T&& v) const {
    if (!may_send_now()) return false;
    return chan_internal::chansend(c_, &v, false);
  }
  bool try_send(const T& v) const requires std::copy_constructible<T> {
    if (!may_send_now()) return false;
    T copy(v);
    return chan_internal::chansend(c_, &copy, false);
  }

  // Receives a value, blocking until there is one; T{} once the channel is
  // closed and drained.
  T recv() const {
    chan_internal::Slot<T> slot;
    chan_internal::RecvResult r =
        chan_internal::chanrecv(c_, slot.addr(), true);
    if (r.received) return slot.take();
    return chan_internal::zero_value<T>();
  }

  // Go's `v, ok := <-c`: {value, true}, or {T{}, false} once the channel is
  // closed and drained.
  std::pair<T, bool> recv_ok() const {
    chan_internal::Slot<T> slot;
    chan_internal::RecvResult r =
        chan_internal::chanrecv(c_, slot.addr(), true);
    if (r.received) return {slot.take(), true};
    return {chan_internal::zero_value<T>(), false};
  }

  // Receives without blocking (Go's select with default, selectnbrecv):
  // nullopt if no value is ready and the channel is open (or nil); else
  // what recv_ok() would return. Takes no lock when the channel is plainly
  // empty and open.
  std::optional<std::pair<T, bool>> try_recv() const {
    if (c_ == nullptr) return std::nullopt;
    if (c_->empty_hint() && !c_->closed_hint()) return std::nullopt;
    chan_internal::Slot<T> slot;
    chan_internal::RecvResult r =
        chan_internal::chanrecv(c_, slot.addr(), false);
    if (!r.selected) return std::nullopt;
    if (r.received) return std::pair<T, bool>{slot.take(), true};
    return std::pair<T, bool>{chan_internal::zero_value<T>(), false};
  }

  // Closes the channel (see the table above). Throws Panic("close of nil
  // channel") or Panic("close of closed channel").
  void close() const { chan_internal::closechan(c_); }

  // Elements buffered now (0 for nil), and the capacity (0 for nil).
  int64_t len() const { return c_ == nullptr ? 0 : c_->len(); }
  int64_t cap() const { return c_ == nullptr ? 0 : c_->cap(); }

  // Go's channel comparison: the same channel (or both nil).
  friend bool operator==(const Chan& a, const Chan& b) { return a.c_ == b.c_; }
  friend bool operator==(const Chan& a, std::nullptr_t) {
    return a.c_ == nullptr;
  }

  // Range-for: receives until the channel is closed and drained. The
  // iterator holds the last value received; `for (auto& v : c)` avoids a
  // copy (and is how to range over move-only values: std::move(v)).
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    T& operator*() { return *value_; }
    iterator& operator++() {
      next();
      return *this;
    }
    void operator++(int) { next(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.value_.has_value();
    }

   private:
    friend class Chan;
    explicit iterator(const Chan* ch) : ch_(ch) { next(); }
    void next() {
      value_.reset();
      auto [v, ok] = ch_->recv_ok();
      if (ok) value_.emplace(std::move(v));
    }
    const Chan* ch_ = nullptr;
    std::optional<T> value_;
  };
  iterator begin() const { return iterator(this); }
  std::default_sentinel_t end() const { return {}; }

 private:
  template <typename U>
  friend Chan<U> make_chan(int64_t cap);
  friend struct chan_internal::Access;

  explicit Chan(chan_internal::HChan* c) : c_(c) {}

  // The lock-free half of Go's selectnbsend: false when the channel is nil,
  // or open and full. (Closed channels go on, to panic under the lock.)
  bool may_send_now() const {
    if (c_ == nullptr) return false;
    return c_->closed_hint() || !c_->full_hint();
  }

  chan_internal::HChan* c_ = nullptr;
};

// A new channel of T with a buffer of `cap` elements (0: unbuffered).
// Throws Panic("makechan: size out of range") if cap < 0 or the buffer
// could not be addressed (cap * sizeof(T) beyond 2^48 bytes).
template <typename T>
Chan<T> make_chan(int64_t cap = 0) {
  return Chan<T>(
      chan_internal::HChan::make(&chan_internal::ElemOpsFor<T>::kOps, cap));
}

}  // namespace gort

#include "chan/select.h"  // IWYU pragma: export

#endif  // GORT_CHAN_CHAN_H_
