// sys/note.cc: Go's note (runtime/lock_futex.go, Go 1.19) over a futex.
//
// What a note is for. An M with nothing to do must block its OS thread
// until another M gives it work; the giver knows exactly which M to wake.
// That is a one-shot, one-sleeper, one-waker event, and the cheapest such
// event on Linux is a single futex word: no queue, no lock, no allocation.
//
// Rejected: a condition variable plus mutex (two words, a lock round trip
// on each side, and the sleeper must hold the mutex to avoid missing the
// signal); a semaphore counter (a double wakeup would be silently absorbed
// as a second permit, hiding a scheduler bug that Go makes fatal).
//
// The word, key_, is 0 (unsignalled) or 1 (signalled). The protocol:
//
//   Waker (wakeup):
//     W1. Exchange key_ to 1 with release order. If the old value was not
//         0, someone already woke this note: fatal.
//     W2. futex_wakeup(key_, 1): wake the sleeper if it is in the kernel.
//   Sleeper (sleep):
//     S1. Load key_ with acquire order. If it is 1, return.
//     S2. futex_sleep(key_, 0): the kernel sleeps only if key_ is still 0.
//     S3. Go to S1 (the futex may return spuriously).
//
// Why no wakeup is lost: the kernel's compare in S2 and the wake in W2 are
// ordered by the futex hash-bucket lock. If W1 came before S2's compare,
// the compare sees 1 and S2 returns at once; if after, the sleeper is
// already queued on the word when W2 runs, and W2 wakes it. Either way S1
// then sees 1. The acquire in S1 pairs with W1's release, so the waker's
// prior writes are visible to the sleeper after it wakes.
//
// Timed sleep (sleep_for) is the same loop with a deadline on nanotime();
// the futex timeout is relative, so each retry passes the time remaining,
// and it reports a timeout only once nanotime() has reached the deadline,
// so a spurious early return from the kernel never shortens the sleep.
#include "sys/note.h"

#include <limits>

#include "sys/clock.h"
#include "sys/fatal.h"
#include "sys/futex.h"

namespace gort::sys {

void Note::wakeup() {
  // W1: release pairs with the acquire loads in sleep()/sleep_for().
  uint32_t old = key_.exchange(1, std::memory_order_release);
  if (old != 0) fatal("notewakeup - double wakeup");
  futex_wakeup(key_, 1);  // W2
}

void Note::sleep() {
  while (key_.load(std::memory_order_acquire) == 0) {  // S1
    futex_sleep(key_, 0, -1);                          // S2, S3
  }
}

bool Note::sleep_for(int64_t ns) {
  if (ns < 0) {
    sleep();
    return true;
  }
  if (key_.load(std::memory_order_acquire) != 0) return true;
  const int64_t start = nanotime();
  // Saturate rather than overflow for "practically forever" timeouts.
  const int64_t deadline = ns > std::numeric_limits<int64_t>::max() - start
                               ? std::numeric_limits<int64_t>::max()
                               : start + ns;
  for (;;) {
    futex_sleep(key_, 0, ns);
    if (key_.load(std::memory_order_acquire) != 0) return true;
    const int64_t now = nanotime();
    if (now >= deadline) return false;
    ns = deadline - now;
  }
}

}  // namespace gort::sys
