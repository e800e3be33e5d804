// Benchmarks of the cooperative preemption check (sched/preempt.h):
//   BM_YieldPoint       gort::yield_point(): inline %fs-relative flag read
//   BM_YieldPointCall   the previous path, sched::preempt_requested(): an
//                       out-of-line call to current_g() -> getm() (noinline)
//   BM_EmptyLoop        the loop alone, for reference
// Each runs 1000 checks per iteration on a goroutine (the case that
// matters), with wall-clock time since the goroutine may change threads.
// Outside namespace gort so that the loops count as user code.
#include <benchmark/benchmark.h>

#include "sched/sched.h"

namespace {

constexpr int kChecks = 1000;

template <typename Body>
void on_goroutine(benchmark::State& state, Body body) {
  gort::run([&] {
    for (auto _ : state) {
      for (int i = 0; i < kChecks; i++) body();
    }
  });
  state.SetItemsProcessed(state.iterations() * kChecks);
}

void BM_YieldPoint(benchmark::State& state) {
  on_goroutine(state, [] { gort::yield_point(); });
}
BENCHMARK(BM_YieldPoint)->UseRealTime();

void BM_YieldPointCall(benchmark::State& state) {
  on_goroutine(state, [] {
    if (gort::sched::preempt_requested()) gort::sched::preempt_yield();
  });
}
BENCHMARK(BM_YieldPointCall)->UseRealTime();

void BM_EmptyLoop(benchmark::State& state) {
  on_goroutine(state, [] { asm volatile(""); });
}
BENCHMARK(BM_EmptyLoop)->UseRealTime();

}  // namespace
