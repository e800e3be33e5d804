// The `steal` workload: work stealing made visible. One goroutine spawns N
// CPU-bound goroutines, all onto its own P; the report shows how many
// goroutines each P ran and how many it stole (sched/stats.h). The result
// is ns per goroutine (spawn to the last one finished).
//
// How the work reaches the other Ps. gort::go puts the new goroutine in the
// spawner's runnext and kicks the previous one into its P's local ring
// (Go's newproc -> runqput(next=true)). Nothing else puts work anywhere, so
// another P gets any of it only by stealing half of that ring (findRunnable
// -> steal_work -> runqsteal), which is what the `stolen` counts show. A
// ring holds 256 (runq.h); a 257th goroutine would overflow half of the
// ring to the global queue, from which idle Ps take it without stealing.
// So the spawner works in batches (--batch, default 200) and waits for
// each batch before the next; --batch 0 spawns everything at once and shows
// the overflow path instead (the global queue then feeds the other Ps and
// `stolen` stays low).
//
// Each goroutine's work is a fixed number of rounds of an LCG (--work), so
// the work is the same whichever P runs it, and the per-P counts show how
// the scheduler shared it rather than how fast each thread was.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sched/stats.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

// The goroutines' work: `rounds` dependent multiply-adds. Writes the result
// to *sink so the loop cannot be optimised away.
void burn(int64_t rounds, uint64_t seed, std::atomic<uint64_t>* sink) {
  uint64_t x = seed;
  for (int64_t i = 0; i < rounds; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  sink->fetch_xor(x, std::memory_order_relaxed);
}

absl::StatusOr<Result> run_steal(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("goroutines");
  const int64_t batch = args.get("batch");
  const int64_t work = args.get("work");
  int procs = 0;
  int64_t nanos = 0;
  std::vector<sched::PStats> before, after;
  std::atomic<int64_t> ran{0};
  std::atomic<uint64_t> sink{0};
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    Join spawner;
    spawner.add();
    before = sched::p_stats();
    int64_t start = sys::nanotime();
    gort::go([&] {
      int64_t spawned = 0;
      while (spawned < n) {
        int64_t k = batch == 0 ? n : std::min(batch, n - spawned);
        Join round;
        for (int64_t i = 0; i < k; i++) {
          round.add();
          uint64_t seed = static_cast<uint64_t>(spawned + i);
          gort::go([&round, &ran, &sink, work, seed] {
            burn(work, seed, &sink);
            ran.fetch_add(1, std::memory_order_relaxed);
            round.done();
          });
        }
        round.wait();
        spawned += k;
      }
      spawner.done();
    });
    spawner.wait();
    nanos = sys::nanotime() - start;
    after = sched::p_stats();
  });
  // gomaxprocs does not change during the run (nothing here calls it with
  // n >= 1), so the two snapshots list the same Ps.
  if (before.size() != after.size()) {
    return absl::InternalError("steal: GOMAXPROCS changed during the run");
  }
  fmt::print(out,
             "steal: 1 goroutine spawned {} goroutines onto its P in "
             "batches of {} ({} LCG rounds each); {:.3f} ms (GOMAXPROCS={})\n",
             n, batch == 0 ? n : batch, work, nanos / 1e6, procs);
  int64_t executed = 0, stolen = 0;
  for (size_t i = 0; i < after.size(); i++) {
    int64_t e = after[i].executed - before[i].executed;
    int64_t s = after[i].stolen - before[i].stolen;
    int64_t t = static_cast<uint32_t>(after[i].schedtick - before[i].schedtick);
    executed += e;
    stolen += s;
    fmt::print(out, "  P{}: ran {} goroutines (schedtick +{}), stole {}\n",
               after[i].id, e, t, s);
  }
  fmt::print(out,
             "total: ran {} goroutines (of {} spawned, plus the spawner and "
             "main), stolen {}\n",
             executed, n, stolen);
  if (ran.load() != n) {
    return absl::InternalError(
        fmt::format("steal: {} of {} goroutines ran", ran.load(), n));
  }
  return Result{static_cast<double>(nanos) / static_cast<double>(n),
                "ns/goroutine"};
}

const Registrar registrar(Workload{
    .name = "steal",
    .description = "one goroutine spawns 10k CPU-bound goroutines onto its "
                   "P; goroutines run and stolen per P; ns per goroutine",
    .options = {{.name = "goroutines",
                 .help = "goroutines to spawn",
                 .default_value = 10'000,
                 .min_value = 1,
                 .max_value = 10'000'000},
                {.name = "batch",
                 .help = "spawn this many, wait for them, repeat (at most "
                         "256 keeps them in the local ring); 0: all at once",
                 .default_value = 200,
                 .min_value = 0},
                {.name = "work",
                 .help = "LCG rounds (dependent multiply-adds) per goroutine",
                 .default_value = 5000,
                 .min_value = 0}},
    .benchmark = true,
    .has_go_twin = false,
    .run = run_steal,
});

}  // namespace
}  // namespace gort::cli
