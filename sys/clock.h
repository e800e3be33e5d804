// sys/clock.h: the runtime's clocks, in nanoseconds.
//
//   nanotime              CLOCK_MONOTONIC: intervals, deadlines, timers
//   walltime_nanos        CLOCK_REALTIME: the time of day
//   thread_cputime_nanos  CLOCK_THREAD_CPUTIME_ID: CPU time of the caller
//
// nanotime and walltime_nanos call libc's clock_gettime, which glibc serves
// from the vDSO for these two clocks: a few loads and an rdtsc, no syscall,
// so they are not (and need not be) counted by the syscall layer, and they
// are inline because they sit on hot paths (timers, syscall timing).
// thread_cputime_nanos is a real clock_gettime syscall (the vDSO does not
// serve the CPU-time clocks); it is not accounted either, because the
// accounted syscall layer (sys/syscall.h) itself depends on this target.
// Callers keep it off hot paths (gctrace's cpu column, schedtrace).
//
// Thread safety: every function may be called from any thread at any time.
#ifndef GORT_SYS_CLOCK_H_
#define GORT_SYS_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace gort::sys {

namespace clock_internal {
inline int64_t read(clockid_t id) {
  struct timespec ts;
  // Cannot fail for the clocks used here (valid id, valid pointer).
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace clock_internal

// Monotonic nanoseconds since an arbitrary fixed point (boot). Never goes
// backwards; unaffected by settimeofday. Go's nanotime.
inline int64_t nanotime() { return clock_internal::read(CLOCK_MONOTONIC); }

// Nanoseconds since the Unix epoch. May jump (NTP steps, settimeofday).
inline int64_t walltime_nanos() { return clock_internal::read(CLOCK_REALTIME); }

// CPU time consumed by the calling thread, in nanoseconds. One syscall.
int64_t thread_cputime_nanos();

}  // namespace gort::sys

#endif  // GORT_SYS_CLOCK_H_
