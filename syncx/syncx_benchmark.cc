// Benchmarks of syncx, the workloads of `gort bench` in Google Benchmark
// form, with std::mutex and absl::Mutex beside syncx::Mutex:
//
//   BM_Mutex1_{Syncx,Std,Absl}   uncontended lock/increment/unlock
//   BM_Mutex_Syncx/P             8 goroutines on P Ps, lock/increment/unlock
//   BM_Mutex_{Std,Absl}/P        the same with std::mutex / absl::Mutex,
//                                held by goroutines (they never park while
//                                holding it, so it is safe here)
//   BM_Mutex_{Std,Absl}Threads   8 plain threads, for reference
//   BM_RWMutexReadMostly/P       4 goroutines, 1% writes
//   BM_WaitGroup/P               4 goroutines x add/done
//   BM_Once                      a fresh Once called twice
//   BM_Pool/P                    get/put of 1 KiB buffers, 2 goroutines
//   BM_SyncMap{99,50}/P          4 goroutines over 1000 keys
//   BM_ShardedMap{99,50}/P       the same on ShardedMap
//
// Every multi-goroutine benchmark moves a batch of kBatch operations per
// goroutine per iteration; the `op` counter is the time per operation.
#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "sched/sched.h"
#include "syncx/syncx.h"

namespace gort::syncx {
namespace {

constexpr int64_t kBatch = 1 << 14;

class ScopedProcs {
 public:
  explicit ScopedProcs(int n) : old_(gomaxprocs(n)) {}
  ~ScopedProcs() { gomaxprocs(old_); }

 private:
  int old_;
};

void set_per_op(benchmark::State& state, int64_t per_iteration) {
  state.counters["op"] = benchmark::Counter(
      static_cast<double>(per_iteration),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Runs body(g) on `goroutines` goroutines per iteration and waits.
template <typename Body>
void run_goroutines(benchmark::State& state, int goroutines, Body body) {
  ScopedProcs procs(static_cast<int>(state.range(0)));
  run([&] {
    for (auto _ : state) {
      WaitGroup wg;
      wg.add(goroutines);
      for (int g = 0; g < goroutines; g++) {
        go([&, g] {
          body(g);
          wg.done();
        });
      }
      wg.wait();
    }
  });
  set_per_op(state, kBatch * goroutines);
}

template <typename M>
void BM_Mutex1(benchmark::State& state) {
  M mu;
  int64_t counter = 0;
  for (auto _ : state) {
    mu.lock();
    counter++;
    mu.unlock();
  }
  benchmark::DoNotOptimize(counter);
}
// absl::Mutex spells it Lock/Unlock.
struct AbslMutex {
  absl::Mutex mu;
  void lock() { mu.Lock(); }
  void unlock() { mu.Unlock(); }
};
BENCHMARK(BM_Mutex1<Mutex>)->Name("BM_Mutex1_Syncx");
BENCHMARK(BM_Mutex1<std::mutex>)->Name("BM_Mutex1_Std");
BENCHMARK(BM_Mutex1<AbslMutex>)->Name("BM_Mutex1_Absl");

template <typename M>
void BM_Mutex(benchmark::State& state) {
  M mu;
  int64_t counter = 0;
  run_goroutines(state, 8, [&](int) {
    for (int64_t i = 0; i < kBatch; i++) {
      mu.lock();
      counter++;
      mu.unlock();
    }
  });
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(BM_Mutex<Mutex>)->Name("BM_Mutex_Syncx")->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_Mutex<std::mutex>)->Name("BM_Mutex_Std")->Arg(2)->UseRealTime();
BENCHMARK(BM_Mutex<AbslMutex>)->Name("BM_Mutex_Absl")->Arg(2)->UseRealTime();

template <typename M>
void BM_MutexThreads(benchmark::State& state) {
  M mu;
  int64_t counter = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; t++) {
      threads.emplace_back([&] {
        for (int64_t i = 0; i < kBatch; i++) {
          mu.lock();
          counter++;
          mu.unlock();
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  set_per_op(state, kBatch * 8);
  benchmark::DoNotOptimize(counter);
}
BENCHMARK(BM_MutexThreads<Mutex>)->Name("BM_Mutex_SyncxThreads")->UseRealTime();
BENCHMARK(BM_MutexThreads<std::mutex>)->Name("BM_Mutex_StdThreads")->UseRealTime();
BENCHMARK(BM_MutexThreads<AbslMutex>)->Name("BM_Mutex_AbslThreads")->UseRealTime();

void BM_RWMutexReadMostly(benchmark::State& state) {
  RWMutex rw;
  int64_t writes = 0;
  run_goroutines(state, 4, [&](int) {
    int64_t local = 0;
    for (int64_t i = 0; i < kBatch; i++) {
      if (i % 100 == 0) {
        rw.lock();
        writes++;
        rw.unlock();
      } else {
        rw.rlock();
        local += writes;
        rw.runlock();
      }
    }
    benchmark::DoNotOptimize(local);
  });
}
BENCHMARK(BM_RWMutexReadMostly)->Arg(1)->Arg(2)->UseRealTime();

void BM_WaitGroup(benchmark::State& state) {
  WaitGroup shared;
  shared.add(1);
  run_goroutines(state, 4, [&](int) {
    for (int64_t i = 0; i < kBatch; i++) {
      shared.add(1);
      shared.done();
    }
  });
  shared.done();
}
BENCHMARK(BM_WaitGroup)->Arg(2)->UseRealTime();

void BM_Once(benchmark::State& state) {
  int64_t calls = 0;
  for (auto _ : state) {
    Once once;
    once.call([&] { calls++; });
    once.call([&] { calls++; });
  }
  benchmark::DoNotOptimize(calls);
}
BENCHMARK(BM_Once);

void BM_Pool(benchmark::State& state) {
  using Buffer = std::array<unsigned char, 1024>;
  Pool<Buffer> pool([] { return std::make_unique<Buffer>(); });
  run_goroutines(state, 2, [&](int) {
    for (int64_t i = 0; i < kBatch; i++) {
      std::unique_ptr<Buffer> b = pool.get();
      (*b)[i & 1023] = static_cast<unsigned char>(i);
      pool.put(std::move(b));
    }
  });
}
BENCHMARK(BM_Pool)->Arg(1)->Arg(2)->UseRealTime();

template <typename M, int kStorePercent>
void BM_Map(benchmark::State& state) {
  M m;
  for (int64_t k = 0; k < 1000; k++) m.store(k, k);
  run_goroutines(state, 4, [&](int g) {
    uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(g + 1);
    int64_t found = 0;
    for (int64_t i = 0; i < kBatch; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      int64_t key = static_cast<int64_t>(x % 1000);
      if (static_cast<int>((x >> 32) % 100) < kStorePercent) {
        m.store(key, i);
      } else if (m.load(key).has_value()) {
        found++;
      }
    }
    benchmark::DoNotOptimize(found);
  });
}
BENCHMARK(BM_Map<Map<int64_t, int64_t>, 1>)->Name("BM_SyncMap99")->Arg(2)->UseRealTime();
BENCHMARK(BM_Map<Map<int64_t, int64_t>, 50>)->Name("BM_SyncMap50")->Arg(2)->UseRealTime();
BENCHMARK(BM_Map<ShardedMap<int64_t, int64_t>, 1>)
    ->Name("BM_ShardedMap99")
    ->Arg(2)
    ->UseRealTime();
BENCHMARK(BM_Map<ShardedMap<int64_t, int64_t>, 50>)
    ->Name("BM_ShardedMap50")
    ->Arg(2)
    ->UseRealTime();

}  // namespace
}  // namespace gort::syncx
