// sched/runq.h: a P's local run queue.
//
//   RunQueue<T, N>   a bounded single-producer, multi-consumer ring of T*
//                    (N a power of two), with Go's `runnext` slot beside it.
//
// The owner P pushes at the tail and pops at the head; any other P may
// steal half of the ring from the head. The algorithm is Go's (proc.go,
// runqput/runqget/runqgrab/runqsteal, Go 1.19), kept free of the scheduler
// so it can be tested and benchmarked alone: what to do when the ring is
// full (move half to the global queue) is the caller's business, through
// `take_half_for_overflow`.
//
// Thread safety: `put`, `get`, `put_batch`, `take_half_for_overflow`,
// `drain` and `steal_into` (as thief's side) are for the owner only.
// `grab` (the victim's side of a steal), `size` and `empty` may be called
// by any thread. `runnext` may be cleared by any thread (a steal), but only
// the owner sets it to non-null.
//
// Memory ordering:
//   - tail_ is written only by the owner, with release stores that publish
//     the slots it filled; readers load it with acquire.
//   - head_ is advanced by CAS with acq_rel by whoever consumes (the owner's
//     get, a thief's grab); the CAS's release makes the consumer's reads of
//     the slots happen before the owner can overwrite them, because the
//     owner loads head_ with acquire before writing a slot.
//   - Slots are relaxed atomics: a thief may read a slot that the owner is
//     overwriting, but only when its CAS on head_ will then fail, so the torn
//     read is discarded. (Go relies on the same argument with plain words.)
//   - runnext_ is exchanged with acq_rel CASes; the G it points to was
//     published to the owner before it was stored.
#ifndef GORT_SCHED_RUNQ_H_
#define GORT_SCHED_RUNQ_H_

#include <atomic>
#include <cstdint>

#include "sys/fatal.h"

namespace gort::sched {

template <typename T, uint32_t N = 256>
class RunQueue {
  static_assert((N & (N - 1)) == 0, "N must be a power of two");

 public:
  static constexpr uint32_t kCapacity = N;

  RunQueue() = default;
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;

  // Owner. Puts `g` on the ring. If `next`, `g` takes the runnext slot and
  // whatever was there is kicked to the ring instead. Returns the element
  // that did not fit (the ring is full), or nullptr when everything fit.
  // The caller then calls take_half_for_overflow and retries.
  T* put(T* g, bool next) {
    if (next) {
      T* old = runnext_.load(std::memory_order_relaxed);
      // Only the owner makes runnext non-null, so a failed CAS means a thief
      // emptied it: retry with the new value.
      while (!runnext_.compare_exchange_weak(old, g, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
      }
      if (old == nullptr) return nullptr;
      g = old;
    }
    uint32_t h = head_.load(std::memory_order_acquire);  // pairs with consumers' CAS
    uint32_t t = tail_.load(std::memory_order_relaxed);  // only we write tail_
    if (t - h < N) {
      slots_[t % N].store(g, std::memory_order_relaxed);
      tail_.store(t + 1, std::memory_order_release);  // publishes the slot
      return nullptr;
    }
    return g;
  }

  // Owner. Takes the older half of a full ring (N/2 elements) into `out`
  // and returns how many it took: N/2, or 0 if consumers raced with us and
  // the ring is no longer full (then `put` will succeed).
  uint32_t take_half_for_overflow(T** out) {
    uint32_t h = head_.load(std::memory_order_acquire);
    uint32_t t = tail_.load(std::memory_order_relaxed);
    uint32_t n = (t - h) / 2;
    if (n != N / 2) return 0;
    for (uint32_t i = 0; i < n; i++) {
      out[i] = slots_[(h + i) % N].load(std::memory_order_relaxed);
    }
    if (!head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
      return 0;
    }
    return n;
  }

  // Owner. Puts up to `n` elements from `in`; returns how many fit.
  uint32_t put_batch(T* const* in, uint32_t n) {
    uint32_t h = head_.load(std::memory_order_acquire);
    uint32_t t = tail_.load(std::memory_order_relaxed);
    uint32_t k = 0;
    while (k < n && t - h < N) {
      slots_[t % N].store(in[k++], std::memory_order_relaxed);
      t++;
    }
    tail_.store(t, std::memory_order_release);
    return k;
  }

  // Owner. The next element to run, or nullptr. `*inherit_time` says the
  // element came from runnext and should inherit the current time slice.
  T* get(bool* inherit_time) {
    T* next = runnext_.load(std::memory_order_relaxed);
    // Thieves may only clear runnext, so if this CAS fails the slot is
    // empty now: no retry needed.
    if (next != nullptr &&
        runnext_.compare_exchange_strong(next, nullptr,
                                         std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      *inherit_time = true;
      return next;
    }
    *inherit_time = false;
    uint32_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t == h) return nullptr;
      T* g = slots_[h % N].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return g;
      }
    }
  }

