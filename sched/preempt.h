// sched/preempt.h: preempting goroutines (design essay: sched/preempt.cc).
//
//   preempt_flag_set           the inline check behind gort::yield_point():
//                              has sysmon asked the running goroutine to yield?
//   async_preempt_supported    whether this build and binary can preempt by
//                              signal (not under TSan; needs a symbol table)
//   async_preempt_enabled      supported and not switched off
//                              (GODEBUG=asyncpreemptoff=1 or the seam below)
//   set_async_preempt_enabled  the test seam for asyncpreemptoff
//   preempt_running            asks every running goroutine to yield now (flag
//                              and signal), as stop-the-world does
//   PreemptStats               counters: signals sent, preemptions taken,
//                              signals declined and why
//   NoAsyncPreempt             RAII: no async preemption on this M for a scope
//                              (Go's acquirem/releasem), for runtime code that
//                              calls code outside the runtime's text while it
//                              holds runtime state
//   gort_user_call             how runtime templates call a user's function so
//                              that its code stays preemptible (see below)
//
// Two mechanisms, as in Go 1.14+. Cooperative: sysmon sets g->preempt on a
// goroutine that has run 10 ms, and every runtime call that may switch, and
// yield_point(), yields when it sees the flag. Asynchronous: sysmon also
// sends SIGURG to the goroutine's thread; the handler makes the goroutine
// yield at the interrupted instruction if that instruction is at an
// async-safe point (the rules are in preempt.cc). What user code must not do
// on a goroutine because of it is listed there too; the short form: no
// thread-blocking lock (std::mutex) held across a loop that may be
// preempted, no thread_local address or errno location kept across one, and
// no reliance on staying on one thread (use lock_os_thread).
//
// Runtime templates. The runtime's own functions (every function named in
// namespace gort, and C symbols gort_*) are never preempted asynchronously:
// the preemption signal is declined while one of them runs (preempt.cc
// explains how they are found). That includes templates instantiated with a
// user's types (gort::go<F>, Chan<T>): code inlined into them from a user's
// lambda is not preemptible either. So a runtime template that runs a
// user's function for a long time calls it through gort_user_call(f), a
// global-namespace noinline template: the user's code is then inlined there,
// outside the runtime's names. Conversely, runtime code that calls out of the
// runtime's names (a user's copy constructor, a std:: template instantiated
// out of line) while it holds a runtime lock or per-P state must hold a
// NoAsyncPreempt for that span, or the goroutine could be preempted, and
// moved to another thread, with the lock held.
//
// Thread safety: everything here may be called from any thread.
// preempt_flag_set reads the calling thread's own slot; it is safe across
// migration (preempt.cc, "The yield_point fast path").
//
// Memory ordering: g->preempt is a relaxed flag (a hint: a late or stale
// request only yields early or late). The signal is sent after the flag is
// stored; the kernel's delivery (tgkill and the handler's entry take the
// target's signal lock) orders the store before the handler's load.
#ifndef GORT_SCHED_PREEMPT_H_
#define GORT_SCHED_PREEMPT_H_

#include <atomic>
#include <cstdint>
#include <utility>

