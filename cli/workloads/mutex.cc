// The `mutex` workload: 8 goroutines each lock a syncx::Mutex, increment a
// shared counter and unlock, 1M times (on GOMAXPROCS Ps: 2 on this
// machine, as the issue asks); ns per lock/unlock pair, over all
// goroutines. The Go twin (bench/go/mutex/main.go) does the same with
// sync.Mutex. Contended: this is Go's spinning, woken flag and handoff
// against the same in gort.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_mutex(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  const int64_t goroutines = args.get("goroutines");
  int64_t nanos = 0;
  int64_t counter = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    syncx::Mutex mu;
    syncx::WaitGroup wg;
    wg.add(goroutines);
    int64_t start = sys::nanotime();
    for (int64_t g = 0; g < goroutines; g++) {
      gort::go([&] {
        for (int64_t i = 0; i < n; i++) {
          mu.lock();
          counter++;
          mu.unlock();
        }
        wg.done();
      });
    }
    wg.wait();
    nanos = sys::nanotime() - start;
  });
  if (counter != n * goroutines) {
    return absl::InternalError(fmt::format("mutex: counter {} != {}", counter,
                                           n * goroutines));
  }
  fmt::print(out,
             "mutex: {} goroutines x {} lock/increment/unlock in {:.3f} ms "
             "(GOMAXPROCS={})\n",
             goroutines, n, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n * goroutines),
                "ns/op"};
}

const Registrar registrar(Workload{
    .name = "mutex",
    .description = "8 goroutines x 1M lock/increment/unlock of one "
                   "syncx::Mutex; ns per pair",
    .options = {{.name = "ops",
                 .help = "lock/unlock pairs per goroutine",
                 .default_value = 1'000'000,
                 .min_value = 1},
                {.name = "goroutines",
                 .help = "contending goroutines",
                 .default_value = 8,
                 .min_value = 1,
                 .max_value = 10'000}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_mutex,
});

}  // namespace
}  // namespace gort::cli
