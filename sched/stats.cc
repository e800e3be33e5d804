// The scheduler's counters (sched/stats.h): snapshots of per-P counters
// that the scheduler keeps anyway, and of the idle lists.
//
// The per-P counters cost the hot paths as little as counters can: each has
// one writer, the M that holds the P, so it is bumped with a relaxed load
// and a relaxed store of the same word (a plain add on x86, no locked
// instruction), never a read-modify-write. Readers here load them relaxed,
// as schedtrace does; TSan sees atomics on both sides. The rejected
// alternative, fetch_add, costs a locked instruction on every schedule for
// a number only reports read. (schedtick is a plain field written with
// relaxed_store, runtime.h; syscalltick an atomic that sysmon also reads.)
#include "sched/stats.h"

#include "sched/runtime.h"
#include "sys/mutex.h"

namespace gort::sched {

std::vector<PStats> p_stats() {
  std::vector<PStats> out;
  Sched* s = sched_or_null();
  if (s == nullptr) return out;
  // allp is never freed and Ps beyond GOMAXPROCS stay in it (runtime.h),
  // so reading a P that a concurrent gomaxprocs just retired is safe.
  int32_t procs = s->gomaxprocs.load(std::memory_order_acquire);
  out.reserve(static_cast<size_t>(procs));
  for (int32_t i = 0; i < procs; i++) {
    const P* p = s->allp[i];
    if (p == nullptr) continue;
    PStats st;
    st.id = p->id;
    st.schedtick = relaxed_load(p->schedtick);
    st.executed = static_cast<int64_t>(
        p->goroutines_run.load(std::memory_order_relaxed));
    st.stolen =
        static_cast<int64_t>(p->stolen.load(std::memory_order_relaxed));
    st.syscalltick = p->syscalltick.load(std::memory_order_relaxed);
    out.push_back(st);
  }
  return out;
}

ThreadStats thread_stats() {
  ThreadStats t;
  Sched* s = sched_or_null();
  if (s == nullptr) return t;
  sys::MutexLock l(s->lock);
  t.threads = s->mcount + 1;  // sysmon, as schedtrace counts it
  t.idle_threads = s->nmidle;
  t.spinning_threads = s->nmspinning.load(std::memory_order_relaxed);
  t.idle_procs = s->npidle.load(std::memory_order_relaxed);
  t.procs = s->gomaxprocs.load(std::memory_order_relaxed);
  return t;
}

}  // namespace gort::sched
