// Tests for sys/context.h. Each test names the invariant it checks. They run
// unchanged under --config=asan and --config=tsan, where every switch goes
// through the sanitizer annotations.
#include "sys/context.h"

#include <fenv.h>
#include <sys/mman.h>
#include <xmmintrin.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gort::sys {
namespace {

// An mmap'd stack, unmapped on destruction.
class Stack {
 public:
  explicit Stack(size_t size) : size_(size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) {
      ADD_FAILURE() << "mmap: " << std::strerror(errno);
      p = nullptr;
    }
    lo_ = static_cast<char*>(p);
  }
  ~Stack() {
    if (lo_ != nullptr) munmap(lo_, size_);
  }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  char* lo() const { return lo_; }
  char* hi() const { return lo_ + size_; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  char* lo_;
};

constexpr size_t kStackSize = 64 * 1024;

// The thread's context and one other, for the two-context tests.
struct Pair {
  Context main;
  Context other;
};

// ---------------------------------------------------------------------------
// Invariant: the value passed to a switch is exactly what the resumed side
// receives (as its entry's first value, then as switch_context's result),
// over a million round trips in both directions.

constexpr uintptr_t kRoundTrips = 1'000'000;

struct PingPong {
  Pair ctx;
  uintptr_t mismatches = 0;  // counted on the other side, checked by main
};

void ping_pong_entry(void* arg, uintptr_t first) {
  auto* s = static_cast<PingPong*>(arg);
  uintptr_t got = first;
  for (uintptr_t i = 0; i < kRoundTrips; ++i) {
    if (got != 2 * i) ++s->mismatches;
    got = switch_context(&s->ctx.other, &s->ctx.main, 2 * i + 1);
  }
  exit_context(&s->ctx.other, &s->ctx.main, 0xdead);
}

TEST(ContextTest, PingPongValuesArriveExactly) {
  Stack stack(kStackSize);
  PingPong s;
  init_thread_context(&s.ctx.main);
  make_context(&s.ctx.other, stack.lo(), stack.size(), ping_pong_entry, &s);
  uintptr_t main_mismatches = 0;
  for (uintptr_t i = 0; i < kRoundTrips; ++i) {
    uintptr_t got = switch_context(&s.ctx.main, &s.ctx.other, 2 * i);
    if (got != 2 * i + 1) ++main_mismatches;
  }
  EXPECT_EQ(switch_context(&s.ctx.main, &s.ctx.other, 2 * kRoundTrips),
            0xdeadu);
  EXPECT_EQ(main_mismatches, 0u);
  EXPECT_EQ(s.mismatches, 0u);
  destroy_context(&s.ctx.other);
  destroy_context(&s.ctx.main);
}

// ---------------------------------------------------------------------------
// Invariant: rbx, rbp and r12-r15 hold, after switch_context returns, what
// they held before it was called, although the other context filled all
// six with its own values in between.
//
// run_with_pattern loads pattern+1 .. pattern+6 into rbx, rbp, r12-r15,
// calls fn(fn_arg), and stores what the six registers then hold into out[0..5]
// (it saves and restores its caller's values, as the ABI requires). In the
// default build fn's switch_context is the bare assembly switch, so the
// switch alone is what keeps the values.
extern "C" void gort_test_run_with_pattern(uint64_t pattern, uint64_t* out,
                                           void (*fn)(void*), void* fn_arg);
asm(R"(
        .text
        .globl  gort_test_run_with_pattern
        .type   gort_test_run_with_pattern, @function
        .p2align 4
gort_test_run_with_pattern:
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        pushq   %rsi            # out; 7 pushes leave rsp 16-aligned for the call
        movq    %rdx, %rax
        leaq    1(%rdi), %rbx
        leaq    2(%rdi), %rbp
        leaq    3(%rdi), %r12
        leaq    4(%rdi), %r13
        leaq    5(%rdi), %r14
        leaq    6(%rdi), %r15
        movq    %rcx, %rdi
        call    *%rax
        popq    %rsi
        movq    %rbx, 0(%rsi)
        movq    %rbp, 8(%rsi)
        movq    %r12, 16(%rsi)
        movq    %r13, 24(%rsi)
        movq    %r14, 32(%rsi)
        movq    %r15, 40(%rsi)
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
        .size   gort_test_run_with_pattern, .-gort_test_run_with_pattern
)");

constexpr int kRegisterRounds = 50;
constexpr uint64_t kMainPattern = 0x1111'0000'0000'0000;
constexpr uint64_t kOtherPattern = 0x2222'0000'0000'0000;

struct Registers {
  Pair ctx;
  int other_bad_rounds = 0;
};

void switch_to_other(void* arg) {
  auto* s = static_cast<Registers*>(arg);
  switch_context(&s->ctx.main, &s->ctx.other, 0);
}

void switch_to_main(void* arg) {
  auto* s = static_cast<Registers*>(arg);
  switch_context(&s->ctx.other, &s->ctx.main, 0);
}

bool holds_pattern(const uint64_t* out, uint64_t pattern) {
  for (int i = 0; i < 6; ++i) {
    if (out[i] != pattern + 1 + i) return false;
  }
  return true;
}

void registers_entry(void* arg, uintptr_t) {
  auto* s = static_cast<Registers*>(arg);
  for (int round = 0; round < kRegisterRounds; ++round) {
    uint64_t out[6];
    const uint64_t pattern = kOtherPattern + (uint64_t{round} << 8);
    gort_test_run_with_pattern(pattern, out, switch_to_main, s);
    if (!holds_pattern(out, pattern)) ++s->other_bad_rounds;
  }
  exit_context(&s->ctx.other, &s->ctx.main, 0);
}

TEST(ContextTest, CalleeSavedRegistersPreserved) {
  Stack stack(kStackSize);
  Registers s;
  init_thread_context(&s.ctx.main);
  make_context(&s.ctx.other, stack.lo(), stack.size(), registers_entry, &s);
  // Round 0 enters `other` for the first time (through its start frame);
  // later rounds resume it inside its own run_with_pattern.
  for (int round = 0; round < kRegisterRounds; ++round) {
    uint64_t out[6];
    const uint64_t pattern = kMainPattern + (uint64_t{round} << 8);
    gort_test_run_with_pattern(pattern, out, switch_to_other, &s);
    for (int i = 0; i < 6; ++i) {
      ASSERT_EQ(out[i], pattern + 1 + i) << "round " << round << ", register "
                                         << i << " (rbx rbp r12 r13 r14 r15)";
    }
  }
  switch_context(&s.ctx.main, &s.ctx.other, 0);  // let it exit
  EXPECT_EQ(s.other_bad_rounds, 0);
  destroy_context(&s.ctx.other);
}

// ---------------------------------------------------------------------------
// Invariant: each context keeps its own MXCSR control bits (rounding, FTZ,
// DAZ) and x87 control word (rounding, precision) across switches, and a
// new context starts with its creator's.

constexpr uint32_t kMxcsrStatusBits = 0x3f;
constexpr uint32_t kMxcsrFtz = 0x8000;
constexpr uint32_t kMxcsrDaz = 0x0040;
constexpr uint16_t kX87PrecisionMask = 0x0300;
constexpr uint16_t kX87PrecisionSingle = 0x0000;
constexpr uint16_t kX87PrecisionDouble = 0x0200;

// Reads and writes of the control registers are volatile asm with a memory
// clobber, and the state is sampled in a noipa function, so that the
// compiler cannot move them across a switch or fesetenv (GCC does not model
// the floating-point environment as state).
uint32_t mxcsr_control() {
  uint32_t csr;
  asm volatile("stmxcsr %0" : "=m"(csr) : : "memory");
  return csr & ~kMxcsrStatusBits;
}

uint16_t x87_control() {
  uint16_t cw;
  asm volatile("fnstcw %0" : "=m"(cw) : : "memory");
  return cw;
}

void set_x87_precision(uint16_t precision) {
  uint16_t cw = (x87_control() & ~kX87PrecisionMask) | precision;
  asm volatile("fldcw %0" : : "m"(cw) : "memory");
}

// SSE results that depend on the rounding mode and on FTZ.
float one_third() {
  volatile float one = 1.0f, three = 3.0f;
  return one / three;
}
float tiny_product() {
  // 2e-38 is normal (the least normal float is ~1.18e-38), so DAZ leaves it
  // alone; half of it is subnormal, which FTZ flushes to 0.
  volatile float tiny = 2e-38f, half = 0.5f;
  return tiny * half;
}

struct FloatState {
  uint32_t mxcsr;
  uint16_t x87;
  float third;
  float tiny;
  __attribute__((noipa)) static FloatState now() {
    return {mxcsr_control(), x87_control(), one_third(), tiny_product()};
  }
  bool operator==(const FloatState&) const = default;
};

constexpr int kFloatRounds = 100;

struct Floats {
  Pair ctx;
  FloatState creator_at_make;
  FloatState other_at_entry;
  FloatState other_own;
  int other_changed_rounds = 0;
};

void floats_entry(void* arg, uintptr_t) {
  auto* s = static_cast<Floats*>(arg);
  s->other_at_entry = FloatState::now();
  fesetround(FE_TOWARDZERO);  // both MXCSR and the x87 control word
  _mm_setcsr((_mm_getcsr() & ~kMxcsrFtz) | kMxcsrDaz);
  set_x87_precision(kX87PrecisionDouble);
  s->other_own = FloatState::now();
  for (int round = 0; round < kFloatRounds; ++round) {
    switch_context(&s->ctx.other, &s->ctx.main, 0);
    if (!(FloatState::now() == s->other_own)) ++s->other_changed_rounds;
  }
  exit_context(&s->ctx.other, &s->ctx.main, 0);
}

TEST(ContextTest, FloatingPointControlIsPerContext) {
  fenv_t saved_env;
  ASSERT_EQ(fegetenv(&saved_env), 0);
  Stack stack(kStackSize);
  Floats s;
  init_thread_context(&s.ctx.main);

  fesetround(FE_UPWARD);
  _mm_setcsr((_mm_getcsr() & ~kMxcsrDaz) | kMxcsrFtz);
  set_x87_precision(kX87PrecisionSingle);
  const FloatState main_own = FloatState::now();
  ASSERT_EQ(main_own.tiny, 0.0f) << "FTZ should flush the subnormal product";

  s.creator_at_make = main_own;
  make_context(&s.ctx.other, stack.lo(), stack.size(), floats_entry, &s);
  int main_changed_rounds = 0;
  for (int round = 0; round < kFloatRounds; ++round) {
    switch_context(&s.ctx.main, &s.ctx.other, 0);
    if (!(FloatState::now() == main_own)) ++main_changed_rounds;
  }
  switch_context(&s.ctx.main, &s.ctx.other, 0);  // let it exit
  const FloatState main_after = FloatState::now();
  fesetenv(&saved_env);
  destroy_context(&s.ctx.other);

  EXPECT_EQ(main_changed_rounds, 0);
  EXPECT_EQ(s.other_changed_rounds, 0);
  EXPECT_TRUE(main_after == main_own);
  EXPECT_TRUE(s.other_at_entry == s.creator_at_make)
      << "a new context starts with its creator's control state";
  // The two contexts really did run in different modes.
  EXPECT_NE(s.other_own.mxcsr, main_own.mxcsr);
  EXPECT_NE(s.other_own.x87, main_own.x87);
  EXPECT_GT(main_own.third, s.other_own.third);  // upward vs toward zero
  EXPECT_NE(s.other_own.tiny, 0.0f);             // no FTZ there
}

// ---------------------------------------------------------------------------
// Invariant: a new context runs on the stack it was given, and its entry
// function is entered with the ABI's alignment (rsp + 8 a multiple of 16).
// __builtin_frame_address(0) makes the entry keep a frame pointer: after
// `push rbp; mov rsp, rbp`, rbp = entry rsp - 8, so it is 16-aligned exactly
// when the entry rsp was 8 mod 16.

struct Placement {
  Pair ctx;
  void* arg_seen = nullptr;
  uintptr_t first_seen = 0;
  uintptr_t frame = 0;
  uintptr_t aligned_local = 0;
  uintptr_t deeper_frame = 0;
};

__attribute__((noinline)) uintptr_t frame_of_a_callee() {
  return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

__attribute__((noinline)) void placement_entry(void* arg, uintptr_t first) {
  auto* s = static_cast<Placement*>(arg);
  alignas(16) volatile char local[16] = {};
  s->arg_seen = arg;
  s->first_seen = first;
  s->frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  s->aligned_local = reinterpret_cast<uintptr_t>(&local[0]);
  s->deeper_frame = frame_of_a_callee();
  exit_context(&s->ctx.other, &s->ctx.main, 0);
}

TEST(ContextTest, NewContextRunsOnItsStackAligned) {
  // Try every 8-byte misalignment of the stack's end: make_context rounds.
  for (size_t trim : {0, 8}) {
    Stack stack(kStackSize);
    Placement s;
    init_thread_context(&s.ctx.main);
    make_context(&s.ctx.other, stack.lo(), stack.size() - trim, placement_entry,
                 &s);
    switch_context(&s.ctx.main, &s.ctx.other, 0x5eed);
    destroy_context(&s.ctx.other);

    const auto lo = reinterpret_cast<uintptr_t>(stack.lo());
    const auto hi = reinterpret_cast<uintptr_t>(stack.hi()) - trim;
    EXPECT_EQ(s.arg_seen, &s);
    EXPECT_EQ(s.first_seen, 0x5eedu);
    EXPECT_GE(s.frame, lo);
    EXPECT_LT(s.frame, hi);
    EXPECT_GT(s.frame, hi - 1024) << "entry frame near the stack's top";
    EXPECT_EQ(s.frame % 16, 0u) << "entry rsp was not 8 mod 16";
    EXPECT_EQ(s.aligned_local % 16, 0u);
    EXPECT_GE(s.deeper_frame, lo);
    EXPECT_LT(s.deeper_frame, s.frame);
    EXPECT_EQ(s.deeper_frame % 16, 0u);
  }
}

// ---------------------------------------------------------------------------
// Invariant: C++ exceptions thrown and caught inside a context work, also
// when the context switched away inside the try block and was resumed.

constexpr int kThrows = 200;

struct Exceptions {
  Pair ctx;
  int caught = 0;
  int wrong = 0;
};

__attribute__((noinline)) void throw_from_depth(int depth, int value) {
  if (depth == 0) throw std::runtime_error(std::to_string(value));
  throw_from_depth(depth - 1, value);
}

void exceptions_entry(void* arg, uintptr_t) {
  auto* s = static_cast<Exceptions*>(arg);
  for (int i = 0; i < kThrows; ++i) {
    try {
      switch_context(&s->ctx.other, &s->ctx.main, i);
      throw_from_depth(i % 8, i);
    } catch (const std::runtime_error& e) {
      if (e.what() == std::to_string(i)) {
        ++s->caught;
      } else {
        ++s->wrong;
      }
    }
  }
  exit_context(&s->ctx.other, &s->ctx.main, kThrows);
}

TEST(ContextTest, ExceptionsInsideAContext) {
  Stack stack(kStackSize);
  Exceptions s;
  init_thread_context(&s.ctx.main);
  make_context(&s.ctx.other, stack.lo(), stack.size(), exceptions_entry, &s);
  int main_caught = 0;
  for (int i = 0; i <= kThrows; ++i) {
    // The main context throws too, between the other's throws.
    try {
      if (switch_context(&s.ctx.main, &s.ctx.other, 0) == uintptr_t(i)) {
        throw std::logic_error("main");
      }
    } catch (const std::logic_error&) {
      ++main_caught;
    }
  }
  destroy_context(&s.ctx.other);
  EXPECT_EQ(s.caught, kThrows);
  EXPECT_EQ(s.wrong, 0);
  EXPECT_EQ(main_caught, kThrows + 1);
}

// ---------------------------------------------------------------------------
// Invariant: with many contexts suspended at once, each resumes exactly
// where it stopped: round-robin over 1000 contexts, every context sees the
// step numbers meant for it, in order, and ends when told.

constexpr int kManyContexts = 1000;
constexpr int kManyRounds = 20;
constexpr size_t kSmallStack = 32 * 1024;

struct Many {
  Context main;
  std::vector<Context> ctx = std::vector<Context>(kManyContexts);
  std::vector<int> wrong = std::vector<int>(kManyContexts);
  std::vector<int> resumed = std::vector<int>(kManyContexts);
};

struct ManyArg {
  Many* many;
  int index;
};

void many_entry(void* arg, uintptr_t first) {
  auto [m, i] = *static_cast<ManyArg*>(arg);
  uintptr_t step = first;
  for (int round = 0; round < kManyRounds; ++round) {
    if (step != uintptr_t(round) * kManyContexts + i) ++m->wrong[i];
    ++m->resumed[i];
    step = switch_context(&m->ctx[i], &m->main, i);
  }
  exit_context(&m->ctx[i], &m->main, i);
}

TEST(ContextTest, ManyContextsRoundRobin) {
  Stack stacks(kManyContexts * kSmallStack);  // one mapping, carved
  Many m;
  std::vector<ManyArg> args(kManyContexts);
  init_thread_context(&m.main);
  for (int i = 0; i < kManyContexts; ++i) {
    args[i] = {&m, i};
    make_context(&m.ctx[i], stacks.lo() + i * kSmallStack, kSmallStack,
                 many_entry, &args[i]);
  }
  int wrong_returns = 0;
  for (int round = 0; round <= kManyRounds; ++round) {
    for (int i = 0; i < kManyContexts; ++i) {
      const uintptr_t step = uintptr_t(round) * kManyContexts + i;
      if (switch_context(&m.main, &m.ctx[i], step) != uintptr_t(i)) {
        ++wrong_returns;
      }
    }
  }
  for (auto& c : m.ctx) destroy_context(&c);
  EXPECT_EQ(wrong_returns, 0);
  for (int i = 0; i < kManyContexts; ++i) {
    EXPECT_EQ(m.wrong[i], 0) << "context " << i;
    EXPECT_EQ(m.resumed[i], kManyRounds) << "context " << i;
  }
}

// ---------------------------------------------------------------------------
// Invariant: a suspended context can be resumed by another thread (as a
// goroutine moves between Ms), and switches back to that thread's context.

struct Migrating {
  Context thread_a;
  Context thread_b;
  Context other;
  std::thread::id ran_on_first;
  std::thread::id ran_on_second;
};

// pthread_self is declared __attribute__((const)), so two calls in one
// function may be merged across the switch; noipa keeps each call real.
__attribute__((noipa)) std::thread::id current_thread() {
  return std::this_thread::get_id();
}

void migrating_entry(void* arg, uintptr_t) {
  auto* s = static_cast<Migrating*>(arg);
  s->ran_on_first = current_thread();
  switch_context(&s->other, &s->thread_a, 1);
  s->ran_on_second = current_thread();
  exit_context(&s->other, &s->thread_b, 2);
}

TEST(ContextTest, ResumedOnAnotherThread) {
  Stack stack(kStackSize);
  Migrating s;
  init_thread_context(&s.thread_a);
  make_context(&s.other, stack.lo(), stack.size(), migrating_entry, &s);
  EXPECT_EQ(switch_context(&s.thread_a, &s.other, 0), 1u);
  uintptr_t got_on_b = 0;
  std::thread::id b_id;
  std::thread b([&] {  // thread creation orders the hand-off
    b_id = std::this_thread::get_id();
    init_thread_context(&s.thread_b);
    got_on_b = switch_context(&s.thread_b, &s.other, 0);
    destroy_context(&s.thread_b);
  });
  b.join();
  destroy_context(&s.other);
  EXPECT_EQ(got_on_b, 2u);
  EXPECT_EQ(s.ran_on_first, std::this_thread::get_id());
  EXPECT_EQ(s.ran_on_second, b_id);
  destroy_context(&s.thread_a);
}

// ---------------------------------------------------------------------------
// Invariant: a stack can be reused as soon as its context has exited, by a
// Context made again in place (as a scheduler reuses a dead goroutine's G
// and stack): 10,000 contexts run one after another on the same stack and
// the same Context, each seeing its own arguments.

constexpr int kReuses = 10'000;

struct Reuse {
  Pair ctx;
  int sum = 0;
};

void reuse_entry(void* arg, uintptr_t first) {
  auto* s = static_cast<Reuse*>(arg);
  volatile char scratch[512];  // dirty some stack each time
  for (size_t i = 0; i < sizeof scratch; ++i) scratch[i] = char(first);
  s->sum += scratch[first % sizeof scratch] == char(first);
  exit_context(&s->ctx.other, &s->ctx.main, first + 1);
}

TEST(ContextTest, StackAndContextReusableAfterExit) {
  Stack stack(kStackSize);
  Reuse s;
  init_thread_context(&s.ctx.main);
  int wrong = 0;
  for (int i = 0; i < kReuses; ++i) {
    make_context(&s.ctx.other, stack.lo(), stack.size(), reuse_entry, &s);
    if (switch_context(&s.ctx.main, &s.ctx.other, i) != uintptr_t(i) + 1) {
      ++wrong;
    }
  }
  destroy_context(&s.ctx.other);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(s.sum, kReuses);
}

// Invariant: destroy_context releases everything make_context took. Under
// TSan each made context holds a fiber and GCC 12's TSan dies when more than
// 8128 are alive, so 8,200 make/run/destroy cycles fail there if destroy
// leaks (creating a TSan fiber costs ~1 ms, hence no more). Elsewhere this
// checks that ASan's view of a reused stack is reset.
constexpr int kReleases = 8'200;

TEST(ContextTest, DestroyReleasesContext) {
  Stack stack(kStackSize);
  Reuse s;
  init_thread_context(&s.ctx.main);
  int wrong = 0;
  for (int i = 0; i < kReleases; ++i) {
    make_context(&s.ctx.other, stack.lo(), stack.size(), reuse_entry, &s);
    if (switch_context(&s.ctx.main, &s.ctx.other, i) != uintptr_t(i) + 1) {
      ++wrong;
    }
    destroy_context(&s.ctx.other);
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(s.sum, kReleases);
}

// ---------------------------------------------------------------------------
// Invariant: an entry function that returns is a fatal error, not a jump
// into garbage.

void returning_entry(void*, uintptr_t) {}

TEST(ContextDeathTest, EntryReturningIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Stack stack(kStackSize);
        Pair p;
        init_thread_context(&p.main);
        make_context(&p.other, stack.lo(), stack.size(), returning_entry,
                     nullptr);
        switch_context(&p.main, &p.other, 0);
      },
      "entry function returned");
}

}  // namespace
}  // namespace gort::sys
