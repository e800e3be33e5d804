// The `rwmutex` workload: read-mostly. 4 goroutines each do 1M operations
// on one syncx::RWMutex: 1 in 100 a write lock that increments a counter,
// the rest a read lock that reads it; ns per operation over all
// goroutines. Go twin: bench/go/rwmutex.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_rwmutex(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  const int64_t goroutines = args.get("goroutines");
  int64_t nanos = 0;
  int64_t writes = 0;
  std::atomic<int64_t> sum{0};
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    syncx::RWMutex rw;
    syncx::WaitGroup wg;
    wg.add(goroutines);
    int64_t start = sys::nanotime();
    for (int64_t g = 0; g < goroutines; g++) {
      gort::go([&] {
        int64_t local = 0;
        for (int64_t i = 0; i < n; i++) {
          if (i % 100 == 0) {
            rw.lock();
            writes++;
            rw.unlock();
          } else {
            rw.rlock();
            local += writes;
            rw.runlock();
          }
        }
        sum.fetch_add(local, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "rwmutex: {} goroutines x {} operations (1% writes) in {:.3f} ms "
             "(GOMAXPROCS={}; {} writes)\n",
             goroutines, n, nanos / 1e6, procs, writes);
  return Result{static_cast<double>(nanos) / static_cast<double>(n * goroutines),
                "ns/op"};
}

const Registrar registrar(Workload{
    .name = "rwmutex",
    .description = "4 goroutines x 1M RWMutex operations, 99% reads; ns per "
                   "operation",
    .options = {{.name = "ops",
                 .help = "operations per goroutine",
                 .default_value = 1'000'000,
                 .min_value = 1},
                {.name = "goroutines",
                 .help = "goroutines",
                 .default_value = 4,
                 .min_value = 1,
                 .max_value = 10'000}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_rwmutex,
});

}  // namespace
}  // namespace gort::cli
