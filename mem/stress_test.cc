// Stress tests of the allocator across threads (bounded in count and time):
// random sizes with fill patterns (no two live objects overlap, nobody
// writes a live object it does not own), frees on other threads, and
// MemStats' identities read concurrently.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "mem/mem.h"
#include "mem/mheap.h"
#include "mem/tally.h"

namespace gort::mem {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int kOps = 30000;
#else
constexpr int kOps = 300000;
#endif
constexpr int kThreads = 8;

struct Obj {
  unsigned char* p;
  size_t size;
};

unsigned char tag(const Obj& o) {
  uintptr_t v = reinterpret_cast<uintptr_t>(o.p);
  return static_cast<unsigned char>((v >> 3) ^ (v >> 11) ^ o.size);
}

// Fills the whole object up to 4 KiB, else its first and last 512 bytes.
void fill(const Obj& o) {
  unsigned char t = tag(o);
  if (o.size <= 4096) {
    std::memset(o.p, t, o.size);
  } else {
    std::memset(o.p, t, 512);
    std::memset(o.p + o.size - 512, t, 512);
  }
}

bool intact(const Obj& o) {
  unsigned char t = tag(o);
  auto ok = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      if (o.p[i] != t) return false;
    }
    return true;
  };
  if (o.size <= 4096) return ok(0, o.size);
  return ok(0, 512) && ok(o.size - 512, 512);
}

size_t random_size(std::mt19937_64& rng) {
  unsigned r = rng() % 1000;
  if (r < 600) return 1 + rng() % 128;
  if (r < 900) return 1 + rng() % 2048;
  if (r < 995) return 1 + rng() % 32768;
  return 32769 + rng() % (256 << 10);
}

// The identities that every snapshot keeps, however busy the heap.
void check_identities(const MemStats& m) {
  ASSERT_EQ(m.heap_sys, m.heap_idle + m.heap_inuse);
  ASSERT_LE(m.heap_released, m.heap_idle);
  ASSERT_GE(m.mallocs, m.frees);
  ASSERT_EQ(m.heap_objects, m.mallocs - m.frees);
  ASSERT_EQ(m.alloc, m.heap_alloc);
  ASSERT_LE(m.heap_alloc, m.total_alloc);
  ASSERT_EQ(m.sys, m.heap_sys + m.stack_sys + m.mspan_sys + m.mcache_sys +
                       m.buck_hash_sys + m.gc_sys + m.other_sys);
}

