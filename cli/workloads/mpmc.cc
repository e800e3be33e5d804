// The `mpmc` workload: 4 producers send items-1..0 split among them into
// one buffered channel (cap 128); 4 consumers range over it; the channel is
// closed when every producer is done; the consumers' sums are checked; ns
// per item. The Go twin is bench/go/mpmc/main.go.
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chan/chan.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_mpmc(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("items");
  const int64_t producers = args.get("producers");
  const int64_t consumers = args.get("consumers");
  const int64_t cap = args.get("cap");
  int64_t nanos = 0, sum = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    auto data = make_chan<int64_t>(cap);
    auto produced = make_chan<int>(producers);
    auto sums = make_chan<int64_t>(consumers);
    int64_t start = sys::nanotime();
    for (int64_t p = 0; p < producers; ++p) {
      gort::go([=] {
        for (int64_t i = p; i < n; i += producers) data.send(i);
        produced.send(0);
      });
    }
    gort::go([=] {
      for (int64_t p = 0; p < producers; ++p) produced.recv();
      data.close();
    });
    for (int64_t k = 0; k < consumers; ++k) {
      gort::go([=] {
        int64_t s = 0;
        for (int64_t v : data) s += v;
        sums.send(s);
      });
    }
    for (int64_t k = 0; k < consumers; ++k) sum += sums.recv();
    nanos = sys::nanotime() - start;
  });
  if (sum != n * (n - 1) / 2) {
    return absl::InternalError(
        fmt::format("mpmc: sum {} != {}", sum, n * (n - 1) / 2));
  }
  fmt::print(out,
             "mpmc: {} items, {} producers, {} consumers, one channel of "
             "capacity {}, in {:.3f} ms (GOMAXPROCS={})\n",
             n, producers, consumers, cap, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n), "ns/item"};
}

const Registrar registrar(Workload{
    .name = "mpmc",
    .description =
        "4 producers, 4 consumers, one buffered channel (cap 128); ns per item",
    .options = {{.name = "items",
                 .help = "items sent in all",
                 .default_value = 4'000'000,
                 .min_value = 1},
                {.name = "producers",
                 .help = "producer goroutines",
                 .default_value = 4,
                 .min_value = 1,
                 .max_value = 10000},
                {.name = "consumers",
                 .help = "consumer goroutines",
                 .default_value = 4,
                 .min_value = 1,
                 .max_value = 10000},
                {.name = "cap",
                 .help = "channel capacity",
                 .default_value = 128,
                 .min_value = 0,
                 .max_value = 1 << 24}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_mpmc,
});

}  // namespace
}  // namespace gort::cli
