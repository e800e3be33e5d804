// Per-P timer heaps (Go's runtime/time.go, the part below the scheduler).
//
// Glossary: a *timer* is a deadline (`when`, nanotime), an optional period
// and a function. A *heap* is a P's 4-ary min-heap of *entries*, each a
// (deadline, timer) pair; the entry's deadline is a copy, so sifting never
// dereferences a timer (Go 1.23's timerWhen, golang/go#53953). A timer's
// entries are all in one heap; at most one of them is *live*, the rest are
// *stale* (superseded by an earlier reset, or left by a stop or a firing).
// A *zombie* is a timer in a heap with no live entry. *Running* a heap fires
// every live entry due and drops the stale ones it meets.
//
// ## States (of a timer; each under the timer's own lock)
//
//   idle      heap_ == nullptr, when_ == 0      made, fired one-shot, dropped
//   armed     when_ != 0, heap_ == nullptr      reset() between its two locks
//   heaped    heap_ != nullptr, !zombie_        pending; its live entry is
//             - live deadline == when_          (exact)
//             - live deadline <  when_          (postponed lazily: run() or
//                                                compaction pushes it down)
//   zombie    heap_ != nullptr, zombie_         stopped (or fired with stale
//                                                entries left), entries there
//
// Transitions: reset() from any state to armed or heaped (a zombie whose
// live deadline is still known is revived in place); stop() from
// armed/heaped to idle/zombie; run() pops due live entries (one-shot: idle,
// or zombie if stale entries remain, before its function is called;
// periodic: stays heaped with the next deadline) and drops stale ones;
// compaction drops stale entries; move_all_to re-homes heaped timers and
// drops the rest.
//
// ## Stale entries (no index, no dereference while sifting)
//
// The heap never records where a timer's entry is. Instead the timer
// records the deadline of its live entry (heap_when_) and how many entries
// it has (nentries_); an entry (w, t) is live iff !t->zombie_ and
// w == t->heap_when_. An earlier reset pushes a new entry and sets
// heap_when_ to it, which makes the old one stale in O(log n), without
// finding it. Two entries of one timer may both look live (same deadline):
// they are interchangeable, since whichever surfaces first fires at the
// right time and the firing (or push-down) makes the other stale. The heap
// counts stale entries (stale_ = the sum over its timers of nentries_ minus
// one if not a zombie), and that count is the same whichever duplicate is
// taken for the live one. The heap holds one reference to a counted timer
// while nentries_ > 0.
//
// Go 1.23 and the previous design here kept an index per timer so an entry
// could be moved; every sift step then stored the index into the moved
// timer, a cache miss per level: half of sift-down's time in the `timers`
// profile (1M after_func timers, a heap of ~70k entries).
//
// ## Lock order and the racy protocols
//
// The heap lock comes before the timer lock (as Go 1.23: run() holds the
// heap and inspects the timer). So an operation that starts from the timer
// (reset) and then needs the heap must drop the timer lock, take the heap
// lock, re-take the timer lock and re-check (Timer::settle):
//
//   1. reset() under the timer lock: bump seq_, set when_/period_; if the
//      timer is heaped and the new deadline is not earlier than its live
//      entry's, done (lazy; no heap lock); a zombie whose live deadline is
//      known and not later is revived so too. Else remember the heap (or
//      "none").
//   2. settle(): lock that heap (or the caller's P's heap if none), lock the
//      timer, and act on what is true *now*: stopped meanwhile -> nothing;
//      still in this heap and earlier than its live entry (or a zombie) ->
//      push a new live entry; in no heap and this is the local heap ->
//      insert; in another heap (migrated, or fired and re-armed elsewhere)
//      -> unlock and retry there.
//
// Functions run with no lock held: run() pops (or re-arms) the entry under
// both locks, takes the function, arg and seq, unlocks both, calls it, and
// re-locks the heap. So several threads may run one heap at once (the P's
// own M and stealers; Go does the same) and a function may touch timers.
//
// ## Stopping without the heap lock, and golang/go#41699
//
// stop() takes only the timer's lock: it makes the timer a zombie and bumps
// the heap's stale count. The heap drops stale entries when they reach the
// top, and compacts itself (drops all of them, re-heapifies in O(n)) once
// more than a quarter of its entries are stale, so compaction costs O(1)
// amortised per stop or earlier reset, and a heap is never more than 4/3 of
// its live size plus the stale entries still above that quarter.
//
// Go 1.14-1.22 had a state machine without per-timer locks in which a reset
// to an *earlier* deadline could not move the entry (the P owning the heap
// might be another): it marked the timer timerModifiedEarlier and recorded
// the P's timerModifiedEarliest, and once that time came, adjusttimers
// walked the *whole* heap to find and re-place every modified timer.
// #41699 ("high CPU usage with high timer adjustments": 50k goroutines each
// resetting a timer to 5 s and 10 s in a loop) is that walk, O(n) on every
// check that found an earlier modification due. Here an earlier reset takes
// the heap lock of the timer's own heap (whoever owns the P) and pushes a
// new entry in O(log n); a later reset is lazy and costs one O(log n)
// push-down when the entry surfaces. Nothing ever walks the heap except
// compaction, which is amortised as above.
//
// ## Rejected alternatives
//
// - Go 1.14's lock-free status word (timerModifying, timerMoving, ...) with
//   Gs spinning on transient states: seven states, osyield loops, and the
//   O(n) adjust above. A per-timer lock is one word and uncontended.
// - Eager deletion on stop (lock the heap, remove at the index): every stop
//   would contend with the heap's owner; the `timers` benchmark stops half
//   of a million timers. It would also need the index.
// - An index per timer, to move its one entry in place (this file's first
//   design): a store into the moved timer at every sift step (see above).
//
// ## Invariants
//
// 1. t->heap_ != nullptr  <=>  t->nentries_ > 0 entries of t->heap_ hold t
//    (no other heap holds any). Unless t->zombie_, one of them has deadline
//    t->heap_when_ <= t->when_; a zombie's heap_when_ is 0 or, likewise, an
//    entry's deadline (dropping that entry zeroes it).
// 2. stale_ == the sum over the heap's timers of nentries_ - (zombie_ ? 0 :
//    1) (exact whenever no stop() is between its increment and its unlock).
// 3. next_when_ == the top entry's deadline (kNever if empty), stored after
//    every change of the top under the heap lock.
#include "timer/heap.h"

