// The `pool` workload: 10M get/put pairs of 1 KiB buffers through one
// syncx::Pool with a make function, from 2 goroutines (5M each, on
// GOMAXPROCS Ps); each get writes a byte of its buffer. ns per get/put
// pair over both. Go twin: bench/go/pool (sync.Pool of *[]byte).
#include <array>
#include <memory>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

using Buffer = std::array<unsigned char, 1024>;

absl::StatusOr<Result> run_pool(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  const int64_t goroutines = args.get("goroutines");
  int64_t nanos = 0;
  std::atomic<int64_t> made{0};
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    syncx::Pool<Buffer> pool([&] {
      made.fetch_add(1, std::memory_order_relaxed);
      return std::make_unique<Buffer>();
    });
    syncx::WaitGroup wg;
    wg.add(goroutines);
    const int64_t each = n / goroutines;
    int64_t start = sys::nanotime();
    for (int64_t g = 0; g < goroutines; g++) {
      gort::go([&] {
        for (int64_t i = 0; i < each; i++) {
          std::unique_ptr<Buffer> b = pool.get();
          (*b)[i & 1023] = static_cast<unsigned char>(i);
          pool.put(std::move(b));
        }
        wg.done();
      });
    }
    wg.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "pool: {} get/put pairs of 1 KiB buffers from {} goroutines in "
             "{:.3f} ms ({} buffers made; GOMAXPROCS={})\n",
             n, goroutines, nanos / 1e6, made.load(), procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n), "ns/op"};
}

const Registrar registrar(Workload{
    .name = "pool",
    .description = "10M get/put pairs of 1 KiB buffers through a Pool from 2 "
                   "goroutines; ns per pair",
    .options = {{.name = "ops",
                 .help = "get/put pairs in all",
                 .default_value = 10'000'000,
                 .min_value = 1},
                {.name = "goroutines",
                 .help = "goroutines sharing the pool",
                 .default_value = 2,
                 .min_value = 1,
                 .max_value = 10'000}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_pool,
});

}  // namespace
}  // namespace gort::cli
