// sysmon: the thread without a P that watches the others (Go's sysmon).
//
// It sleeps 20 µs between looks, doubling up to 10 ms after 50 idle looks
// (Go's numbers). When every P is idle it sleeps on sched.sysmonnote until
// a P is taken again (startm wakes it) or the two-minute forced GC is due.
// Each look:
//   1. retakes Ps that have been in a syscall for a whole look (and longer
//      than 10 ms if no other work waits): CAS kSyscall -> kIdle, handoffp;
//   2. asks the G of a P that has run the same G for 10 ms to yield
//      (g->preempt), and signals its thread (SIGURG; sched/preempt.cc);
//   3. polls the network if nobody has for 10 ms (hook);
//   4. every two minutes calls the forced-GC hook; each look the scavenge
//      hook.
#include "sched/internal.h"
#include "sched/preempt.h"
#include "sched/runtime.h"
#include "sched/sync_support.h"
#include "sys/clock.h"
#include "sys/syscall.h"
#include "sys/thread.h"

namespace gort::sched {
namespace {

constexpr int64_t kForcePreemptNs = 10'000'000;    // Go's forcePreemptNS
constexpr int64_t kForceGCPeriodNs = 120'000'000'000;  // Go's forcegcperiod
constexpr int64_t kMinDelayUs = 20;
// How often a busy runtime looks for free stacks to return (see the loop).
constexpr int64_t kStackReleasePeriodNs = 1'000'000'000;
constexpr int64_t kMaxDelayUs = 10'000;

// The registered hooks: set once by a higher layer at its first use, while
// Ms and sysmon may be reading them, so published through an atomic pointer
// to an immutable copy (release store, acquire loads; the copies are never
// freed: a reader may still hold the old one).
const Hooks g_no_hooks;
std::atomic<const Hooks*> g_hooks{&g_no_hooks};

// Takes Ps back from long syscalls and marks long-running Gs for preemption.
// Returns how many Ps it retook.
int retake(int64_t now) {
  Sched& s = sched();
  int n = 0;
  int32_t procs = s.gomaxprocs.load(std::memory_order_acquire);
  for (int32_t i = 0; i < procs; i++) {
    P* p = s.allp[i];
    PStatus st = p->status.load(std::memory_order_acquire);
    if (st == PStatus::kSyscall) {
      uint32_t t = p->syscalltick.load(std::memory_order_relaxed);
      if (p->sysmon_syscalltick != t) {
        p->sysmon_syscalltick = t;
        p->sysmon_syscallwhen = now;
        continue;
      }
      // Go: leave the P if it has no work, others look for work already,
      // and the call is younger than 10 ms (it will likely return soon).
      if (p->runq.empty() &&
          s.nmspinning.load(std::memory_order_relaxed) +
                  s.npidle.load(std::memory_order_relaxed) >
              0 &&
          p->sysmon_syscallwhen + kForcePreemptNs > now) {
        continue;
      }
      PStatus expected = PStatus::kSyscall;
      if (p->status.compare_exchange_strong(expected, PStatus::kIdle,
                                            std::memory_order_acq_rel)) {
        n++;
        handoffp(p);
      }
    } else if (st == PStatus::kRunning) {
      uint32_t t = relaxed_load(p->schedtick);  // a hint: see runtime.h
      if (p->sysmon_schedtick != t) {
        p->sysmon_schedtick = t;
        p->sysmon_schedwhen = now;
      } else if (p->sysmon_schedwhen + kForcePreemptNs <= now) {
        preemptone(p);
      }
    }
  }
  return n;
}

void sysmon_loop() {
  Sched& s = sched();
  int64_t delay_us = kMinDelayUs;
  int idle = 0;
  int64_t last_gc = sys::nanotime();
  int64_t last_poll = last_gc;
  int64_t last_release = last_gc;
  int32_t old_surplus = 0;  // free-list surplus at the last release check
  for (;;) {
    if (idle == 0) {
      delay_us = kMinDelayUs;
    } else if (idle > 50) {
      delay_us = std::min(delay_us * 2, kMaxDelayUs);
    }
    sys::nanosleep(delay_us * 1000);
    int64_t now = sys::nanotime();
    s.coarse_now.store(now, std::memory_order_relaxed);
    bool all_idle;
    {
      sys::MutexLock l(s.lock);
      // No deep sleep while schedtrace is on, so its lines come on time
      // (Go's sysmon does the same).
      all_idle = schedtrace_period_ms() <= 0 &&
                 (s.gcwaiting.load(std::memory_order_relaxed) ||
                  s.npidle.load(std::memory_order_relaxed) ==
                      s.gomaxprocs.load(std::memory_order_relaxed));
      if (all_idle) {
        s.sysmonwait = true;
      }
    }
    if (all_idle) {
      // The runtime just went idle: the best moment to give back the
      // stacks of the goroutines that finished (nobody is spawning now).
      release_free_stacks(INT32_MAX);
      int64_t until_gc = last_gc + kForceGCPeriodNs - now;
      // Go 1.19 sleeps no longer than the next timer; here the timer waiter
      // M (proc.cc) covers timers, so only without one.
      if (s.timer_sleep_until.load(std::memory_order_relaxed) ==
          kNoTimerWaiter) {
        int64_t next = earliest_timer();
        if (next != timer::kNever) until_gc = std::min(until_gc, next - now);
      }
      s.sysmonnote.sleep_for(until_gc > 0 ? until_gc : 0);
      {
        // Wakers call wakeup only under the lock and only while sysmonwait
        // is set, so here no wakeup is in flight and clear() is safe.
        sys::MutexLock l(s.lock);
        s.sysmonwait = false;
        if (s.sysmonnote.signalled()) s.sysmonnote.clear();
      }
      idle = 0;
      now = sys::nanotime();
      s.coarse_now.store(now, std::memory_order_relaxed);
    }
    if (retake(now) > 0) {
      idle = 0;
    } else {
      idle++;
    }
    // Overdue timers and nobody waiting for them (their P runs one long
    // goroutine, or is in a syscall): start an M on an idle P, whose steal
    // loop runs them (Go 1.19's sysmon does the same).
    if (s.timer_sleep_until.load(std::memory_order_relaxed) ==
            kNoTimerWaiter &&
        s.npidle.load(std::memory_order_relaxed) > 0 &&
        earliest_timer() < now) {
      startm(nullptr, false);
    }
    if (now - last_gc >= kForceGCPeriodNs) {
      last_gc = now;
      if (hooks().force_gc != nullptr) hooks().force_gc();
      run_gc_cleanups();  // sync.Pool's victim cycle (sched/sync_support.h)
    }
    if (hooks().scavenge != nullptr) hooks().scavenge();
    // A busy runtime releases only stacks that were surplus a second ago
    // and still are: stacks freed by a burst of short goroutines are wanted
    // again soon, and releasing them costs a TLB shootdown now and a page
    // fault each later (the `timers` workload thrashed so).
    if (now - last_release >= kStackReleasePeriodNs) {
      last_release = now;
      int32_t surplus = free_stack_surplus();
      int32_t n = std::min(surplus, old_surplus);
      release_free_stacks(n);
      old_surplus = surplus - n;
    }
    // Poll the network if nobody has for 10 ms (Go's sysmon does the same),
    // so that I/O-ready goroutines run even when every M is busy. Not while
    // an M blocks in the poller: it gets the events itself.
    const Hooks& h = hooks();
    if (h.poll_network != nullptr && now - last_poll >= kForcePreemptNs &&
        !sched().netpoll_blocked.load(std::memory_order_relaxed) &&
        h.has_waiters != nullptr && h.has_waiters()) {
      last_poll = now;
      s.netpolls_in_flight.fetch_add(1, std::memory_order_seq_cst);
      if (G* list = h.poll_network(false, 0)) inject_glist(list);
      s.netpolls_in_flight.fetch_sub(1, std::memory_order_seq_cst);
    }
    schedtrace_tick(now);  // GODEBUG=schedtrace (schedtrace.cc)
  }
}

}  // namespace

void preemptone(P* p) {
  M* m = relaxed_load(p->m);
  if (m == nullptr) return;
  // Racy: the G may be switching out; a stale flag is harmless (it only
  // makes some later goroutine yield once early). Acquire: pairs with
  // execute's release store, which orders g's construction before the
  // store to g->preempt below.
  G* g = __atomic_load_n(&m->curg, __ATOMIC_ACQUIRE);
  if (g == nullptr) return;
  g->preempt.store(true, std::memory_order_relaxed);
  // Asynchronous preemption (sched/preempt.cc): SIGURG to m's thread, so
  // that a loop without runtime calls stops too. The handler re-checks
  // everything on the thread itself; a signal that finds another G, or an
  // unsafe point, is declined and sysmon asks again at its next look.
  preempt_m(m);
}

void wake_sysmon_locked() {
  Sched& s = sched();
  if (s.sysmonwait) {
    s.sysmonwait = false;
    s.sysmonnote.wakeup();
  }
}

void start_sysmon() {
  sys::ThreadOptions opts;
  opts.stack_size = 256 * 1024;
  opts.name = "gort-sysmon";
  sys::Thread t(sysmon_loop, opts);
  t.detach();
}

void set_hooks(const Hooks& h) {
  g_hooks.store(new Hooks(h), std::memory_order_release);
}
const Hooks& hooks() { return *g_hooks.load(std::memory_order_acquire); }

}  // namespace gort::sched
