// Stack overflow reporting: the SIGSEGV/SIGBUS handler (Go's sigpanic and
// newstack's "stack overflow" throw, reduced to what a C++ runtime can do).
//
// Goroutine stacks cannot grow (C++ frames cannot be moved), so running off
// the bottom of one is fatal, as exceeding Go's 1 GB maximum is. The
// StackAllocator puts a guard page below every stack (sched/stack.h), so
// the overflowing access faults. The fault arrives with the stack pointer
// inside, or just below, the guard page, where the kernel cannot push a
// signal frame: the handler is installed with SA_ONSTACK and every M has an
// alternate signal stack (minit in mstart), so it runs there.
//
// What the handler decides, in order:
//   1. Stack overflow: the faulting thread is an M running a G, the fault
//      was raised by the kernel (si_code > 0, not a kill(2)), and either the
//      fault address is in the G's guard page (Stack::in_guard) or the stack
//      pointer is below the G's stack by less than kOverflowSlack with the
//      fault address below the stack too (a frame that jumped the guard
//      page into unmapped memory). It prints what Go prints,
//        runtime: goroutine 7 stack exceeds 65536-byte limit
//        runtime: sp=0x... stack=[0x..., 0x...]
//        fatal error: stack overflow
//      (Go's first line names the 1000000000-byte maximum and no
//      goroutine; ours names the reservation and the goroutine), then
//      sys::fatal runs its hooks (the goroutine dump, current goroutine
//      first) and the process exits with status 2.
//   2. A fault in the runtime's own code (is_runtime_pc): a runtime bug, so
//      Go's `fatal error: unexpected signal during runtime execution` with
//      the signal, code, address and pc, then the dump, exit 2.
//   3. Anything else is the user's fault and not ours to report: the
//      handler puts back the handler that was installed before the
//      runtime's (the default action, or a sanitizer's reporter) and
//      returns. The faulting instruction runs again, faults again, and the
//      process dies of SIGSEGV as it would without gort (or ASan reports
//      it). A SIGSEGV sent with kill(2) is re-sent to the thread, since
//      returning would not repeat it.
//
// Under ASan: ASan installs its own SIGSEGV handler at start and, by
// default (allow_user_segv_handler=1), lets a later sigaction replace it,
// so the runtime's handler reports overflows in that configuration too and
// hands other faults back to ASan's. Under TSan the handler runs at once
// (TSan delivers synchronous signals immediately) on the alternate stack.
//
// Not detected: a frame larger than the gap between two stacks' guard
// pages' reach (a 64 KiB local array) may skip the guard page entirely and
// write into the stack below, which is mapped; no fault happens. Compiling
// with -fstack-clash-protection makes such frames probe every page, so they
// hit the guard. On kernels without MADV_GUARD_INSTALL, stacks beyond the
// mprotect budget have no guard page; the scheduler's canary check reports
// their overflow when the goroutine next switches (proc.cc, execute).
#include <signal.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "sched/internal.h"
#include "sched/preempt.h"
#include "sched/runtime.h"
#include "sys/fatal.h"
#include "sys/signal.h"
#include "sys/syscall.h"
#include "sys/thread.h"

namespace gort::sched {
namespace {

// How far below a stack's bottom a stack pointer may be and still count as
// an overflow of that stack (one large frame's worth).
constexpr uintptr_t kOverflowSlack = 64 * 1024;

// The handlers in place before the runtime's, put back for faults that are
// not the runtime's to report. Written once by install_stack_guard.
struct sigaction g_previous_segv;
struct sigaction g_previous_bus;

void write_stderr(const char* s, size_t n) {
  sys::raw_syscall6(SYS_write, 2, reinterpret_cast<long>(s),
                    static_cast<long>(n));
}

bool is_overflow(const Stack& st, uintptr_t addr, uintptr_t sp) {
  if (st.in_guard(addr)) return true;
  return sp < st.lo && st.lo - sp <= kOverflowSlack && addr < st.lo &&
         st.lo - addr <= kOverflowSlack + kPageSize;
}

[[noreturn]] void report_overflow(const G* g, uintptr_t sp) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "runtime: goroutine %lld stack exceeds %zu-byte limit\n"
                   "runtime: sp=%#lx stack=[%#lx, %#lx]\n",
                   static_cast<long long>(g->id), g->stack->size(),
                   static_cast<unsigned long>(sp),
                   static_cast<unsigned long>(g->stack->lo),
                   static_cast<unsigned long>(g->stack->hi));
  if (n > 0) write_stderr(buf, std::min<size_t>(n, sizeof(buf) - 1));
  sys::fatal("stack overflow");
}

const char* signal_words(int sig) {
  return sig == SIGSEGV ? "SIGSEGV: segmentation violation"
                        : "SIGBUS: bus error";
}

void fault_handler(int sig, siginfo_t* info, void* ctx) {
  const auto* uc = static_cast<const ucontext_t*>(ctx);
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  const auto sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  const auto pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const bool from_kernel = info->si_code > 0;
  M* m = getm();
  G* g = m != nullptr ? m->curg : nullptr;
  if (from_kernel && g != nullptr && g->stack != nullptr &&
      is_overflow(*g->stack, addr, sp)) {
    report_overflow(g, sp);
  }
  if (from_kernel && is_runtime_pc(pc)) {
    sys::fatalf(
        "unexpected signal during runtime execution\n"
        "[signal %s code=%#x addr=%#lx pc=%#lx]",
        signal_words(sig), info->si_code, static_cast<unsigned long>(addr),
        static_cast<unsigned long>(pc));
  }
  // Not ours: restore the previous disposition and let the fault repeat.
  ::sigaction(sig, sig == SIGSEGV ? &g_previous_segv : &g_previous_bus,
              nullptr);
  if (!from_kernel) {
    sys::raw_syscall6(SYS_tgkill, sys::raw_syscall6(SYS_getpid),
                      sys::raw_syscall6(SYS_gettid), sig);
  }
}

}  // namespace

void install_stack_guard() {
  ::sigaction(SIGSEGV, nullptr, &g_previous_segv);
  ::sigaction(SIGBUS, nullptr, &g_previous_bus);
  GORT_CHECK(sys::install_signal_handler(SIGSEGV, fault_handler) == 0);
  GORT_CHECK(sys::install_signal_handler(SIGBUS, fault_handler) == 0);
}

}  // namespace gort::sched
