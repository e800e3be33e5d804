// The `yield` workload: two goroutines on one P (GOMAXPROCS=1) that each
// yield N times, so that every yield switches to the other; ns per yield
// (the elapsed time over 2N). The Go twin (bench/go/yield/main.go) sets
// runtime.GOMAXPROCS(1) and calls runtime.Gosched() the same way.
//
// What it measures: the yield path (switch to g0, back on the run queue,
// pick the next G, switch to it). Go's Gosched puts the G on the global
// queue under sched.lock (proc.go goschedImpl); gort's yield uses the P's
// own queue, which is what gort's faster number mostly comes from.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_yield(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("yields");
  int64_t nanos = 0;
  gort::run([&] {
    int prev = gort::gomaxprocs(1);
    Join join;
    int64_t start = sys::nanotime();
    join.add();
    gort::go([&join, n] {
      for (int64_t i = 0; i < n; ++i) gort::yield();
      join.done();
    });
    for (int64_t i = 0; i < n; ++i) gort::yield();
    join.wait();
    nanos = sys::nanotime() - start;
    gort::gomaxprocs(prev);
  });
  fmt::print(out,
             "yield: 2 goroutines x {} yields on GOMAXPROCS=1 in {:.3f} ms\n",
             n, nanos / 1e6);
  return Result{static_cast<double>(nanos) / static_cast<double>(2 * n),
                "ns/yield"};
}

const Registrar registrar(Workload{
    .name = "yield",
    .description = "two goroutines on one P yielding to each other; ns per "
                   "yield",
    .options = {{.name = "yields",
                 .help = "yields by each of the two goroutines",
                 .default_value = 1'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_yield,
});

}  // namespace
}  // namespace gort::cli
