// The scheduler trace (Go's schedtrace, runtime/proc.go), printed by sysmon.
//
// ## What is printed, and when
//
// sysmon calls schedtrace_tick at the end of every look. When the period
// (GODEBUG=schedtrace=MS, or set_schedtrace) has passed since the last
// trace, it prints one: a SCHED line, and with detail one line per P, per M
// and per G (formats in schedtrace.h). Go's sysmon skips its deep sleep
// while the trace is on, and so does ours (sysmon.cc), so lines come within
// one look (at most 10 ms) of when they are due. The first trace ever
// printed is `SCHED 0ms`: the clock starts then, as Go's `starttime` does.
//
// ## Rules it keeps
//
// 1. No stdio and no fmt: sysmon is a runtime thread, and stdio's lock may
//    be held by a thread that is stopped in the scheduler. Each line is
//    snprintf'd into a stack buffer and written with one write(2) (through
//    the accounted layer: `--strace` counts these writes, as strace counts
//    Go's). One write per line means a reader of a pipe sees whole lines
//    (a line is shorter than PIPE_BUF) even when other threads write too.
// 2. The trace holds sched.lock while it reads, as Go's does, so the idle
//    lists, mcount and allm are consistent. It does not stop the world: P,
//    M and G fields (schedtick, curg, spinning, status) are written without
//    that lock by their owners, and the trace reads them racily, exactly as
//    Go's comment in schedtrace warns. That is safe here because Ms and Gs
//    are never freed (a retired M is kept, lockosthread.cc), so a stale
//    pointer still points at a live object; the values may be stale by a
//    few events. Under TSan those reads are deliberately uninstrumented
//    (print_locked carries no_sanitize_thread) rather than made atomic in
//    every hot path of the scheduler for the sake of a diagnostic.
// 3. Gs are listed oldest first (Go's allgs order) although gort's allg list
//    is newest first: the list is copied into a reused vector before the
//    scheduler lock is taken (allg is prepend-only, so a walk from one
//    snapshot of its head is a consistent list), then printed backwards.
// 4. One trace at a time (g_out_lock), which also lets set_schedtrace_fd
//    promise that no trace is still writing to the old fd when it returns.
//
// ## Configuration
//
// One atomic word holds both settings, so a reader never sees a period from
// one call and a detail flag from another: -1 until resolved, else
// 2 * period_ms + detail. The first reader resolves it from GODEBUG;
// set_schedtrace overwrites it whenever it is called (the CLI's flags beat
// the environment, whichever comes first).
#include "sched/schedtrace.h"

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "sched/internal.h"
#include "sched/runtime.h"
#include "sys/clock.h"
#include "sys/env.h"
#include "sys/mutex.h"
#include "sys/syscall.h"

// Reads the scheduler's state without synchronisation (rule 2 above).
#if defined(__SANITIZE_THREAD__)
#define GORT_RACY_READER __attribute__((noinline, no_sanitize_thread))
#else
#define GORT_RACY_READER __attribute__((noinline))
#endif

