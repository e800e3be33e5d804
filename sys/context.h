// sys/context.h: user-space context switch, the bottom of every goroutine
// switch (design essay: sys/context.cc).
//
//   Context              a suspended execution: its saved stack pointer (the
//                        registers live on its own stack) plus, under ASan or
//                        TSan, what the sanitizer needs to follow the switch
//   ContextEntry         the function a new context starts in
//   init_thread_context  binds a Context to the calling thread's own stack
//                        (a scheduler M's g0) so others can switch back to it
//   make_context         prepares a Context to start an entry on a fresh stack
//   switch_context       suspends the running context, resumes another, and
//                        hands it one pointer-sized value
//   exit_context         the last switch out of a context that is finished
//   destroy_context      releases a suspended or exited Context
//   ThreadStackRoot      RAII: under ASan, keeps a thread's own stack
//                        scanned by LeakSanitizer while it runs contexts
//   gort_context_switch  the raw assembly switch, no sanitizer annotations
//
// Preserved across a switch: rbx, rbp, r12-r15, rsp, MXCSR (rounding, FTZ,
// DAZ, exception masks; its sticky status flags travel with it too) and the
// x87 control word (precision, rounding, masks). Everything else is
// caller-saved in the System V ABI, so the compiler already assumes a call
// to switch_context destroys it. A new context starts with its creator's
// MXCSR and x87 control word, as a new thread starts with its creator's
// floating-point environment.
//
// Architectures: x86-64 System V only. aarch64 needs its own switch (x19-x28,
// fp, lr, d8-d15, FPCR); it is not written because it cannot be tested on
// this project's machines, so any other architecture fails to compile here.
//
// Thread safety: none inside; the caller serialises. A Context is running
// on at most one thread; a suspended Context may be resumed by any thread,
// but only by one, and handing it to another thread must be synchronised by
// the caller (the scheduler's run queue does this). A switch is an ordinary
// call on one thread: it orders nothing between threads. Code that resumes
// on a different thread than it suspended on must not hold the address of a
// thread_local object across the switch (it would name the old thread's).
// A thread context (init_thread_context) is only ever resumed on its thread.
#ifndef GORT_SYS_CONTEXT_H_
#define GORT_SYS_CONTEXT_H_

#include <cstddef>
#include <cstdint>

#if !defined(__x86_64__)
// (aarch64 and others: not written, because they cannot be tested here.)
#error "sys/context.h: only x86-64 System V is implemented"
#endif

// Which sanitizer must be told about stack switches (GCC's macros; Clang's
// __has_feature spelling too).
#if defined(__SANITIZE_ADDRESS__)
#define GORT_CONTEXT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORT_CONTEXT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GORT_CONTEXT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_CONTEXT_TSAN 1
#endif
#endif
#if defined(GORT_CONTEXT_ASAN) || defined(GORT_CONTEXT_TSAN)
#define GORT_CONTEXT_ANNOTATED 1
#endif

// The raw switch (sys/context_x86_64.S). Pushes the callee-saved state on
// the current stack, stores the stack pointer in *save_sp, loads load_sp,
// pops the state saved there and returns into that context, where the
// suspended gort_context_switch call returns `value`. Tells no sanitizer.
// REQUIRES: load_sp was stored by gort_context_switch or prepared by
// make_context, and has not been resumed since; save_sp != &load_sp's slot.
extern "C" uintptr_t gort_context_switch(void** save_sp, void* load_sp,
                                         uintptr_t value);

