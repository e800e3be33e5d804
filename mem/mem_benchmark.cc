// Benchmarks of gort's allocator against glibc's malloc, same workload,
// same binary (//mem:mem_benchmark). Rows come in pairs, BM_Gort* and
// BM_Glibc*, to compare as a ratio.
//   MallocFree/N      alloc then free one N-byte object, one thread
//   Churn/N           1000 live objects; free a random one, allocate anew
//   ProducerConsumer  one thread allocates 64-byte objects, another frees
//                     them (every free is a cross-thread free)
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "mem/mem.h"

namespace {

struct Gort {
  static void* alloc(size_t n) { return gort::mem::alloc(n); }
  static void free(void* p) { gort::mem::free(p); }
};
struct Glibc {
  static void* alloc(size_t n) { return std::malloc(n); }
  static void free(void* p) { std::free(p); }
};

template <typename A>
void BM_MallocFree(benchmark::State& state) {
  size_t n = state.range(0);
  for (auto _ : state) {
    void* p = A::alloc(n);
    benchmark::DoNotOptimize(p);
    A::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename A>
void BM_Churn(benchmark::State& state) {
  size_t max = state.range(0);
  std::mt19937 rng(1);
  std::vector<void*> live(1000);
  std::vector<uint32_t> sizes(4096), slots(4096);
  for (auto& s : sizes) s = 16 + rng() % (max - 15);
  for (auto& s : slots) s = rng() % live.size();
  for (auto& p : live) p = A::alloc(16 + rng() % (max - 15));
  size_t i = 0;
  for (auto _ : state) {
    uint32_t k = slots[i & 4095];
    A::free(live[k]);
    live[k] = A::alloc(sizes[i & 4095]);
    benchmark::DoNotOptimize(live[k]);
    ++i;
  }
  for (void* p : live) A::free(p);
  state.SetItemsProcessed(state.iterations());
}

// A single-producer single-consumer ring of pointers.
struct Ring {
  static constexpr size_t kSize = 4096;
  void* slots[kSize];
  alignas(64) std::atomic<size_t> head{0};  // consumer's position
  alignas(64) std::atomic<size_t> tail{0};  // producer's position
};

template <typename A>
void BM_ProducerConsumer(benchmark::State& state) {
  Ring ring;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    size_t h = 0;
    for (;;) {
      size_t t = ring.tail.load(std::memory_order_acquire);
      if (h == t) {
        if (stop.load(std::memory_order_acquire) &&
            ring.tail.load(std::memory_order_acquire) == h) {
          break;
        }
        std::this_thread::yield();
        continue;
      }
      for (; h != t; ++h) A::free(ring.slots[h % Ring::kSize]);
      ring.head.store(h, std::memory_order_release);
    }
  });
  size_t t = 0;
  for (auto _ : state) {
    while (t - ring.head.load(std::memory_order_acquire) >= Ring::kSize) {
      std::this_thread::yield();
    }
    ring.slots[t % Ring::kSize] = A::alloc(64);
    ++t;
    if ((t & 63) == 0) ring.tail.store(t, std::memory_order_release);
  }
  ring.tail.store(t, std::memory_order_release);
  stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_TEMPLATE(BM_MallocFree, Gort)->RangeMultiplier(2)->Range(16, 256);
BENCHMARK_TEMPLATE(BM_MallocFree, Glibc)->RangeMultiplier(2)->Range(16, 256);
BENCHMARK_TEMPLATE(BM_Churn, Gort)->Arg(64)->Arg(256)->Arg(4096);
BENCHMARK_TEMPLATE(BM_Churn, Glibc)->Arg(64)->Arg(256)->Arg(4096);
BENCHMARK_TEMPLATE(BM_ProducerConsumer, Gort)->UseRealTime();
BENCHMARK_TEMPLATE(BM_ProducerConsumer, Glibc)->UseRealTime();

}  // namespace
