// sys/signal.h: alternate signal stacks and handler installation.
//
//   SignalStack             an mmapped alternate signal stack with a guard
//                           page below it, installed for the calling thread
//                           (sigaltstack) for the object's lifetime
//   install_signal_handler  sigaction with SA_SIGINFO|SA_ONSTACK|SA_RESTART
//                           and every signal blocked while the handler runs
//
// A handler that must run when the thread's own stack is exhausted or
// unusable (a goroutine stack overflow, preemption signals arriving on a
// small goroutine stack) needs its own stack: Go gives every M a gsignal
// stack and installs every handler with SA_ONSTACK (runtime/os_linux.go
// setsig, signal_unix.go minitSignalStack). These are the same two pieces.
//
// Thread safety: an alternate signal stack belongs to one thread; a
// SignalStack must be destroyed on the thread that made it, and not from
// inside a handler running on it. install_signal_handler is process-wide
// and may be called from any thread.
#ifndef GORT_SYS_SIGNAL_H_
#define GORT_SYS_SIGNAL_H_

#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace gort::sys {

class SignalStack {
 public:
  static constexpr size_t kDefaultSize = 64 * 1024;

  // Maps `size` bytes of stack (rounded up to pages) plus one guard page
  // below them, and installs the stack for the calling thread. The
  // thread's previous alternate stack, if any (the sanitizers install
  // their own), is remembered and put back on destruction.
  // Failure to map, protect or install is a fatal error.
  explicit SignalStack(size_t size = kDefaultSize);

  // Reinstalls the previous alternate stack (or none) and unmaps.
  // REQUIRES: on the creating thread, not running on this stack, and this
  // stack still the thread's current one (nested SignalStacks are
  // destroyed in reverse order); otherwise a fatal error.
  ~SignalStack();

  SignalStack(const SignalStack&) = delete;
  SignalStack& operator=(const SignalStack&) = delete;

  // The usable stack, [lo, hi). The guard page is [lo - page, lo).
  uintptr_t lo() const { return reinterpret_cast<uintptr_t>(base_); }
  uintptr_t hi() const { return lo() + size_; }
  size_t size() const { return size_; }
  bool contains(const void* p) const {
    auto a = reinterpret_cast<uintptr_t>(p);
    return a >= lo() && a < hi();
  }

 private:
  char* mapping_;  // start of the mapping: the guard page
  size_t mapping_len_;
  char* base_;  // lowest usable byte, just above the guard
  size_t size_;
  int32_t owner_tid_;
  stack_t previous_;  // what sigaltstack reported before we installed
};

// Installs `handler` for `sig` with SA_SIGINFO | SA_ONSTACK | SA_RESTART |
// extra_flags and every signal blocked while it runs (Go's setsig).
// Returns 0, or -errno (EINVAL: a bad signal number, SIGKILL or SIGSTOP).
// Not accounted by sys/syscall.h: see signal.cc for why this is libc's
// sigaction rather than a raw rt_sigaction.
int install_signal_handler(int sig, void (*handler)(int, siginfo_t*, void*),
                           int extra_flags = 0);

}  // namespace gort::sys

#endif  // GORT_SYS_SIGNAL_H_
