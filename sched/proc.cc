// The G/M/P scheduler (Go's proc.go), its core: Ms, Ps, run queues,
// findRunnable, park/ready, go, run.
//
// Glossary (docs/glossary.md): a G is a goroutine; an M is an OS thread
// that runs Gs; a P is the right to run Gs, with a local run queue. An M
// must hold a P to run a G. g0 is the M's own context (the thread's stack),
// where this file's scheduler code runs.
//
// ## The switch model
//
// A G that parks, yields or exits does not pick its successor itself: it
// records what it wants in its M (`m->op`, Go's mcall target) and switches to
// g0; g0 finishes the request (marks the G waiting and runs the unlock
// function, or queues it, or frees it) and then schedules the next G. Two
// switches per goroutine switch (about 6.5 ns each) buy one property that a
// direct G-to-G switch lacks: by the time the unlock function lets a waker
// see the G, the G is entirely off its stack, so the waker may run it at
// once on another M. Direct switching was rejected for that reason.
//
// ## Rejected alternatives
//
// - A thread per goroutine (std::thread): 8 KiB+ of kernel state and a
//   futex round trip per handoff; the point of the exercise is not to.
// - One global run queue: every go and ready contends on one lock. Go's
//   per-P rings with a global overflow queue keep the common path lock-free.
// - The calling thread of run() as an M: the main goroutine may migrate, so
//   that thread would have to leave its scheduler loop from wherever it is
//   when the main goroutine finishes elsewhere. Instead run() parks the
//   calling thread on a note and the main goroutine runs on the runtime's Ms,
//   like any other; its exit wakes the note.
//
// ## Invariants
//
// 1. A G is on at most one queue (a P's ring or runnext, the global queue, a
//    wait queue, a free list) and the queue owns it; kRunning Gs are on none.
// 2. A P is held by exactly one M (p->m), or is idle (on sched.pidle), or in
//    a syscall (kSyscall, still pointing at its M), or stopped for STW.
// 3. nmspinning counts the Ms with m->spinning set; 2 * nmspinning is kept
//    below the number of busy Ps, except transiently.
// 4. allp[0..nprocs) never shrinks in memory: a P beyond GOMAXPROCS is kDead
//    but stays readable, so stealers may scan allp without a lock.
//
// ## The spinning protocol: why no wakeup is lost
//
// A producer (go, ready) does: (1) put the G on a run queue; (2) a #StoreLoad
// fence; (3) wakep(): if some P is idle and no M spins, start a spinning M.
// A spinning M that finds nothing does: (a) release its P; (b) decrement
// nmspinning (a locked RMW: also a #StoreLoad fence); (c) look at every P's
// run queue again, and take a P back if any is non-empty; (d) sleep.
// If the producer's (3) saw nmspinning > 0, that load came before (b), so
// (1) came before (c) (both fences are in the one total order of seq_cst
// operations), and (c) sees the G. If (3) saw nmspinning == 0 it starts an M
// itself. Either way somebody runs the G. The global queue is covered the
// same way: (c) looks at its size too (a producer without a P puts there,
// then calls wakep, which may see the M still spinning and leave it to it).
//
// ## Order of findRunnable (Go 1.19's)
//
// every 61st schedtick the global queue first (fairness); the local runnext
// and ring; the global queue (a batch); the poller without blocking (hook);
// stealing, 4 rounds over the Ps in random order, runnext and other Ps' due
// timers only in the last; then give up the P and sleep. This P's own due
// timers run first of all (Go's checkTimers at the top of findRunnable).
//
// ## Waiting for timers (Go: netpoll(delay) until pollUntil)
//
// Each P has a timer heap (timer/heap.h). An M that finds nothing sleeps on
// its note; one of them (the *timer waiter*, sched.timer_waiter) sleeps
// only until the earliest deadline of any P's live timers, off the idle M
// list, then takes an idle P and looks again. Only one M waits so, so a
// deadline wakes one thread, not all of them. Once the netpoller is hooked
// in (netpoll/), the waiter waits in the poller instead of on its note
// (poll_network(block, until the deadline), Go's netpoll(delay)), and also
// when no timer is pending but goroutines or threads wait for I/O; an
// earlier timer breaks the poll (break_poll) where it would wake the note.
// The I/O waiter count is a third party to the protocol below: a plain
// thread that starts waiting for I/O counts itself (seq_cst) and then runs
// step A2 with deadline kNever, and W2 loads the count after W1, so either
// the thread sees a waiter or the waiter sees the count.
// No earlier timer is missed (A = a goroutine arming a timer, W = the M
// becoming the waiter; every step below is seq_cst):
//   A1. insert the timer (the heap stores next_when);
//   A2. load sched.timer_sleep_until; if the new deadline is earlier, wake
//       the waiter under sched.lock (kNoTimerWaiter: wakep instead, as Go's
//       wakeNetPoller, so that an idle P gets an M that will wait);
//   W1. under sched.lock, become the waiter with timer_sleep_until = kNever;
//   W2. scan every P's next_when; store the minimum as timer_sleep_until.
// If A1 precedes W2, W2 sees the timer. Otherwise W1 precedes A2, which sees
// kNever or W2's minimum, both later than the timer, and wakes W.
#include <cxxabi.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "mem/mem.h"
#include "sched/internal.h"
#include "sched/preempt.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/trace.h"
#include "sys/clock.h"
#include "sys/env.h"
#include "sys/fatal.h"
#include "sys/signal.h"
#include "sys/syscall.h"
#include "sys/thread.h"

extern "C" abi::__cxa_eh_globals* __cxa_get_globals() noexcept;

