// The `lateness` workload: 10k goroutines each sleep a random 1-100 ms
// once; how late they wake (the time past the deadline), p50 and p99. The
// result is the p99 in µs.
//
// Lateness is what the timer design decides: how soon after a deadline an
// idle M wakes (gort: the timer waiter's timed note, sched/proc.cc; Go 1.19:
// the netpoller's timed epoll_wait) and how fast the heap runs. Same
// xorshift64 delays as the Go twin (bench/go/lateness/main.go).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_lateness(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("timers");
  std::vector<int64_t> late(static_cast<size_t>(n));
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Join join;
    uint64_t x = 88172645463325252ULL;
    for (int64_t i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      int64_t d_us = 1000 + static_cast<int64_t>(x % 99'001);
      join.add();
      gort::go([&join, &late, i, d_us] {
        int64_t start = sys::nanotime();
        time::sleep(std::chrono::microseconds(d_us));
        late[i] = sys::nanotime() - start - d_us * 1000;
        join.done();
      });
    }
    join.wait();
  });
  std::sort(late.begin(), late.end());
  double p50 = late[late.size() / 2] / 1e3;
  double p99 = late[std::min(late.size() - 1, late.size() * 99 / 100)] / 1e3;
  fmt::print(out,
             "lateness: {} sleeps of 1-100 ms woke late by p50 {:.1f} us, "
             "p99 {:.1f} us, max {:.1f} us (GOMAXPROCS={})\n",
             n, p50, p99, late.back() / 1e3, procs);
  return Result{p99, "us"};
}

const Registrar registrar(Workload{
    .name = "lateness",
    .description = "10k goroutines sleep a random 1-100 ms; p99 of how "
                   "late they wake, in us",
    .options = {{.name = "timers",
                 .help = "sleeping goroutines (one sleep each)",
                 .default_value = 10'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_lateness,
});

}  // namespace
}  // namespace gort::cli
