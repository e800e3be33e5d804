// Tests of preemption (sched/preempt.h): asynchronous preemption of a loop
// without calls, cooperative preemption through yield_point() when the
// signal is off, which code the handler treats as preemptible, and that a
// preempted goroutine gets every register, its flags and its SIMD state back.
//
// The tests live outside namespace gort on purpose: the preemption handler
// treats every function named in namespace gort as the runtime's own code,
// which it never interrupts (sched/preempt.cc, rule 3).
#include "sched/preempt.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "sched/internal.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

extern "C" void gort_async_preempt();

namespace {

using gort::sched::testing::kTsan;
using gort::sched::testing::Latch;
using gort::sched::testing::SchedTest;
using gort::sched::testing::ScopedProcs;
using gort::sched::testing::Watchdog;

constexpr int64_t kMs = 1'000'000;

int64_t now() { return gort::sys::nanotime(); }

void sleep_until(int64_t t) {
  while (now() < t) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// Switches async preemption on or off for a scope.
class ScopedAsyncPreempt {
 public:
  explicit ScopedAsyncPreempt(bool on)
      : old_(gort::sched::set_async_preempt_enabled(on)) {}
  ~ScopedAsyncPreempt() { gort::sched::set_async_preempt_enabled(old_); }

 private:
  bool old_;
};

// What race_spinner observed (times are nanotime).
struct SpinRace {
  int64_t runnable_at = 0;           // the other goroutine was made runnable
  int64_t ran_at = 0;                // ... and started running
  int64_t stopped_at = 0;            // the spinner left its loop
  bool spinner_was_running = false;  // when the other started
  int64_t latency() const { return ran_at - runnable_at; }
};

// On one P: a goroutine runs `spin(stop)` (which must return once `stop`
// is set); a plain thread makes another goroutine runnable `wake_ms` after
// the spinner started, and sets `stop` `stop_ms` after it started. Returns
// when both goroutines are done. The test always ends: the plain thread
// stops the spinner by wall clock whatever the scheduler does.
template <typename Spin>
SpinRace race_spinner(Spin spin, int wake_ms, int stop_ms) {
  ScopedProcs procs(1);
  SpinRace race;
  std::atomic<bool> stop{false};
  std::atomic<bool> started{false};
  std::atomic<int64_t> runnable_at{0}, ran_at{0}, stopped_at{0};
  std::atomic<bool> saw_running{false};
  gort::run([&] {
    Latch done(2);
    gort::go([&] {
      started.store(true, std::memory_order_release);
      spin(stop);
      stopped_at.store(now(), std::memory_order_relaxed);
      done.done();
    });
    std::thread helper([&] {
      while (!started.load(std::memory_order_acquire)) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      int64_t t0 = now();
      sleep_until(t0 + wake_ms * kMs);
      runnable_at.store(now(), std::memory_order_relaxed);
      gort::go([&] {  // from a plain thread: the global run queue
        ran_at.store(now(), std::memory_order_relaxed);
        saw_running.store(!stop.load(std::memory_order_relaxed),
                          std::memory_order_relaxed);
        done.done();
      });
      sleep_until(t0 + stop_ms * kMs);
      stop.store(true, std::memory_order_relaxed);
    });
    done.wait();
    gort::blocking([&] { helper.join(); });
  });
  race.runnable_at = runnable_at.load();
  race.ran_at = ran_at.load();
  race.stopped_at = stopped_at.load();
  race.spinner_was_running = saw_running.load();
  return race;
}

using PreemptTest = SchedTest;

// Invariant: preemption by signal is available in every configuration but
// TSan (where it is off by design, sched/preempt.cc), and on by default
// (the test environment does not set GODEBUG=asyncpreemptoff).
TEST_F(PreemptTest, AsyncSupportedExceptUnderTsan) {
  const bool supported = gort::sched::async_preempt_supported();
  EXPECT_EQ(supported, !kTsan);
  EXPECT_EQ(gort::sched::async_preempt_enabled(), supported);
  EXPECT_EQ(gort::sched::set_async_preempt_enabled(false), supported);
  EXPECT_FALSE(gort::sched::async_preempt_enabled());
  EXPECT_FALSE(gort::sched::set_async_preempt_enabled(true));
  EXPECT_EQ(gort::sched::async_preempt_enabled(), supported);
}

// Invariant: GODEBUG=asyncpreemptoff=1 in the environment switches
// preemption by signal off at start (checked in a child process, which
// reads its environment afresh), while support is unaffected.
TEST(PreemptEnvDeathTest, GodebugAsyncPreemptOff) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ASSERT_EQ(setenv("GODEBUG", "asyncpreemptoff=1", 1), 0);
  char expected[64];
  snprintf(expected, sizeof(expected), "enabled=0 supported=%d", kTsan ? 0 : 1);
  EXPECT_EXIT(
      {
        fprintf(stderr, "enabled=%d supported=%d\n",
                gort::sched::async_preempt_enabled() ? 1 : 0,
                gort::sched::async_preempt_supported() ? 1 : 0);
        fflush(stderr);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), expected);
  unsetenv("GODEBUG");
}

// Test (a). Invariant: with GOMAXPROCS=1 a goroutine spinning in a loop
// without calls does not keep the P: another goroutine made runnable while
// it spins starts within 50 ms, while the spinner is still spinning.
// Under TSan there is no signal (see above): the spinner calls
// yield_point() instead, and the same bound holds for the cooperative path.
TEST_F(PreemptTest, SpinnerWithoutCallsIsPreempted) {
  Watchdog dog("PreemptTest.SpinnerWithoutCallsIsPreempted", 60);
  ScopedAsyncPreempt async(true);
  const bool by_signal = gort::sched::async_preempt_supported();
  uint64_t before = gort::sched::preempt_stats().preemptions;
  SpinRace race = race_spinner(
      [by_signal](std::atomic<bool>& stop) {
        if (by_signal) {
          while (!stop.load(std::memory_order_relaxed)) {
          }
        } else {
          while (!stop.load(std::memory_order_relaxed)) gort::yield_point();
        }
      },
      /*wake_ms=*/100, /*stop_ms=*/500);
  gort::sched::PreemptStats st = gort::sched::preempt_stats();
  printf("preemption latency (%s): %.2f ms; preemptions by signal: %llu\n",
         by_signal ? "signal" : "yield_point", race.latency() / 1e6,
         static_cast<unsigned long long>(st.preemptions - before));
  EXPECT_TRUE(race.spinner_was_running);
  EXPECT_LE(race.latency(), 50 * kMs);
  if (by_signal) {
    EXPECT_GT(st.preemptions, before);
  }
}

// Test (b), first half. Invariant: with async preemption off, a spinner
// that calls yield_point() in its loop still lets another goroutine run
// within 50 ms (sysmon's request reaches it through the flag).
TEST_F(PreemptTest, YieldPointYieldsWhenAsyncIsOff) {
  Watchdog dog("PreemptTest.YieldPointYieldsWhenAsyncIsOff", 60);
  ScopedAsyncPreempt async(false);
  SpinRace race = race_spinner(
      [](std::atomic<bool>& stop) {
        while (!stop.load(std::memory_order_relaxed)) gort::yield_point();
      },
      /*wake_ms=*/100, /*stop_ms=*/400);
  printf("cooperative preemption latency: %.2f ms\n", race.latency() / 1e6);
  EXPECT_TRUE(race.spinner_was_running);
  EXPECT_LE(race.latency(), 50 * kMs);
}

// Test (b), second half. Invariant: with async preemption off, a spinner
// without calls keeps the only P until it stops by itself (after 300 ms by
// wall clock): the other goroutine starts only after the spinner stopped,
// and no signal is sent meanwhile.
TEST_F(PreemptTest, SpinnerWithoutCallsKeepsThePWhenAsyncIsOff) {
  Watchdog dog("PreemptTest.SpinnerWithoutCallsKeepsThePWhenAsyncIsOff", 60);
  ScopedAsyncPreempt async(false);
  uint64_t sent = gort::sched::preempt_stats().signals_sent;
  SpinRace race = race_spinner(
      [](std::atomic<bool>& stop) {
        while (!stop.load(std::memory_order_relaxed)) {
        }
      },
      /*wake_ms=*/50, /*stop_ms=*/300);
  EXPECT_FALSE(race.spinner_was_running);
  EXPECT_GE(race.ran_at, race.stopped_at);
  EXPECT_GE(race.latency(), 200 * kMs);
  EXPECT_EQ(gort::sched::preempt_stats().signals_sent, sent);
}

// Invariant: a goroutine inside a NoAsyncPreempt scope is not preempted by
// signal (the handler declines: m->locks > 0); once the scope ends, the
// same loop is. Under TSan no signal is ever sent.
TEST_F(PreemptTest, NoAsyncPreemptScopeIsNotPreempted) {
  Watchdog dog("PreemptTest.NoAsyncPreemptScopeIsNotPreempted", 60);
  ScopedAsyncPreempt async(true);
  gort::sched::PreemptStats before = gort::sched::preempt_stats();
  SpinRace race = race_spinner(
      [](std::atomic<bool>& stop) {
        gort::sched::NoAsyncPreempt no_preempt;
        while (!stop.load(std::memory_order_relaxed)) {
        }
      },
      /*wake_ms=*/50, /*stop_ms=*/300);
  gort::sched::PreemptStats after = gort::sched::preempt_stats();
  EXPECT_FALSE(race.spinner_was_running);
  EXPECT_GE(race.ran_at, race.stopped_at);
  if (gort::sched::async_preempt_supported()) {
    EXPECT_GT(after.declined_locks, before.declined_locks);
  } else {
    EXPECT_EQ(after.signals_sent, before.signals_sent);
  }
}

// ---- which code is preemptible -------------------------------------------

// register_check_loop's state (offsets are used by the assembly below).
struct alignas(64) CheckState {
  uint64_t gpr[16];         // 0: expected rbx rcx rdx rsi rdi rbp r8..r14
  uint8_t vec[16][32];      // 128: expected ymm0..ymm14 (xmm without AVX)
  uint32_t stop;            // 640: nonzero: return 0 at the next check
  uint32_t pad;             // 644
  uint64_t iterations;      // 648: loop iterations done
  uint64_t max_iterations;  // 656: return 0 after this many (0: no limit)
  uint32_t direct;          // 664: enter gort_async_preempt every iteration
  uint32_t avx;             // 668: use ymm (else xmm) registers
};
static_assert(offsetof(CheckState, vec) == 128);
static_assert(offsetof(CheckState, stop) == 640);
static_assert(offsetof(CheckState, iterations) == 648);
static_assert(offsetof(CheckState, max_iterations) == 656);
static_assert(offsetof(CheckState, direct) == 664);
static_assert(offsetof(CheckState, avx) == 668);

// The assembly loop below (test (d)).
extern "C" uint64_t register_check_loop(CheckState* state);

void user_function() {}

// Invariant: the runtime's own functions (namespace gort, gort_* symbols)
// are runtime code and never preemptible; libc is not runtime code but not
// preemptible either (it is not in the main executable); the test's own
// functions, and the trampoline through which the runtime calls user
// closures, are preemptible wherever async preemption is supported.
TEST_F(PreemptTest, ClassifiesCode) {
  using gort::sched::is_preemptible_pc;
  using gort::sched::is_runtime_pc;
  auto pc = [](auto* f) { return reinterpret_cast<uintptr_t>(f); };
  auto lambda = [] {};
  uintptr_t trampoline = pc(&gort_user_call<decltype(lambda)>);
  gort::sched::schedinit();
  EXPECT_TRUE(is_runtime_pc(pc(&gort::sched::gosched)));
  EXPECT_TRUE(is_runtime_pc(pc(&gort::sched::ready) + 1));
  EXPECT_TRUE(is_runtime_pc(pc(&gort::yield)));
  EXPECT_TRUE(is_runtime_pc(pc(&gort_async_preempt)));
  EXPECT_TRUE(is_runtime_pc(pc(&gort_context_switch)));
  EXPECT_FALSE(is_runtime_pc(pc(&register_check_loop)));
  EXPECT_FALSE(is_runtime_pc(pc(&user_function)));
  EXPECT_FALSE(is_runtime_pc(trampoline));
  // libc's malloc is outside the main text; a malloc linked into the binary
  // (--custom_malloc=//mem:malloc) is the runtime's: either way it is never
  // preemptible (below).

  EXPECT_FALSE(is_preemptible_pc(pc(&gort::sched::gosched)));
  EXPECT_FALSE(is_preemptible_pc(pc(&gort_async_preempt)));
  EXPECT_FALSE(is_preemptible_pc(pc(&::malloc)));
  const bool supported = gort::sched::async_preempt_supported();
  EXPECT_EQ(is_preemptible_pc(pc(&register_check_loop)), supported);
  EXPECT_EQ(is_preemptible_pc(pc(&user_function)), supported);
  EXPECT_EQ(is_preemptible_pc(trampoline), supported);
}

// ---- registers, flags and SIMD state -------------------------------------

// uint64_t register_check_loop(CheckState* s)
//
// Loads 13 general registers (all but rax, the scratch, r15, which holds s,
// and rsp) and 15 vector registers (all but ymm15/xmm15, the scratch) with
// s's patterns, then loops: sets CF and DF and runs 64 flag-neutral
// instructions (in direct mode with a call of gort_async_preempt in the
// middle, as the signal handler would arrange it), checks CF and DF, clears
// CF, 64 more, checks CF, then compares every loaded register with its
// pattern. Returns 0 when stopped (s->stop, or s->max_iterations), or the
// first mismatch: 1 CF lost while set, 2 DF lost, 3 CF lost while clear,
// 10 + i general register i, 30 + i vector register i.
asm(R"(
        .text
        .globl  register_check_loop
        .type   register_check_loop, @function
        .p2align 4
register_check_loop:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        movq    %rdi, %r15
        movq    0(%r15), %rbx
        movq    8(%r15), %rcx
        movq    16(%r15), %rdx
        movq    24(%r15), %rsi
        movq    32(%r15), %rdi
        movq    40(%r15), %rbp
        movq    48(%r15), %r8
        movq    56(%r15), %r9
        movq    64(%r15), %r10
        movq    72(%r15), %r11
        movq    80(%r15), %r12
        movq    88(%r15), %r13
        movq    96(%r15), %r14
        cmpl    $0, 668(%r15)
        je      .Lrc_load_sse
        .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
        vmovdqu 128+32*\i(%r15), %ymm\i
        .endr
        jmp     .Lrc_loop
.Lrc_load_sse:
        .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
        movdqu  128+32*\i(%r15), %xmm\i
        .endr
.Lrc_loop:
        cmpl    $0, 664(%r15)
        je      .Lrc_signal_window
        stc
        std
        .rept 32
        leaq    1(%rax), %rax
        .endr
        leaq    -128(%rsp), %rsp
        call    gort_async_preempt
        .rept 32
        leaq    1(%rax), %rax
        .endr
        jmp     .Lrc_check_set
.Lrc_signal_window:
        stc
        std
        .rept 64
        leaq    1(%rax), %rax
        .endr
.Lrc_check_set:
        movl    $1, %eax
        jnc     .Lrc_out
        pushfq
        popq    %rax
        testl   $0x400, %eax
        movl    $2, %eax
        jz      .Lrc_out
        cld
        clc
        .rept 64
        leaq    1(%rax), %rax
        .endr
        movl    $3, %eax
        jc      .Lrc_out
        cmpq    0(%r15), %rbx
        movl    $10, %eax
        jne     .Lrc_out
        cmpq    8(%r15), %rcx
        movl    $11, %eax
        jne     .Lrc_out
        cmpq    16(%r15), %rdx
        movl    $12, %eax
        jne     .Lrc_out
        cmpq    24(%r15), %rsi
        movl    $13, %eax
        jne     .Lrc_out
        cmpq    32(%r15), %rdi
        movl    $14, %eax
        jne     .Lrc_out
        cmpq    40(%r15), %rbp
        movl    $15, %eax
        jne     .Lrc_out
        cmpq    48(%r15), %r8
        movl    $16, %eax
        jne     .Lrc_out
        cmpq    56(%r15), %r9
        movl    $17, %eax
        jne     .Lrc_out
        cmpq    64(%r15), %r10
        movl    $18, %eax
        jne     .Lrc_out
        cmpq    72(%r15), %r11
        movl    $19, %eax
        jne     .Lrc_out
        cmpq    80(%r15), %r12
        movl    $20, %eax
        jne     .Lrc_out
        cmpq    88(%r15), %r13
        movl    $21, %eax
        jne     .Lrc_out
        cmpq    96(%r15), %r14
        movl    $22, %eax
        jne     .Lrc_out
        cmpl    $0, 668(%r15)
        je      .Lrc_check_sse
        .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
        vpxor   128+32*\i(%r15), %ymm\i, %ymm15
        vptest  %ymm15, %ymm15
        movl    $(30+\i), %eax
        jnz     .Lrc_out
        .endr
        jmp     .Lrc_next
.Lrc_check_sse:
        .irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14
        movdqu  128+32*\i(%r15), %xmm15
        pcmpeqb %xmm\i, %xmm15
        pmovmskb %xmm15, %eax
        cmpl    $0xffff, %eax
        movl    $(30+\i), %eax
        jne     .Lrc_out
        .endr
.Lrc_next:
        incq    648(%r15)
        movq    656(%r15), %rax
        testq   %rax, %rax
        jz      .Lrc_check_stop
        cmpq    %rax, 648(%r15)
        jae     .Lrc_done
.Lrc_check_stop:
        cmpl    $0, 640(%r15)
        je      .Lrc_loop
.Lrc_done:
        xorl    %eax, %eax
.Lrc_out:
        cld
        cmpl    $0, 668(%r15)
        je      .Lrc_ret
        vzeroupper
.Lrc_ret:
        popq    %r15
        .cfi_adjust_cfa_offset -8
        popq    %r14
        .cfi_adjust_cfa_offset -8
        popq    %r13
        .cfi_adjust_cfa_offset -8
        popq    %r12
        .cfi_adjust_cfa_offset -8
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        ret
        .cfi_endproc
        .size   register_check_loop, .-register_check_loop
        .previous
)");

uint64_t splitmix64(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Runs register_check_loop on kGoroutines goroutines over 2 Ps (so that
// preempted goroutines resume on other threads), each with its own random
// patterns, until the goroutines have been preempted `target` times in
// all: by signal (a plain thread asks every running goroutine to yield
// every 50 µs, as sysmon would after 10 ms) or, with `by_signal` false, by
// entering gort_async_preempt directly from the loop. Expects every loop to
// return 0 (no register changed) after making progress.
void check_registers_survive_preemption(bool by_signal, uint64_t target) {
  constexpr int kGoroutines = 3;
  ScopedProcs procs(2);
  ScopedAsyncPreempt async(by_signal);
  const bool avx = __builtin_cpu_supports("avx");
  std::vector<CheckState> states(kGoroutines);
  uint64_t seed = 0x5eed;
  for (int i = 0; i < kGoroutines; i++) {
    CheckState& s = states[i];
    s = CheckState{};
    for (uint64_t& r : s.gpr) r = splitmix64(&seed);
    for (auto& v : s.vec) {
      for (int k = 0; k < 32; k += 8) {
        uint64_t x = splitmix64(&seed);
        memcpy(&v[k], &x, 8);
      }
    }
    s.avx = avx ? 1 : 0;
    s.direct = by_signal ? 0 : 1;
    // Direct entry stops by count (each iteration is one preemption).
    s.max_iterations = by_signal ? 0 : (target + kGoroutines - 1) / kGoroutines;
  }
  uint64_t results[kGoroutines] = {};
  std::atomic<int> finished{0};
  const uint64_t before = gort::sched::preempt_stats().preemptions;
  gort::run([&] {
    Latch done(kGoroutines);
    for (int i = 0; i < kGoroutines; i++) {
      gort::go([&, i] {
        results[i] = register_check_loop(&states[i]);
        finished.fetch_add(1, std::memory_order_relaxed);
        done.done();
      });
    }
    // By signal: ask until enough preemptions happened (or a loop failed,
    // or 20 s passed), then stop the loops. Direct: they stop by count.
    std::thread preempter([&] {
      if (!by_signal) return;
      int64_t deadline = now() + 20'000 * kMs;
      while (finished.load(std::memory_order_relaxed) == 0 &&
             gort::sched::preempt_stats().preemptions - before < target &&
             now() < deadline) {
        gort::sched::preempt_running();
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      for (CheckState& s : states)
        __atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
    });
    done.wait();
    gort::blocking([&] { preempter.join(); });
  });
  uint64_t preemptions = gort::sched::preempt_stats().preemptions - before;
  printf("%s: %llu preemptions, avx=%d\n", by_signal ? "signal" : "direct",
         static_cast<unsigned long long>(preemptions), avx ? 1 : 0);
  EXPECT_GE(preemptions, target);
  for (int i = 0; i < kGoroutines; i++) {
    EXPECT_EQ(results[i], 0u) << "goroutine " << i << " saw a register change";
    EXPECT_GT(states[i].iterations, 0u);
  }
}

// Test (d). Invariant: a goroutine preempted thousands of times by signal,
// at arbitrary instructions of a loop that keeps values in 13 general
// registers, 15 vector registers (full ymm width with AVX), CF and DF, and
// resumed on whichever thread, never sees one of them change. Under TSan
// there is no signal (see AsyncSupportedExceptUnderTsan): the loop enters
// the save/restore routine directly instead, which checks the same state.
TEST_F(PreemptTest, RegistersAndSimdStateSurvivePreemption) {
  Watchdog dog("PreemptTest.RegistersAndSimdStateSurvivePreemption", 90);
  check_registers_survive_preemption(gort::sched::async_preempt_supported(),
                                     3000);
}

// Invariant: the save/restore routine itself, entered as the handler would
// arrange (red zone skipped, return address pushed) at a point where the
// flags are live, preserves every register, the flags and the SIMD state
// while the goroutine yields and migrates between two Ms.
TEST_F(PreemptTest, RoutinePreservesStateWhenEnteredDirectly) {
  Watchdog dog("PreemptTest.RoutinePreservesStateWhenEnteredDirectly", 90);
  check_registers_survive_preemption(false, 3000);
}

// errno through a fresh lookup each time: libc's __errno_location is
// declared const, so the compiler may otherwise reuse the old thread's slot
// across the preemption (the user-side caveat in sched/preempt.cc).
[[gnu::noinline]] void set_errno(int v) {
  asm volatile("");
  errno = v;
}
[[gnu::noinline]] int get_errno() {
  asm volatile("");
  return errno;
}

// Invariant: errno is carried with a preempted goroutine: a value stored
// before a preemption is what the goroutine reads after it, even when it
// resumed on another thread (whose own errno the test scribbles over).
TEST_F(PreemptTest, ErrnoSurvivesPreemption) {
  Watchdog dog("PreemptTest.ErrnoSurvivesPreemption", 60);
  ScopedProcs procs(2);
  int bad = 0;
  int rounds = 0;
  gort::run([&] {
    Latch done(2);
    gort::go([&] {  // scribbles errno on whatever thread it runs on
      for (int i = 0; i < 2000; i++) {
        set_errno(1000 + i);
        gort::yield();
      }
      done.done();
    });
    gort::go([&] {
      for (int i = 0; i < 2000; i++) {
        set_errno(77);
        asm volatile("leaq -128(%%rsp), %%rsp\n\tcall gort_async_preempt"
                     :
                     :
                     : "memory", "cc");
        if (get_errno() != 77) bad++;
        rounds++;
      }
      done.done();
    });
    done.wait();
  });
  EXPECT_EQ(rounds, 2000);
  EXPECT_EQ(bad, 0);
}

}  // namespace
