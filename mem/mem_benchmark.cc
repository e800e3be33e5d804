// Benchmarks of gort's allocator against the process's malloc, same
// workload, same binary (//mem:mem_benchmark). Rows come in pairs, <Gort>
// (gort::mem's API) and <Libc> (std::malloc: glibc's, or whichever
// allocator LD_PRELOAD put in its place; mem/compare_allocators.py runs
// this binary under tcmalloc, jemalloc, mimalloc and gort's own
// libgortmalloc.so that way).
//   MallocFree/N      alloc then free one N-byte object, one thread
//   Churn/N           1000 live objects; free a random one, allocate anew
//   ProducerConsumer  one thread allocates 64-byte objects, another frees
//                     them (every free is a cross-thread free)
//   Larson            Larson and Krishnan's server model, 2 threads: each
//                     keeps 1000 objects of 16-512 B, replaces a random one
//                     per op, and every 4096 ops trades its whole set with
//                     the other thread (so most frees are remote)
//   Xmalloc           after Lever and Boreham's xmalloc-test, 2 threads:
//                     allocate a batch of 256 objects of 16-512 B, hand it
//                     to a shared queue, free a batch taken from it
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "mem/mem.h"

namespace {

struct Gort {
  static void* alloc(size_t n) { return gort::mem::alloc(n); }
  static void free(void* p) { gort::mem::free(p); }
};
struct Libc {
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

// ---- Larson ------------------------------------------------------------------

// Each instantiation (one per allocator) has its own exchange. Every thread
// frees whatever is left in it when it ends (under mu), so nothing leaks
// whichever thread ends last.
template <typename A>
struct LarsonExchange {
  static LarsonExchange& get() {
    static LarsonExchange e;
    return e;
  }
  std::mutex mu;
  std::vector<void*> parked;
};

template <typename A>
void BM_Larson(benchmark::State& state) {
  constexpr size_t kLive = 1000;
  auto& exchange = LarsonExchange<A>::get();
  std::mt19937 rng(static_cast<uint32_t>(state.thread_index() + 1));
  std::vector<void*> mine;
  size_t i = 0;
  for (auto _ : state) {
    if (mine.empty()) {  // first op, or traded for an empty exchange
      mine.resize(kLive);
      for (auto& p : mine) p = A::alloc(16 + rng() % 497);
    }
    size_t k = rng() % kLive;
    A::free(mine[k]);
    mine[k] = A::alloc(16 + rng() % 497);
    benchmark::DoNotOptimize(mine[k]);
    if ((++i & 4095) == 0) {
      std::lock_guard<std::mutex> l(exchange.mu);
      std::swap(mine, exchange.parked);
    }
  }
  for (void* p : mine) A::free(p);
  std::lock_guard<std::mutex> l(exchange.mu);
  for (void* p : exchange.parked) A::free(p);
  exchange.parked.clear();
  state.SetItemsProcessed(state.iterations());
}

// ---- Xmalloc -----------------------------------------------------------------

template <typename A>
struct XmallocQueue {
  static XmallocQueue& get() {
    static XmallocQueue q;
    return q;
  }
  std::mutex mu;
  std::deque<std::vector<void*>> batches;
};

template <typename A>
void BM_Xmalloc(benchmark::State& state) {
  constexpr size_t kBatch = 256;
  auto& queue = XmallocQueue<A>::get();
  std::mt19937 rng(static_cast<uint32_t>(state.thread_index() + 7));
  std::vector<void*> batch, taken;
  for (auto _ : state) {
    batch.reserve(kBatch);
    for (size_t j = 0; j < kBatch; j++) batch.push_back(A::alloc(16 + rng() % 497));
    {
      std::lock_guard<std::mutex> l(queue.mu);
      queue.batches.push_back(std::move(batch));
      taken = std::move(queue.batches.front());
      queue.batches.pop_front();
    }
    for (void* p : taken) A::free(p);
    taken.clear();
    batch.clear();
  }
  std::lock_guard<std::mutex> l(queue.mu);
  for (auto& b : queue.batches) {
    for (void* p : b) A::free(p);
  }
  queue.batches.clear();
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK_TEMPLATE(BM_MallocFree, Gort)->RangeMultiplier(2)->Range(16, 256);
BENCHMARK_TEMPLATE(BM_MallocFree, Libc)->RangeMultiplier(2)->Range(16, 256);
BENCHMARK_TEMPLATE(BM_Churn, Gort)->Arg(64)->Arg(256)->Arg(4096);
BENCHMARK_TEMPLATE(BM_Churn, Libc)->Arg(64)->Arg(256)->Arg(4096);
BENCHMARK_TEMPLATE(BM_ProducerConsumer, Gort)->UseRealTime();
BENCHMARK_TEMPLATE(BM_ProducerConsumer, Libc)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Larson, Gort)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Larson, Libc)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Xmalloc, Gort)->Threads(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Xmalloc, Libc)->Threads(2)->UseRealTime();

}  // namespace
