// The `bufchan` workload: one producer sends 0..items-1 into a buffered
// channel (cap 1024) and closes it; the main goroutine ranges over it and
// checks the sum; ns per item. The Go twin is bench/go/bufchan/main.go.
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chan/chan.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_bufchan(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("items");
  const int64_t cap = args.get("cap");
  int64_t nanos = 0, sum = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    auto c = make_chan<int64_t>(cap);
    int64_t start = sys::nanotime();
    gort::go([=] {
      for (int64_t i = 0; i < n; ++i) c.send(i);
      c.close();
    });
    for (int64_t v : c) sum += v;
    nanos = sys::nanotime() - start;
  });
  if (sum != n * (n - 1) / 2) {
    return absl::InternalError(
        fmt::format("bufchan: sum {} != {}", sum, n * (n - 1) / 2));
  }
  fmt::print(out,
             "bufchan: {} items through a channel of capacity {}, 1 producer, "
             "1 consumer, in {:.3f} ms (GOMAXPROCS={})\n",
             n, cap, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n), "ns/item"};
}

const Registrar registrar(Workload{
    .name = "bufchan",
    .description =
        "1 producer, 1 consumer, a buffered channel (cap 1024); ns per item",
    .options = {{.name = "items",
                 .help = "items sent (0..items-1, summed by the consumer)",
                 .default_value = 10'000'000,
                 .min_value = 1},
                {.name = "cap",
                 .help = "channel capacity",
                 .default_value = 1024,
                 .min_value = 0,
                 .max_value = 1 << 24}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_bufchan,
});

}  // namespace
}  // namespace gort::cli
