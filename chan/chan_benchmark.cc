// Benchmarks of channels and select, the same workloads as `gort run
// pingpong|bufchan|mpmc|select4` (and their Go twins in bench/go):
//
//   BM_PingPong   a round trip between two goroutines over two unbuffered
//                 channels; time per round trip
//   BM_BufChan    1 producer, 1 consumer, a channel of capacity 1024; a batch
//                 of 64Ki items per iteration, `item` = time per item
//   BM_Mpmc       4 producers, 4 consumers, one channel of capacity 128;
//                 64Ki items per iteration
//   BM_Select4    4 producers, each with its own channel (cap 128), one
//                 consumer selecting over the 4; 64Ki selects per iteration
//
// The argument is GOMAXPROCS. With Boost.Fiber installed
// (GORT_HAVE_BOOST_FIBER), BM_BoostFiber_* run the first three with
// boost::fibers channels, all fibers on one thread (Boost's default
// round-robin scheduler; Boost.Fiber has no select).
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

#include "chan/chan.h"
#include "sched/sched.h"

#if defined(GORT_HAVE_BOOST_FIBER)
#include <boost/fiber/all.hpp>
#endif

namespace gort {
namespace {

constexpr int64_t kBatch = 1 << 16;

class ScopedProcs {
 public:
  explicit ScopedProcs(int n) : old_(gomaxprocs(n)) {}
  ~ScopedProcs() { gomaxprocs(old_); }

 private:
  int old_;
};

// Reports the time per item of a benchmark that moves `per_iteration`
// items per iteration.
void set_per_item(benchmark::State& state, int64_t per_iteration) {
  state.counters["item"] =
      benchmark::Counter(static_cast<double>(per_iteration),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}

void BM_PingPong(benchmark::State& state) {
  ScopedProcs procs(static_cast<int>(state.range(0)));
  run([&] {
    auto ping = make_chan<int64_t>();
    auto pong = make_chan<int64_t>();
    go([=] {
      for (;;) {
        int64_t v = ping.recv();
        if (v < 0) return;
        pong.send(v + 1);
      }
    });
    int64_t i = 0;
    for (auto _ : state) {
      ping.send(i++);
      benchmark::DoNotOptimize(pong.recv());
    }
    ping.send(-1);
  });
}
BENCHMARK(BM_PingPong)->Arg(1)->Arg(2)->UseRealTime();

void BM_BufChan(benchmark::State& state) {
  ScopedProcs procs(static_cast<int>(state.range(0)));
  run([&] {
    for (auto _ : state) {
      auto c = make_chan<int64_t>(1024);
      go([c] {
        for (int64_t i = 0; i < kBatch; ++i) c.send(i);
        c.close();
      });
      int64_t sum = 0;
      for (int64_t v : c) sum += v;
      benchmark::DoNotOptimize(sum);
    }
  });
  set_per_item(state, kBatch);
}
BENCHMARK(BM_BufChan)->Arg(1)->Arg(2)->UseRealTime();

void BM_Mpmc(benchmark::State& state) {
  ScopedProcs procs(static_cast<int>(state.range(0)));
  constexpr int kSide = 4;
  run([&] {
    for (auto _ : state) {
      auto data = make_chan<int64_t>(128);
      auto produced = make_chan<int>(kSide);
      auto sums = make_chan<int64_t>(kSide);
      for (int p = 0; p < kSide; ++p) {
        go([=] {
          for (int64_t i = p; i < kBatch; i += kSide) data.send(i);
          produced.send(0);
        });
      }
      go([=] {
        for (int p = 0; p < kSide; ++p) produced.recv();
        data.close();
      });
      for (int k = 0; k < kSide; ++k) {
        go([=] {
          int64_t s = 0;
          for (int64_t v : data) s += v;
          sums.send(s);
        });
      }
      int64_t sum = 0;
      for (int k = 0; k < kSide; ++k) sum += sums.recv();
      benchmark::DoNotOptimize(sum);
    }
  });
  set_per_item(state, kBatch);
}
BENCHMARK(BM_Mpmc)->Arg(1)->Arg(2)->UseRealTime();

void BM_Select4(benchmark::State& state) {
  ScopedProcs procs(static_cast<int>(state.range(0)));
  run([&] {
    for (auto _ : state) {
      std::array<Chan<int64_t>, 4> c;
      for (auto& x : c) x = make_chan<int64_t>(128);
      for (int k = 0; k < 4; ++k) {
        go([ch = c[k], k] {
          for (int64_t i = k; i < kBatch; i += 4) ch.send(i);
        });
      }
      int64_t sum = 0;
      auto add = [&sum](int64_t v) { sum += v; };
      for (int64_t i = 0; i < kBatch; ++i) {
        select(on_recv(c[0], add), on_recv(c[1], add), on_recv(c[2], add),
               on_recv(c[3], add));
      }
      benchmark::DoNotOptimize(sum);
    }
  });
  set_per_item(state, kBatch);
}
BENCHMARK(BM_Select4)->Arg(1)->Arg(2)->UseRealTime();

#if defined(GORT_HAVE_BOOST_FIBER)

void BM_BoostFiber_PingPong(benchmark::State& state) {
  boost::fibers::unbuffered_channel<int64_t> ping, pong;
  boost::fibers::fiber partner([&] {
    int64_t v;
    while (ping.pop(v) == boost::fibers::channel_op_status::success)
      pong.push(v + 1);
  });
  int64_t i = 0;
  for (auto _ : state) {
    ping.push(i++);
    int64_t v;
    pong.pop(v);
    benchmark::DoNotOptimize(v);
  }
  ping.close();
  partner.join();
}
BENCHMARK(BM_BoostFiber_PingPong)->UseRealTime();

void BM_BoostFiber_BufChan(benchmark::State& state) {
  for (auto _ : state) {
    boost::fibers::buffered_channel<int64_t> c(1024);  // a power of two
    boost::fibers::fiber producer([&] {
      for (int64_t i = 0; i < kBatch; ++i) c.push(i);
      c.close();
    });
    int64_t sum = 0;
    for (int64_t v : c) sum += v;
    producer.join();
    benchmark::DoNotOptimize(sum);
  }
  set_per_item(state, kBatch);
}
BENCHMARK(BM_BoostFiber_BufChan)->UseRealTime();

void BM_BoostFiber_Mpmc(benchmark::State& state) {
  constexpr int kSide = 4;
  for (auto _ : state) {
    boost::fibers::buffered_channel<int64_t> data(128);
    std::array<int64_t, kSide> sums{};
    std::array<boost::fibers::fiber, kSide> producers, consumers;
    for (int p = 0; p < kSide; ++p) {
      producers[p] = boost::fibers::fiber([&data, p] {
        for (int64_t i = p; i < kBatch; i += kSide) data.push(i);
      });
    }
    for (int k = 0; k < kSide; ++k) {
      consumers[k] = boost::fibers::fiber([&data, &sums, k] {
        for (int64_t v : data) sums[k] += v;
      });
    }
    for (auto& f : producers) f.join();
    data.close();
    for (auto& f : consumers) f.join();
    benchmark::DoNotOptimize(sums);
  }
  set_per_item(state, kBatch);
}
BENCHMARK(BM_BoostFiber_Mpmc)->UseRealTime();

#endif  // GORT_HAVE_BOOST_FIBER

}  // namespace
}  // namespace gort
