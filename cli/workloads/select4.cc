// The `select4` workload: 4 producers, each with its own buffered channel
// (cap 128), send their share of 0..selects-1; the main goroutine receives
// every item with a 4-case select and checks the sum; ns per select. The
// Go twin is bench/go/select4/main.go (a `select` statement of 4 receives).
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chan/chan.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_select4(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("selects");
  const int64_t cap = args.get("cap");
  int64_t nanos = 0, sum = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Chan<int64_t> c[4];
    for (auto& x : c) x = make_chan<int64_t>(cap);
    int64_t start = sys::nanotime();
    for (int64_t k = 0; k < 4; ++k) {
      gort::go([ch = c[k], k, n] {
        for (int64_t i = k; i < n; i += 4) ch.send(i);
      });
    }
    auto add = [&sum](int64_t v) { sum += v; };
    for (int64_t i = 0; i < n; ++i) {
      gort::select(on_recv(c[0], add), on_recv(c[1], add), on_recv(c[2], add),
                   on_recv(c[3], add));
    }
    nanos = sys::nanotime() - start;
  });
  if (sum != n * (n - 1) / 2) {
    return absl::InternalError(
        fmt::format("select4: sum {} != {}", sum, n * (n - 1) / 2));
  }
  fmt::print(out,
             "select4: {} selects over 4 channels of capacity {}, each fed by "
             "its own producer, in {:.3f} ms (GOMAXPROCS={})\n",
             n, cap, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n),
                "ns/select"};
}

const Registrar registrar(Workload{
    .name = "select4",
    .description =
        "a 4-case select receiving from 4 producers' channels (cap 128); "
        "ns per select",
    .options = {{.name = "selects",
                 .help = "selects (= items received)",
                 .default_value = 4'000'000,
                 .min_value = 1},
                {.name = "cap",
                 .help = "capacity of each channel",
                 .default_value = 128,
                 .min_value = 0,
                 .max_value = 1 << 24}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_select4,
});

}  // namespace
}  // namespace gort::cli
