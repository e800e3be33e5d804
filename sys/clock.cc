// sys/clock.cc: the out-of-line clock. See clock.h for which clocks cost a
// syscall and why none of them is accounted.
#include "sys/clock.h"

namespace gort::sys {

// Out of line: it is a syscall (~0.3-1 us), so inlining buys nothing, and
// keeping it here keeps <time.h>'s CPU-clock ids out of callers' hot code.
int64_t thread_cputime_nanos() {
  return clock_internal::read(CLOCK_THREAD_CPUTIME_ID);
}

}  // namespace gort::sys
