// The `parked` workload: N goroutines parked at once, each on the same
// semaphore. The result is the creation time in ms (from the first `go` to
// the moment the last goroutine has started and is about to park); it also
// prints the resident memory each parked goroutine costs:
//   rss: N B/goroutine
// (resident bytes after minus before, over N, from /proc/self/statm).
// Then it releases them all and waits for them to exit.
//
// The Go twin (bench/go/parked/main.go) parks its goroutines in
// WaitGroup.Wait, which is Go's runtime semaphore (runtime_Semacquire), and
// releases them with one Done, which wakes every waiter.
//
// What it measures: a new G and stack per goroutine (nothing is reused: all
// are alive at once), the stack's first touched page, and park.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sched/sema.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_parked(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("goroutines");
  int64_t nanos = 0;
  int64_t rss_before = 0, rss_after = 0;
  gort::run([&] {
    uint32_t release = 0;
    Join started, exited;
    rss_before = rss_bytes();
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < n; ++i) {
      started.add();
      exited.add();
      gort::go([&] {
        started.done();
        sched::semacquire(&release, false);
        exited.done();
      });
    }
    started.wait();
    nanos = sys::nanotime() - start;
    rss_after = rss_bytes();
    for (int64_t i = 0; i < n; ++i) sched::semrelease(&release, false);
    exited.wait();
  });
  if (rss_before < 0 || rss_after < 0) {
    return absl::InternalError("cannot read /proc/self/statm");
  }
  double per_g =
      static_cast<double>(rss_after - rss_before) / static_cast<double>(n);
  fmt::print(out, "parked: {} goroutines parked at once, created in {:.3f} ms\n",
             n, nanos / 1e6);
  fmt::print(out, "rss: {:.0f} B/goroutine\n", per_g);
  return Result{nanos / 1e6, "ms"};
}

const Registrar registrar(Workload{
    .name = "parked",
    .description = "N goroutines parked at once on a semaphore; creation "
                   "ms, and resident bytes per goroutine",
    .options = {{.name = "goroutines",
                 .help = "goroutines parked at once",
                 .default_value = 1'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_parked,
});

}  // namespace
}  // namespace gort::cli
