// The `spawn` workload: start N goroutines that do nothing but mark
// themselves done, then wait for all of them; ns per goroutine. The Go twin
// (bench/go/spawn/main.go) is `wg.Add(1); go func() { wg.Done() }()` N
// times, then `wg.Wait()`, at the default GOMAXPROCS (the CPU count).
//
// What it measures: `go` (a G from the P's free list, or a new G and stack
// the first time), the run queues (the spawner's runnext, overflow to the
// global queue, stealing by the other Ps) and goroutine exit.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_spawn(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("goroutines");
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Join join;
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < n; ++i) {
      join.add();
      gort::go([&join] { join.done(); });
    }
    join.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "spawn: {} goroutines started and joined in {:.3f} ms "
             "(GOMAXPROCS={})\n",
             n, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n),
                "ns/goroutine"};
}

const Registrar registrar(Workload{
    .name = "spawn",
    .description = "start N goroutines that only finish, then join them; "
                   "ns per goroutine",
    .options = {{.name = "goroutines",
                 .help = "goroutines to start (each runs `done()` and exits)",
                 .default_value = 1'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_spawn,
});

}  // namespace
}  // namespace gort::cli
