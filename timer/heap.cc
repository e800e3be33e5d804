// Per-P timer heaps (Go's runtime/time.go, the part below the scheduler).
//
// Glossary: a *timer* is a deadline (`when`, nanotime), an optional period
// and a function. A *heap* is a P's 4-ary min-heap of *entries*, each a
// (deadline, timer) pair; the entry's deadline is a copy, so sifting never
// dereferences a timer (Go 1.23's timerWhen, golang/go#53953). A timer has at
// most one entry, in at most one heap. A *zombie* is a stopped timer whose
// entry is still in a heap. *Running* a heap fires every entry due.
//
// ## States (of a timer; each under the timer's own lock)
//
//   idle      heap_ == nullptr, when_ == 0      made, fired one-shot, dropped
//   armed     when_ != 0, heap_ == nullptr      reset() between its two locks
//   heaped    heap_ != nullptr, when_ != 0      in a heap, pending
//             - entry deadline == when_         (exact)
//             - entry deadline <  when_         (postponed lazily: run() or
//                                                compaction pushes it down)
//   zombie    heap_ != nullptr, zombie_         stopped, entry still there
//
// Transitions: reset() from any state to armed or heaped (a zombie is
// revived in place); stop() from armed/heaped to idle/zombie; run() pops due
// heaped entries (one-shot: idle before its function is called; periodic:
// stays heaped with the next deadline) and drops zombies; compaction drops
// zombies; move_all_to re-homes heaped timers and drops zombies.
//
// ## Lock order and the racy protocols
//
// The heap lock comes before the timer lock (as Go 1.23: run() holds the
// heap and inspects the timer). So an operation that starts from the timer
// (reset) and then needs the heap must drop the timer lock, take the heap
// lock, re-take the timer lock and re-check (Timer::settle):
//
//   1. reset() under the timer lock: bump seq_, set when_/period_; if the
//      timer is heaped and the new deadline is not earlier than its entry's,
//      done (lazy; no heap lock). Else remember the heap (or "none").
//   2. settle(): lock that heap (or the caller's P's heap if none), lock the
//      timer, and act on what is true *now*: stopped meanwhile -> nothing;
//      still in this heap -> sift its entry up; in no heap and this is the
//      local heap -> insert; in another heap (migrated, or fired and
//      re-armed elsewhere) -> unlock and retry there.
//
// Functions run with no lock held: run() pops (or re-arms) the entry under
// both locks, takes the function, arg and seq, unlocks both, calls it, and
// re-locks the heap. So several threads may run one heap at once (the P's
// own M and stealers; Go does the same) and a function may touch timers.
//
// ## Stopping without the heap lock, and golang/go#41699
//
// stop() takes only the timer's lock: it marks the timer a zombie and bumps
// the heap's zombie count. The heap drops zombies when they reach the top,
// and compacts itself (drops all of them, re-heapifies in O(n)) once more
// than a quarter of its entries are zombies, so compaction costs O(1)
// amortised per stop and a heap is never more than 4/3 of its live size
// plus the zombies still above that quarter.
//
// Go 1.14-1.22 had a state machine without per-timer locks in which a reset
// to an *earlier* deadline could not move the entry (the P owning the heap
// might be another): it marked the timer timerModifiedEarlier and recorded
// the P's timerModifiedEarliest, and once that time came, adjusttimers
// walked the *whole* heap to find and re-place every modified timer.
// #41699 ("high CPU usage with high timer adjustments": 50k goroutines each
// resetting a timer to 5 s and 10 s in a loop) is that walk, O(n) on every
// check that found an earlier modification due. Here an earlier reset takes
// the heap lock of the timer's own heap (whoever owns the P) and sifts its
// entry up in O(log n), using the index each timer keeps of its entry; a
// later reset is lazy and costs one O(log n) push-down when the entry
// surfaces. Nothing ever walks the heap except compaction, which is
// amortised as above.
//
// ## Rejected alternatives
//
// - Go 1.14's lock-free status word (timerModifying, timerMoving, ...) with
//   Gs spinning on transient states: seven states, osyield loops, and the
//   O(n) adjust above. A per-timer lock is one word and uncontended.
// - Eager deletion on stop (lock the heap, remove at the index): every stop
//   would contend with the heap's owner; the `timers` benchmark stops half
//   of a million timers.
// - A second entry for an earlier reset (leaving the old one stale): a timer
//   would then sit in the heap more than once and its lifetime would need a
//   count of entries; the index makes in-place moves cheap instead.
//
// ## Invariants
//
// 1. t->heap_ != nullptr  <=>  exactly one entry of t->heap_ holds t, at
//    t->index_, with deadline t->heap_when_ <= t->when_ (or t is a zombie).
// 2. zombies_ == the number of entries whose timer has zombie_ set (exact
//    whenever no stop() is between its increment and its unlock).
// 3. next_when_ == the top entry's deadline (kNever if empty), stored after
//    every change of the top under the heap lock.
#include "timer/heap.h"

#include <utility>

#include "sys/fatal.h"

