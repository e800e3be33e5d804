// sched/schedtrace.h: Go's scheduler trace (GODEBUG=schedtrace=MS and
// scheddetail=1), printed by sysmon in Go 1.19's words.
//
//   set_schedtrace     turns the trace on or off at run time; the CLI's
//                      --schedtrace MS and --scheddetail (overrides GODEBUG)
//   set_schedtrace_fd  where the lines go (default 2, stderr); for tests
//   schedtrace         prints one trace now
//
// Every `ms` milliseconds (on sysmon's next look, which comes within 10 ms)
// sysmon writes, one write(2) per line (shown here broken at `|`),
//   SCHED 1004ms: gomaxprocs=2 idleprocs=0 threads=4 spinningthreads=0 |
//   idlethreads=1 runqueue=0 [0 0]
// or with detail a first line that ends, after runqueue=N, in
//   gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0
// followed by one line per P, per M and per G:
//     P0: status=1 schedtick=12 syscalltick=0 m=3 runqsize=0 gfreecnt=0 |
//   timerslen=0
//     M3: p=0 curg=1 mallocing=0 throwing=0 preemptoff= locks=0 dying=0 |
//   spinning=false blocked=false lockedg=-1
//     G1: status=4(chan receive) m=-1 lockedm=-1
// The numbers mean what Go's do (runtime/proc.go, func schedtrace), with
// these differences, all from gort having no M0 and no template thread:
// threads= is the number of Ms plus one for sysmon (Go's mcount() also
// counts sysmon's M, which gort's sysmon does not have); the thread that
// called gort::run is not counted (it is no M: it only waits). M lines list
// the Ms only (sysmon has none). mallocing, throwing and dying are always 0
// and preemptoff empty: gort has no such state yet. Gs are listed in the
// order their G structures were made, oldest first (Go's allgs order),
// including dead ones kept for reuse (status=6), as Go lists them.
//
// Thread safety: all three may be called from any thread or goroutine.
// Like Go's, a trace reads the scheduler's state under sched.lock, but much
// of it (P ticks, M and G fields) changes without that lock: a line is a
// snapshot whose fields may disagree with each other by a few events.
#ifndef GORT_SCHED_SCHEDTRACE_H_
#define GORT_SCHED_SCHEDTRACE_H_

namespace gort::sched {

// Prints a trace every `ms` milliseconds (ms <= 0: never), with the P, M
// and G lines if `detail`. Takes precedence over GODEBUG's schedtrace and
// scheddetail from then on. May be called before or after the runtime
// starts; a sleeping sysmon is woken so the first line comes at once.
void set_schedtrace(int ms, bool detail);

// Sends trace lines to `fd` (the caller keeps it open and owns it). Returns
// once any trace being written to the previous fd is complete, so the
// caller may then read or close that fd.
void set_schedtrace_fd(int fd);

// Prints one trace now, detailed or not, whatever the period. The first
// trace ever printed reads `SCHED 0ms`; later ones count from it, as Go's.
// Does nothing before the runtime starts.
void schedtrace(bool detailed);

}  // namespace gort::sched

#endif  // GORT_SCHED_SCHEDTRACE_H_
