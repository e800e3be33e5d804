// timer/heap.h: per-P timer heaps, below the scheduler (Go's runtime timer
// and the P's timer heap; no dependency on //sched).
//
//   Timer       one timer: a deadline, an optional period, a function to
//               call when it fires, and a sequence number that every
//               arm/stop changes (so that a fire racing a stop is detectable)
//   Heap        a 4-ary min-heap of timers with its own lock; a P holds one
//   kNever      the deadline of "no timer"
//
// The design essay (states, lazy deletion, the lock order, why no O(n) walk
// per reset) is at the top of timer/heap.cc; docs/timer.md has the rest.
//
// Thread safety: every Timer and Heap operation may be called from any
// thread, concurrently with every other, including run() of the same heap on
// several threads at once (the scheduler's stealers). A Timer's function is
// called without any heap or timer lock held, so it may arm or stop timers
// (itself included). Lock order: Heap's lock before a Timer's lock; no
// thread holds two heaps' locks except move_all_to (and only during the
// scheduler's stop-the-world).
//
// Lifetime: a Timer must outlive its time in a heap and the call of its
// function. With a release function (set_release), the Timer is reference
// counted: the creator holds one reference, a heap holds one while the timer
// has entries in it (a stopped timer's entry stays until the heap drops
// it), and a firing holds one while its function runs; the last release()
// calls the release function. Without one, the owner must guarantee it (the
// scheduler's sleep keeps its Timer on the sleeping goroutine's stack, which
// lives until the function has readied the goroutine: run() does not touch a
// one-shot Timer after calling its function if that Timer had one entry,
// which holds unless it was reset to an earlier deadline while in a heap;
// an uncounted Timer that is must stay alive until it is stopped and the
// heap has dropped its entries, or forever, as netpoll's PollDescs).
//
// Memory ordering: the heap lock and each timer's lock order the fields
// they guard (see the fields). Heap::next_when() and len()/live() are
// lock-free reads for the scheduler: next_when is stored seq_cst after every
// change of the heap's top (pairs with the idle M's seq_cst scan; see
// sched/proc.cc's timer-wait protocol), the counts are relaxed hints.
#ifndef GORT_TIMER_HEAP_H_
#define GORT_TIMER_HEAP_H_

#include <atomic>
#include <climits>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "sys/mutex.h"

namespace gort::timer {

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

class Heap;

class Timer {
 public:
  // Called when the timer fires, on whatever thread runs the heap, with no
  // lock held: `seq` is the timer's sequence number when it fired (compare
  // with seq() under the caller's own lock to detect a stop or reset since),
  // `now` the nanotime the heap ran at.
  using Func = void (*)(void* arg, uint64_t seq, int64_t now);

  Timer(Func f, void* arg) : f_(f), arg_(arg) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // REQUIRES: not in a heap.
  ~Timer();

