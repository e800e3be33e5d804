// The scheduler's side of timers: which heap a timer goes into, waking the
// timer waiter, the earliest deadline (for the waiter and sysmon). The
// protocol these take part in is "Waiting for timers" in sched/proc.cc; the
// heaps are timer/heap.h.
#include <algorithm>

#include "sched/internal.h"
#include "sched/runtime.h"

namespace gort::sched {

timer::Heap* local_timer_heap() {
  schedinit();
  M* m = getm();
  if (m != nullptr && m->p != nullptr) return &m->p->timers;
  return &sched().allp[0]->timers;
}

int64_t earliest_timer() {
  Sched& s = sched();
  int32_t procs = s.gomaxprocs.load(std::memory_order_acquire);
  int64_t next = timer::kNever;
  for (int32_t i = 0; i < procs; i++) {
    timer::Heap& h = s.allp[i]->timers;
    // Heaps with only stopped timers do not count: a waiter would sleep
    // until a dead deadline and keep deadlock detection quiet meanwhile.
    if (h.live() > 0) next = std::min(next, h.next_when());
  }
  return next;
}

void timer_armed(int64_t when) {
  Sched& s = sched();
  // Step A2 (seq_cst, after the heap's seq_cst store of step A1).
  int64_t until = s.timer_sleep_until.load(std::memory_order_seq_cst);
  if (until == kNoTimerWaiter) {
    // Nobody waits for timers: if a P is idle, get it an M, which will wait
    // (Go's wakeNetPoller calls wakep when no M is in the poller).
    if (s.npidle.load(std::memory_order_relaxed) > 0) wakep();
    return;
  }
  if (when >= until) return;  // the waiter wakes before `when` anyway
  bool none = false;
  bool break_poll = false;
  {
    sys::MutexLock l(s.lock);
    M* w = s.timer_waiter;
    if (w == nullptr) {
      none = true;  // it just left: make sure some M looks
    } else if (when < s.timer_sleep_until.load(std::memory_order_relaxed)) {
      s.timer_waiter = nullptr;
      s.timer_sleep_until.store(kNoTimerWaiter, std::memory_order_relaxed);
      if (s.timer_waiter_polls) {
        break_poll = true;  // after unlocking: a syscall
      } else {
        // Under the lock: the waiter clears its note under it (proc.cc).
        w->park.wakeup();
      }
    }
  }
  if (break_poll) hooks().break_poll();
  if (none) wakep();
}

uint64_t idle_wakeups() {
  schedinit();
  return sched().idle_wakeups.load(std::memory_order_relaxed);
}

}  // namespace gort::sched
