// The `once` workload: 10M fresh syncx::Once objects, each called twice:
// the first call takes the slow path (lock, run f, publish done, unlock),
// the second the fast path (one acquire load); ns per Once. Go twin:
// bench/go/once.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_once(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  int64_t nanos = 0;
  int64_t calls = 0;
  gort::run([&] {
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < n; i++) {
      syncx::Once once;
      once.call([&] { calls++; });
      once.call([&] { calls++; });
    }
    nanos = sys::nanotime() - start;
  });
  if (calls != n) return absl::InternalError("once: f ran twice");
  fmt::print(out, "once: {} Once objects, each called twice, in {:.3f} ms\n",
             n, nanos / 1e6);
  return Result{static_cast<double>(nanos) / static_cast<double>(n), "ns/op"};
}

const Registrar registrar(Workload{
    .name = "once",
    .description = "10M fresh Once objects, each called twice (slow path, "
                   "then fast); ns per Once",
    .options = {{.name = "ops",
                 .help = "Once objects",
                 .default_value = 10'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_once,
});

}  // namespace
}  // namespace gort::cli
