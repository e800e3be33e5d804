// The `parkready` workload: a ping-pong between two goroutines, each parking
// until the other wakes it; ns per round trip (two parks, two readies).
//
// gort's side uses two semaphores (sched/sema.h): main releases `ping` and
// acquires `pong`; the other goroutine acquires `ping` and releases `pong`.
//
// Go has no public semaphore, so the Go twin (bench/go/parkready/main.go)
// uses what a Go program would: two unbuffered channels. That is the
// closest analogue: an unbuffered send to a waiting receiver, like a
// semrelease to a waiter, readies it (goready, into the sender's runnext),
// and a receive with nobody sending parks (gopark with a sudog), as
// semacquire does, so each round trip is two parks and two readies on both
// sides. The rejected alternatives: sync.Mutex used as a binary semaphore
// (Go allows Unlock from another goroutine) spins before it parks and
// switches to starvation mode, so it would not measure park/ready; a
// WaitGroup cannot be reused while a Wait may still be returning; sync.Cond
// adds a mutex round trip to each side.
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sched/sema.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_parkready(const WorkloadArgs& args,
                                     std::FILE* out) {
  const int64_t n = args.get("rounds");
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    uint32_t ping = 0, pong = 0;
    Join join;
    join.add();
    int64_t start = sys::nanotime();
    gort::go([&] {
      for (int64_t i = 0; i < n; ++i) {
        sched::semacquire(&ping, false);
        sched::semrelease(&pong, false);
      }
      join.done();
    });
    for (int64_t i = 0; i < n; ++i) {
      sched::semrelease(&ping, false);
      sched::semacquire(&pong, false);
    }
    nanos = sys::nanotime() - start;
    join.wait();
  });
  fmt::print(out,
             "parkready: {} round trips between 2 goroutines through 2 "
             "semaphores in {:.3f} ms (GOMAXPROCS={})\n",
             n, nanos / 1e6, procs);
  return Result{static_cast<double>(nanos) / static_cast<double>(n),
                "ns/roundtrip"};
}

const Registrar registrar(Workload{
    .name = "parkready",
    .description = "ping-pong between two goroutines through two "
                   "semaphores; ns per round trip",
    .options = {{.name = "rounds",
                 .help = "round trips (each: two parks, two readies)",
                 .default_value = 1'000'000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_parkready,
});

}  // namespace
}  // namespace gort::cli