  // Any thread (the victim's side of a steal). Copies up to half of the ring
  // into the ring `batch` (capacity N) starting at `batch_head`, and commits
  // the removal. If the ring is empty and `steal_runnext`, takes runnext
  // instead. Returns how many were taken. `before_runnext` is called before
  // taking runnext, so the caller can back off (Go sleeps 3 µs if the victim
  // is running, to let it run its own runnext).
  template <typename BeforeRunnext>
  uint32_t grab(std::atomic<T*>* batch, uint32_t batch_head,
                bool steal_runnext, BeforeRunnext before_runnext) {
    for (;;) {
      uint32_t h = head_.load(std::memory_order_acquire);
      uint32_t t = tail_.load(std::memory_order_acquire);  // pairs with put
      uint32_t n = t - h;
      n = n - n / 2;
      if (n == 0) {
        if (!steal_runnext) return 0;
        T* next = runnext_.load(std::memory_order_acquire);
        if (next == nullptr) return 0;
        before_runnext();
        if (!runnext_.compare_exchange_strong(next, nullptr,
                                              std::memory_order_acq_rel,
                                              std::memory_order_relaxed)) {
          continue;
        }
        batch[batch_head % N].store(next, std::memory_order_relaxed);
        return 1;
      }
      if (n > N / 2) continue;  // h and t read inconsistently: retry
      for (uint32_t i = 0; i < n; i++) {
        batch[(batch_head + i) % N].store(
            slots_[(h + i) % N].load(std::memory_order_relaxed),
            std::memory_order_relaxed);
      }
      if (head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
        return n;
      }
    }
  }

  // Owner (the thief). Steals half of `victim`'s ring into ours and returns
  // one stolen element to run now, or nullptr if there was nothing. If
  // `taken` is given, *taken is set to how many elements were stolen (the
  // returned one included; 0 when it returns nullptr).
  template <typename BeforeRunnext>
  T* steal_from(RunQueue& victim, bool steal_runnext,
                BeforeRunnext before_runnext, uint32_t* taken = nullptr) {
    uint32_t t = tail_.load(std::memory_order_relaxed);
    uint32_t n = victim.grab(slots_, t, steal_runnext, before_runnext);
    if (taken != nullptr) *taken = n;
    if (n == 0) return nullptr;
    n--;
    T* g = slots_[(t + n) % N].load(std::memory_order_relaxed);
    if (n == 0) return g;
    uint32_t h = head_.load(std::memory_order_acquire);
    GORT_CHECK(t - h + n < N);  // we only steal into a ring we emptied
    tail_.store(t + n, std::memory_order_release);
    return g;
  }

  // Owner. Moves every element (runnext first) into `sink(T*)`.
  template <typename Sink>
  uint32_t drain(Sink sink) {
    uint32_t count = 0;
    T* next = runnext_.load(std::memory_order_relaxed);
    if (next != nullptr &&
        runnext_.compare_exchange_strong(next, nullptr,
                                         std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      sink(next);
      count++;
    }
    for (;;) {
      uint32_t h = head_.load(std::memory_order_acquire);
      uint32_t t = tail_.load(std::memory_order_relaxed);
      uint32_t n = t - h;
      if (n == 0) return count;
      if (n > N) continue;
      T* taken[N];
      for (uint32_t i = 0; i < n; i++) {
        taken[i] = slots_[(h + i) % N].load(std::memory_order_relaxed);
      }
      if (!head_.compare_exchange_strong(h, h + n, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
        continue;
      }
      for (uint32_t i = 0; i < n; i++) sink(taken[i]);
      return count + n;
    }
  }

  // Any thread. The number of elements in the ring, runnext not included;
  // a snapshot, possibly stale.
  uint32_t size() const {
    for (;;) {
      uint32_t h = head_.load(std::memory_order_acquire);
      uint32_t t = tail_.load(std::memory_order_acquire);
      if (head_.load(std::memory_order_acquire) == h) return t - h;
    }
  }

  // Any thread. True if the ring and runnext are both empty (a snapshot).
  bool empty() const {
    return size() == 0 && runnext_.load(std::memory_order_acquire) == nullptr;
  }

  T* runnext() const { return runnext_.load(std::memory_order_acquire); }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};  // consumers CAS it (acq_rel)
  std::atomic<uint32_t> tail_{0};              // owner stores it (release)
  std::atomic<T*> runnext_{nullptr};           // owner sets, anyone clears
  std::atomic<T*> slots_[N] = {};              // relaxed; see Memory ordering
};

}  // namespace gort::sched

#endif  // GORT_SCHED_RUNQ_H_