// 8 threads allocate and free random sizes; a third of the frees happen on
// another thread (through a shared exchange). Every object keeps its fill
// pattern until it is freed; kZero objects arrive zeroed; MemStats keeps
// its identities throughout and is exact again at the end.
TEST(MallocStress, RandomSizesAcrossThreads) {
  // Exact at the end, less what the harness allocated meanwhile when gort
  // is the process's malloc (mem/tally.h).
  tally_on();
  Tally t0 = tally_read();
  release_cached_spans();  // see the end
  MemStats before = read_mem_stats();
  std::mutex ex_mu;
  std::vector<Obj> exchange;
  std::atomic<bool> done{false};
  std::atomic<int> corrupt{0}, not_zero{0};

  std::thread reader([&] {
    int n = 0;
    while (!done.load(std::memory_order_acquire)) {
      check_identities(read_mem_stats());
      if (++n % 64 == 0) std::this_thread::yield();
    }
  });

  auto worker = [&](int id) {
    std::mt19937_64 rng(1000 + id);
    std::vector<Obj> mine;
    for (int op = 0; op < kOps; ++op) {
      unsigned r = rng() % 100;
      if (r < 52 || mine.empty()) {
        Obj o{nullptr, random_size(rng)};
        unsigned flags =
            (rng() % 4 == 0 ? kNoScan : 0) | (rng() % 8 == 0 ? kZero : 0);
        o.p = static_cast<unsigned char*>(alloc(o.size, flags));
        if (flags & kZero) {
          size_t n = o.size < 4096 ? o.size : 4096;
          for (size_t i = 0; i < n; ++i) {
            if (o.p[i] != 0) {
              not_zero.fetch_add(1);
              break;
            }
          }
        }
        fill(o);
        mine.push_back(o);
      } else if (r < 85) {
        size_t i = rng() % mine.size();
        Obj o = mine[i];
        mine[i] = mine.back();
        mine.pop_back();
        if (!intact(o)) corrupt.fetch_add(1);
        free(o.p);
      } else if (r < 95) {
        size_t i = rng() % mine.size();
        std::lock_guard<std::mutex> l(ex_mu);
        exchange.push_back(mine[i]);
        mine[i] = mine.back();
        mine.pop_back();
      } else {
        std::vector<Obj> got;
        {
          std::lock_guard<std::mutex> l(ex_mu);
          got.swap(exchange);
        }
        for (const Obj& o : got) {
          if (!intact(o)) corrupt.fetch_add(1);
          free(o.p);
        }
      }
    }
    for (const Obj& o : mine) {
      if (!intact(o)) corrupt.fetch_add(1);
      free(o.p);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  // The last exchanged objects are freed on a thread that then exits, so
  // that its batched frees are applied before the final count.
  std::thread([&] {
    for (const Obj& o : exchange) {
      if (!intact(o)) corrupt.fetch_add(1);
      free(o.p);
    }
  }).join();
  done.store(true, std::memory_order_release);
  reader.join();

  EXPECT_EQ(corrupt.load(), 0);
  EXPECT_EQ(not_zero.load(), 0);
  // This thread's cache and the exiting threads' orphan cache give back
  // their spans and apply their batched frees (here and before `before`),
  // so that only live objects hold spans: when gort is the process's
  // malloc, the harness's allocations here and in exiting threads
  // (std::vector, std::thread, libc's thread state) take spans into them
  // and free into the workers' spans.
  release_cached_spans();
  MemStats raw = read_mem_stats();
  check_identities(raw);
  Tally t1 = tally_read();
  MemStats after = subtract_tally(raw, t0, t1);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_EQ(after.heap_objects, before.heap_objects);
  EXPECT_GT(after.mallocs - before.mallocs, uint64_t{kThreads} * kOps / 3);
  // The workers exited: their caches returned every span (but for those
  // that the harness's objects, if any, still hold).
  EXPECT_LE(after.heap_inuse, before.heap_inuse + tally_span_bound(t0, t1));
  if (t1.mallocs + t1.frees == 0) EXPECT_EQ(after.heap_inuse, before.heap_inuse);
  heap().verify();
}

// Producer/consumer: every object is freed by a thread that did not
// allocate it, for many rounds; memory is reused, not leaked.
TEST(MallocStress, ProducerConsumer) {
  constexpr int kPairs = 3;
  constexpr int kPerRound = 2000;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 20;
#else
  constexpr int kRounds = 200;
#endif
  tally_on();  // see RandomSizesAcrossThreads
  Tally t0 = tally_read();
  release_cached_spans();
  MemStats before = read_mem_stats();
  std::vector<std::thread> threads;
  std::atomic<int> corrupt{0};
  for (int pair = 0; pair < kPairs; ++pair) {
    auto q = std::make_shared<std::vector<std::vector<Obj>>>(kRounds);
    auto ready = std::make_shared<std::atomic<int>>(0);
    threads.emplace_back([=] {
      std::mt19937_64 rng(pair);
      for (int r = 0; r < kRounds; ++r) {
        auto& v = (*q)[r];
        for (int i = 0; i < kPerRound; ++i) {
          Obj o{nullptr, 16 + rng() % 240};
          o.p = static_cast<unsigned char*>(alloc(o.size));
          fill(o);
          v.push_back(o);
        }
        ready->store(r + 1, std::memory_order_release);
      }
    });
    threads.emplace_back([=, &corrupt] {
      for (int r = 0; r < kRounds; ++r) {
        while (ready->load(std::memory_order_acquire) <= r) {
          std::this_thread::yield();
        }
        for (const Obj& o : (*q)[r]) {
          if (!intact(o)) corrupt.fetch_add(1);
          free(o.p);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(corrupt.load(), 0);
  // This thread's cache and the exiting threads' orphan cache give back
  // their spans and apply their batched frees (here and before `before`),
  // so that only live objects hold spans: when gort is the process's
  // malloc, the harness's allocations here and in exiting threads
  // (std::vector, std::thread, libc's thread state) take spans into them
  // and free into the workers' spans.
  release_cached_spans();
  MemStats raw = read_mem_stats();
  Tally t1 = tally_read();
  MemStats after = subtract_tally(raw, t0, t1);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_LE(after.heap_inuse, before.heap_inuse + tally_span_bound(t0, t1));
  if (t1.mallocs + t1.frees == 0) EXPECT_EQ(after.heap_inuse, before.heap_inuse);
  heap().verify();
}

}  // namespace
}  // namespace gort::mem
