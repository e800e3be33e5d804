// The `timers` workload: a million after_func timers with random delays of
// 0-100 ms, every other one stopped right after it is made; ms until every
// timer has either run or been stopped.
//
// It exercises what a server's timeouts do: many timers, most of them
// stopped before they fire. gort's heap stops a timer without its heap lock
// (lazy deletion, compaction past a quarter dead: timer/heap.cc); the Go
// twin (bench/go/timers/main.go) uses time.AfterFunc and Timer.Stop with a
// sync.WaitGroup, as gort uses Join.
#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_timers(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("timers");
  const int64_t max_us = args.get("max_delay_ms") * 1000;
  int64_t nanos = 0;
  int64_t stopped = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Join join;
    uint64_t x = 88172645463325252ULL;  // xorshift64: the twin's sequence too
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      auto d = std::chrono::microseconds(static_cast<int64_t>(x % static_cast<uint64_t>(max_us + 1)));
      join.add();
      time::Timer t = time::after_func(d, [&join] { join.done(); });
      if ((i & 1) != 0 && t.stop()) {
        stopped++;
        join.done();
      }
    }
    join.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "timers: {} after_func timers (0-{} ms), {} stopped, done in "
             "{:.1f} ms (GOMAXPROCS={})\n",
             n, max_us / 1000, stopped, nanos / 1e6, procs);
  return Result{nanos / 1e6, "ms"};
}

const Registrar registrar(Workload{
    .name = "timers",
    .description = "1M after_func timers with random 0-100 ms delays, half "
                   "stopped; ms until all ran or stopped",
    .options = {{.name = "timers",
                 .help = "timers to make",
                 .default_value = 1'000'000,
                 .min_value = 1},
                {.name = "max_delay_ms",
                 .help = "delays are uniform in [0, this] ms",
                 .default_value = 100,
                 .min_value = 0}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_timers,
});

}  // namespace
}  // namespace gort::cli
