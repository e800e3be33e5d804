// Benchmarks for sys/context.h. An iteration is a round trip between the
// benchmark's thread context and a partner context: two switches. The
// `per_switch` counter is the time of one switch (a round trip / 2).
//
//   BM_ContextSwitch      switch_context (in --config=asan/tsan builds, with
//                         the sanitizer annotations)
//   BM_ContextSwitchRaw   gort_context_switch, no annotations (default build
//                         only: there switch_context is this same call inlined)
//   BM_ContextStart       make_context + first switch in + exit_context out:
//                         the cost of starting and ending a context
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

#include "benchmark/benchmark.h"
#include "sys/context.h"

namespace gort::sys {
namespace {

constexpr size_t kStackSize = 64 * 1024;
constexpr uintptr_t kStop = ~uintptr_t{0};

void* map_stack() {
  void* p = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) std::abort();
  return p;
}

struct Partner {
  Context main;
  Context other;
};

void set_per_switch(benchmark::State& state) {
  state.SetItemsProcessed(2 * state.iterations());
  state.counters["per_switch"] = benchmark::Counter(
      2.0 * state.iterations(),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Answers every switch with value + 1 until told to stop.
void echo_entry(void* arg, uintptr_t value) {
  auto* p = static_cast<Partner*>(arg);
  while (value != kStop) value = switch_context(&p->other, &p->main, value + 1);
  exit_context(&p->other, &p->main, 0);
}

void BM_ContextSwitch(benchmark::State& state) {
  void* stack = map_stack();
  Partner p;
  init_thread_context(&p.main);
  make_context(&p.other, stack, kStackSize, echo_entry, &p);
  uintptr_t value = 0;
  for (auto _ : state) {
    value = switch_context(&p.main, &p.other, value);
  }
  benchmark::DoNotOptimize(value);
  switch_context(&p.main, &p.other, kStop);
  destroy_context(&p.other);
  munmap(stack, kStackSize);
  set_per_switch(state);
}
BENCHMARK(BM_ContextSwitch);

#if !defined(GORT_CONTEXT_ANNOTATED)
// The partner is started with switch_context (identical to the raw call in
// this build), then both sides use the raw call.
void raw_echo_entry(void* arg, uintptr_t value) {
  auto* p = static_cast<Partner*>(arg);
  while (value != kStop) {
    value = gort_context_switch(&p->other.sp, p->main.sp, value + 1);
  }
  exit_context(&p->other, &p->main, 0);
}

void BM_ContextSwitchRaw(benchmark::State& state) {
  void* stack = map_stack();
  Partner p;
  init_thread_context(&p.main);
  make_context(&p.other, stack, kStackSize, raw_echo_entry, &p);
  uintptr_t value = 0;
  for (auto _ : state) {
    value = gort_context_switch(&p.main.sp, p.other.sp, value);
  }
  benchmark::DoNotOptimize(value);
  switch_context(&p.main, &p.other, kStop);
  destroy_context(&p.other);
  munmap(stack, kStackSize);
  set_per_switch(state);
}
BENCHMARK(BM_ContextSwitchRaw);
#endif

void exit_at_once(void* arg, uintptr_t value) {
  auto* p = static_cast<Partner*>(arg);
  exit_context(&p->other, &p->main, value + 1);
}

void BM_ContextStart(benchmark::State& state) {
  void* stack = map_stack();
  Partner p;
  init_thread_context(&p.main);
  uintptr_t value = 0;
  for (auto _ : state) {
    make_context(&p.other, stack, kStackSize, exit_at_once, &p);
    value = switch_context(&p.main, &p.other, value);
  }
  benchmark::DoNotOptimize(value);
  destroy_context(&p.other);
  munmap(stack, kStackSize);
}
BENCHMARK(BM_ContextStart);

}  // namespace
}  // namespace gort::sys
