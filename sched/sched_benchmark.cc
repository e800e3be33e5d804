// Benchmarks of the scheduler's hot paths, the same workloads as `gort run
// spawn|yield|parkready|parked` and their Go twins in bench/go:
//
//   BM_Parked     1M goroutines parked at once on one semaphore: creation
//                 time, and resident bytes per goroutine (first iteration
//                 of the first run only)
//   BM_Spawn      go + join, in batches of 1M; time per goroutine
//   BM_Yield      two goroutines on GOMAXPROCS=1 yielding to each other;
//                 time per iteration = two yields
//   BM_ParkReady  a round trip between two goroutines through two
//                 semaphores (two parks, two readies)
//
// Each benchmark function calls gort::run once and iterates inside the main
// goroutine; the first argument is GOMAXPROCS.
//
// BM_Parked is registered first so that, run in file order, its first
// iteration makes fresh Gs and stacks: later iterations (and any benchmark
// after BM_Spawn) reuse dead Gs whose stack pages are already resident, so
// only a fresh process shows the true resident cost (`gort run parked`
// measures it that way).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "sched/sched.h"
#include "sched/sema.h"
#include "sys/clock.h"

namespace gort::sched {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int64_t kMillion = 2000;  // TSan: fibers are few and slow
#elif defined(__SANITIZE_ADDRESS__)
constexpr int64_t kMillion = 100'000;
#else
constexpr int64_t kMillion = 1'000'000;
#endif

// A WaitGroup for goroutines started one at a time (see cli/workloads/
// join.h, the same thing): the count starts at one, the waiter's own.
class Join {
 public:
  void add() { count_.fetch_add(1, std::memory_order_relaxed); }
  void done() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      semrelease(&sema_, false);
    }
  }
  void wait() {
    done();
    semacquire(&sema_, false);
  }

 private:
  std::atomic<int64_t> count_{1};
  uint32_t sema_ = 0;
};

int64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long size = 0, resident = 0;
  if (std::fscanf(f, "%lld %lld", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

// Runs body() as the main goroutine with GOMAXPROCS = procs.
template <typename F>
void run_on(int procs, F body) {
  run([&] {
    int prev = gomaxprocs(procs);
    body();
    gomaxprocs(prev);
  });
}

// Whether no BM_Parked has run in this process yet (its Gs are fresh).
bool g_parked_fresh = true;

void BM_Parked(benchmark::State& state) {
  const int64_t n = kMillion;
  double first_rss_per_g = -1;
  const bool fresh = g_parked_fresh;
  g_parked_fresh = false;
  run_on(static_cast<int>(state.range(0)), [&] {
    for (auto _ : state) {
      uint32_t release = 0;
      Join started, exited;
      int64_t rss0 = rss_bytes();
      for (int64_t i = 0; i < n; i++) {
        started.add();
        exited.add();
        go([&] {
          started.done();
          semacquire(&release, false);
          exited.done();
        });
      }
      started.wait();
      state.PauseTiming();
      if (fresh && first_rss_per_g < 0) {
        first_rss_per_g = static_cast<double>(rss_bytes() - rss0) / n;
      }
      for (int64_t i = 0; i < n; i++) semrelease(&release, false);
      exited.wait();
      state.ResumeTiming();
    }
  });
  // Only the process's first BM_Parked makes fresh Gs: later runs reuse
  // dead Gs whose stack pages are resident already, and would report ~0.
  if (fresh) state.counters["rss_B_per_g"] = first_rss_per_g;
  state.counters["ns_per_g"] = benchmark::Counter(
      static_cast<double>(n) * state.iterations(),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Parked)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2)
    ->UseRealTime();

void BM_Spawn(benchmark::State& state) {
  const int64_t batch = kMillion;
  run_on(static_cast<int>(state.range(0)), [&] {
    while (state.KeepRunningBatch(batch)) {
      Join join;
      for (int64_t i = 0; i < batch; i++) {
        join.add();
        go([&join] { join.done(); });
      }
      join.wait();
    }
  });
}
BENCHMARK(BM_Spawn)->Apply([](benchmark::internal::Benchmark* b) {
  for (int procs : {1, 2, 4}) b->Arg(procs);
})->UseRealTime();

void BM_Yield(benchmark::State& state) {
  run_on(1, [&] {
    std::atomic<bool> stop{false};
    Join join;
    join.add();
    go([&] {
      while (!stop.load(std::memory_order_relaxed)) yield();
      join.done();
    });
    for (auto _ : state) yield();
    stop.store(true, std::memory_order_relaxed);
    join.wait();
  });
  // Each iteration is a round: main yields to the other goroutine, which
  // yields back.
  state.counters["ns_per_yield"] = benchmark::Counter(
      2.0 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Yield)->UseRealTime();

void BM_ParkReady(benchmark::State& state) {
  run_on(static_cast<int>(state.range(0)), [&] {
    uint32_t ping = 0, pong = 0;
    std::atomic<bool> stop{false};
    Join join;
    join.add();
    go([&] {
      for (;;) {
        semacquire(&ping, false);
        // The count of ping orders main's store of stop before this load.
        if (stop.load(std::memory_order_relaxed)) break;
        semrelease(&pong, false);
      }
      join.done();
    });
    for (auto _ : state) {
      semrelease(&ping, false);
      semacquire(&pong, false);
    }
    stop.store(true, std::memory_order_relaxed);
    semrelease(&ping, false);
    join.wait();
  });
}
BENCHMARK(BM_ParkReady)->Apply([](benchmark::internal::Benchmark* b) {
  for (int procs : {1, 2}) b->Arg(procs);
})->UseRealTime();

}  // namespace
}  // namespace gort::sched