namespace gort::sched {
namespace {

// libstdc++'s __cxa_eh_globals, whose layout the Itanium C++ ABI fixes.
struct CxaEhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

constinit Sched* g_sched = nullptr;
constinit thread_local M* t_m = nullptr;

// Every 61st schedule looks at the global queue first (Go's constant: a
// prime, so it does not resonate with patterns in the workload).
constexpr uint32_t kGlobalQueueFairness = 61;
// Due timers a look of find_runnable fires at most (see there).
constexpr int kTimerBatch = 64;
// Dead Gs a P keeps before moving half of them to the global list (Go: 64).
constexpr int32_t kGFreeLocalMax = 64;
// Dead Gs whose stacks stay committed on the global list; beyond twice this,
// sysmon returns the surplus stacks' memory to the OS.
constexpr int32_t kGFreeGlobalKeep = 1024;
// goids a P takes at once (Go's _GoidCacheBatch).
constexpr int64_t kGoidBatch = 16;
constexpr int kStealRounds = 4;
constexpr size_t kMStackSize = 256 * 1024;

std::once_flag g_init_once;

}  // namespace

Sched& sched() { return *g_sched; }
Sched* sched_or_null() { return g_sched; }

namespace {
int64_t s_coarse_now() {
  return g_sched->coarse_now.load(std::memory_order_relaxed);
}
}  // namespace

// The current M, re-read from TLS on every call: a goroutine may resume on
// another thread, and the compiler may otherwise keep a TLS address across
// the switch. The asm makes the function impure, so calls are not merged.
[[gnu::noinline]] M* getm() {
  asm volatile("");
  return t_m;
}

G* current_g() {
  M* m = getm();
  return m != nullptr ? m->curg : nullptr;
}

namespace {

// No asynchronous preemption while the runtime works on a G's stack with
// this M's P in hand and may call code outside the runtime's names (an
// out-of-line std:: template, operator new): Go's acquirem/releasem, rule 2
// of sched/preempt.cc. A plain load and store, no RMW: only this thread
// writes m->locks, and the signal handler that reads it runs on this thread.
inline M* acquirem() {
  M* m = getm();
  if (m != nullptr) {
    m->locks.store(m->locks.load(std::memory_order_relaxed) + 1,
                   std::memory_order_relaxed);
  }
  return m;
}

inline void releasem(M* m) {
  if (m != nullptr) {
    m->locks.store(m->locks.load(std::memory_order_relaxed) - 1,
                   std::memory_order_relaxed);
  }
}

}  // namespace

// ---- P list, M list, global run queue (sched.lock held) --------------------

void pidleput(P* p) {
  Sched& s = sched();
  GORT_CHECK(p->runq.empty());
  p->status.store(PStatus::kIdle, std::memory_order_release);
  p->link = s.pidle;
  s.pidle = p;
  s.npidle.fetch_add(1, std::memory_order_seq_cst);
}

P* pidleget() {
  Sched& s = sched();
  P* p = s.pidle;
  if (p != nullptr) {
    s.pidle = p->link;
    p->link = nullptr;
    s.npidle.fetch_sub(1, std::memory_order_seq_cst);
    wake_sysmon_locked();  // a P is about to run: sysmon must watch it
  }
  return p;
}

namespace {

void mput(M* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sched().lock) {
  Sched& s = sched();
  m->link = s.midle;
  s.midle = m;
  s.nmidle++;
  checkdead();
}

M* mget() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sched().lock) {
  Sched& s = sched();
  M* m = s.midle;
  if (m != nullptr) {
    s.midle = m->link;
    m->link = nullptr;
    s.nmidle--;
  }
  return m;
}

}  // namespace

void globrunqput_list_locked(G* head, G* tail, int32_t n) {
  Sched& s = sched();
  tail->sched_link = nullptr;
  if (s.runq_tail != nullptr) {
    s.runq_tail->sched_link = head;
  } else {
    s.runq_head = head;
  }
  s.runq_tail = tail;
  s.runq_size.store(s.runq_size.load(std::memory_order_relaxed) + n,
                    std::memory_order_relaxed);
}

namespace {

// Takes a batch from the global queue for p: returns one G and puts up to
// `max - 1` more (0: no limit but the fair share) on p's ring.
G* globrunqget(P* p, int32_t max) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sched().lock) {
  Sched& s = sched();
  int32_t size = s.runq_size.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  int32_t n = std::min(size, size / procs + 1);
  if (max > 0 && n > max) n = max;
  n = std::min<int32_t>(n, RunQueue<G>::kCapacity / 2);
  s.runq_size.store(size - n, std::memory_order_relaxed);
  G* g = s.runq_head;
  s.runq_head = g->sched_link;
  for (int32_t i = 1; i < n; i++) {
    G* next = s.runq_head;
    s.runq_head = next->sched_link;
    p->runq.put(next, false);  // cannot overflow: n <= capacity / 2 and
                               // find_runnable only calls with a short ring
  }
  if (s.runq_head == nullptr) s.runq_tail = nullptr;
  g->sched_link = nullptr;
  return g;
}

}  // namespace

void globrunqput(G* g) {
  Sched& s = sched();
  sys::MutexLock l(s.lock);
  globrunqput_list_locked(g, g, 1);
}

// Makes every G of `list` (linked by sched_link, each kWaiting) runnable on
// the global queue and starts Ms for idle Ps to run them (Go's injectglist).
// For pollers and sysmon, which hold no P.
void inject_glist(G* list) {
  if (list == nullptr) return;
  Sched& s = sched();
  int32_t n = 0;
  G* tail = list;
  for (G* g = list; g != nullptr; g = g->sched_link) {
    GORT_CHECK(g->status.load(std::memory_order_acquire) == GStatus::kWaiting);
    g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
    tail = g;
    n++;
  }
  {
    sys::MutexLock l(s.lock);
    globrunqput_list_locked(list, tail, n);
  }
  for (int32_t i = 0; i < n && s.npidle.load(std::memory_order_acquire) > 0; i++) {
    startm(nullptr, false);
  }
}

// ---- P ownership -------------------------------------------------------------

