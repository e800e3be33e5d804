// The `sleepers` workload: 100k goroutines each sleeping 1 ms ten times; ms
// until all are done.
//
// A sleep parks the goroutine with one insert into its P's timer heap and
// no channel (timer/time.cc); the Go twin (bench/go/sleepers/main.go) calls
// time.Sleep, which in Go 1.19 also uses a per-goroutine timer.
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

absl::StatusOr<Result> run_sleepers(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("goroutines");
  const int64_t sleeps = args.get("sleeps");
  const auto d = std::chrono::microseconds(args.get("sleep_us"));
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Join join;
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < n; i++) {
      join.add();
      gort::go([&join, sleeps, d] {
        for (int64_t k = 0; k < sleeps; k++) time::sleep(d);
        join.done();
      });
    }
    join.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "sleepers: {} goroutines x {} sleeps of {} us in {:.1f} ms "
             "(GOMAXPROCS={})\n",
             n, sleeps, d.count(), nanos / 1e6, procs);
  return Result{nanos / 1e6, "ms"};
}

const Registrar registrar(Workload{
    .name = "sleepers",
    .description = "100k goroutines x 10 sleep(1 ms); ms until all are done",
    .options = {{.name = "goroutines",
                 .help = "sleeping goroutines",
                 .default_value = 100'000,
                 .min_value = 1},
                {.name = "sleeps",
                 .help = "sleeps per goroutine",
                 .default_value = 10,
                 .min_value = 1},
                {.name = "sleep_us",
                 .help = "each sleep, in microseconds",
                 .default_value = 1000,
                 .min_value = 0}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_sleepers,
});

}  // namespace
}  // namespace gort::cli
