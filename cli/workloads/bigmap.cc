// The `bigmap` workload: the complaint "Go freed my map but the process
// kept the memory", replayed on gort's allocator. It fills a hash map whose
// table and values all come from gort::mem (N entries of B bytes), drops
// it, and prints the printMem line (cli/memstats.h) four times: before,
// filled, after the map is freed (the heap holds the pages: HeapIdle
// grows, RSS does not fall yet unless the scavenger has run), and after
// mem::free_os_memory() (Go's debug.FreeOSMemory: HeapReleased grows and
// RSS falls back). The result is the resident set after free_os_memory,
// in MiB.
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "cli/memstats.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "mem/mem.h"
#include "sched/sched.h"

namespace gort::cli {
namespace {

// A standard allocator over gort::mem, so that the map's table is in the
// same heap as its values.
template <typename T>
struct MemAllocator {
  using value_type = T;
  MemAllocator() = default;
  template <typename U>
  MemAllocator(const MemAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) {
    void* p = mem::alloc_aligned(n * sizeof(T), alignof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { mem::free(p); }
  template <typename U>
  bool operator==(const MemAllocator<U>&) const {
    return true;
  }
};

struct FreeValue {
  void operator()(char* p) const { mem::free(p); }
};
using Value = std::unique_ptr<char, FreeValue>;
using BigMap =
    absl::flat_hash_map<int64_t, Value, absl::Hash<int64_t>, std::equal_to<int64_t>,
                        MemAllocator<std::pair<const int64_t, Value>>>;

absl::StatusOr<Result> run_bigmap(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("entries");
  const int64_t bytes = args.get("value-bytes");
  int64_t rss_filled = 0, rss_final = 0;
  gort::run([&] {
    fmt::print(out, "{}", format_print_mem("before:       ", mem::read_mem_stats(),
                                           rss_bytes()));
    {
      BigMap m;
      m.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; i++) {
        char* v = static_cast<char*>(mem::alloc(static_cast<size_t>(bytes)));
        std::memset(v, static_cast<int>(i), static_cast<size_t>(bytes));
        m.emplace(i, Value(v));
      }
      rss_filled = rss_bytes();
      fmt::print(out, "{}", format_print_mem("filled:       ", mem::read_mem_stats(),
                                             rss_filled));
    }
    fmt::print(out, "{}", format_print_mem("after free:   ", mem::read_mem_stats(),
                                           rss_bytes()));
    mem::free_os_memory();
    rss_final = rss_bytes();
    fmt::print(out, "{}", format_print_mem("FreeOSMemory: ", mem::read_mem_stats(),
                                           rss_final));
  });
  if (rss_filled < 0 || rss_final < 0) {
    return absl::InternalError("cannot read /proc/self/statm");
  }
  fmt::print(out,
             "bigmap: {} entries of {} B through gort::mem; resident {} MiB "
             "filled, {} MiB after free_os_memory\n",
             n, bytes, rss_filled >> 20, rss_final >> 20);
  return Result{static_cast<double>(rss_final) / (1 << 20), "MiB"};
}

const Registrar registrar(Workload{
    .name = "bigmap",
    .description = "fill a map through gort::mem, free it, free_os_memory; "
                   "printMem lines at each step, resident MiB at the end",
    .options = {{.name = "entries",
                 .help = "map entries",
                 .default_value = 2'000'000,
                 .min_value = 1},
                {.name = "value-bytes",
                 .help = "bytes per value (allocated separately)",
                 .default_value = 256,
                 .min_value = 1,
                 .max_value = 1 << 20}},
    .benchmark = false,
    .has_go_twin = false,
    .run = run_bigmap,
});

}  // namespace
}  // namespace gort::cli
