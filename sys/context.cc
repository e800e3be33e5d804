// sys/context.cc: starting contexts and telling the sanitizers about
// switches. The switch itself is sys/context_x86_64.S.
//
// Design
// ======
//
// Glossary. A context is one execution with its own stack: the thread's own
// stack (a scheduler M's g0), or a goroutine's. Switching suspends the
// running context and resumes a suspended one on the same thread. This is
// what Go's gogo/mcall/gosave do (runtime/asm_amd64.s), reduced to one
// symmetric primitive.
//
// Rejected alternatives.
//  - ucontext (swapcontext): saves and restores the signal mask, which is a
//    rt_sigprocmask syscall per switch, ~100x our budget.
//  - setjmp/longjmp: cannot start a context on a new stack without
//    undefined behaviour, and glibc mangles the saved sp and pc.
//  - Saving registers into the Context object (Go's gobuf): then the
//    Context must hold every callee-saved register. Pushing them on the
//    suspended stack instead makes a Context one pointer, keeps the frame
//    in a cache line that the stack already owns, and lets the code be the
//    same push/pop sequence a compiler emits.
//
// Which registers. The System V x86-64 ABI (psABI section 3.2.1, "Registers")
// makes rbx, rbp, r12-r15 and rsp callee-saved, plus the control bits of
// MXCSR and the x87 control word; every other register (rax, rcx, rdx, rsi,
// rdi, r8-r11, all of xmm/ymm/zmm, the x87 stack and status word, the
// flags) is caller-saved. switch_context is an ordinary call, so the
// compiler has already saved whatever caller-saved state it still needs
// before calling it; the switch saves exactly the callee-saved set, nothing
// more. MXCSR is saved and restored whole (its status flags come along; the
// ABI lets a callee change them, so this is allowed, and it is what
// Boost.Context does); the x87 control word with fnstcw/fldcw.
//
// The frame. gort_context_switch pushes, on the stack of the context being
// suspended (addresses grow upwards in the drawing):
//
//          +--------------------+  higher addresses
//   sp+56  | return address     |  pushed by the `call` into the switch
//   sp+48  | rbp                |
//   sp+40  | rbx                |
//   sp+32  | r12                |
//   sp+24  | r13                |
//   sp+16  | r14                |
//   sp+8   | r15                |
//   sp+4   | x87 control word   |  2 bytes (+2 unused)
//   sp+0   | MXCSR              |  4 bytes        <- Context::sp
//          +--------------------+  lower addresses
//
// and stores sp in the Context. Resuming pops the same shape from the other
// stack and jumps to its return address, with the transferred value in rax:
// to the resumed code, its own switch call has just returned it.
//
// A new context. make_context writes one such frame at the top of a fresh
// stack, so that the first switch into it "returns" into
// gort_context_trampoline with its registers preloaded: r12 = the start
// function below, r13/r14 = the user's entry and argument, r15 = the
// Context, rbx = rbp = 0 (rbp 0 ends frame-pointer backtraces), MXCSR and
// x87 control word copied from the creator. The trampoline calls
// start(entry, arg, value, ctx), which finishes the sanitizer protocol and
// calls entry(arg, value). The entry must never return; if it does, start
// writes a message and aborts (nothing sensible is above it).
//
// Alignment. The ABI requires rsp + 8 to be a multiple of 16 at a function's
// entry (rsp is 16-aligned at the `call`). The switch needs no alignment of
// its own (it only pushes and pops 8-byte words, and stmxcsr/fnstcw need 4
// and 2), and a suspended frame is resumed at the alignment it was saved at.
// For a new stack: top = (stack_lo + size) rounded down to 16; the frame is
// the 64 bytes below top, so the return-address slot is [top-8, top). The
// first switch pops 56 bytes, then the return address: the trampoline starts
// with rsp = top, a multiple of 16, and its `call` gives the start function
// rsp = top - 8, which is 8 mod 16 as required. Every deeper frame is the
// compiler's business from there.
//
// Cost (default build, this project's 2-core AMD EPYC VM, ping-pong between
// two contexts, best of 60 alternating runs, per switch):
//   `ret` at the end, FP state saved      15.6 ns
//   pop + `jmp *`, FP state saved          7.2 ns   <- this file
//   pop + `jmp *`, no FP state             3.6 ns
//   pop + `jmp *`, x87 word but no MXCSR   4.1 ns
// Two findings. (1) Returning with `ret` costs a return-stack-buffer
// mispredict on every switch, since the buffer predicts the switcher's own
// call site; popping the address and jumping lets the indirect-branch
// predictor learn the target instead (Boost.Context does the same; Go's gogo
// jumps too, runtime/asm_amd64.s). The resumed context's later `ret`s may still
// mispredict once each, whichever way the switch ends. (2) Of the
// floating-point state, stmxcsr is the cost (~3 ns: it reads the sticky status
// flags, so it waits for earlier SSE work); ldmxcsr, fnstcw and fldcw are
// nearly free, so skipping the reloads when unchanged would gain nothing
// measurable and is not done. The state is kept because the ABI requires it.
// BM_ContextSwitch in sys/context_benchmark.cc measures ~7 ns per switch.
//
// Sanitizer protocol (only in --config=asan / --config=tsan builds; the
// default build's switch_context is the bare assembly call, inlined).
//
// ASan keeps the bounds of "the current stack" per thread; it must be told
// before the stack changes and told again after, or it reports stack
// accesses on the new stack as wild, and its fake stacks (stack
// use-after-return detection) belong to one stack each. For a switch from
// context A to context B:
//   1. A sets B.resumed_by = A, so that B can record A's bounds.
//   2. A calls __sanitizer_start_switch_fiber(&save, B.stack_lo,
//      B.stack_size); ASan parks A's fake stack in `save`, a local in A's
//      switch_context frame (it stays put while A is suspended). A context
//      that is leaving for good (exit_context) passes nullptr instead, and
//      ASan frees its fake stack; it also clears B.resumed_by, since its
//      Context may be gone by the time anyone looks.
//   3. The raw switch.
//   4. B, now running, calls __sanitizer_finish_switch_fiber(B's own saved
//      `save`, &A.stack_lo, &A.stack_size): ASan restores B's fake stack and
//      reports the bounds of the stack just left, which we store in A. A
//      thread context's bounds are never given to us; this is how it learns
//      them, and it always has them before anyone can switch to it: to be
//      switched to it must first be suspended, and the first switch out of
//      it lands in a context that runs step 4.
//   5. A new context's first run does step 4 in start(), with a nullptr
//      `save` (it has no fake stack yet).
//   make_context and destroy_context unpoison the whole stack, so that the
//   redzones of frames that never returned (a finished context's start and
//   entry frames) cannot fire when the memory is reused.
//
// TSan follows happens-before per fiber; each Context owns one:
//   1. make_context creates a fiber (__tsan_create_fiber), or keeps the one
//      a remade Context already owns; a thread context uses the thread's
//      current one (__tsan_get_current_fiber), which the thread owns.
//      Reusing a finished context's fiber only adds the happens-before
//      edge "old context's end -> new context's start", which the caller's
//      own reuse bookkeeping already implies.
//   2. Immediately before the raw switch to B, __tsan_switch_to_fiber(B's
//      fiber, 0): flags 0 makes the switch a happens-before edge from A to
//      B, which it is.
//   3. destroy_context frees a made context's fiber; a fiber must not be
//      destroyed while running, hence the REQUIRES.
// GCC 12's TSan counts each fiber as a thread and dies past ~8000; the
// scheduler, not this file, must keep live contexts under that in TSan
// builds.