namespace gort::sys {

// A suspended context is its stack pointer: the registers it must get back
// sit on its own stack, just below sp (layout: sys/context.cc).
struct Context {
  void* sp = nullptr;  // valid while suspended; stale while running
#if defined(GORT_CONTEXT_ASAN)
  // Stack bounds, which ASan must be told before the stack is entered.
  // make_context sets them; a thread context learns them when it first
  // switches away (ASan reports the bounds of the stack it left).
  const void* stack_lo = nullptr;
  size_t stack_size = 0;
  Context* resumed_by = nullptr;  // whose bounds to record after a switch in
#endif
#if defined(GORT_CONTEXT_TSAN)
  void* tsan_fiber = nullptr;  // __tsan_create_fiber's, or the thread's own
#endif
#if defined(GORT_CONTEXT_ANNOTATED)
  bool made = false;  // by make_context (owns the fiber), not a thread's
#endif
};

// Where a new context starts. `arg` is make_context's; `first_value` is the
// value passed by the switch that first resumed it. Must never return: a
// finished context ends with exit_context. (Returning is a fatal error.)
using ContextEntry = void (*)(void* arg, uintptr_t first_value);

// Binds *ctx to the calling thread's current execution (its own stack), so
// that a context started from here can switch back to it.
// REQUIRES: called on the thread whose context this is; ctx is only ever
// resumed on that thread.
void init_thread_context(Context* ctx);

// Prepares *ctx so that the first switch into it calls
// entry(arg, value passed by that switch) on the stack
// [stack_lo, stack_lo + size), with the creator's MXCSR and x87 control word.
// Only the top 64 bytes of the stack are written until then.
// *ctx may be fresh, destroyed, or made before and now finished: remaking
// keeps what it holds (its TSan fiber, which costs ~1 ms to create in GCC
// 12's TSan), as Go reuses a dead G. That is sound for TSan because the
// remake is ordered after the old context's exit anyway.
// REQUIRES: *ctx is not running and, if made before, will not be resumed
// as its old self; size >= kMinContextStack; the memory stays valid and
// unused by anything else until the context has exited or been destroyed.
inline constexpr size_t kMinContextStack = 1024;
void make_context(Context* ctx, void* stack_lo, size_t size, ContextEntry entry,
                  void* arg);

// Suspends the running context into *from and resumes *to, which sees
// `value` as the return value of its own switch_context (or as its entry's
// first_value). Returns when some later switch resumes *from, with the value
// that switch passed.
// REQUIRES: *from is the running context's Context; *to is suspended (made,
// or switched out of) and not the same object.
#if defined(GORT_CONTEXT_ANNOTATED)
uintptr_t switch_context(Context* from, Context* to, uintptr_t value);
#else
inline uintptr_t switch_context(Context* from, Context* to, uintptr_t value) {
  return gort_context_switch(&from->sp, to->sp, value);
}
#endif

// The last switch out of a context that has finished: like switch_context,
// but *from will never be resumed (under ASan its fake stack is freed). Its
// stack may be reused once the switch is done, i.e. by code running in *to
// or later.
// REQUIRES: as switch_context; *from was made by make_context.
[[noreturn]] void exit_context(Context* from, Context* to, uintptr_t value);

// Releases what *ctx holds beyond its stack (the TSan fiber; ASan's poison of
// a made context's stack). Does not free the stack. *ctx may be made again.
// A made context destroyed while suspended mid-run (not exited) leaks its
// ASan fake stack, if stack-use-after-return detection is on.
// REQUIRES: *ctx is not running (suspended, exited, or never started).
void destroy_context(Context* ctx);

// Under ASan, a thread that switches into contexts (a scheduler M) loses
// its own stack from LeakSanitizer's view: ASan then reports the running
// context's stack as the thread's, and LeakSanitizer scans only that, so
// objects that only the thread's own frames point to (its g0's locals)
// would be called leaked. While one of these lives, the calling thread's
// stack is a LeakSanitizer root region too. Nothing at all without ASan.
// REQUIRES: made and destroyed on the same thread, on that thread's stack.
class ThreadStackRoot {
 public:
  ThreadStackRoot();
  ~ThreadStackRoot();
  ThreadStackRoot(const ThreadStackRoot&) = delete;
  ThreadStackRoot& operator=(const ThreadStackRoot&) = delete;

 private:
  void* lo_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gort::sys

#endif  // GORT_SYS_CONTEXT_H_