namespace gort::sched {
namespace {

constexpr int64_t kUnresolved = -1;

// 2 * period_ms + detail, or kUnresolved. Stored with release by
// set_schedtrace or the first resolver (a CAS from kUnresolved); loaded with
// acquire. Only the two packed numbers are published through it.
std::atomic<int64_t> g_config{kUnresolved};

// nanotime of the first trace (Go's starttime); 0 until then. Set by CAS
// (relaxed: only its own value matters).
std::atomic<int64_t> g_start{0};

// sysmon's time of its last periodic trace (Go's lasttrace). sysmon only.
int64_t g_last_trace = 0;

sys::Mutex g_out_lock;  // one trace at a time; taken before sched.lock
int g_fd ABSL_GUARDED_BY(g_out_lock) = 2;
// The Gs of the trace being printed (rule 3); reused between traces.
std::vector<G*>* g_gs ABSL_GUARDED_BY(g_out_lock) = new std::vector<G*>;

int64_t encode(int ms, bool detail) {
  if (ms <= 0) return 0;
  return 2 * static_cast<int64_t>(ms) + (detail ? 1 : 0);
}

int64_t config() {
  int64_t c = g_config.load(std::memory_order_acquire);
  if (c != kUnresolved) return c;
  const sys::GoDebug& d = sys::env().godebug;
  int64_t v = encode(d.schedtrace, d.scheddetail > 0);
  // If set_schedtrace got there first, its value stands.
  if (g_config.compare_exchange_strong(c, v, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
    return v;
  }
  return c;
}

// One output line, built in place and written with one write(2).
class Line {
 public:
  explicit Line(int fd) : fd_(fd) {}

  [[gnu::format(printf, 2, 3)]] void add(const char* format, ...) {
    va_list ap;
    va_start(ap, format);
    // Room is kept for the newline that end() adds.
    size_t room = sizeof(buf_) - 1 - len_;
    int n = vsnprintf(buf_ + len_, room, format, ap);
    va_end(ap);
    if (n > 0) len_ += static_cast<size_t>(n) < room ? n : room - 1;
  }

  // Writes the line with its newline and starts a new one.
  void end() {
    buf_[len_++] = '\n';
    const char* p = buf_;
    size_t left = len_;
    while (left > 0) {
      long r = sys::write(fd_, p, left);
      if (r == -EINTR) continue;
      if (sys::is_error(r) || r == 0) break;  // nowhere to report it
      p += r;
      left -= static_cast<size_t>(r);
    }
    len_ = 0;
  }

 private:
  int fd_;
  size_t len_ = 0;
  // Long enough for the SCHED line with kMaxProcs run queue lengths.
  char buf_[4096];
};

const char* bool_string(bool b) { return b ? "true" : "false"; }

// Prints the trace (rule 2: reads racily). REQUIRES: sched().lock and
// g_out_lock held; gs holds the Gs oldest last.
GORT_RACY_READER void print_locked(Sched& s, int fd, int64_t now, bool detailed,
                                   const std::vector<G*>& gs) {
  Line line(fd);
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  // threads: every M, and sysmon's thread (schedtrace.h says why).
  line.add(
      "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d "
      "spinningthreads=%d idlethreads=%d runqueue=%d",
      static_cast<long long>((now - g_start.load(std::memory_order_relaxed)) /
                             1'000'000),
      procs, s.npidle.load(std::memory_order_relaxed), s.mcount + 1,
      s.nmspinning.load(std::memory_order_relaxed), s.nmidle,
      s.runq_size.load(std::memory_order_relaxed));
  if (detailed) {
    line.add(" gcwaiting=%d nmidlelocked=%d stopwait=%d sysmonwait=%d",
             s.gcwaiting.load(std::memory_order_relaxed) ? 1 : 0,
             s.nmidlelocked, s.stopwait, s.sysmonwait ? 1 : 0);
    line.end();
  }
  for (int32_t i = 0; i < procs; i++) {
    P* p = s.allp[i];
    M* m = p->m;  // racy: read once
    uint32_t runq = p->runq.size();
    if (detailed) {
      line.add(
          "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%u "
          "gfreecnt=%d timerslen=%d",
          i, static_cast<unsigned>(p->status.load(std::memory_order_relaxed)),
          p->schedtick, p->syscalltick.load(std::memory_order_relaxed),
          static_cast<long long>(m != nullptr ? m->id : -1), runq,
          p->gfree_count, p->timers.len());
      line.end();
    } else {
      line.add("%s%u%s", i == 0 ? " [" : " ", runq, i == procs - 1 ? "]" : "");
    }
  }
  if (!detailed) {
    line.end();
    return;
  }
  for (M* m = s.allm; m != nullptr; m = m->all_link) {
    P* p = m->p;
    G* curg = m->curg;
    G* lockedg = m->locked_g;
    line.add(
        "  M%lld: p=%d curg=%lld mallocing=0 throwing=0 preemptoff= locks=%d "
        "dying=0 spinning=%s blocked=%s lockedg=%lld",
        static_cast<long long>(m->id), p != nullptr ? p->id : -1,
        static_cast<long long>(curg != nullptr ? curg->id : -1),
        m->locks.load(std::memory_order_relaxed), bool_string(m->spinning),
        bool_string(m->blocked),
        static_cast<long long>(lockedg != nullptr ? lockedg->id : -1));
    line.end();
  }
  for (size_t i = gs.size(); i-- > 0;) {
    G* g = gs[i];
    M* m = g->m;
    M* lockedm = g->locked_m;
    line.add("  G%lld: status=%u(%s) m=%lld lockedm=%lld",
             static_cast<long long>(g->id),
             static_cast<unsigned>(g->status.load(std::memory_order_relaxed)),
             wait_reason_string(g->wait_reason),
             static_cast<long long>(m != nullptr ? m->id : -1),
             static_cast<long long>(lockedm != nullptr ? lockedm->id : -1));
    line.end();
  }
}

}  // namespace

void set_schedtrace(int ms, bool detail) {
  schedinit();
  g_config.store(encode(ms, detail), std::memory_order_release);
  Sched& s = sched();
  sys::MutexLock l(s.lock);
  wake_sysmon_locked();
}

void set_schedtrace_fd(int fd) {
  sys::MutexLock l(g_out_lock);
  g_fd = fd;
}

namespace {

// Prints one trace and returns the time stamped on it, so that sysmon can
// space its lines by the stamps the reader sees (see schedtrace_tick).
int64_t trace_now(bool detailed) {
  schedinit();
  Sched& s = sched();
  sys::MutexLock out(g_out_lock);
  int64_t now = sys::nanotime();
  int64_t zero = 0;
  g_start.compare_exchange_strong(zero, now, std::memory_order_relaxed);
  std::vector<G*>& gs = *g_gs;
  gs.clear();
  if (detailed) {
    for (G* g = s.allg.load(std::memory_order_acquire); g != nullptr;
         g = g->all_link) {
      gs.push_back(g);
    }
  }
  sys::MutexLock l(s.lock);
  print_locked(s, g_fd, now, detailed, gs);
  return now;
}

}  // namespace

void schedtrace(bool detailed) { trace_now(detailed); }

int32_t schedtrace_period_ms() { return static_cast<int32_t>(config() / 2); }

void schedtrace_tick(int64_t now) {
  int64_t c = config();
  int64_t period_ms = c / 2;
  if (period_ms <= 0) return;
  if (g_last_trace + period_ms * 1'000'000 > now) return;
  // Go stores sysmon's `now` here; the stamp of the printed line is taken
  // later, after sysmon's other work, so under load two of Go's lines can
  // be stamped less than a period apart. Keeping the stamp instead makes
  // the printed times at least `period_ms` apart.
  g_last_trace = trace_now((c & 1) != 0);
}

}  // namespace gort::sched
