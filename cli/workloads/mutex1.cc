// The `mutex1` workload: one goroutine locks a syncx::Mutex, increments a
// counter and unlocks, 10M times (uncontended: the inline CAS and the
// unlock's atomic subtract); ns per pair. Go twin: bench/go/mutex1.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_mutex1(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  int64_t nanos = 0;
  int64_t counter = 0;
  gort::run([&] {
    syncx::Mutex mu;
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < n; i++) {
      mu.lock();
      counter++;
      mu.unlock();
    }
    nanos = sys::nanotime() - start;
  });
  if (counter != n) return absl::InternalError("mutex1: lost increments");
  fmt::print(out, "mutex1: {} uncontended lock/increment/unlock in {:.3f} ms\n",
             n, nanos / 1e6);
  return Result{static_cast<double>(nanos) / static_cast<double>(n), "ns/op"};
}

const Registrar registrar(Workload{
    .name = "mutex1",
    .description = "one goroutine, 10M uncontended lock/increment/unlock; "
                   "ns per pair",
    .options = {{.name = "ops",
                 .help = "lock/unlock pairs",
                 .default_value = 10'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_mutex1,
});

}  // namespace
}  // namespace gort::cli