  // Makes the Timer reference counted (see Lifetime above); the creator's
  // reference is the first. REQUIRES: before the first reset().
  void set_release(void (*release)(Timer*)) { release_ = release; }
  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference; the last one calls the release function. acq_rel:
  // the last releaser sees every other holder's writes.
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) release_(this);
  }

  // Arms the timer to fire at `when` (nanotime; <= now fires at the heap's
  // next run) and then every `period` ns if period > 0. A timer not in any
  // heap goes into `local` (the caller's P's heap). Returns whether it was
  // pending (armed and not stopped) before. Never walks the heap: a later
  // deadline is recorded lazily (the entry is pushed down when it
  // surfaces), an earlier one pushes a new entry in O(log n) and leaves the
  // old one stale.
  // REQUIRES: when > 0; local != nullptr and not being destroyed.
  bool reset(Heap* local, int64_t when, int64_t period);

  // Disarms the timer without taking any heap lock (lazy deletion: the heap
  // drops the entry when it surfaces or at its next compaction). Returns
  // whether it was pending. A firing already under way is not undone.
  bool stop();

  // The sequence number: changes at every reset() and stop(). Relaxed; for
  // comparison under a lock that also covers the reset/stop (see Func).
  uint64_t seq() const { return seq_.load(std::memory_order_relaxed); }

  // Armed and not stopped (a hint when read without the caller's lock).
  bool pending();

 private:
  friend class Heap;

  // Makes the heap agree with when_ (insert into `local` if in no heap,
  // push a new entry if earlier than the live one), taking the heap lock.
  // Loops while the timer migrates between heaps.
  void settle(Heap* target, Heap* local);

  const Func f_;
  void* const arg_;
  void (*release_)(Timer*) = nullptr;  // immutable once armed
  std::atomic<int32_t> refs_{1};

  sys::Mutex mu_;
  // The armed deadline, 0 when not armed (stopped, fired one-shot).
  int64_t when_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t period_ ABSL_GUARDED_BY(mu_) = 0;
  // In a heap but with no live entry (stopped, or fired with stale entries
  // left): every entry of the timer is stale (see heap.cc, "Stale entries").
  bool zombie_ ABSL_GUARDED_BY(mu_) = false;
  // Written under mu_; read relaxed by seq().
  std::atomic<uint64_t> seq_{0};
  // The heap holding the timer's entries (all of them are in one heap), the
  // deadline of its live entry (0: none), and how many entries it has there:
  // written with both that heap's lock and mu_ held, so readable under
  // either.
  Heap* heap_ = nullptr;
  int64_t heap_when_ = 0;
  int32_t nentries_ = 0;
  // A list of timers whose last reference a heap dropped, to release after
  // unlocking (owned by that thread: nobody else can reach the timer).
  Timer* release_link_ = nullptr;
};

class Heap {
 public:
  Heap() = default;
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  ~Heap();

  // The earliest entry's deadline, or kNever: never later than the next
  // timer due (a lazily postponed or stopped entry may make it early: a
  // run at that time then finds nothing due). seq_cst: see Memory ordering.
  int64_t next_when() const { return next_when_.load(std::memory_order_seq_cst); }
  // Entries, stale ones included (scheddetail's timerslen, as Go counts
  // stopped timers).
  int32_t len() const { return len_.load(std::memory_order_relaxed); }
  // Live entries: pending timers (deadlock detection: they mean a goroutine
  // may still be woken).
  int32_t live() const {
    return len_.load(std::memory_order_relaxed) -
           stale_.load(std::memory_order_relaxed);
  }

  // Fires the timers due at `now`, earliest first, at most `max` of them
  // (calling each function with the heap unlocked), drops stale entries
  // found on the way, and compacts the heap when more than a quarter of it
  // is stale. Returns how many functions it called. Cheap when nothing is
  // due (one atomic load).
  int run(int64_t now, int max = INT_MAX);

  // Moves every live timer into `dst` and drops the stale entries (Go's
  // moveTimers, when gomaxprocs shrinks). REQUIRES: dst != this.
  void move_all_to(Heap* dst);

 private:
  friend class Timer;

  struct Entry {
    int64_t when;
    Timer* t;
  };

  void push_locked(Timer* t, int64_t when) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void remove_top_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void sift_up_locked(int32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void sift_down_locked(int32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Drops one stale entry (deadline `when`) of t (t->mu_ held): the last
  // one takes t out of the heap. Returns whether the heap's reference to t
  // must now be dropped (defer_release), which the caller does after
  // unlocking t->mu_ (another holder may free t as soon as it is dropped).
  bool drop_stale_locked(Timer* t, int64_t when)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // Drops every stale entry and re-heapifies; returns the dropped timers
  // linked by release_link_ (to release after unlocking).
  Timer* compact_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void publish_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  bool wants_compaction_locked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  static void defer_release(Timer* t, Timer** list);
  static void release_list(Timer* list);

  sys::Mutex lock_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(lock_);
  std::atomic<int64_t> next_when_{kNever};  // stored under lock_, seq_cst
  std::atomic<int32_t> len_{0};             // stored under lock_, relaxed
  // Stale entries: the sum over its timers of entries minus (zombie ? 0 :
  // 1). Incremented by stop() (timer lock only), otherwise changed under
  // both locks; relaxed (a count for the compaction heuristic and live(),
  // exact once the heap is quiescent).
  std::atomic<int32_t> stale_{0};
};

}  // namespace gort::timer

#endif  // GORT_TIMER_HEAP_H_
