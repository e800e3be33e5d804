// sched/stats.h: the scheduler's counters, for reports and workloads.
//
//   PStats        one P's counters since the process started: schedules
//                 (Go's schedtick), goroutines executed, goroutines stolen
//                 into it, syscalls entered on it (Go's syscalltick)
//   p_stats()     those of every P below GOMAXPROCS, in P order
//   ThreadStats   Ms and Ps right now: threads (as schedtrace's threads=),
//                 idle threads, spinning threads, idle Ps
//   thread_stats()
//
// The counters are cumulative and never reset: a report takes one snapshot
// before and one after and subtracts (a P beyond GOMAXPROCS keeps its
// counts, and picks them up again if GOMAXPROCS grows back).
//
// What each P counter counts, and where (sched/proc.cc):
//   schedtick    execute() running a G that does not inherit its
//                predecessor's time slice (Go's p.schedtick: a G taken from
//                runnext, the slot a ready or go fills, inherits the slice
//                and does not count); 32 bits as Go's, so it wraps: take
//                differences modulo 2^32
//   executed     every execute(), runnext or not: how many goroutine runs
//                this P did (a goroutine that parks and is readied runs
//                again and counts again)
//   stolen       Gs this P took from other Ps' run queues in steal_work
//                (Go's runqsteal): the one it runs at once plus those moved
//                into its own queue
//   syscalltick  blocking() calls entered while holding this P
//
// Thread safety: both functions may be called from any thread or goroutine,
// before the runtime starts too (then p_stats() is empty and thread_stats()
// all zero). Each P counter is written by the P's owner alone and read here
// without stopping it (relaxed), as schedtrace reads them: a snapshot of a
// running P may lag by a few events; one taken after its goroutines have
// been joined is exact. thread_stats() reads under the scheduler lock, so
// its numbers agree with each other.
#ifndef GORT_SCHED_STATS_H_
#define GORT_SCHED_STATS_H_

#include <cstdint>
#include <vector>

namespace gort::sched {

struct PStats {
  int32_t id = 0;
  int64_t schedtick = 0;
  int64_t executed = 0;
  int64_t stolen = 0;
  int64_t syscalltick = 0;
};

// One entry per P in [0, GOMAXPROCS), in id order.
std::vector<PStats> p_stats();

struct ThreadStats {
  // Ms plus one for sysmon: schedtrace's threads= (sched/schedtrace.h says
  // why that is Go's number). Ms are never retired (an idle M sleeps on the
  // idle list, as Go's do) except one whose locked goroutine exited.
  int32_t threads = 0;
  int32_t idle_threads = 0;      // Ms asleep on the idle list (nmidle)
  int32_t spinning_threads = 0;  // Ms looking for work (nmspinning)
  int32_t idle_procs = 0;        // Ps on the idle list (npidle)
  int32_t procs = 0;             // GOMAXPROCS
};

ThreadStats thread_stats();

}  // namespace gort::sched

#endif  // GORT_SCHED_STATS_H_