#include "sys/context.h"

#include <unistd.h>
#include <xmmintrin.h>

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(GORT_CONTEXT_ASAN)
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#if defined(GORT_CONTEXT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

extern "C" void gort_context_trampoline();

namespace gort::sys {
namespace {

// This file sits below sys/fatal (which depends on the syscall layer), so it
// reports broken contracts itself: one write(2), then abort. Never allocates.
[[noreturn]] void die(const char* msg) {
  ssize_t ignored = ::write(2, msg, std::strlen(msg));
  (void)ignored;
  std::abort();
}

#define GORT_CONTEXT_CHECK(cond, msg)                                  \
  do {                                                                 \
    if (__builtin_expect(!(cond), 0)) {                                \
      ::gort::sys::die("fatal error: context: " msg " (" #cond ")\n"); \
    }                                                                  \
  } while (0)

// The frame gort_context_switch pops, lowest address first (the drawing in
// the essay, upside down). make_context writes one of these.
struct SwitchFrame {
  uint32_t mxcsr;
  uint16_t x87_control;
  uint16_t unused;
  uint64_t r15;
  uint64_t r14;
  uint64_t r13;
  uint64_t r12;
  uint64_t rbx;
  uint64_t rbp;
  uint64_t return_address;
};
static_assert(sizeof(SwitchFrame) == 64, "must match context_x86_64.S");

// Sanitizer steps 1-2 (and TSan's step 2) of the essay. `fake_stack_save`
// is nullptr when *from is leaving for good.
inline void before_switch(Context* from, Context* to, void** fake_stack_save) {
#if defined(GORT_CONTEXT_ASAN)
  to->resumed_by = fake_stack_save != nullptr ? from : nullptr;
  __sanitizer_start_switch_fiber(fake_stack_save, to->stack_lo, to->stack_size);
#endif
#if defined(GORT_CONTEXT_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  (void)from, (void)to, (void)fake_stack_save;
}

// Sanitizer step 4, run by the context `self` that has just been resumed.
inline void after_switch(Context* self, void* fake_stack_save) {
#if defined(GORT_CONTEXT_ASAN)
  Context* left = self->resumed_by;
  __sanitizer_finish_switch_fiber(fake_stack_save,
                                  left ? &left->stack_lo : nullptr,
                                  left ? &left->stack_size : nullptr);
#endif
  (void)self, (void)fake_stack_save;
}

// Called by gort_context_trampoline with the registers make_context set up.
[[noreturn]] void start(ContextEntry entry, void* arg, uintptr_t first_value,
                        Context* self) {
  after_switch(self, nullptr);  // sanitizer step 5
  entry(arg, first_value);
  die("fatal error: context: entry function returned; a context must end "
      "with exit_context\n");
}

}  // namespace

void init_thread_context(Context* ctx) {
  *ctx = Context{};
#if defined(GORT_CONTEXT_TSAN)
  ctx->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void make_context(Context* ctx, void* stack_lo, size_t size, ContextEntry entry,
                  void* arg) {
  GORT_CONTEXT_CHECK(size >= kMinContextStack, "stack too small");
  GORT_CONTEXT_CHECK(entry != nullptr, "no entry function");
#if defined(GORT_CONTEXT_TSAN)
  void* fiber = ctx->made ? ctx->tsan_fiber : __tsan_create_fiber(0);
#endif
  *ctx = Context{};
#if defined(GORT_CONTEXT_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(stack_lo, size);
  ctx->stack_lo = stack_lo;
  ctx->stack_size = size;
#endif
#if defined(GORT_CONTEXT_TSAN)
  ctx->tsan_fiber = fiber;
#endif
#if defined(GORT_CONTEXT_ANNOTATED)
  ctx->made = true;
#endif

  const uintptr_t top =
      (reinterpret_cast<uintptr_t>(stack_lo) + size) & ~uintptr_t{15};
  uint16_t x87_control;
  asm volatile("fnstcw %0" : "=m"(x87_control));
  auto* frame = new (
      reinterpret_cast<void*>(top - sizeof(SwitchFrame))) SwitchFrame{
      .mxcsr = _mm_getcsr(),
      .x87_control = x87_control,
      .unused = 0,
      .r15 = reinterpret_cast<uint64_t>(ctx),
      .r14 = reinterpret_cast<uint64_t>(arg),
      .r13 = reinterpret_cast<uint64_t>(entry),
      .r12 = reinterpret_cast<uint64_t>(&start),
      .rbx = 0,
      .rbp = 0,
      .return_address = reinterpret_cast<uint64_t>(&gort_context_trampoline),
  };
  ctx->sp = frame;
}

#if defined(GORT_CONTEXT_ANNOTATED)
uintptr_t switch_context(Context* from, Context* to, uintptr_t value) {
  GORT_CONTEXT_CHECK(from != to, "switch to self");
  void* fake_stack_save = nullptr;
  before_switch(from, to, &fake_stack_save);
  value = gort_context_switch(&from->sp, to->sp, value);
  after_switch(from, fake_stack_save);
  return value;
}
#endif

void exit_context(Context* from, Context* to, uintptr_t value) {
#if defined(GORT_CONTEXT_ANNOTATED)
  GORT_CONTEXT_CHECK(from->made, "exit_context from a thread context");
  GORT_CONTEXT_CHECK(from != to, "exit to self");
#endif
  before_switch(from, to, nullptr);
  gort_context_switch(&from->sp, to->sp, value);
  die("fatal error: context: an exited context was resumed\n");
}

void destroy_context(Context* ctx) {
#if defined(GORT_CONTEXT_TSAN)
  if (ctx->made && ctx->tsan_fiber != nullptr) {
    __tsan_destroy_fiber(ctx->tsan_fiber);
  }
#endif
#if defined(GORT_CONTEXT_ASAN)
  if (ctx->made) ASAN_UNPOISON_MEMORY_REGION(ctx->stack_lo, ctx->stack_size);
#endif
  *ctx = Context{};
}

ThreadStackRoot::ThreadStackRoot() {
#if defined(GORT_CONTEXT_ASAN)
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  if (pthread_attr_getstack(&attr, &lo_, &size_) == 0) {
    __lsan_register_root_region(lo_, size_);
  } else {
    lo_ = nullptr;
  }
  pthread_attr_destroy(&attr);
#endif
}

ThreadStackRoot::~ThreadStackRoot() {
#if defined(GORT_CONTEXT_ASAN)
  if (lo_ != nullptr) __lsan_unregister_root_region(lo_, size_);
#endif
}

}  // namespace gort::sys
