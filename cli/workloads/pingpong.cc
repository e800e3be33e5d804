// The `pingpong` workload: two goroutines pass a counter back and forth
// over two unbuffered channels; ns per round trip (two unbuffered sends,
// two receives: each a rendezvous that parks one side and readies it).
// The Go twin is bench/go/pingpong/main.go: the same loop on `chan int64`.
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chan/chan.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_pingpong(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("rounds");
  int64_t nanos = 0;
  int procs = 0;
  bool ok = true;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    auto ping = make_chan<int64_t>();
    auto pong = make_chan<int64_t>();
    int64_t start = sys::nanotime();
    gort::go([=] {
      for (int64_t i = 0; i < n; ++i) pong.send(ping.recv() + 1);
    });
    for (int64_t i = 0; i < n; ++i) {
      ping.send(i);
      if (pong.recv() != i + 1) ok = false;
    }
    nanos = sys::nanotime() - start;
  });
  if (!ok)
    return absl::InternalError("pingpong: a reply carried the wrong value");
  fmt::print(out,
             "pingpong: {} round trips between 2 goroutines over 2 unbuffered "
             "channels in {:.3f} ms (GOMAXPROCS={})\n",
             n, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n),
                "ns/roundtrip"};
}

const Registrar registrar(Workload{
    .name = "pingpong",
    .description =
        "two goroutines, two unbuffered channels, a counter passed back "
        "and forth; ns per round trip",
    .options = {{.name = "rounds",
                 .help = "round trips (each: two sends, two receives)",
                 .default_value = 1'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_pingpong,
});

}  // namespace
}  // namespace gort::cli
