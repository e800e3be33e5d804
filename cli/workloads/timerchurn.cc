// The `timerchurn` workload: goroutines that keep making, resetting and
// stopping channel Timers with deadlines 1 ms-1 s away, as code that sets
// and clears timeouts does; ns per operation.
//
// Each of 4 goroutines owns 64 Timers and, per operation, picks one and
// resets it (1/2), stops it (1/4) or replaces it with a new Timer (1/4,
// stopping the old one first), all with the same xorshift64 sequence as the
// Go twin (bench/go/timerchurn/main.go). Few timers ever fire: resets move
// their deadlines before they come. gort's later resets are lazy and its
// earlier ones O(log n) (timer/heap.cc); Go 1.19's are the modified-timer
// state machine of golang/go#41699.
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::cli {
namespace {

constexpr int kWorkers = 4;
constexpr int kTimersPerWorker = 64;

absl::StatusOr<Result> run_timerchurn(const WorkloadArgs& args,
                                      std::FILE* out) {
  const int64_t ops = args.get("ops");
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Join join;
    int64_t start = sys::nanotime();
    for (int w = 0; w < kWorkers; w++) {
      join.add();
      gort::go([&join, ops, w] {
        std::vector<time::Timer> ts;
        for (int i = 0; i < kTimersPerWorker; i++) ts.emplace_back(std::chrono::hours(1));
        uint64_t x = 88172645463325252ULL + static_cast<uint64_t>(w);
        for (int64_t i = 0; i < ops / kWorkers; i++) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          time::Timer& t = ts[x % kTimersPerWorker];
          auto d = std::chrono::microseconds(1000 + static_cast<int64_t>((x >> 8) % 999'000));
          switch ((x >> 32) % 4) {
            case 0:
            case 1:
              t.reset(d);
              break;
            case 2:
              t.stop();
              break;
            default:
              t.stop();
              t = time::Timer(d);
              break;
          }
        }
        for (auto& t : ts) t.stop();
        join.done();
      });
    }
    join.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "timerchurn: {} reset/stop/new operations on {} timers by {} "
             "goroutines in {:.1f} ms (GOMAXPROCS={})\n",
             ops, kWorkers * kTimersPerWorker, kWorkers, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(ops), "ns/op"};
}

const Registrar registrar(Workload{
    .name = "timerchurn",
    .description = "4 goroutines resetting, stopping and replacing 256 "
                   "Timers; ns per operation",
    .options = {{.name = "ops",
                 .help = "operations in all",
                 .default_value = 4'000'000,
                 .min_value = kWorkers}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_timerchurn,
});

}  // namespace
}  // namespace gort::cli
