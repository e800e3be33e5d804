// sys/signal.cc: alternate signal stacks and handler installation.
//
// The signal stack. One mapping: a guard page at the bottom, then the
// stack (stacks grow down, so an overflowing handler runs into the guard
// and faults rather than into whatever lies below). Mapped read-write and
// then the guard protected with mprotect: two syscalls, once per thread.
// The DESIGN's madvise(MADV_GUARD_INSTALL) guards matter for goroutine
// stacks, which number in the hundreds of thousands; there is one signal
// stack per M, so a plain mprotect (one extra VMA each) is fine here.
// mmap, mprotect, sigaltstack and munmap all go through sys/syscall.h.
//
// The handler. We call libc's sigaction, not a raw rt_sigaction:
//   1. On x86-64 the kernel requires SA_RESTORER and a restorer that
//      issues rt_sigreturn; libc supplies one (__restore_rt), where a raw
//      call would need our own assembly trampoline, as Go has (sigreturn).
//   2. The sanitizers intercept sigaction: TSan wraps each handler so that
//      asynchronous signals are delivered at points where its own state is
//      consistent, and ASan tracks handlers for its SEGV reporting. A raw
//      rt_sigaction would run handlers behind their backs.
//   3. libc's sigset_t is 128 bytes and the kernel's 8; libc converts.
// The cost: the rt_sigaction syscall is not counted by --strace's summary
// (one call per handler at start-up).
#include "sys/signal.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sys/fatal.h"
#include "sys/syscall.h"
#include "sys/thread.h"

namespace gort::sys {
namespace {

size_t page_size() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

long set_sigaltstack(const stack_t* ss, stack_t* old) {
  return syscall6(SYS_sigaltstack, reinterpret_cast<long>(ss),
                  reinterpret_cast<long>(old));
}

}  // namespace

SignalStack::SignalStack(size_t size) {
  const size_t page = page_size();
  size_ = (size + page - 1) / page * page;
  mapping_len_ = size_ + page;
  long r = sys::mmap(nullptr, mapping_len_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (is_error(r)) fatal("signal stack: out of memory (mmap failed)");
  mapping_ = reinterpret_cast<char*>(r);
  base_ = mapping_ + page;
  if (is_error(sys::mprotect(mapping_, page, PROT_NONE))) {
    fatal("signal stack: mprotect of guard page failed");
  }
  owner_tid_ = current_tid();
  stack_t ss = {};
  ss.ss_sp = base_;
  ss.ss_size = size_;
  ss.ss_flags = 0;
  if (is_error(set_sigaltstack(&ss, &previous_))) {
    // EPERM: the thread is running on its current alternate stack.
    fatal("signal stack: sigaltstack failed");
  }
}

SignalStack::~SignalStack() {
  if (current_tid() != owner_tid_) {
    fatal("signal stack: destroyed on a thread that did not make it");
  }
  stack_t current;
  if (is_error(set_sigaltstack(nullptr, &current))) {
    fatal("signal stack: sigaltstack query failed");
  }
  if (current.ss_sp != base_ || (current.ss_flags & SS_DISABLE) != 0) {
    fatal("signal stack: not the thread's current signal stack");
  }
  if ((current.ss_flags & SS_ONSTACK) != 0) {
    fatal("signal stack: destroyed while running on it");
  }
  stack_t restore = previous_;
  // The kernel reports SS_ONSTACK / SS_DISABLE in ss_flags; only
  // SS_DISABLE (or 0) may be passed back in.
  restore.ss_flags &= SS_DISABLE;
  if (is_error(set_sigaltstack(&restore, nullptr))) {
    fatal("signal stack: reinstalling the previous stack failed");
  }
  sys::munmap(mapping_, mapping_len_);
}

int install_signal_handler(int sig, void (*handler)(int, siginfo_t*, void*),
                           int extra_flags) {
  struct sigaction sa = {};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | extra_flags;
  sigfillset(&sa.sa_mask);
  if (::sigaction(sig, &sa, nullptr) != 0) return -errno;
  return 0;
}

}  // namespace gort::sys
