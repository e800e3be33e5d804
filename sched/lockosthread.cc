// Wiring a goroutine to its thread (Go's LockOSThread, UnlockOSThread,
// stoplockedm, startlockedm and mexit, runtime/proc.go).
//
// ## The contract
//
// A goroutine that calls lock_os_thread runs only on the M (thread) it was
// on, and that M runs nothing else, until the goroutine has called
// unlock_os_thread as often (Go 1.10+ nesting: m->locked_ext counts). The
// wiring is the pair g->locked_m / m->locked_g, both written only by the
// goroutine itself while it runs on that M (or by that M's g0 when the
// goroutine exits), so neither needs a lock: other Ms read g->locked_m only
// after taking g from a run queue, whose release/acquire hand-off orders it.
//
// ## Rejected alternatives
//
// - Keep the P while the locked G is parked, and let the M sleep with it:
//   simple, but one parked locked goroutine would cost a whole P, so with
//   GOMAXPROCS=1 every other goroutine would stop. Go hands the P on.
// - Let any M run the locked G and only "prefer" its M: breaks the promise
//   (thread-local state, setns, signal masks would be seen on another
//   thread).
//
// ## The protocol (Go's)
//
// 1. The locked G parks, yields, is preempted, or returns from a syscall
//    with no P. Its M (on g0, at the top of schedule_loop, having finished
//    the G's request) calls stoplockedm: it hands its P, if it has one, to
//    another M (handoffp), counts itself in sched.nmidlelocked and sleeps on
//    m->park. It is not put on the idle M list: nobody but step 2 may wake
//    it.
// 2. Some M finds the G runnable (run queue, runnext, stealing) and sees
//    g->locked_m set. It calls startlockedm: uncounts the locked M from
//    nmidlelocked, releases its own P, stores it in the locked M's next_p
//    and wakes its note (release: publishes next_p and the G), then stops
//    itself (stopm) as an idle M.
// 3. The locked M wakes (acquire), checks the G is runnable, takes the P and
//    runs the G.
// Steps 1 and 2 may overlap: the G can be made runnable and found between
// its park and its M's sleep. Then step 2's wakeup comes first and the
// note's sleep returns at once; step 1 still hands its old P away, so both
// Ps stay in use. next_p is empty throughout step 1 (a locked M holds its
// P in m->p), so step 2's check that it is empty holds.
//
// Deadlock detection (run.cc's checkdead) counts the Ms in step 1 as idle:
// running Ms = mcount - nmidle - nmidlelocked, as Go's.
//
// ## A locked goroutine that exits
//
// Go kills its thread, because the goroutine may have left per-thread state
// (a namespace, a signal mask, thread-local library state) that other
// goroutines must not inherit. gort does the same: goexit0 unwires the G
// and marks the M exiting (locked_goexit); schedule_loop then calls mexit,
// which hands the P away, takes the M off allm and out of mcount, and
// returns, so mstart returns and the thread ends. The M structure itself is
// kept on a list of retired Ms (never freed, like Gs), since sysmon and the
// trace may still hold a pointer read from p->m or g->m a moment ago.
#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sys/fatal.h"

namespace gort::sched {
namespace {

// Retired Ms (their threads have ended), under sched.lock; linked by link.
M* g_freem = nullptr;

// Counts Ms sleeping for their locked G (Go's incidlelocked).
void incidlelocked(int32_t v) {
  Sched& s = sched();
  sys::MutexLock l(s.lock);
  s.nmidlelocked += v;
  if (v > 0) checkdead();
}

}  // namespace

void stoplockedm(M* m) {
  G* g = m->locked_g;
  if (g == nullptr || g->locked_m != m) {
    sys::fatal("stoplockedm: inconsistent locking");
  }
  if (m->p != nullptr) handoffp(releasep(m));  // step 1
  incidlelocked(1);
  m->blocked = true;
  m->park.sleep();  // acquire: pairs with startlockedm's wakeup
  m->park.clear();
  m->blocked = false;
  GStatus st = g->status.load(std::memory_order_acquire);
  if (st != GStatus::kRunnable) {
    sys::fatalf("stoplockedm: not runnable (goroutine %lld is %s)",
                static_cast<long long>(g->id), status_string(st));
  }
  P* p = m->next_p;
  m->next_p = nullptr;
  acquirep(m, p);  // step 3
}

void startlockedm(M* m, G* g) {
  M* locked = g->locked_m;
  if (locked == m) sys::fatal("startlockedm: locked to me");
  if (locked->next_p != nullptr) sys::fatal("startlockedm: m has p");
  incidlelocked(-1);  // step 2: it runs from now on
  locked->next_p = releasep(m);
  locked->park.wakeup();  // release: publishes next_p (and g, queued before)
  stopm(m);
}

void locked_goexit(M* m, G* g) {
  GORT_CHECK(g->locked_m == m && m->locked_g == g);
  g->locked_m = nullptr;
  m->locked_g = nullptr;
  m->locked_ext = 0;
  m->exiting = true;
}

void mexit(M* m) {
  Sched& s = sched();
  if (m->p != nullptr) handoffp(releasep(m));
  sys::MutexLock l(s.lock);
  for (M** link = &s.allm; *link != nullptr; link = &(*link)->all_link) {
    if (*link == m) {
      *link = m->all_link;
      break;
    }
  }
  s.mcount--;
  m->link = g_freem;
  g_freem = m;
  checkdead();  // one fewer M: that may leave none to run anything
}

}  // namespace gort::sched

namespace gort {

void lock_os_thread() {
  sched::M* m = sched::getm();
  sched::G* g = m != nullptr ? m->curg : nullptr;
  if (g == nullptr) return;  // a plain thread is its own thread already
  if (++m->locked_ext == 0) {
    --m->locked_ext;
    sys::die("panic: ", "LockOSThread nesting overflow");
  }
  m->locked_g = g;
  g->locked_m = m;
}

void unlock_os_thread() {
  sched::M* m = sched::getm();
  sched::G* g = m != nullptr ? m->curg : nullptr;
  if (g == nullptr || m->locked_ext == 0) return;
  if (--m->locked_ext != 0) return;
  m->locked_g = nullptr;
  g->locked_m = nullptr;
}

}  // namespace gort
