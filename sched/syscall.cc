// Syscall hand-off (Go's entersyscall/exitsyscall/handoffp).
//
// 1. entersyscall: the G becomes kSyscall; its M gives up the P but leaves
//    it in kSyscall (remembered as m->oldp). The G keeps running on the M.
// 2. While the call runs, sysmon may retake the P: CAS kSyscall -> kIdle,
//    then handoffp gives it to another M if there is work (sysmon.cc).
// 3. exitsyscall, fast path: CAS the old P kSyscall -> kRunning and go on.
//    Else an idle P, if there is one. Else the G has no P to run on: it
//    switches to g0, which puts it on the global queue and parks the M
//    (kExitSyscall in execute).
// The CAS on p->status decides every race between 2 and 3: exactly one of
// sysmon, stop-the-world and the returning M wins the P.
#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/trace.h"
#include "sys/clock.h"
#include "sys/fatal.h"

namespace gort::sched {

void entersyscall() {
  M* m = getm();
  G* g = m != nullptr ? m->curg : nullptr;
  if (g == nullptr) return;  // a plain thread: nothing to hand over
  P* p = m->p;
  GORT_CHECK(p != nullptr);
  m->locks.fetch_add(1, std::memory_order_relaxed);
  // Recorded while m still holds p: the P's run slice ends here, before
  // anyone can take the P (trace.h).
  if (trace::on()) [[unlikely]] trace::syscall_enter(p->id, g->id);
  g->status.store(GStatus::kSyscall, std::memory_order_relaxed);
  // The coarse clock (runtime.h): only the dump reads these.
  g->wait_since = m->syscall_since =
      sched().coarse_now.load(std::memory_order_relaxed);
  p->syscalltick.fetch_add(1, std::memory_order_relaxed);
  m->oldp = releasep(m);
  // seq_cst store, then seq_cst load of gcwaiting: a store-then-load pair
  // that stop_the_world mirrors (gcwaiting store, then CAS of this status),
  // so at least one side sees the other (Go's atomic.Store here is an xchg,
  // a full fence). With release/acquire the load could be ordered before the
  // store (x86's store buffer): we would miss gcwaiting and the stopper
  // would miss kSyscall, and wait for this P until the call returns. The
  // store also publishes the above to whoever CASes the P away from us.
  p->status.store(PStatus::kSyscall, std::memory_order_seq_cst);
  Sched& s = sched();
  if (s.gcwaiting.load(std::memory_order_seq_cst)) {
    // A stop-the-world is waiting for this P: give it over now.
    PStatus expected = PStatus::kSyscall;
    if (p->status.compare_exchange_strong(expected, PStatus::kGCStop,
                                          std::memory_order_acq_rel)) {
      sys::MutexLock l(s.lock);
      if (--s.stopwait == 0) s.stopnote.wakeup();
    }
  }
}

void exitsyscall() {
  M* m = getm();
  G* g = m != nullptr ? m->curg : nullptr;
  if (g == nullptr) return;
  P* oldp = m->oldp;
  m->oldp = nullptr;
  PStatus expected = PStatus::kSyscall;
  if (oldp != nullptr &&
      oldp->status.compare_exchange_strong(expected, PStatus::kIdle,
                                           std::memory_order_acq_rel)) {
    acquirep(m, oldp);  // fast path: nobody took it
    if (trace::on()) [[unlikely]] trace::syscall_exit(oldp->id, g->id);
  } else {
    Sched& s = sched();
    P* p = nullptr;
    {
      sys::MutexLock l(s.lock);
      if (!s.gcwaiting.load(std::memory_order_relaxed)) p = pidleget();
    }
    if (p != nullptr) {
      acquirep(m, p);
      if (trace::on()) [[unlikely]] trace::syscall_exit(p->id, g->id);
    } else {
      if (trace::on()) [[unlikely]] trace::syscall_exit(-1, g->id);
      // No P: g0 puts this G on the global queue and parks the M; we
      // continue when some M runs us again.
      m->op = MOp::kExitSyscall;
      sys::switch_context(&g->context, &m->g0, 0);
      // Possibly another M. The old M's g0 dropped the locks count that
      // entersyscall took there (execute, kExitSyscall); take it on this M
      // so that the decrement below balances here.
      m = getm();
      m->locks.fetch_add(1, std::memory_order_relaxed);
    }
  }
  g->status.store(GStatus::kRunning, std::memory_order_relaxed);
  g->wait_since = 0;
  m->locks.fetch_sub(1, std::memory_order_relaxed);
}

// Gives p (taken from a syscall or from a stopping M) to an M if it has
// work, else makes it idle (Go's handoffp).
void handoffp(P* p) {
  Sched& s = sched();
  if (!p->runq.empty() || s.runq_size.load(std::memory_order_relaxed) > 0) {
    startm(p, false);
    return;
  }
  // No local work: start a spinning M if nobody looks for work.
  if (s.nmspinning.load(std::memory_order_relaxed) +
          s.npidle.load(std::memory_order_relaxed) ==
      0) {
    int32_t zero = 0;
    if (s.nmspinning.compare_exchange_strong(zero, 1,
                                             std::memory_order_seq_cst)) {
      startm(p, true);
      return;
    }
  }
  {
    sys::MutexLock l(s.lock);
    if (s.gcwaiting.load(std::memory_order_relaxed)) {
      p->status.store(PStatus::kGCStop, std::memory_order_release);
      if (--s.stopwait == 0) s.stopnote.wakeup();
      return;
    }
    // Checked again under the lock: a producer that put work on the global
    // queue after our first look will see this P idle and call wakep.
    if (s.runq_size.load(std::memory_order_relaxed) == 0) {
      pidleput(p);
      return;
    }
  }
  startm(p, false);
}

}  // namespace gort::sched
