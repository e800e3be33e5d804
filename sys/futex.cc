// sys/futex.cc: futex_sleep and futex_wakeup over the accounted syscall
// layer. Facts from Go 1.19's runtime/os_linux.go (futexsleep,
// futexwakeup) and futex(2).
//
// Go ignores futexsleep's result entirely (some old kernels leaked internal
// error codes from FUTEX_WAIT) and crashes on any futexwakeup error. We
// accept the three results that mean "return and re-check" (EAGAIN: the word
// already differed; EINTR: a signal; ETIMEDOUT: the timeout) and treat
// anything else as the runtime's bug: a futex on a bad address or with a
// bad timeout would otherwise turn every sleep into a busy loop.
#include "sys/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <time.h>

#include "sys/fatal.h"
#include "sys/syscall.h"

namespace gort::sys {

void futex_sleep(uint32_t* addr, uint32_t val, int64_t ns) {
  long r;
  if (ns < 0) {
    r = futex(addr, FUTEX_WAIT_PRIVATE, val, nullptr);
  } else {
    struct timespec ts;
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    r = futex(addr, FUTEX_WAIT_PRIVATE, val, &ts);
  }
  if (is_error(r) && r != -EAGAIN && r != -EINTR && r != -ETIMEDOUT) {
    fatalf("futexsleep addr=%p returned %ld", static_cast<void*>(addr), r);
  }
}

void futex_wakeup(uint32_t* addr, int count) {
  long r =
      futex(addr, FUTEX_WAKE_PRIVATE, static_cast<uint32_t>(count), nullptr);
  if (is_error(r)) {
    fatalf("futexwakeup addr=%p returned %ld", static_cast<void*>(addr), r);
  }
}

}  // namespace gort::sys