void acquirep(M* m, P* p) {
  GORT_CHECK(m->p == nullptr);
  GORT_CHECK(p->m == nullptr);
  relaxed_store(p->m, m);
  m->p = p;
  p->status.store(PStatus::kRunning, std::memory_order_release);
}

P* releasep(M* m) {
  P* p = m->p;
  GORT_CHECK(p != nullptr);
  GORT_CHECK(p->m == m);
  relaxed_store(p->m, static_cast<M*>(nullptr));
  m->p = nullptr;
  return p;
}

// ---- starting and stopping Ms --------------------------------------------------

namespace {

void schedule_loop(M* m);
void goroutine_entry(void* arg, uintptr_t);

void mstart(M* m) {
  t_m = m;
  m->tid = sys::current_tid();
  m->eh_globals = __cxa_get_globals();
  // The M's alternate signal stack (Go's gsignal), on which the preemption
  // and stack-overflow handlers run (sched/preempt.cc, stackguard.cc). It
  // lives as long as the thread: mstart returns only when the M retires.
  sys::SignalStack signal_stack;
  // Under ASan: LeakSanitizer keeps scanning g0's frames while Gs run.
  sys::ThreadStackRoot stack_root;
  minit(m);
  sys::init_thread_context(&m->g0);
  P* p = m->next_p;
  m->next_p = nullptr;
  acquirep(m, p);
  schedule_loop(m);
}

// Starts a new M (thread) that will run p. REQUIRES: p taken off pidle.
void newm(P* p, bool spinning) {
  Sched& s = sched();
  M* m = new M;
  m->next_p = p;
  m->spinning = spinning;
  {
    sys::MutexLock l(s.lock);
    m->id = s.mnext++;
    s.mcount++;
    m->all_link = s.allm;
    s.allm = m;
  }
  sys::ThreadOptions opts;
  opts.stack_size = kMStackSize;
  opts.name = "gort-m";
  sys::Thread t([m] { mstart(m); }, opts);
  t.detach();
}

}  // namespace

// Parks the current M until startm hands it a P, then takes that P.
void stopm(M* m) {
  Sched& s = sched();
  GORT_CHECK(m->p == nullptr);
  GORT_CHECK(!m->spinning);
  {
    sys::MutexLock l(s.lock);
    mput(m);
  }
  m->blocked = true;
  m->park.sleep();
  m->park.clear();
  m->blocked = false;
  s.idle_wakeups.fetch_add(1, std::memory_order_relaxed);
  P* p = m->next_p;
  m->next_p = nullptr;
  acquirep(m, p);
}

// Runs p on some M: an idle one, or a new one. With p == nullptr takes an
// idle P, and does nothing if there is none. `spinning`: the M starts out
// looking for work (REQUIRES: the caller already counted it in nmspinning).
void startm(P* p, bool spinning) {
  Sched& s = sched();
  M* nm;
  {
    sys::MutexLock l(s.lock);
    if (p == nullptr) {
      p = pidleget();
      if (p == nullptr) {
        if (spinning) s.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
        return;
      }
    }
    nm = mget();
  }
  if (nm == nullptr) {
    newm(p, spinning);
    return;
  }
  GORT_CHECK(nm->next_p == nullptr);
  nm->spinning = spinning;
  nm->next_p = p;
  nm->park.wakeup();  // release: publishes next_p and spinning
}

// Starts one more spinning M if a P is idle and no M is spinning (Go's
// wakep). REQUIRES: the work it is for was published before the call.
void wakep() {
  Sched& s = sched();
  // The #StoreLoad fence of the spinning protocol (step 2; see the essay).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (s.npidle.load(std::memory_order_relaxed) == 0) return;
  int32_t zero = 0;
  if (s.nmspinning.load(std::memory_order_relaxed) != 0 ||
      !s.nmspinning.compare_exchange_strong(zero, 1,
                                            std::memory_order_seq_cst)) {
    return;
  }
  startm(nullptr, true);
}

