// gort::run, the main goroutine's exit, deadlock detection (Go's
// checkdead) and the goroutine dump.
#include <csignal>
#include <cstdio>
#include <cstring>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "sys/fatal.h"
#include "sys/signal.h"
#include "sys/syscall.h"

namespace gort::sched {
namespace {

// One run at a time. run_active and main_g are under sched().lock;
// run_note is slept on by run's thread and woken by main_exited.
sys::Mutex g_run_lock;
bool g_run_active = false;
G* g_main_g = nullptr;
bool g_main_exited = false;  // this run's main G has exited (under lock)
sys::Note g_run_note;

// ---- the dump: no allocation, raw writes ------------------------------------

void write_str(const char* s) { sys::raw_syscall6(SYS_write, 2, reinterpret_cast<long>(s), static_cast<long>(strlen(s))); }

void dump_one(G* g, int64_t now) {
  char buf[1024];
  GStatus st = g->status.load(std::memory_order_acquire);
  const char* what = status_string(st);
  if (st == GStatus::kWaiting && g->wait_reason != WaitReason::kZero) {
    what = wait_reason_string(g->wait_reason);
  }
  char minutes[48] = "";
  if ((st == GStatus::kWaiting || st == GStatus::kSyscall) && g->wait_since != 0) {
    int64_t waited = (now - g->wait_since) / 60'000'000'000;
    if (waited >= 1) snprintf(minutes, sizeof(minutes), ", %lld minutes", static_cast<long long>(waited));
  }
  int n = snprintf(buf, sizeof(buf), "\ngoroutine %lld [%s%s]:\n",
                   static_cast<long long>(g->id), what, minutes);
  const std::source_location& at = g->created_at;
  if (g->is_main) {
    n += snprintf(buf + n, sizeof(buf) - n, "gort::run(...)\n\t%s:%u\n",
                  at.file_name(), static_cast<unsigned>(at.line()));
  } else {
    n += snprintf(buf + n, sizeof(buf) - n,
                  "created by %s in goroutine %lld\n\t%s:%u\n",
                  at.function_name(), static_cast<long long>(g->parent_id),
                  at.file_name(), static_cast<unsigned>(at.line()));
  }
  if (n > static_cast<int>(sizeof(buf))) n = sizeof(buf);
  sys::raw_syscall6(SYS_write, 2, reinterpret_cast<long>(buf), n);
}

// The fatal hook: every goroutine, the current one first (Go's
// tracebackothers order).
void dump_goroutines() {
  Sched* s = sched_or_null();
  if (s == nullptr) return;
  int64_t now = sys::nanotime();
  G* me = current_g();
  if (me != nullptr) dump_one(me, now);
  // No lock: the process is dying and the lock may be held by this thread.
  // allg is only ever prepended to, so a walk sees a consistent list.
  for (G* g = s->allg.load(std::memory_order_acquire); g != nullptr; g = g->all_link) {
    if (g == me) continue;
    GStatus st = g->status.load(std::memory_order_acquire);
    if (st == GStatus::kDead || st == GStatus::kIdle) continue;
    dump_one(g, now);
  }
}

void sigquit_handler(int, siginfo_t*, void*) {
  write_str("SIGQUIT: quit\n");
  dump_goroutines();
  sys::raw_syscall6(SYS_exit_group, 2);
}

}  // namespace

void install_dump_hooks() {
  sys::add_fatal_hook(dump_goroutines);
  sys::install_signal_handler(SIGQUIT, sigquit_handler, 0);
}

int run_main(G* g) {
  Sched& s = sched();
  if (current_g() != nullptr) sys::fatal("gort::run called from a goroutine");
  if (!g_run_lock.try_lock()) sys::fatal("gort::run: another run is in progress");
  g->is_main = true;
  g_run_note.clear();
  {
    sys::MutexLock l(s.lock);
    g_main_exited = false;
  }
  // Queue the main G first and only then mark the run active: until the G
  // is on a run queue nothing is runnable, and an M of an earlier run that
  // goes idle in between would call that a deadlock. The G may run, and even
  // exit, before we get the lock back: then the run is already over. Ms that
  // went idle before the run became active did not check for a deadlock, so
  // check here once (the main G may already be parked for good).
  newproc_end(g);
  {
    sys::MutexLock l(s.lock);
    if (!g_main_exited) {
      g_run_active = true;
      g_main_g = g;
      checkdead();
    }
  }
  g_run_note.sleep();
  g_run_lock.unlock();
  return 0;
}

void main_exited() {
  Sched& s = sched();
  {
    sys::MutexLock l(s.lock);
    g_main_exited = true;
    g_run_active = false;
    g_main_g = nullptr;
  }
  g_run_note.wakeup();
}

// Called when an M goes idle (sched.lock held). If a run is active and no
// goroutine can ever run again, that is Go's deadlock.
void checkdead() {
  Sched& s = sched();
  if (!g_run_active) return;
  // The timer waiter (proc.cc) is an idle M too, though off the idle list:
  // it may be waiting for a timer stopped since (then nothing is pending).
  int32_t running = s.mcount - s.nmidle - s.nmidlelocked + s.nforeign -
                    (s.timer_waiter != nullptr ? 1 : 0);
  if (running > 0) return;
  if (s.runq_size.load(std::memory_order_relaxed) > 0) return;
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  for (int32_t i = 0; i < procs; i++) {
    if (!s.allp[i]->runq.empty()) return;
  }
  // Pending timers may still wake a goroutine (Go's checkdead looks at
  // every P's timers too; stopped ones do not count here).
  for (int32_t i = 0; i < procs; i++) {
    if (s.allp[i]->timers.live() > 0) return;
  }
  const Hooks& h = hooks();
  if (h.has_waiters != nullptr && h.has_waiters()) return;
  // After has_waiters: see Sched::netpolls_in_flight.
  if (s.netpolls_in_flight.load(std::memory_order_seq_cst) > 0) return;
  sys::fatal("all goroutines are asleep - deadlock!");
}

}  // namespace gort::sched

namespace gort {

ForeignThread::ForeignThread() {
  GORT_CHECK(sched::current_g() == nullptr);  // plain threads only
  sched::schedinit();
  sched::Sched& s = sched::sched();
  sys::MutexLock l(s.lock);
  s.nforeign++;
}

ForeignThread::~ForeignThread() {
  sched::Sched& s = sched::sched();
  sys::MutexLock l(s.lock);
  GORT_CHECK(s.nforeign > 0);
  s.nforeign--;
  // The Ms went idle while this thread counted as running, so nobody has
  // checked since: if goroutines wait on what this thread no longer will
  // do, it is a deadlock now.
  sched::checkdead();
}

}  // namespace gort
