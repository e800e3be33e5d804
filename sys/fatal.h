// sys/fatal.h: Go's fatal errors and the runtime's always-on checks.
//
//   fatal            prints `fatal error: MSG`, runs the fatal hooks, exits 2
//   fatalf           the same with a printf-style message (no allocation)
//   die              the same with another prefix (`panic: ` for panics)
//   add_fatal_hook   registers a function run by fatal (the goroutine dump)
//   GORT_CHECK       always on: `fatal error: check failed: COND at FILE:LINE`
//   GORT_CHECK_EQ..  the same, printing both operands when they are integers
//   GORT_DCHECK      compiled always, evaluated only in debug builds
//
// Go's fatal errors (runtime.throw, runtime.fatal) are not catchable: they
// print `fatal error: ` and the message, then (from the scheduler's hook)
// the goroutine dump, and the process exits with status 2. The fatal path
// writes with raw write(2) to fd 2 and exits with raw exit_group: no stdio,
// no malloc, no locks, so it works from a signal handler, with the heap
// corrupt, or with the allocator's own lock held.
//
// Thread safety: fatal may be called from any thread at any time, also
// concurrently: the first caller prints and runs the hooks; a concurrent or
// recursive caller (a hook that fails) prints its own message and then
// waits for the first to exit the process (a recursive one exits at once).
// add_fatal_hook may be called from any thread; a hook added while fatal
// runs may or may not run.
//
// Memory ordering: a hook slot is published with a release store of the
// hook count's increment, which fatal reads with acquire.
#ifndef GORT_SYS_FATAL_H_
#define GORT_SYS_FATAL_H_

namespace gort::sys {

// Prints `fatal error: <msg>\n` to fd 2, runs the fatal hooks in the order
// they were added, and exits the process with status 2. Never returns,
// never allocates.
[[noreturn]] void fatal(const char* msg);

// What fatal does, with another prefix: prints `<prefix><msg>\n`, runs the
// fatal hooks, exits 2. The scheduler uses it for uncaught panics
// (`panic: ` and the exception's what()), which Go ends the same way.
[[noreturn]] void die(const char* prefix, const char* msg);

// fatal with a message formatted into a fixed stack buffer (vsnprintf of
// plain integer and string conversions does not allocate). Messages longer
// than 1000 bytes are truncated.
[[noreturn, gnu::format(printf, 1, 2)]] void fatalf(const char* fmt, ...);

// The most hooks add_fatal_hook keeps.
inline constexpr int kMaxFatalHooks = 8;

// Registers `hook` to run, after the message, when fatal is called. Hooks
// run in the order they were added, on the thread that called fatal; a hook
// that itself calls fatal ends the process at once (status 2), skipping
// the remaining hooks. Returns false (and registers nothing) when
// kMaxFatalHooks hooks are already registered. REQUIRES: hook != nullptr.
bool add_fatal_hook(void (*hook)());

namespace fatal_internal {
[[noreturn, gnu::cold, gnu::noinline]] void check_failed(const char* cond,
                                                         const char* file,
                                                         int line);
[[noreturn, gnu::cold, gnu::noinline]] void check_op_failed(
    const char* cond, long long a, long long b, const char* file, int line);
}  // namespace fatal_internal

}  // namespace gort::sys

// Always on, in every build mode. A failure prints
// `fatal error: check failed: <cond> at <file>:<line>` and exits 2.
#define GORT_CHECK(cond)                        \
  (__builtin_expect(static_cast<bool>(cond), 1) \
       ? static_cast<void>(0)                   \
       : ::gort::sys::fatal_internal::check_failed(#cond, __FILE__, __LINE__))

// Comparison checks that also print both operands (integers and enums):
// `fatal error: check failed: a == b (3 vs. 4) at file:line`.
#define GORT_CHECK_OP_(op, a, b)                                      \
  do {                                                                \
    auto&& gort_check_a_ = (a);                                       \
    auto&& gort_check_b_ = (b);                                       \
    if (__builtin_expect(!(gort_check_a_ op gort_check_b_), 0)) {     \
      ::gort::sys::fatal_internal::check_op_failed(                   \
          #a " " #op " " #b, static_cast<long long>(gort_check_a_),   \
          static_cast<long long>(gort_check_b_), __FILE__, __LINE__); \
    }                                                                 \
  } while (0)
#define GORT_CHECK_EQ(a, b) GORT_CHECK_OP_(==, a, b)
#define GORT_CHECK_NE(a, b) GORT_CHECK_OP_(!=, a, b)
#define GORT_CHECK_LT(a, b) GORT_CHECK_OP_(<, a, b)
#define GORT_CHECK_LE(a, b) GORT_CHECK_OP_(<=, a, b)
#define GORT_CHECK_GT(a, b) GORT_CHECK_OP_(>, a, b)
#define GORT_CHECK_GE(a, b) GORT_CHECK_OP_(>=, a, b)

// Debug-only check. In release builds (NDEBUG) the expression is still
// compiled -- so it cannot rot, and names it uses count as used -- but it is
// never evaluated (tcmalloc's idiom: the condition sits behind a constant
// false).
#ifdef NDEBUG
#define GORT_DCHECK_IS_ON 0
#else
#define GORT_DCHECK_IS_ON 1
#endif
#define GORT_DCHECK(cond)                    \
  do {                                       \
    if (GORT_DCHECK_IS_ON) GORT_CHECK(cond); \
  } while (0)

#endif  // GORT_SYS_FATAL_H_
