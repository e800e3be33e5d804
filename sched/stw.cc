// Stop-the-world and GOMAXPROCS (Go's stopTheWorldWithSema,
// startTheWorldWithSema, procresize).
//
// Stopping:
//   1. Take stw_lock (one stop at a time). Under sched.lock set gcwaiting,
//      count the Ps to stop (stopwait = gomaxprocs), stop the caller's own
//      P, every idle P and every P in a syscall (CAS kSyscall -> kGCStop,
//      which the returning M would otherwise win), and ask every running G
//      to yield.
//   2. Running Ms notice gcwaiting in findRunnable (the G yields at its next
//      safe point), stop their P (gcstopm) and sleep; the last one wakes
//      stopnote. The stopper re-asks every 100 µs in case a G was between
//      its checks.
// Starting:
//   3. Resize: new Ps are made available; Ps beyond the new count give their
//      run queue and free Gs to the global lists, their timers to P
//      (id mod the new count) (Go's moveTimers; stopped ones are dropped),
//      and become kDead.
//   4. Clear gcwaiting; every P with work gets an M, the rest go idle.
#include "mem/mem.h"
#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sys/fatal.h"

namespace gort::sched {
namespace {

void preemptall() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sched().lock) {
  Sched& s = sched();
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  for (int32_t i = 0; i < procs; i++) {
    if (s.allp[i]->status.load(std::memory_order_acquire) == PStatus::kRunning)
      preemptone(s.allp[i]);
  }
}

// Moves p's runnable and free Gs to the global lists and its timers to a
// remaining P. REQUIRES: p stopped; p->id >= new_procs.
void destroyp(P* p, int32_t new_procs)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(sched().lock) {
  Sched& s = sched();
  // Spread over the remaining Ps, so that shrinking 8 -> 2 does not pile
  // every heap onto one P. A timer armed meanwhile from a plain thread goes
  // to P0 (local_timer_heap), never to a P being destroyed.
  p->timers.move_all_to(&s.allp[p->id % new_procs]->timers);
  G* head = nullptr;
  G* tail = nullptr;
  int32_t n = 0;
  p->runq.drain([&](G* g) {
    g->sched_link = nullptr;
    if (tail != nullptr) {
      tail->sched_link = g;
    } else {
      head = g;
    }
    tail = g;
    n++;
  });
  if (n > 0) globrunqput_list_locked(head, tail, n);
  sys::MutexLock l(s.gfree_lock);
  while (p->gfree != nullptr) {
    G* g = p->gfree;
    p->gfree = g->sched_link;
    g->sched_link = s.gfree;
    s.gfree = g;
    s.gfree_count++;
  }
  p->gfree_count = 0;
  // Go's freemcache: the spans go back to the mcentrals.
  if (p->mcache != nullptr) {
    mem::destroy_cache(p->mcache);
    p->mcache = nullptr;
  }
  p->status.store(PStatus::kDead, std::memory_order_release);
}

}  // namespace

void gcstopm(M* m) {
  Sched& s = sched();
  if (m->spinning) {
    m->spinning = false;
    s.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
  }
  P* p = releasep(m);
  {
    sys::MutexLock l(s.lock);
    p->status.store(PStatus::kGCStop, std::memory_order_release);
    if (--s.stopwait == 0) s.stopnote.wakeup();
  }
  stopm(m);
}

void stop_the_world() {
  Sched& s = sched();
  s.stw_lock.lock();
  M* m = getm();
  P* mine = m != nullptr ? m->p : nullptr;
  bool wait;
  {
    sys::MutexLock l(s.lock);
    s.stopnote.clear();
    s.stopwait = s.gomaxprocs.load(std::memory_order_relaxed);
    // seq_cst, as the CAS below: pairs with entersyscall's seq_cst store of
    // kSyscall and load of gcwaiting (see there).
    s.gcwaiting.store(true, std::memory_order_seq_cst);
    preemptall();
    if (mine != nullptr) {
      mine->status.store(PStatus::kGCStop, std::memory_order_release);
      s.stopwait--;
    }
    int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
    for (int32_t i = 0; i < procs; i++) {
      P* p = s.allp[i];
      PStatus expected = PStatus::kSyscall;
      if (p->status.compare_exchange_strong(expected, PStatus::kGCStop,
                                            std::memory_order_seq_cst)) {
        s.stopwait--;
      }
    }
    while (P* p = pidleget()) {
      p->status.store(PStatus::kGCStop, std::memory_order_release);
      s.stopwait--;
    }
    wait = s.stopwait > 0;
  }
  if (wait) {
    while (!s.stopnote.sleep_for(100'000)) {
      sys::MutexLock l(s.lock);
      preemptall();
    }
  }
  sys::MutexLock l(s.lock);
  GORT_CHECK(s.stopwait == 0);
}

void start_the_world(int32_t new_procs) {
  Sched& s = sched();
  M* m = getm();
  P* mine = m != nullptr ? m->p : nullptr;
  P* with_work[kMaxProcs];
  int nwork = 0;
  {
    sys::MutexLock l(s.lock);
    int32_t old = s.gomaxprocs.load(std::memory_order_relaxed);
    if (new_procs > 0 && new_procs != old) {
      for (int32_t i = old; i < new_procs; i++) {
        s.allp[i]->status.store(PStatus::kGCStop, std::memory_order_release);
      }
      if (mine != nullptr && mine->id >= new_procs) {
        // Our P goes away: continue on P0, which is stopped and has no M.
        releasep(m);
        destroyp(mine, new_procs);
        mine = s.allp[0];
        acquirep(m, mine);
      }
      for (int32_t i = new_procs; i < old; i++) {
        if (s.allp[i] != mine && s.allp[i]->status.load(std::memory_order_relaxed) !=
                                     PStatus::kDead) {
          destroyp(s.allp[i], new_procs);
        }
      }
      s.gomaxprocs.store(new_procs, std::memory_order_release);
    }
    int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
    for (int32_t i = procs - 1; i >= 0; i--) {
      P* p = s.allp[i];
      if (p == mine) {
        p->status.store(PStatus::kRunning, std::memory_order_release);
        continue;
      }
      if (p->runq.empty()) {
        pidleput(p);
      } else {
        p->status.store(PStatus::kIdle, std::memory_order_release);
        with_work[nwork++] = p;
      }
    }
    s.gcwaiting.store(false, std::memory_order_release);
    wake_sysmon_locked();
  }
  for (int i = 0; i < nwork; i++) startm(with_work[i], false);
  wakep();
  s.stw_lock.unlock();
}

}  // namespace gort::sched

namespace gort {

int gomaxprocs(int n) {
  sched::schedinit();
  sched::Sched& s = sched::sched();
  int old = s.gomaxprocs.load(std::memory_order_acquire);
  if (n < 1 || n == old) return old;
  if (n > sched::kMaxProcs) n = sched::kMaxProcs;
  sched::stop_the_world();
  old = s.gomaxprocs.load(std::memory_order_relaxed);
  sched::start_the_world(n);
  return old;
}

}  // namespace gort
