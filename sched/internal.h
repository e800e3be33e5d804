// sched/internal.h: the scheduler's interface to the runtime packages built
// on it (chan, syncx, timer, netpoll, gc) and between its own files.
//
//   current_g       the running goroutine, or nullptr on a plain thread
//   park / ready    the only way a goroutine blocks and wakes (Go's
//                   gopark/goready); everything that waits uses them
//   park_unlock     park, releasing a runtime lock once off the stack
//   Hooks           what higher layers plug in: the poller, GC
//   local_timer_heap / timer_armed   for //timer:time (timers live in Ps)
//
// Thread safety: park only on a goroutine; ready from anywhere.
//
// The park protocol (Go's gopark): the goroutine records its unlock
// function and switches to its M's g0; g0 marks it kWaiting and only then
// calls unlockf(g, arg). unlockf releases whatever lock guards the wait
// queue the goroutine was put on; from that moment a waker may find it and
// call ready(g), possibly on another M, and the goroutine may run at once:
// it is no longer on its stack. If unlockf returns false the park is
// cancelled and the goroutine continues at once.
#ifndef GORT_SCHED_INTERNAL_H_
#define GORT_SCHED_INTERNAL_H_

#include <cstdint>

#include "sched/g.h"
#include "sys/mutex.h"
#include "timer/heap.h"

namespace gort::sched {

struct M;
struct P;
enum class MOp : uint8_t;

// ---- for runtime packages --------------------------------------------------

G* current_g();

// Parks the running goroutine (see the protocol above).
// REQUIRES: called on a goroutine.
void park(bool (*unlockf)(G*, void*), void* arg, WaitReason reason);
void park_unlock(sys::Mutex* mu, WaitReason reason);

// Makes g runnable: it runs next on this P (runnext), or from the global
// queue when called from a plain thread.
// REQUIRES: g is kWaiting (else fatal: bad g->status in ready).
void ready(G* g);

// Hooks: a higher layer registers these once at start (lower layers never
// include higher ones). Each may be null.
struct Hooks {
  // Non-blocking poll (block=false) or a blocking one until `until_ns`
  // (absolute nanotime; -1 forever). Returns a list of ready Gs linked by
  // sched_link, or nullptr.
  G* (*poll_network)(bool block, int64_t until_ns) = nullptr;
  // Interrupts a blocking poll_network.
  void (*break_poll)() = nullptr;
  // Whether any goroutine waits on the network (deadlock check; pending
  // timers are checked directly, they live in the Ps).
  bool (*has_waiters)() = nullptr;
  // sysmon's every-two-minutes forced GC, and the scavenger's tick.
  void (*force_gc)() = nullptr;
  void (*scavenge)() = nullptr;
};
// Replaces the hooks (read hooks(), change fields, set them: a layer keeps
// the others' hooks). Safe while other threads read them.
void set_hooks(const Hooks& hooks);
const Hooks& hooks();
// The netpoller was just hooked in: an M sleeping on its note for the next
// timer (not in the poller) is woken to wait in the poller instead.
void netpoll_started();

// Timers (sched/timers.cc; the heap is timer/heap.h, the API timer/time.h).
// The heap a timer armed now should go into: the caller's P's, or P0's on a
// thread without a P (P0 never goes away when gomaxprocs shrinks). The
// pointer is valid while the caller keeps its P (a goroutine in runtime code
// is not preempted) or, for P0's, always.
timer::Heap* local_timer_heap();
// Tells the scheduler that a timer was armed for `when` (nanotime), after
// it is in its heap: wakes the M waiting for the next timer if this one is
// earlier, or gets an M to wait for it (see "Waiting for timers" in
// proc.cc). Cheap when nothing needs doing (one load).
void timer_armed(int64_t when);
// How many times an idle M has woken from its note (tests count wake-ups of
// an idle runtime).
uint64_t idle_wakeups();

// ---- within //sched ---------------------------------------------------------

void schedinit();
M* getm();
void acquirep(M* m, P* p);
P* releasep(M* m);
void stopm(M* m);
void startm(P* p, bool spinning);
void wakep();
void globrunqput(G* g);
// The idle P list. REQUIRES: sched().lock held.
void pidleput(P* p);
P* pidleget();
void goexit0(M* m, G* g);
void gosched(MOp op);
void main_exited();
// REQUIRES: sched().lock held.
void checkdead();
void gcstopm(M* m);
// Stops every P but the caller's (which is stopped too, but kept by the
// caller's M); REQUIRES: not holding sched().lock. Then start_the_world,
// which may change GOMAXPROCS (new_procs > 0).
void stop_the_world();
void start_the_world(int32_t new_procs);
// REQUIRES: sched().lock held. Appends head..tail (n Gs) to the global queue.
void globrunqput_list_locked(G* head, G* tail, int32_t n);
void handoffp(P* p);
void start_sysmon();
// Dead Gs on the global free list beyond those kept committed, and the
// release of up to `max` of their stacks to the OS (proc.cc).
int32_t free_stack_surplus();
void release_free_stacks(int32_t max);
// Makes a list of waiting Gs (linked by sched_link) runnable from a thread
// without a P (poller, sysmon).
void inject_glist(G* list);
void install_dump_hooks();
void preemptone(P* p);
// Wakes sysmon if it sleeps because every P was idle. REQUIRES: sched().lock.
void wake_sysmon_locked();
// The earliest deadline of any P's live timers (timer::kNever if none);
// seq_cst loads (step W2 of proc.cc's timer-wait protocol).
int64_t earliest_timer();

// schedtrace.cc: sysmon's side of GODEBUG=schedtrace. The period in ms
// (<= 0: off), and a tick that prints when a period has passed since the
// last trace (sysmon thread only; `now` is nanotime).
int32_t schedtrace_period_ms();
void schedtrace_tick(int64_t now);

// lockosthread.cc (Go's stoplockedm, startlockedm, mexit). stoplockedm:
// m's locked G is not running; hand m's P (if any) to another M, sleep until
// the G is runnable and a P is handed over; returns holding that P.
// startlockedm: m picked g, which is locked to another M; hand that M m's P
// and sleep (stopm). locked_goexit: g exited still locked to m; unwire it and
// mark m exiting. mexit: hand off m's P and retire m; its thread then ends.
void stoplockedm(M* m);
void startlockedm(M* m, G* g);
void locked_goexit(M* m, G* g);
void mexit(M* m);

}  // namespace gort::sched

#endif  // GORT_SCHED_INTERNAL_H_
