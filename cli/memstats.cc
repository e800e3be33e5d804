#include "cli/memstats.h"

#include <unistd.h>

#include <cstdio>

#include "fmt/format.h"

namespace gort::cli {
namespace {

uint64_t mib(uint64_t b) { return b / 1024 / 1024; }

// Go prints PauseNs and PauseEnd as the whole 256-entry ring, space
// separated, in brackets.
std::string ring(const uint64_t (&v)[256]) {
  std::string out = "[";
  for (int i = 0; i < 256; i++) {
    if (i > 0) out += ' ';
    out += fmt::format("{}", v[i]);
  }
  return out + "]";
}

}  // namespace

std::string format_print_mem(std::string_view label, const mem::MemStats& m,
                             int64_t rss_bytes) {
  std::string rss = rss_bytes < 0 ? "?" : fmt::format("{}", mib(static_cast<uint64_t>(rss_bytes)));
  return fmt::format(
      "{}Alloc = {} MiB\tTotalAlloc = {} MiB\tSys = {} MiB\tNumGC = {}\t"
      "HeapIdle = {} MiB\tHeapReleased = {} MiB\tRSS = {} MiB\n",
      label, mib(m.alloc), mib(m.total_alloc), mib(m.sys), m.num_gc,
      mib(m.heap_idle), mib(m.heap_released), rss);
}

std::string format_mem_stats(const mem::MemStats& m) {
  std::string out = "# runtime.MemStats\n";
  auto line = [&out](std::string_view name, auto value) {
    out += fmt::format("# {} = {}\n", name, value);
  };
  line("Alloc", m.alloc);
  line("TotalAlloc", m.total_alloc);
  line("Sys", m.sys);
  line("Lookups", m.lookups);
  line("Mallocs", m.mallocs);
  line("Frees", m.frees);
  line("HeapAlloc", m.heap_alloc);
  line("HeapSys", m.heap_sys);
  line("HeapIdle", m.heap_idle);
  line("HeapInuse", m.heap_inuse);
  line("HeapReleased", m.heap_released);
  line("HeapObjects", m.heap_objects);
  out += fmt::format("# Stack = {} / {}\n", m.stack_inuse, m.stack_sys);
  out += fmt::format("# MSpan = {} / {}\n", m.mspan_inuse, m.mspan_sys);
  out += fmt::format("# MCache = {} / {}\n", m.mcache_inuse, m.mcache_sys);
  line("BuckHashSys", m.buck_hash_sys);
  line("GCSys", m.gc_sys);
  line("OtherSys", m.other_sys);
  line("NextGC", m.next_gc);
  line("LastGC", m.last_gc);
  line("PauseNs", ring(m.pause_ns));
  line("PauseEnd", ring(m.pause_end));
  line("NumGC", m.num_gc);
  line("NumForcedGC", m.num_forced_gc);
  line("GCCPUFraction", fmt::format("{:g}", m.gc_cpu_fraction));
  line("DebugGC", m.debug_gc ? "true" : "false");
  return out;
}

int64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long long size = 0, resident = 0;
  int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return -1;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace gort::cli
