// The `spin` workload: goroutines in tight loops without calls, and a probe
// that needs a P every millisecond. With asynchronous preemption (sysmon
// signals a goroutine that has run 10 ms, sched/preempt.h) the probe still
// gets a turn every 10-20 ms; with GODEBUG=asyncpreemptoff=1 (or under
// TSan, where preemption by signal is not supported) nothing can stop a
// loop that makes no calls, and the probe waits until the spinners end.
// The result is the probe's worst lateness in ms.
//
// The pieces:
//   spinners  --spinners goroutines (default GOMAXPROCS, so they hold every
//             P) each run spin_until_stopped: a loop of multiply-adds and a
//             relaxed load of the stop flag, with no call in it, so the only
//             way off the P is the preemption signal.
//   probe     one goroutine that sleeps --period-us (gort::time::sleep, a
//             timer) again and again, from before the spinners start until
//             they stop, and records how late each sleep ended. A sleep
//             "woke while spinning" when the probe ran again while every
//             spinner had started and the stop flag was not yet set: that
//             needs a spinner to have been preempted, so with preemption
//             off there are none, and the sleep under way when the last
//             spinner started ends only when they stop, --ms late.
//   stopper   a plain thread (not a goroutine: with preemption off no
//             goroutine would get a P to do it) that sets the stop flag
//             --ms after the last spinner started.
//
// Why spin_until_stopped is outside namespace gort: the preemption handler
// never interrupts the runtime's own code, which it recognises as every
// function named in namespace gort (sched/preempt.cc, rule 3). The workload
// lives in gort::cli, so its loop must not: it sits in a global anonymous
// namespace, noinline so that it is not folded into the goroutine's lambda
// (a gort::cli name).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/preempt.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace {

// Spins until `stop` is set; returns the number of rounds (so the loop is
// not dead code). No calls inside the loop.
[[gnu::noinline]] uint64_t spin_until_stopped(const std::atomic<bool>& stop) {
  uint64_t x = 1;
  uint64_t rounds = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    rounds++;
  }
  return rounds + (x & 1);
}

}  // namespace

namespace gort::cli {
namespace {

// The p-th percentile (0-100) of sorted `v`, 0 if empty.
int64_t percentile(const std::vector<int64_t>& v, int p) {
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, v.size() * static_cast<size_t>(p) / 100)];
}

absl::StatusOr<Result> run_spin(const WorkloadArgs& args, std::FILE* out) {
  const int64_t ms = args.get("ms");
  const int64_t period_ns = args.get("period-us") * 1000;
  int64_t spinners = args.get("spinners");
  int procs = 0;
  std::vector<int64_t> late;   // every probe sleep, ns past its deadline
  int64_t woke_while_spinning = 0;
  std::atomic<uint64_t> rounds{0};
  const bool async_on = sched::async_preempt_enabled();
  const bool async_supported = sched::async_preempt_supported();
  const sched::PreemptStats preempt_before = sched::preempt_stats();
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    if (spinners == 0) spinners = procs;
    std::atomic<int64_t> started{0};
    std::atomic<bool> stop{false};
    auto spinning = [&] {
      return started.load(std::memory_order_acquire) == spinners &&
             !stop.load(std::memory_order_acquire);
    };
    Join join;
    join.add();
    gort::go([&] {
      while (!stop.load(std::memory_order_acquire)) {
        int64_t t0 = sys::nanotime();
        time::sleep(std::chrono::nanoseconds(period_ns));
        int64_t t1 = sys::nanotime();
        late.push_back(t1 - t0 - period_ns);
        if (spinning()) woke_while_spinning++;
      }
      join.done();
    });
    for (int64_t i = 0; i < spinners; i++) {
      join.add();
      gort::go([&] {
        started.fetch_add(1, std::memory_order_acq_rel);
        rounds.fetch_add(spin_until_stopped(stop), std::memory_order_relaxed);
        join.done();
      });
    }
    std::thread stopper([&] {
      while (started.load(std::memory_order_acquire) < spinners) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      stop.store(true, std::memory_order_release);
    });
    join.wait();
    gort::blocking([&] { stopper.join(); });
  });
  const sched::PreemptStats preempt_after = sched::preempt_stats();
  std::sort(late.begin(), late.end());
  const char* why = async_on          ? "on"
                    : async_supported ? "off (asyncpreemptoff)"
                                      : "off (not supported in this build)";
  fmt::print(out,
             "spin: {} spinners without calls for {} ms (GOMAXPROCS={}), "
             "async preemption {}; {} preempted by signal\n",
             spinners, ms, procs, why,
             preempt_after.preemptions - preempt_before.preemptions);
  fmt::print(out,
             "probe: {} sleeps of {} us, {} woke while spinning; late by p50 "
             "{:.3f} ms, p99 {:.3f} ms, max {:.3f} ms\n",
             late.size(), period_ns / 1000, woke_while_spinning,
             percentile(late, 50) / 1e6, percentile(late, 99) / 1e6,
             (late.empty() ? 0 : late.back()) / 1e6);
  return Result{(late.empty() ? 0 : late.back()) / 1e6, "ms"};
}

const Registrar registrar(Workload{
    .name = "spin",
    .description = "GOMAXPROCS goroutines spin without calls for 1 s while "
                   "a probe sleeps 1 ms; probe's max lateness in ms",
    .options = {{.name = "ms",
                 .help = "how long the spinners spin, in ms",
                 .default_value = 1000,
                 .min_value = 1,
                 .max_value = 600'000},
                {.name = "spinners",
                 .help = "spinning goroutines; 0: GOMAXPROCS",
                 .default_value = 0,
                 .min_value = 0,
                 .max_value = 10'000},
                {.name = "period-us",
                 .help = "the probe's sleep, in us",
                 .default_value = 1000,
                 .min_value = 1,
                 .max_value = 1'000'000}},
    .benchmark = true,
    .has_go_twin = false,
    .run = run_spin,
});

}  // namespace
}  // namespace gort::cli
