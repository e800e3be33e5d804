// The `syncmap` and `syncmap50` workloads: 4 goroutines each do 2M
// operations on one syncx::Map<int64_t, int64_t> preloaded with 1000 keys,
// random keys from a per-goroutine xorshift generator: 99% loads and 1%
// stores (`syncmap`, the read-mostly case sync.Map is for) or 50% stores
// (`syncmap50`). ns per operation over all goroutines. Go twins:
// bench/go/syncmap and bench/go/syncmap50 (sync.Map with int keys and
// values). This file registers both (one source, two names, as the twins'
// shared shape). --boxed 1 makes the values a non-trivially-copyable
// wrapper of int64_t, so that the Map boxes them on the heap as Go boxes an
// int64 in an interface (by default an int64_t value is stored inline in
// its entry: syncx/map.h).
#include <type_traits>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "syncx/syncx.h"

namespace gort::cli {
namespace {

// An int64_t that syncx::Map stores boxed (its copy constructor is
// user-provided, so it is not trivially copyable).
struct BoxedInt {
  BoxedInt(int64_t x) : v(x) {}  // NOLINT: implicit, as the int it wraps
  BoxedInt(const BoxedInt& o) : v(o.v) {}
  BoxedInt& operator=(const BoxedInt&) = default;
  int64_t v;
};
static_assert(!syncx::Map<int64_t, BoxedInt>::kInline);
static_assert(syncx::Map<int64_t, int64_t>::kInline);

template <typename V>
absl::StatusOr<Result> run_map(const char* name, int64_t store_percent,
                               const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("ops");
  const int64_t goroutines = args.get("goroutines");
  const int64_t keys = args.get("keys");
  int64_t nanos = 0;
  std::atomic<int64_t> hits{0};
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    syncx::Map<int64_t, V> m;
    for (int64_t k = 0; k < keys; k++) m.store(k, k);
    syncx::WaitGroup wg;
    wg.add(goroutines);
    int64_t start = sys::nanotime();
    for (int64_t g = 0; g < goroutines; g++) {
      gort::go([&, g] {
        uint64_t x = 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(g + 1);
        int64_t found = 0;
        for (int64_t i = 0; i < n; i++) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          int64_t key = static_cast<int64_t>(x % static_cast<uint64_t>(keys));
          if (static_cast<int64_t>((x >> 32) % 100) < store_percent) {
            m.store(key, i);
          } else if (m.load(key).has_value()) {
            found++;
          }
        }
        hits.fetch_add(found, std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    nanos = sys::nanotime() - start;
  });
  fmt::print(out,
             "{}: {} goroutines x {} operations ({}% stores) over {} keys in "
             "{:.3f} ms ({} hits; GOMAXPROCS={}; values {})\n",
             name, goroutines, n, store_percent, keys, nanos / 1e6,
             hits.load(), procs,
             syncx::Map<int64_t, V>::kInline ? "inline" : "boxed");
  return Result{static_cast<double>(nanos) / static_cast<double>(n * goroutines),
                "ns/op"};
}

std::vector<WorkloadOption> map_options() {
  return {{.name = "ops",
           .help = "operations per goroutine",
           .default_value = 2'000'000,
           .min_value = 1},
          {.name = "goroutines",
           .help = "goroutines",
           .default_value = 4,
           .min_value = 1,
           .max_value = 10'000},
          {.name = "keys",
           .help = "distinct keys, all preloaded",
           .default_value = 1000,
           .min_value = 1},
          {.name = "boxed",
           .help = "1: values boxed on the heap (as Go's interface{}), "
                   "0: inline in the entry",
           .default_value = 0,
           .min_value = 0,
           .max_value = 1}};
}

absl::StatusOr<Result> run_either(const char* name, int64_t store_percent,
                                  const WorkloadArgs& args, std::FILE* out) {
  if (args.get("boxed") != 0) {
    return run_map<BoxedInt>(name, store_percent, args, out);
  }
  return run_map<int64_t>(name, store_percent, args, out);
}

const Registrar registrar(Workload{
    .name = "syncmap",
    .description = "4 goroutines x 2M sync.Map operations over 1000 keys, "
                   "99% loads; ns per operation",
    .options = map_options(),
    .benchmark = true,
    .has_go_twin = true,
    .run = [](const WorkloadArgs& args, std::FILE* out) {
      return run_either("syncmap", 1, args, out);
    },
});

const Registrar registrar50(Workload{
    .name = "syncmap50",
    .description = "4 goroutines x 2M sync.Map operations over 1000 keys, "
                   "50% stores; ns per operation",
    .options = map_options(),
    .benchmark = true,
    .has_go_twin = true,
    .run = [](const WorkloadArgs& args, std::FILE* out) {
      return run_either("syncmap50", 50, args, out);
    },
});

}  // namespace
}  // namespace gort::cli
