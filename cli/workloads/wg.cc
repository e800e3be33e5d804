// The `wg` workload: 4 goroutines each do 1M add(1)/done() pairs on one
// shared syncx::WaitGroup (the counter word under contention; done never
// reaches zero early because main holds one count), then main's wait
// parks until the last done; ns per add/done pair over all goroutines. Go
// twin: bench/go/wg.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_wg(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  const int64_t goroutines = args.get("goroutines");
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    syncx::WaitGroup shared;
    syncx::WaitGroup finished;
    shared.add(1);  // main's count: keeps the workers' pairs above zero
    finished.add(goroutines);
    int64_t start = sys::nanotime();
    for (int64_t g = 0; g < goroutines; g++) {
      gort::go([&] {
        for (int64_t i = 0; i < n; i++) {
          shared.add(1);
          shared.done();
        }
        finished.done();
      });
    }
    finished.wait();
    shared.done();
    shared.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "wg: {} goroutines x {} add/done pairs in {:.3f} ms "
             "(GOMAXPROCS={})\n",
             goroutines, n, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n * goroutines),
                "ns/op"};
}

const Registrar registrar(Workload{
    .name = "wg",
    .description = "4 goroutines x 1M add/done pairs on one WaitGroup; ns "
                   "per pair",
    .options = {{.name = "ops",
                 .help = "add/done pairs per goroutine",
                 .default_value = 1'000'000,
                 .min_value = 1},
                {.name = "goroutines",
                 .help = "goroutines",
                 .default_value = 4,
                 .min_value = 1,
                 .max_value = 10'000}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_wg,
});

}  // namespace
}  // namespace gort::cli
