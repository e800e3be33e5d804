// Timer throughput: the heap alone (add + run, add + stop), and the time
// API on the scheduler (after_func + stop, sleep round trips, Timer reset
// and stop churn). The headline comparisons with Go are the workloads
// `timers`, `sleepers`, `timerchurn` and `lateness` (cli/workloads/).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "sched/sched.h"
#include "sys/clock.h"
#include "timer/heap.h"
#include "timer/time.h"

namespace gort::time {
namespace {

using namespace std::chrono_literals;

void noop(void*, uint64_t, int64_t) {}

// Heap insert of n timers at random deadlines, then one run that fires all.
void BM_HeapAddRun(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<timer::Timer*> ts;
  for (int64_t i = 0; i < n; i++) ts.push_back(new timer::Timer(noop, nullptr));
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    timer::Heap h;
    for (auto* t : ts) t->reset(&h, 1 + static_cast<int64_t>(rng() % 100'000'000), 0);
    h.run(timer::kNever - 1);
  }
  for (auto* t : ts) delete t;
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_HeapAddRun)->Arg(1000)->Arg(100'000);

// Heap insert then lazy stop of every timer (the drop happens at compaction).
void BM_HeapAddStop(benchmark::State& state) {
  const int64_t n = state.range(0);
  std::vector<timer::Timer*> ts;
  for (int64_t i = 0; i < n; i++) ts.push_back(new timer::Timer(noop, nullptr));
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    timer::Heap h;
    for (auto* t : ts) {
      t->reset(&h, 1 + static_cast<int64_t>(rng() % 100'000'000), 0);
      t->stop();
    }
    h.run(timer::kNever - 1);
  }
  for (auto* t : ts) delete t;
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_HeapAddStop)->Arg(1000)->Arg(100'000);

// after_func + stop on the scheduler, one goroutine.
void BM_AfterFuncStop(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    gort::run([&] {
      for (int i = 0; i < 10000; i++) {
        Timer t = after_func(std::chrono::milliseconds(1 + i % 100), [] {});
        t.stop();
      }
    });
    n += 10000;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_AfterFuncStop);

// A Timer reset to a later and an earlier deadline, then stopped.
void BM_TimerResetStop(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    gort::run([&] {
      Timer t(1h);
      for (int i = 0; i < 10000; i++) {
        t.reset(10s);
        t.reset(5s);
        t.stop();
      }
    });
    n += 10000;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_TimerResetStop);

// sleep(1 µs) round trips: park, heap insert, fire, ready.
void BM_Sleep(benchmark::State& state) {
  int64_t n = 0;
  for (auto _ : state) {
    gort::run([&] {
      for (int i = 0; i < 1000; i++) sleep(1us);
    });
    n += 1000;
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_Sleep);

}  // namespace
}  // namespace gort::time