namespace {

// The M found work after spinning: it stops spinning, and if it was the last
// spinner, starts another so that parallelism is not lost (Go's
// resetspinning).
void reset_spinning(M* m) {
  m->spinning = false;
  int32_t n = sched().nmspinning.fetch_sub(1, std::memory_order_seq_cst) - 1;
  GORT_CHECK(n >= 0);
  if (n == 0) wakep();
}

// ---- run queue with overflow -----------------------------------------------------

// Puts g on p's run queue (see RunQueue::put); when the ring is full, half
// of it and g go to the global queue. Returns whether that happened.
bool runqput(P* p, G* g, bool next) {
  G* rest = p->runq.put(g, next);
  bool overflowed = false;
  while (rest != nullptr) {
    G* batch[RunQueue<G>::kCapacity / 2 + 1];
    uint32_t n = p->runq.take_half_for_overflow(batch);
    if (n == 0) {  // thieves made room
      rest = p->runq.put(rest, false);
      continue;
    }
    batch[n] = rest;
    for (uint32_t i = 0; i < n; i++) batch[i]->sched_link = batch[i + 1];
    Sched& s = sched();
    sys::MutexLock l(s.lock);
    globrunqput_list_locked(batch[0], batch[n], static_cast<int32_t>(n + 1));
    rest = nullptr;
    overflowed = true;
  }
  return overflowed;
}

// ---- tracing (sched/trace.h); called only when trace::on() ---------------------

// `fired` timers of heap_p's heap ran on the M holding p (a batch of 0 is
// not an event).
[[gnu::cold, gnu::noinline]] void trace_timers(P* p, P* heap_p, int fired) {
  if (fired > 0) {
    trace::timers_fired(p != nullptr ? p->id : -1, heap_p->id,
                        static_cast<uint32_t>(fired));
  }
}

// g has just switched back to m's g0 asking for `op`.
[[gnu::cold, gnu::noinline]] void trace_go_stop(M* m, G* g, MOp op) {
  trace::StopReason reason = trace::StopReason::kPark;
  switch (op) {
    case MOp::kPark:
      reason = trace::StopReason::kPark;
      break;
    case MOp::kYield:
      reason = trace::StopReason::kYield;
      break;
    case MOp::kPreempt:
      reason = trace::StopReason::kPreempt;
      break;
    case MOp::kExit:
      reason = trace::StopReason::kExit;
      break;
    case MOp::kExitSyscall:
      reason = trace::StopReason::kNoP;
      break;
    case MOp::kNone:
      return;  // execute dies on it next
  }
  trace::go_stop(m->p != nullptr ? m->p->id : -1, g->id, reason,
                 op == MOp::kPark ? g->wait_reason : WaitReason::kZero);
}

// ---- stealing ----------------------------------------------------------------------

G* steal_work(M* m) {
  Sched& s = sched();
  P* p = m->p;
  int32_t procs = s.gomaxprocs.load(std::memory_order_acquire);
  int64_t now = 0;  // read once, when some victim has a timer
  for (int round = 0; round < kStealRounds; round++) {
    bool last = round == kStealRounds - 1;
    uint32_t start = steal_start(p->rng, procs);
    // A random coprime stride would visit every P in a random order, as Go's
    // randomOrder does; with few Ps a random start and stride 1 suffice.
    for (int32_t i = 0; i < procs; i++) {
      P* victim = s.allp[(start + i) % procs];
      if (victim == p) continue;
      if (victim->status.load(std::memory_order_acquire) == PStatus::kDead)
        continue;
      // Go's stealWork: in the last round, run the victim's due timers here
      // (an idle P's timers have nobody else); what they ready lands on p.
      if (last && victim->timers.next_when() != timer::kNever) {
        if (now == 0) now = sys::nanotime();
        int fired = victim->timers.run(now, kTimerBatch);
        if (trace::on()) [[unlikely]] trace_timers(p, victim, fired);
        if (fired > 0) {
          bool inherit;
          if (G* g = p->runq.get(&inherit)) return g;
        }
      }
      uint32_t taken = 0;
      G* g = p->runq.steal_from(victim->runq, last, [victim] {
        // Go sleeps 3 µs before taking a running P's runnext, to let that P
        // run the G it just readied (a producer about to block).
        if (victim->status.load(std::memory_order_relaxed) ==
            PStatus::kRunning) {
          sys::nanosleep(3000);
        }
      }, &taken);
      if (g != nullptr) {
        if (trace::on()) [[unlikely]] trace::steal(p->id, victim->id, g->id);
        // Owner-only counter: a plain add, no locked RMW (sched/stats.cc).
        p->stolen.store(p->stolen.load(std::memory_order_relaxed) + taken,
                        std::memory_order_relaxed);
        return g;
      }
    }
  }
  return nullptr;
}

bool any_runq_nonempty() {
  Sched& s = sched();
  int32_t procs = s.gomaxprocs.load(std::memory_order_acquire);
  for (int32_t i = 0; i < procs; i++) {
    if (!s.allp[i]->runq.empty()) return true;
  }
  return false;
}

// Becomes the timer waiter if there is none and some P has a live timer
// (or, with the netpoller, something waits for I/O), sleeps until the
// earliest deadline (or until an earlier timer is armed) on its note or in
// the poller, then takes an idle P. Returns true holding that P; false if m
// should stopm instead (another M waits, nothing to wait for, or no idle P
// on waking). See "Waiting for timers" above for steps W1 and W2.
bool timer_wait(M* m) {
  Sched& s = sched();
  const Hooks& h = hooks();
  const bool polls = h.poll_network != nullptr;
  {
    sys::MutexLock l(s.lock);
    if (s.timer_waiter != nullptr) return false;
    s.timer_waiter = m;
    s.timer_waiter_polls = polls;
    s.timer_sleep_until.store(timer::kNever, std::memory_order_seq_cst);  // W1
  }
  int64_t next = earliest_timer();  // W2: seq_cst loads
  const bool io = polls && h.has_waiters != nullptr && h.has_waiters();
  int64_t sleep_ns = -1;  // lost the role: timer_armed wakes the note
  bool wait = false;
  {
    sys::MutexLock l(s.lock);
    if (s.timer_waiter == m) {
      if (next == timer::kNever && !io) {
        s.timer_waiter = nullptr;
        s.timer_sleep_until.store(kNoTimerWaiter, std::memory_order_relaxed);
        return false;
      }
      s.timer_sleep_until.store(next, std::memory_order_seq_cst);  // W2
      sleep_ns = next == timer::kNever ? -1 : std::max<int64_t>(next - sys::nanotime(), 0);
      wait = true;
    }
  }
  m->blocked = true;
  G* list = nullptr;
  if (!polls) {
    m->park.sleep_for(sleep_ns);
  } else if (wait) {
    // Having lost the role, a poller does not poll: timer_armed broke the
    // poll it would have made (an eventfd write; the next blocking poll
    // consumes it).
    s.netpoll_blocked.store(true, std::memory_order_relaxed);
    s.netpolls_in_flight.fetch_add(1, std::memory_order_seq_cst);  // until queued
    list = h.poll_network(true, next == timer::kNever ? -1 : next);
    s.netpoll_blocked.store(false, std::memory_order_relaxed);
  }
  m->blocked = false;
  s.idle_wakeups.fetch_add(1, std::memory_order_relaxed);
  P* p;
  {
    sys::MutexLock l(s.lock);
    if (s.timer_waiter == m) {
      s.timer_waiter = nullptr;
      s.timer_sleep_until.store(kNoTimerWaiter, std::memory_order_relaxed);
    }
    // timer_armed wakes a waiter's note only under this lock and only
    // while it is the waiter, so no wakeup is in flight now: clear() is
    // safe.
    if (!polls) m->park.clear();
    p = pidleget();
  }
  if (p == nullptr) {
    inject_glist(list);  // other Ms run them (there is no idle P for us)
    if (polls && wait) s.netpolls_in_flight.fetch_sub(1, std::memory_order_seq_cst);
    return false;
  }
  acquirep(m, p);
  // Run every P's due timers now (what they ready lands on p), rather than
  // leave other Ps' to the steal loop, which a busy moment may skip.
  int64_t now = sys::nanotime();
  int32_t procs = s.gomaxprocs.load(std::memory_order_acquire);
  for (int32_t i = 0; i < procs; i++) {
    int fired = s.allp[i]->timers.run(now, kTimerBatch);
    if (trace::on()) [[unlikely]] trace_timers(p, s.allp[i], fired);
  }
  // Gs the poll readied: the first runs here next, the rest go to the
  // global queue with Ms started for idle Ps (Go's findRunnable after
  // netpoll).
  if (list != nullptr) {
    G* g = list;
    inject_glist(g->sched_link);
    g->sched_link = nullptr;
    g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
    runqput(p, g, true);
  }
  if (polls && wait) s.netpolls_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

}  // namespace

void netpoll_started() {
  Sched& s = sched();
  sys::MutexLock l(s.lock);
  M* w = s.timer_waiter;
  if (w != nullptr && !s.timer_waiter_polls) {
    s.timer_waiter = nullptr;
    s.timer_sleep_until.store(kNoTimerWaiter, std::memory_order_relaxed);
    w->park.wakeup();
  }
}

namespace {

// A non-blocking poll of the network, when anything waits on it and no M
// is blocked in the poller (which gets the events itself). Returns the
// first G made ready (to run on m's P) after queueing the rest.
G* poll_network_now() {
  Sched& s = sched();
  const Hooks& h = hooks();
  if (h.poll_network == nullptr || h.has_waiters == nullptr || !h.has_waiters() ||
      s.netpoll_blocked.load(std::memory_order_relaxed)) {
    return nullptr;
  }
  G* g = h.poll_network(false, 0);
  if (g == nullptr) return nullptr;
  inject_glist(g->sched_link);
  g->sched_link = nullptr;
  g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
  return g;
}

// Finds a runnable G for m, sleeping if there is none. Returns with m->p
// held. `*inherit_time`: the G came from runnext.
G* find_runnable(M* m, bool* inherit_time) {
  Sched& s = sched();
top:
  if (s.gcwaiting.load(std::memory_order_acquire)) {
    gcstopm(m);
    goto top;
  }
  P* p = m->p;
  *inherit_time = false;
  // This P's due timers first (Go's checkTimers); one atomic load if none.
  // At most kTimerBatch of them per look: a burst of due after_func timers
  // would otherwise start thousands of goroutines before any runs, each on
  // a fresh stack, where a few at a time reuse the stacks of those that
  // finished (the rest stay due and run at the next look, microseconds on).
  // And no more than the run queue has room for below kTimerBatch, but at
  // least one: due timers wait in the heap (16 bytes each) rather than as
  // queued goroutines holding stacks while the Gs they readied have not
  // run yet (the `timers` workload: 1.93 -> 1.35 s, system time / 5), and
  // still drain at one per look when the queue stays full.
  if (p->timers.next_when() != timer::kNever) {
    int room = std::max(1, kTimerBatch - static_cast<int>(p->runq.size()));
    int fired = p->timers.run(sys::nanotime(), room);
    if (trace::on()) [[unlikely]] trace_timers(p, p, fired);
  }
  if (p->schedtick % kGlobalQueueFairness == 0 &&
      s.runq_size.load(std::memory_order_relaxed) > 0) {
    sys::MutexLock l(s.lock);
    if (G* g = globrunqget(p, 1)) return g;
  }
  if (G* g = p->runq.get(inherit_time)) return g;
  if (s.runq_size.load(std::memory_order_relaxed) > 0) {
    sys::MutexLock l(s.lock);
    if (G* g = globrunqget(p, 0)) return g;
  }
  if (G* g = poll_network_now()) return g;

  // Steal, if not too many Ms already do (invariant 3).
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  if (m->spinning ||
      2 * s.nmspinning.load(std::memory_order_relaxed) <
          procs - s.npidle.load(std::memory_order_relaxed)) {
    if (!m->spinning) {
      m->spinning = true;
      s.nmspinning.fetch_add(1, std::memory_order_seq_cst);
    }
    if (G* g = steal_work(m)) return g;
  }

  // Nothing anywhere: give up the P (the global queue is checked once more
  // under the lock that pidleput takes; see the essay).
  {
    sys::MutexLock l(s.lock);
    if (s.gcwaiting.load(std::memory_order_relaxed)) goto top;
    if (s.runq_size.load(std::memory_order_relaxed) > 0) {
      if (G* g = globrunqget(p, 0)) return g;
    }
    releasep(m);
    pidleput(p);
  }
  bool was_spinning = m->spinning;
  if (m->spinning) {
    m->spinning = false;
    // Step (b) of the spinning protocol: a seq_cst RMW.
    GORT_CHECK(s.nmspinning.fetch_sub(1, std::memory_order_seq_cst) > 0);
  }
  // Step (c) looks at the global queue too: a plain thread's go or ready
  // (and exitsyscall's queueing) puts there and then calls wakep, which
  // returns if it still sees this M spinning, as a local producer's does.
  // seq_cst load: after the RMW of step (b) in the single total order.
  if (was_spinning && (any_runq_nonempty() ||
                       s.runq_size.load(std::memory_order_seq_cst) > 0)) {
    P* p2;
    {
      sys::MutexLock l(s.lock);
      p2 = pidleget();
    }
    if (p2 != nullptr) {
      acquirep(m, p2);
      m->spinning = true;
      s.nmspinning.fetch_add(1, std::memory_order_seq_cst);
      goto top;
    }
  }
  if (timer_wait(m)) goto top;
  stopm(m);
  goto top;
}

// Runs g on m until g switches back to g0, then carries out g's request.
void execute(M* m, G* g, bool inherit_time) {
  CxaEhGlobals* eh = static_cast<CxaEhGlobals*>(m->eh_globals);
  for (;;) {
    P* p = m->p;
    if (!inherit_time) relaxed_store(p->schedtick, p->schedtick + 1);
    // Owner-only counter: a plain add, no locked RMW (sched/stats.cc).
    p->goroutines_run.store(
        p->goroutines_run.load(std::memory_order_relaxed) + 1,
        std::memory_order_relaxed);
    relaxed_store(g->m, m);
    // Release, not relaxed: pairs with preemptone's acquire load, so that
    // sysmon's store to g->preempt is ordered after g was made (a plain mov
    // on x86 either way).
    __atomic_store_n(&m->curg, g, __ATOMIC_RELEASE);
    g->status.store(GStatus::kRunning, std::memory_order_relaxed);
    eh->caught_exceptions = g->eh.caught_exceptions;
    eh->uncaught_exceptions = g->eh.uncaught_exceptions;
    // Preemption (sched/preempt.cc): a request made before this run is
    // void (Go's execute), and yield_point() reads g's flag through this
    // thread's slot while g runs here; g0 reads a flag never set.
    g->preempt.store(false, std::memory_order_relaxed);
    preempt_internal::t_preempt_flag = &g->preempt;
    if (g->fresh) {  // its first run (newproc_end)
      g->fresh = false;
      sys::make_context(&g->context, reinterpret_cast<void*>(g->stack->lo),
                        g->stack->size(), goroutine_entry, g);
    }
    if (trace::on()) [[unlikely]] trace::go_start(p->id, g->id, g->created_at);
    sys::switch_context(&m->g0, &g->context, 0);
    preempt_internal::t_preempt_flag = &preempt_internal::g_never_preempt;
    // Back on g0. The G may have run on other Ms in between (blocking()
    // hands Ms over), but it switched to this M's g0.
    g->eh.caught_exceptions = eh->caught_exceptions;
    g->eh.uncaught_exceptions = eh->uncaught_exceptions;
    eh->caught_exceptions = nullptr;
    eh->uncaught_exceptions = 0;
    if (!g->stack->canary_intact()) {
      sys::fatalf("stack overflow (goroutine %lld)",
                  static_cast<long long>(g->id));
    }
    relaxed_store(m->curg, static_cast<G*>(nullptr));
    relaxed_store(g->m, static_cast<M*>(nullptr));  // Go's dropg: off its M (scheddetail prints m=-1)
    MOp op = m->op;
    m->op = MOp::kNone;
    if (trace::on()) [[unlikely]] trace_go_stop(m, g, op);
    switch (op) {
      case MOp::kPark: {
        g->status.store(GStatus::kWaiting, std::memory_order_release);
        bool (*unlockf)(G*, void*) = m->unlockf;
        void* arg = m->unlock_arg;
        m->unlockf = nullptr;
        m->unlock_arg = nullptr;
        if (unlockf != nullptr && !unlockf(g, arg)) {
          // The wait was cancelled: run g again at once (Go's park_m).
          g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
          inherit_time = true;
          continue;
        }
        return;  // g belongs to its wait queue now: do not touch it
      }
      case MOp::kYield:
        g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
        runqput(m->p, g, false);
        return;
      case MOp::kPreempt:
        g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
        globrunqput(g);
        return;
      case MOp::kExit:
        goexit0(m, g);
        return;
      case MOp::kExitSyscall:
        // exitsyscall found no P for g: queue it and park this P-less M.
        // g's entersyscall raised this M's locks; g may resume on another M
        // (whose locks exitsyscall raises again before its own decrement),
        // so drop this M's count here, or it stays > 0 on this M and goes
        // negative on the other.
        m->locks.fetch_sub(1, std::memory_order_relaxed);
        g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
        globrunqput(g);
        wakep();
        if (m->locked_g == nullptr) stopm(m);  // else: schedule_loop waits
        return;                                // for g (stoplockedm)
      case MOp::kNone:
        sys::fatal("schedule: goroutine switched to g0 without a request");
    }
  }
}

void schedule_loop(M* m) {
  for (;;) {
    // lockosthread.cc: an M wired to a G runs that G and nothing else; an M
    // whose wired G exited retires, and mstart returns (the thread ends).
    while (m->locked_g != nullptr) {
      stoplockedm(m);
      execute(m, m->locked_g, false);
    }
    if (m->exiting) return mexit(m);
    bool inherit_time;
    G* g = find_runnable(m, &inherit_time);
    if (m->spinning) reset_spinning(m);
    if (g->locked_m != nullptr) {  // only its own M may run it
      startlockedm(m, g);
      continue;
    }
    execute(m, g, inherit_time);
  }
}

// mem's current-cache hook: the running P's cache (Go's mcache per P), made
// here at the P's first allocation; nullptr off a P (plain threads, Ms in
// syscalls, which released theirs), which use their thread caches. Only the
// M holding the P gets here with it, so the lazy creation does not race.
// new_cache never allocates through this hook (its metadata comes from
// mem's fixed pools).
mem::MCache* p_cache() {
  M* m = t_m;
  if (m == nullptr) return nullptr;
  P* p = m->p;
  if (p == nullptr) return nullptr;
  if (__builtin_expect(p->mcache == nullptr, 0)) p->mcache = mem::new_cache();
  return p->mcache;
}

// MemStats' StackInuse and StackSys (mem/mem.h pulls them at each
// snapshot).
void stack_stats_for_mem(uint64_t* inuse, uint64_t* sys) {
  StackStats st = sched().stacks->stats();
  *inuse = st.inuse_bytes;
  *sys = st.sys_bytes;
}

}  // namespace

// ---- the runtime's state ------------------------------------------------------

void schedinit() {
  std::call_once(g_init_once, [] {
    Sched* s = new Sched;
    const sys::Env& env = sys::env();
    s->stacks = new StackAllocator(kDefaultStackSize);
    s->start_time = sys::nanotime();
    s->coarse_now.store(s->start_time, std::memory_order_relaxed);
    uint64_t seed = env.godebug.has_gortseed
                        ? env.godebug.gortseed
                        : static_cast<uint64_t>(sys::nanotime()) ^
                              (static_cast<uint64_t>(sys::getpid()) << 32);
    for (int32_t i = 0; i < kMaxProcs; i++) {
      P* p = new P;
      p->id = i;
      p->status.store(PStatus::kDead, std::memory_order_relaxed);
      p->rng.state = rng_seed_for_p(seed, i);
      s->allp[i] = p;
    }
    int32_t n = std::clamp<int32_t>(env.gomaxprocs, 1, kMaxProcs);
    g_sched = s;
    mem::set_stack_stats_hook(stack_stats_for_mem);
    mem::set_current_cache_hook(p_cache);
    {
      sys::MutexLock l(s->lock);
      for (int32_t i = n - 1; i >= 0; i--) pidleput(s->allp[i]);
    }
    s->gomaxprocs.store(n, std::memory_order_release);
    initsig();  // signal handlers, before sysmon or any M (preempt.cc)
    start_sysmon();
    // The goroutine dump on fatal errors and panics, and on SIGQUIT (run.cc).
    install_dump_hooks();
  });
}

// ---- Gs: allocation and the free lists ------------------------------------------

namespace {

void allgadd(G* g) {
  Sched& s = sched();
  sys::MutexLock l(s.allg_lock);
  g->all_link = s.allg.load(std::memory_order_relaxed);
  s.allg.store(g, std::memory_order_release);
}

// Pops a dead G from the global lists, preferring one whose stack is still
// committed. REQUIRES: gfree_lock held.
G* gfget_global_locked() {
  Sched& s = sched();
  G* g = s.gfree;
  if (g != nullptr) {
    s.gfree = g->sched_link;
    s.gfree_count--;
  } else if ((g = s.gfree_released) != nullptr) {
    s.gfree_released = g->sched_link;
    s.gfree_released_count--;
  }
  if (g != nullptr) g->sched_link = nullptr;
  return g;
}

G* gfget(P* p) {
  Sched& s = sched();
  if (p->gfree == nullptr) {
    sys::MutexLock l(s.gfree_lock);
    while (p->gfree_count < kGFreeLocalMax / 2) {
      G* g = gfget_global_locked();
      if (g == nullptr) break;
      g->sched_link = p->gfree;
      p->gfree = g;
      p->gfree_count++;
    }
  }
  G* g = p->gfree;
  if (g != nullptr) {
    p->gfree = g->sched_link;
    p->gfree_count--;
    g->sched_link = nullptr;
  }
  return g;
}

void gfput_global(G* g) {
  Sched& s = sched();
  sys::MutexLock l(s.gfree_lock);
  g->sched_link = s.gfree;
  s.gfree = g;
  s.gfree_count++;
}

void gfput(P* p, G* g) {
  g->sched_link = p->gfree;
  p->gfree = g;
  p->gfree_count++;
  if (p->gfree_count >= kGFreeLocalMax) {
    Sched& s = sched();
    sys::MutexLock l(s.gfree_lock);
    while (p->gfree_count > kGFreeLocalMax / 2) {
      G* x = p->gfree;
      p->gfree = x->sched_link;
      p->gfree_count--;
      x->sched_link = s.gfree;
      s.gfree = x;
      s.gfree_count++;
    }
  }
}

[[noreturn]] void panic_exit(const char* what) { sys::die("panic: ", what); }

// Where every goroutine starts (sys::ContextEntry).
void goroutine_entry(void* arg, uintptr_t) {
  G* g = static_cast<G*>(arg);
  try {
    g->invoke(g);
  } catch (const std::exception& e) {
    panic_exit(e.what());
  } catch (...) {
    panic_exit("unknown exception (not derived from std::exception)");
  }
  M* m = getm();
  m->op = MOp::kExit;
  sys::exit_context(&g->context, &m->g0, 0);
}

}  // namespace

int32_t free_stack_surplus() {
  Sched& s = sched();
  sys::MutexLock l(s.gfree_lock);
  return std::max(s.gfree_count - kGFreeGlobalKeep, 0);
}

// Returns to the OS the stack memory of up to `max` dead Gs beyond the
// first kGFreeGlobalKeep on the global free list, the longest-dead first
// (the list is LIFO, so they are at its end). Go frees surplus stacks at
// each GC; gort's sysmon calls this (sysmon.cc says when). The Gs stay on a
// second list and are reused last; their first touch faults a zero page
// back in.
void release_free_stacks(int32_t max) {
  Sched& s = sched();
  G* cold = nullptr;
  int32_t n = 0;
  {
    sys::MutexLock l(s.gfree_lock);
    if (s.gfree_count <= 2 * kGFreeGlobalKeep || max <= 0) return;
    n = std::min(s.gfree_count - kGFreeGlobalKeep, max);
    int32_t keep = s.gfree_count - n;
    G* keep_tail = s.gfree;
    for (int32_t i = 1; i < keep; i++) keep_tail = keep_tail->sched_link;
    cold = keep_tail->sched_link;
    keep_tail->sched_link = nullptr;
    s.gfree_count = keep;
  }
  // The detached Gs are ours alone now: release outside the lock.
  G* tail = cold;
  for (G* g = cold; g != nullptr; g = g->sched_link) {
    sys::madvise(reinterpret_cast<void*>(g->stack->lo), g->stack->size(),
                 MADV_DONTNEED);
    tail = g;
  }
  sys::MutexLock l(s.gfree_lock);
  tail->sched_link = s.gfree_released;
  s.gfree_released = cold;
  s.gfree_released_count += n;
}

void goexit0(M* m, G* g) {
  Sched& s = sched();
  g->status.store(GStatus::kDead, std::memory_order_relaxed);
  relaxed_store(g->m, static_cast<M*>(nullptr));
  if (g->locked_m != nullptr) locked_goexit(m, g);  // m exits (lockosthread.cc)
  g->invoke = nullptr;
  g->closure = nullptr;
  g->wait_reason = WaitReason::kZero;
  g->preempt.store(false, std::memory_order_relaxed);
  s.ngoroutines.fetch_sub(1, std::memory_order_relaxed);
  bool is_main = g->is_main;
  g->is_main = false;
  if (m->p != nullptr) {
    gfput(m->p, g);
  } else {
    gfput_global(g);
  }
  if (is_main) main_exited();
}

G* newproc_begin(std::source_location loc) {
  schedinit();
  Sched& s = sched();
  M* m = acquirem();  // released before returning to the caller's template
  P* p = m != nullptr ? m->p : nullptr;
  G* g = nullptr;
  if (p != nullptr) {
    g = gfget(p);
  } else {
    sys::MutexLock l(s.gfree_lock);
    g = gfget_global_locked();
  }
  if (g == nullptr) {
    g = new G;
    g->stack = s.stacks->allocate();
    g->status.store(GStatus::kDead, std::memory_order_relaxed);
    allgadd(g);
  }
  // goids: a P takes a batch at a time (Go's goidcache).
  if (p != nullptr) {
    if (p->goid_next == p->goid_end) {
      p->goid_next = s.goid_gen.fetch_add(kGoidBatch, std::memory_order_relaxed) + 1;
      p->goid_end = p->goid_next + kGoidBatch;
    }
    g->id = p->goid_next++;
  } else {
    g->id = s.goid_gen.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  g->created_at = loc;
  G* parent = m != nullptr ? m->curg : nullptr;
  g->parent_id = parent != nullptr ? parent->id : 0;
  releasem(m);
  return g;
}

void newproc_abort(G* g) {
  M* m = getm();
  if (m != nullptr && m->p != nullptr) {
    gfput(m->p, g);
  } else {
    gfput_global(g);
  }
}

void newproc_end(G* g) {
  Sched& s = sched();
  // The first frame is written by execute, on the M that first runs g, not
  // here: the stack's top page is then faulted in (a fresh stack costs a
  // 3 µs page fault on this project's VMs) and brought into cache by the
  // core that uses it, and the spawner, which would otherwise fault in
  // every new stack one after another, stays cheap.
  g->fresh = true;
  g->eh = EhGlobals{};
  s.ngoroutines.fetch_add(1, std::memory_order_relaxed);
  g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
  M* m = acquirem();
  bool overflowed = false;
  if (m != nullptr && m->p != nullptr) {
    // the release in put publishes g to thieves
    overflowed = runqput(m->p, g, true);
  } else {
    globrunqput(g);  // the lock publishes g
  }
  wakep();
  releasem(m);
  // A goroutine that fills its P's ring faster than the Ps run it (a loop of
  // `go`) yields to the back of the global queue, behind the half it just
  // moved there. Without this the spawner outruns the runners: every new G
  // then needs a fresh stack (a page fault) instead of a hot one from the
  // free list, which slows the runners further (docs/sched.md, spawn). Go
  // does not yield here, but a goroutine may be rescheduled at any point.
  // Only on a goroutine's own stack (curg set) and outside acquirem.
  if (overflowed) {
    M* self = getm();  // m held no P on a plain thread; re-read after releasem
    if (self != nullptr && self->curg != nullptr &&
        self->locks.load(std::memory_order_relaxed) == 0) {
      gosched(MOp::kPreempt);
    }
  }
}

// ---- park, ready, yield -------------------------------------------------------------

void park(bool (*unlockf)(G*, void*), void* arg, WaitReason reason) {
  M* m = getm();
  G* g = m != nullptr ? m->curg : nullptr;
  GORT_CHECK(g != nullptr);  // only goroutines park; threads use notes
  g->wait_reason = reason;
  g->wait_since = s_coarse_now();
  m->op = MOp::kPark;
  m->unlockf = unlockf;
  m->unlock_arg = arg;
  sys::switch_context(&g->context, &m->g0, 0);
  // Resumed by ready(), possibly on another M.
  g->wait_reason = WaitReason::kZero;
}

namespace {
bool unlock_mutex(G*, void* mu) {
  static_cast<sys::Mutex*>(mu)->unlock();
  return true;
}
}  // namespace

void park_unlock(sys::Mutex* mu, WaitReason reason) {
  park(unlock_mutex, mu, reason);
}

void ready(G* g) {
  GStatus st = g->status.load(std::memory_order_acquire);
  if (st != GStatus::kWaiting) {
    sys::fatalf("bad g->status in ready: %s (goroutine %lld)",
                status_string(st), static_cast<long long>(g->id));
  }
  g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
  M* m = acquirem();
  if (m != nullptr && m->p != nullptr) {
    runqput(m->p, g, true);
  } else {
    globrunqput(g);
  }
  wakep();
  releasem(m);
}

void gosched(MOp op) {
  M* m = getm();
  G* g = m != nullptr ? m->curg : nullptr;
  if (g == nullptr) {  // a plain thread: let the OS run someone else
    sys::sched_yield();
    return;
  }
  g->preempt.store(false, std::memory_order_relaxed);
  m->op = op;
  sys::switch_context(&g->context, &m->g0, 0);
}

bool preempt_requested() {
  G* g = current_g();
  return g != nullptr && g->preempt.load(std::memory_order_relaxed);
}

void preempt_yield() { gosched(MOp::kPreempt); }

void* closure_heap_alloc(size_t size) { return ::operator new(size); }
void closure_heap_free(void* p) { ::operator delete(p); }

}  // namespace gort::sched

namespace gort {

void yield() { sched::gosched(sched::MOp::kYield); }

int64_t num_goroutine() {
  sched::schedinit();
  return sched::sched().ngoroutines.load(std::memory_order_relaxed);
}

}  // namespace gort