namespace gort::timer {

Timer::~Timer() { GORT_CHECK(heap_ == nullptr); }

bool Timer::pending() {
  sys::MutexLock l(mu_);
  return when_ != 0 && !zombie_;
}

bool Timer::reset(Heap* local, int64_t when, int64_t period) {
  GORT_CHECK(when > 0);
  Heap* target;
  bool was_pending;
  {
    sys::MutexLock l(mu_);
    was_pending = when_ != 0 && !zombie_;
    seq_.store(seq_.load(std::memory_order_relaxed) + 1,
               std::memory_order_relaxed);
    when_ = when;
    period_ = period;
    target = heap_;
    if (target != nullptr) {
      if (zombie_) {
        zombie_ = false;
        target->zombies_.fetch_sub(1, std::memory_order_relaxed);
      }
      // Step 1: not earlier than its entry: the entry moves down lazily.
      if (when >= heap_when_) return was_pending;
    } else {
      target = local;
    }
  }
  settle(target, local);
  return was_pending;
}

void Timer::settle(Heap* target, Heap* local) {
  for (;;) {
    Heap* retry = nullptr;
    Timer* dropped = nullptr;
    bool inserted = false;
    target->lock_.lock();
    mu_.lock();
    if (when_ == 0 || zombie_) {
      // Stopped (or fired) since step 1: nothing to place.
    } else if (heap_ == target) {
      if (when_ < heap_when_) {
        heap_when_ = when_;
        target->entries_[index_].when = when_;
        target->sift_up_locked(index_);
        target->publish_locked();
      }
    } else if (heap_ == nullptr) {
      if (target == local) {
        if (release_ != nullptr) retain();  // the heap's reference
        heap_ = target;
        heap_when_ = when_;
        target->push_locked(this, when_);
        target->publish_locked();
        inserted = true;
      } else {
        retry = local;
      }
    } else {
      retry = heap_;
    }
    mu_.unlock();
    // Compaction takes every timer's lock, this one's too: after unlocking
    // it. It never drops this timer (not a zombie), but may drop others.
    if (inserted && target->wants_compaction_locked()) {
      dropped = target->compact_locked();
      target->publish_locked();
    }
    target->lock_.unlock();
    Heap::release_list(dropped);
    if (retry == nullptr) return;
    target = retry;
  }
}

bool Timer::stop() {
  sys::MutexLock l(mu_);
  bool was_pending = when_ != 0 && !zombie_;
  seq_.store(seq_.load(std::memory_order_relaxed) + 1,
             std::memory_order_relaxed);
  if (was_pending && heap_ != nullptr) {
    zombie_ = true;
    heap_->zombies_.fetch_add(1, std::memory_order_relaxed);
  }
  when_ = 0;
  return was_pending;
}

Heap::~Heap() {
  sys::MutexLock l(lock_);
  Timer* dropped = nullptr;
  for (Entry& e : entries_) {
    Timer* t = e.t;
    t->mu_.lock();
    t->heap_ = nullptr;
    t->index_ = -1;
    t->zombie_ = false;
    t->when_ = 0;
    t->mu_.unlock();  // before the release: it may free t
    if (t->release_ != nullptr) defer_release(t, &dropped);
  }
  entries_.clear();
  release_list(dropped);
}

// Drops the heap's reference to t. Only the last reference is deferred (to
// run the release function after unlocking): a timer whose count is still
// positive may be re-armed, dropped again and listed by another thread at
// once, so it must not sit on this thread's list; one with none left is
// reachable by nobody else.
void Heap::defer_release(Timer* t, Timer** list) {
  if (t->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    t->release_link_ = *list;
    *list = t;
  }
}

void Heap::release_list(Timer* list) {
  while (list != nullptr) {
    Timer* next = list->release_link_;
    list->release_link_ = nullptr;
    list->release_(list);
    list = next;
  }
}

void Heap::publish_locked() {
  next_when_.store(entries_.empty() ? kNever : entries_[0].when,
                   std::memory_order_seq_cst);
  len_.store(static_cast<int32_t>(entries_.size()), std::memory_order_relaxed);
}

bool Heap::wants_compaction_locked() const {
  int64_t z = zombies_.load(std::memory_order_relaxed);
  return z > 0 && 4 * z > static_cast<int64_t>(entries_.size());
}

void Heap::push_locked(Timer* t, int64_t when) {
  entries_.push_back(Entry{when, t});
  int32_t i = static_cast<int32_t>(entries_.size()) - 1;
  t->index_ = i;
  sift_up_locked(i);
}

void Heap::remove_top_locked() {
  entries_[0].t->index_ = -1;
  Entry last = entries_.back();
  entries_.pop_back();
  if (!entries_.empty()) {
    entries_[0] = last;
    last.t->index_ = 0;
    sift_down_locked(0);
  }
}

void Heap::sift_up_locked(int32_t i) {
  Entry e = entries_[i];
  while (i > 0) {
    int32_t parent = (i - 1) / 4;
    if (entries_[parent].when <= e.when) break;
    entries_[i] = entries_[parent];
    entries_[i].t->index_ = i;
    i = parent;
  }
  entries_[i] = e;
  e.t->index_ = i;
}

void Heap::sift_down_locked(int32_t i) {
  const int32_t n = static_cast<int32_t>(entries_.size());
  Entry e = entries_[i];
  for (;;) {
    int32_t c = 4 * i + 1;
    if (c >= n) break;
    int32_t best = c;
    int32_t end = c + 4 < n ? c + 4 : n;
    for (int32_t k = c + 1; k < end; k++) {
      if (entries_[k].when < entries_[best].when) best = k;
    }
    if (entries_[best].when >= e.when) break;
    entries_[i] = entries_[best];
    entries_[i].t->index_ = i;
    i = best;
  }
  entries_[i] = e;
  e.t->index_ = i;
}

Timer* Heap::compact_locked() {
  Timer* dropped = nullptr;
  size_t keep = 0;
  for (size_t i = 0; i < entries_.size(); i++) {
    Timer* t = entries_[i].t;
    t->mu_.lock();
    if (t->zombie_) {
      t->zombie_ = false;
      t->heap_ = nullptr;
      t->index_ = -1;
      zombies_.fetch_sub(1, std::memory_order_relaxed);
      t->mu_.unlock();  // before the release: it may free t
      if (t->release_ != nullptr) defer_release(t, &dropped);
      continue;
    }
    // Postponed entries take their real deadline now (free: we re-heapify).
    t->heap_when_ = t->when_;
    t->index_ = static_cast<int32_t>(keep);
    entries_[keep++] = Entry{t->when_, t};
    t->mu_.unlock();
  }
  entries_.resize(keep);
  for (int32_t i = (static_cast<int32_t>(keep) - 2) / 4; i >= 0; i--) {
    sift_down_locked(i);
  }
  return dropped;
}

int Heap::run(int64_t now, int max) {
  if (next_when_.load(std::memory_order_seq_cst) > now) return 0;
  int ran = 0;
  Timer* dropped = nullptr;
  lock_.lock();
  while (ran < max && !entries_.empty() && entries_[0].when <= now) {
    Timer* t = entries_[0].t;
    t->mu_.lock();
    if (t->zombie_) {
      t->zombie_ = false;
      t->heap_ = nullptr;
      zombies_.fetch_sub(1, std::memory_order_relaxed);
      remove_top_locked();
      t->mu_.unlock();
      if (t->release_ != nullptr) defer_release(t, &dropped);
      continue;
    }
    if (t->when_ > entries_[0].when) {  // postponed: push it down now
      entries_[0].when = t->when_;
      t->heap_when_ = t->when_;
      sift_down_locked(0);
      t->mu_.unlock();
      continue;
    }
    Timer::Func f = t->f_;
    void* arg = t->arg_;
    uint64_t seq = t->seq_.load(std::memory_order_relaxed);
    bool counted = t->release_ != nullptr;
    if (t->period_ > 0) {
      // Go's ticker: the next deadline after now on the period's grid, so a
      // late run does not fire a burst of catch-up ticks.
      int64_t next = t->when_ + t->period_ * (1 + (now - t->when_) / t->period_);
      if (next <= 0) next = kNever;  // overflow: never again
      t->when_ = next;
      t->heap_when_ = next;
      entries_[0].when = next;
      sift_down_locked(0);
      if (counted) t->retain();  // this firing's reference
    } else {
      remove_top_locked();  // the heap's reference passes to this firing
      t->heap_ = nullptr;
      t->when_ = 0;
    }
    t->mu_.unlock();
    publish_locked();
    lock_.unlock();
    f(arg, seq, now);  // a one-shot uncounted t may be gone from here on
    if (counted) t->release();
    ran++;
    lock_.lock();
  }
  if (wants_compaction_locked()) {
    Timer* more = compact_locked();
    while (more != nullptr) {
      Timer* next = more->release_link_;
      more->release_link_ = dropped;
      dropped = more;
      more = next;
    }
  }
  publish_locked();
  lock_.unlock();
  release_list(dropped);
  return ran;
}

void Heap::move_all_to(Heap* dst) {
  GORT_CHECK(dst != this);
  Timer* dropped = nullptr;
  {
    sys::MutexLock l(lock_);
    sys::MutexLock dl(dst->lock_);
    for (Entry& e : entries_) {
      Timer* t = e.t;
      t->mu_.lock();
      if (t->zombie_) {
        t->zombie_ = false;
        t->heap_ = nullptr;
        t->index_ = -1;
        zombies_.fetch_sub(1, std::memory_order_relaxed);
        t->mu_.unlock();  // before the release: it may free t
        if (t->release_ != nullptr) defer_release(t, &dropped);
        continue;
      }
      t->heap_ = dst;
      t->heap_when_ = t->when_;
      dst->push_locked(t, t->when_);
      t->mu_.unlock();
    }
    entries_.clear();
    publish_locked();
    dst->publish_locked();
  }
  release_list(dropped);
}

}  // namespace gort::timer
