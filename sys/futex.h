// sys/futex.h: the two futex operations the runtime's note and lock need.
//
//   futex_sleep   if *addr == val, sleep until woken or ns elapse (Go's
//                 futexsleep); spurious returns allowed
//   futex_wakeup  wake at most `count` threads sleeping on addr (Go's
//                 futexwakeup)
//
// Both use the process-private futex operations (FUTEX_WAIT_PRIVATE,
// FUTEX_WAKE_PRIVATE): the runtime never shares these words across
// processes, and private futexes skip the mm lookup in the kernel.
//
// Thread safety: any thread, any time. Each call is one futex syscall,
// made through the accounted layer (sys::futex).
//
// Memory ordering: a futex call is not an atomic operation the C++ memory
// model (or TSan) knows about, so it carries no happens-before. Callers
// publish state with their own atomics (release on the writer, acquire on
// the reader) and use these only to wait for and announce a change of the
// word. The kernel compares *addr with val while holding the futex hash
// bucket lock, and futex_wakeup takes the same lock, so a change followed by
// a wakeup cannot slip between the sleeper's compare and its sleep.
#ifndef GORT_SYS_FUTEX_H_
#define GORT_SYS_FUTEX_H_

#include <atomic>
#include <cstdint>

namespace gort::sys {

// The futex word is a plain uint32_t to the kernel; the runtime keeps it in
// a std::atomic<uint32_t>, which must therefore be exactly a uint32_t.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
static_assert(alignof(std::atomic<uint32_t>) == alignof(uint32_t));
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// Atomically: if *addr == val, sleep. Returns when woken by futex_wakeup,
// after ns nanoseconds (ns < 0: no timeout), on a signal, or at once if
// *addr != val. Callers must re-check their condition on return: every
// return may be spurious. The timeout is relative, on CLOCK_MONOTONIC.
// Errors: EAGAIN, EINTR and ETIMEDOUT are such spurious returns; any other
// result (EFAULT, EINVAL: a bad address) is a fatal error.
void futex_sleep(uint32_t* addr, uint32_t val, int64_t ns);

// Wakes at most `count` threads sleeping in futex_sleep on addr.
// REQUIRES: count > 0. An error from the kernel is a fatal error.
void futex_wakeup(uint32_t* addr, int count);

// The same, on the atomic that holds the word.
inline uint32_t* futex_word(std::atomic<uint32_t>& word) {
  return reinterpret_cast<uint32_t*>(&word);
}
inline void futex_sleep(std::atomic<uint32_t>& word, uint32_t val, int64_t ns) {
  futex_sleep(futex_word(word), val, ns);
}
inline void futex_wakeup(std::atomic<uint32_t>& word, int count) {
  futex_wakeup(futex_word(word), count);
}

}  // namespace gort::sys

#endif  // GORT_SYS_FUTEX_H_