#include <utility>

#include "sys/fatal.h"

namespace gort::timer {
namespace {

// Compaction prefetches this many entries' timers ahead of the one it looks
// at (a heap's timers are scattered: each is a cache miss otherwise).
constexpr size_t kPrefetchAhead = 8;

// A hint: loads the cache lines of t's lock and fields (read and written
// next), without faulting (t may have been freed: prefetch never faults).
inline void prefetch_timer(const Timer* t) {
  const char* p = reinterpret_cast<const char*>(t);
  __builtin_prefetch(p, 1, 3);
  __builtin_prefetch(p + sizeof(Timer) - 1, 1, 3);
}

}  // namespace

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
      // Step 1: not earlier than its live entry: that entry moves down
      // lazily (a stopped timer's is revived in place).
      if (heap_when_ != 0 && when >= heap_when_) {
        if (zombie_) {
          zombie_ = false;
          target->stale_.fetch_sub(1, std::memory_order_relaxed);
        }
        return was_pending;
      }
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
    bool pushed = false;
    target->lock_.lock();
    mu_.lock();
    if (when_ == 0) {
      // Stopped (or fired) since step 1: nothing to place.
    } else if (heap_ == target) {
      if (zombie_ && heap_when_ != 0 && when_ >= heap_when_) {
        zombie_ = false;  // its old live entry serves (pushed down later)
        target->stale_.fetch_sub(1, std::memory_order_relaxed);
      } else if (zombie_ || when_ < heap_when_) {
        // A new live entry; the old one (if any) goes stale: one more
        // stale entry unless the timer was a zombie (invariant 2).
        if (!zombie_) target->stale_.fetch_add(1, std::memory_order_relaxed);
        zombie_ = false;
        heap_when_ = when_;
        nentries_++;
        target->push_locked(this, when_);
        target->publish_locked();
        pushed = true;
      }
    } else if (heap_ == nullptr) {
      if (target == local) {
        if (release_ != nullptr) retain();  // the heap's reference
        heap_ = target;
        heap_when_ = when_;
        nentries_ = 1;
        target->push_locked(this, when_);
        target->publish_locked();
        pushed = true;
      } else {
        retry = local;
      }
    } else {
      retry = heap_;
    }
    mu_.unlock();
    // Compaction takes every timer's lock, this one's too: after unlocking
    // it. It keeps this timer's live entry (so never releases this timer);
    // it may drop and release others.
    if (pushed && target->wants_compaction_locked()) {
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
    heap_->stale_.fetch_add(1, std::memory_order_relaxed);
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
    if (--t->nentries_ > 0) {  // more entries follow: t stays alive
      t->mu_.unlock();
      continue;
    }
    t->heap_ = nullptr;
    t->heap_when_ = 0;
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
  int64_t z = stale_.load(std::memory_order_relaxed);
  return z > 0 && 4 * z > static_cast<int64_t>(entries_.size());
}

bool Heap::drop_stale_locked(Timer* t, int64_t when) {
  stale_.fetch_sub(1, std::memory_order_relaxed);
  // A zombie's entry at its old live deadline is gone: a reset can no
  // longer revive it in place (step 1), it must push a new entry.
  if (when == t->heap_when_) t->heap_when_ = 0;
  if (--t->nentries_ > 0) return false;
  // The last entry of a zombie (a live timer's last entry is never stale).
  t->heap_ = nullptr;
  t->heap_when_ = 0;
  t->zombie_ = false;
  return t->release_ != nullptr;
}

void Heap::push_locked(Timer* t, int64_t when) {
  entries_.push_back(Entry{when, t});
  sift_up_locked(static_cast<int32_t>(entries_.size()) - 1);
}

void Heap::remove_top_locked() {
  Entry last = entries_.back();
  entries_.pop_back();
  if (!entries_.empty()) {
    entries_[0] = last;
    sift_down_locked(0);
  }
}

void Heap::sift_up_locked(int32_t i) {
  Entry e = entries_[i];
  while (i > 0) {
    int32_t parent = (i - 1) / 4;
    if (entries_[parent].when <= e.when) break;
    entries_[i] = entries_[parent];
    i = parent;
  }
  entries_[i] = e;
}

void Heap::sift_down_locked(int32_t i) {
  const int32_t n = static_cast<int32_t>(entries_.size());
  Entry* a = entries_.data();
  Entry e = a[i];
  for (;;) {
    int32_t c = 4 * i + 1;
    if (c >= n) break;
    int32_t best = c;
    int32_t end = c + 4 < n ? c + 4 : n;
    for (int32_t k = c + 1; k < end; k++) {
      if (a[k].when < a[best].when) best = k;
    }
    if (a[best].when >= e.when) break;
    a[i] = a[best];
    i = best;
  }
  a[i] = e;
}

Timer* Heap::compact_locked() {
  Timer* dropped = nullptr;
  size_t keep = 0;
  const size_t n = entries_.size();
  for (size_t i = 0; i < n; i++) {
    // Each timer is a likely cache miss: ask for a few ahead.
    if (i + kPrefetchAhead < n) prefetch_timer(entries_[i + kPrefetchAhead].t);
    Entry e = entries_[i];
    Timer* t = e.t;
    t->mu_.lock();
    if (t->zombie_ || e.when != t->heap_when_) {
      bool release = drop_stale_locked(t, e.when);
      t->mu_.unlock();  // before the release: another holder may free t
      if (release) defer_release(t, &dropped);
      continue;
    }
    // Postponed entries take their real deadline now (free: we re-heapify).
    // A duplicate of this entry seen later is then stale (a different
    // deadline) unless it was not postponed (then both stay, harmlessly).
    t->heap_when_ = t->when_;
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
    const int64_t w = entries_[0].when;
    Timer* t = entries_[0].t;
    t->mu_.lock();
    if (t->zombie_ || w != t->heap_when_) {  // stale
      remove_top_locked();
      bool release = drop_stale_locked(t, w);
      t->mu_.unlock();  // before the release: another holder may free t
      if (release) defer_release(t, &dropped);
      continue;
    }
    if (t->when_ > w) {  // postponed: push it down now
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
      remove_top_locked();
      t->when_ = 0;
      if (--t->nentries_ == 0) {
        t->heap_ = nullptr;  // the heap's reference passes to this firing
        t->heap_when_ = 0;
      } else {
        // Stale entries remain (and keep the heap's reference): a zombie
        // with no live deadline. Its stale count is unchanged (invariant 2:
        // one entry and the live one gone).
        t->zombie_ = true;
        t->heap_when_ = 0;
        if (counted) t->retain();  // this firing's reference
      }
    }
    t->mu_.unlock();
    publish_locked();
    // The next timer's lock and fields, while f runs.
    if (!entries_.empty()) prefetch_timer(entries_[0].t);
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
      if (t->heap_ != this) {
        // A leftover entry of a timer already moved: t lives on in dst.
      } else if (t->zombie_ || e.when != t->heap_when_) {
        if (drop_stale_locked(t, e.when)) {
          t->mu_.unlock();  // before the release: another holder may free t
          defer_release(t, &dropped);
          continue;
        }
      } else {
        // Its live entry: the timer moves with one entry; the stale ones
        // left here are skipped above. Here it had nentries_ - 1 stale.
        stale_.fetch_sub(t->nentries_ - 1, std::memory_order_relaxed);
        t->heap_ = dst;
        t->heap_when_ = t->when_;
        t->nentries_ = 1;
        dst->push_locked(t, t->when_);
      }
      t->mu_.unlock();
    }
    entries_.clear();
    publish_locked();
    dst->publish_locked();
  }
  release_list(dropped);
}

}  // namespace gort::timer
