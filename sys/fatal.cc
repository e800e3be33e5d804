// sys/fatal.cc: the fatal path. See fatal.h for the contract.
//
// The path is built from things that cannot fail or block on the state
// that may have caused the fatal error: a stack buffer, the raw write and
// exit_group syscalls (raw_syscall6: not accounted, so the accounting's
// state cannot get in the way either), and atomics. It never allocates,
// takes no lock and uses no stdio, so a fatal error inside malloc, inside
// the scheduler's lock or in a signal handler still prints and exits.
//
// Concurrency. `g_fatal_tid` records the first thread to call fatal
// (compare-exchange from 0). That thread runs the hooks and exits. Another
// thread calling fatal meanwhile prints its message too (Go prints every
// thread's fatal message as well) and then waits for the first one to end
// the process, with a bounded wait so that a hook that hangs cannot hang the
// process forever. The first thread calling fatal again from inside a hook
// (recursion) exits at once.
#include "sys/fatal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <atomic>

#include "sys/syscall.h"

namespace gort::sys {
namespace {

constexpr int kExitStatus = 2;  // Go's status for fatal errors and panics

// Hook slots. A slot's pointer is published with a release store after its
// index was reserved by g_hooks_reserved's fetch_add; fatal reads the count
// and the slots with acquire loads, and skips a reserved slot whose pointer
// is not yet stored.
constinit std::atomic<void (*)()> g_hooks[kMaxFatalHooks] = {};
constinit std::atomic<int> g_hooks_reserved{0};

// The tid of the first thread in fatal, 0 before. acq_rel on the
// compare-exchange; only its value matters (who is first).
constinit std::atomic<long> g_fatal_tid{0};

void write_all(const char* p, size_t n) {
  while (n > 0) {
    long w = raw_syscall6(SYS_write, 2, reinterpret_cast<long>(p),
                          static_cast<long>(n));
    if (w == -EINTR) continue;
    if (is_error(w) || w == 0) return;  // nothing better to do
    p += w;
    n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void exit_now() {
  for (;;) raw_syscall6(SYS_exit_group, kExitStatus);
}

void print_message(const char* prefix, const char* msg) {
  char buf[1024];
  size_t msg_len = strlen(msg);
  size_t prefix_len = strlen(prefix);
  if (prefix_len + msg_len + 1 <= sizeof(buf)) {
    // One write, so that the line stays whole next to other threads' output.
    memcpy(buf, prefix, prefix_len);
    memcpy(buf + prefix_len, msg, msg_len);
    buf[prefix_len + msg_len] = '\n';
    write_all(buf, prefix_len + msg_len + 1);
  } else {
    write_all(prefix, prefix_len);
    write_all(msg, msg_len);
    write_all("\n", 1);
  }
}

}  // namespace

bool add_fatal_hook(void (*hook)()) {
  if (hook == nullptr) fatal("add_fatal_hook: null hook");
  int slot = g_hooks_reserved.fetch_add(1, std::memory_order_relaxed);
  if (slot >= kMaxFatalHooks) {
    g_hooks_reserved.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  // release: pairs with fatal's acquire load of the slot.
  g_hooks[slot].store(hook, std::memory_order_release);
  return true;
}

void fatal(const char* msg) { die("fatal error: ", msg); }

void die(const char* prefix, const char* msg) {
  long tid = raw_syscall6(SYS_gettid);
  print_message(prefix, msg != nullptr ? msg : "(null)");

  long expected = 0;
  if (!g_fatal_tid.compare_exchange_strong(expected, tid,
                                           std::memory_order_acq_rel)) {
    if (expected == tid) exit_now();  // a hook failed: stop here
    // Another thread is already dying: let it finish its hooks (the dump),
    // but not forever.
    struct timespec ts = {0, 10'000'000};
    for (int i = 0; i < 1000; ++i) {
      raw_syscall6(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
    }
    exit_now();
  }

  int n = g_hooks_reserved.load(std::memory_order_acquire);
  if (n > kMaxFatalHooks) n = kMaxFatalHooks;
  for (int i = 0; i < n; ++i) {
    // acquire: pairs with add_fatal_hook's release store.
    void (*hook)() = g_hooks[i].load(std::memory_order_acquire);
    if (hook != nullptr) hook();
  }
  exit_now();
}

void fatalf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fatal(buf);
}

namespace fatal_internal {

void check_failed(const char* cond, const char* file, int line) {
  fatalf("check failed: %s at %s:%d", cond, file, line);
}

void check_op_failed(const char* cond, long long a, long long b,
                     const char* file, int line) {
  fatalf("check failed: %s (%lld vs. %lld) at %s:%d", cond, a, b, file, line);
}

}  // namespace fatal_internal

}  // namespace gort::sys