namespace gort::sched {

struct M;

namespace preempt_internal {
// The offset of t_preempt_flag from the thread pointer (%fs:0), the same for
// every thread (initial-exec TLS); 0 until the runtime starts. Relaxed:
// written once by schedinit before any M exists.
extern constinit std::atomic<intptr_t> g_flag_tls_offset;
// A flag that is never set: what t_preempt_flag points to off goroutines.
extern constinit std::atomic<bool> g_never_preempt;
// The running goroutine's preempt flag on this thread (&g->preempt), or
// &g_never_preempt on g0 and plain threads. Written only by the thread's
// own scheduler (execute, on g0).
extern constinit thread_local const std::atomic<bool>* t_preempt_flag
    __attribute__((tls_model("initial-exec")));
}  // namespace preempt_internal

// True if the running goroutine has been asked to yield. Costs two loads
// and a test; no call. Returns false on plain threads and before the
// runtime starts.
inline bool preempt_flag_set() {
  intptr_t off =
      preempt_internal::g_flag_tls_offset.load(std::memory_order_relaxed);
  if (off == 0) [[unlikely]]
    return false;
  // One %fs-relative load, volatile so that it is redone on every call:
  // the compiler must not reuse a thread-local address computed before a
  // switch (the goroutine may resume on another thread). See preempt.cc.
  const std::atomic<bool>* flag;
  asm volatile("movq %%fs:(%1), %0" : "=r"(flag) : "r"(off));
  return flag->load(std::memory_order_relaxed);
}

// Whether preemption by signal works in this process: false under TSan
// (TSan defers asynchronous signals and hands the handler a copy of the
// interrupted context, so the handler cannot redirect it), when the
// executable has no symbol table (the runtime's code cannot be told from
// the user's), or when libc is linked statically. Fixed at runtime start.
bool async_preempt_supported();

// Supported, and not switched off by GODEBUG=asyncpreemptoff=1 or
// set_async_preempt_enabled(false).
bool async_preempt_enabled();

// Test seam for asyncpreemptoff: switches preemption by signal on or off
// for the whole process. Turning it on has no effect when it is not
// supported. Returns the previous value of async_preempt_enabled().
bool set_async_preempt_enabled(bool enabled);

// Asks the goroutine running on every P to yield (sets its flag and, when
// enabled, signals its thread), as stop-the-world's preemptall does.
// Returns how many goroutines were asked. For tests and tools; sysmon asks
// on its own after 10 ms.
int preempt_running();

struct PreemptStats {
  uint64_t signals_sent = 0;    // SIGURGs sent by preemptone
  uint64_t preemptions = 0;     // goroutines preempted by signal
  uint64_t declined_no_g = 0;   // no goroutine running, or not asked
  uint64_t declined_locks = 0;  // m->locks > 0 (runtime critical section)
  uint64_t declined_pc = 0;     // PC outside preemptible code
  uint64_t declined_stack = 0;  // SP not in the goroutine's stack with room
  // AMX tile state live, or the handler not on the signal stack.
  uint64_t declined_state = 0;
};
// Counters since the process started (relaxed reads; each is exact once the
// signals it counts have been handled).
PreemptStats preempt_stats();

// No asynchronous preemption of the calling goroutine while an instance
// lives (Go's acquirem/releasem). REQUIRES: the goroutine does not park,
// yield or enter blocking() inside the scope (it would leave the count on
// the wrong thread). Nests. On a plain thread it does nothing.
class NoAsyncPreempt {
 public:
  NoAsyncPreempt();
  ~NoAsyncPreempt();
  NoAsyncPreempt(const NoAsyncPreempt&) = delete;
  NoAsyncPreempt& operator=(const NoAsyncPreempt&) = delete;

 private:
  M* m_;
};

// ---- within //sched ------------------------------------------------------

// Installs the runtime's signal handlers (SIGURG; SIGSEGV and SIGBUS for
// stack overflow, stackguard.cc) and computes what the preemption handler
// needs (Go's initsig). Called once, by schedinit, before any M starts.
void initsig();
// Per-M signal setup on the M's own thread, after its alternate signal stack
// is installed (Go's minit): checks the TLS layout initsig relies on.
void minit(M* m);
// preemptone's second half: signals m's thread if async preemption is on.
// REQUIRES: m's goroutine's preempt flag was set before the call.
void preempt_m(M* m);
// The runtime's own code: true if pc lies in a function of the runtime (a
// gort:: or gort_* symbol of the executable or of a non-system shared
// object loaded with it). Async-signal-safe.
bool is_runtime_pc(uintptr_t pc);
// True if the handler may preempt at pc (rule 3 of preempt.cc): pc is in
// the main executable's text, not in the runtime's code, and async
// preemption is supported. Async-signal-safe.
bool is_preemptible_pc(uintptr_t pc);
// stackguard.cc: installs the SIGSEGV/SIGBUS handler (from initsig).
void install_stack_guard();

}  // namespace gort::sched

// Calls f() from outside the runtime's names, so that the user's code in f,
// when inlined, sits in a function that asynchronous preemption may
// interrupt. Runtime templates run user closures through it (see the header
// comment). Not for users.
template <typename F>
[[gnu::noinline]] void gort_user_call(F& f) {
  f();
}

#endif  // GORT_SCHED_PREEMPT_H_
