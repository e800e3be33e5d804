// The `syscall-block` workload: many goroutines in blocking file reads, and
// what the scheduler does with their Ps and threads. The result is the
// read rate in MB/s (10^6 bytes).
//
// Every read is a pread on a regular file through gort::os::File, which
// runs it inside gort::blocking() (Go's entersyscall/exitsyscall): the P
// stays with the thread in kSyscall state, and when the read lasts past a
// sysmon tick while other goroutines wait to run, sysmon retakes the P and
// hands it to another M (handoffp), starting a new thread if no M is idle.
// With 64 goroutines and big reads (1 MiB, some 100 us each from the page
// cache) the thread count grows well past GOMAXPROCS; `--schedtrace 10`
// shows it (threads=, idlethreads=, and with --scheddetail each P's
// syscalltick).
//
// After the reads, the workload idles for --idle-ms so that the trace and
// the summary show the state at rest: every P idle and the extra threads
// asleep on the idle M list. They stay there: gort, like Go, never retires
// an idle M (only one whose locked goroutine exited, sched/stats.h), so
// `after` equals `peak` and the shrinking shows in idlethreads, not in
// threads. The summary says which happened, from the counts.
//
// Threads are sampled by a plain thread every millisecond (a goroutine
// would need a P, which is what the burst is short of): the runtime's count
// (sched::thread_stats, schedtrace's threads=) and the kernel's
// (/proc/self/status Threads:, which also counts the thread that called
// gort::run and the sampler itself).
//
// The file (--mib MiB, in $TEST_TMPDIR, $TMPDIR or /tmp, unlinked once
// open) holds 64-bit words w[i] = splitmix64(i); every reader checks the
// position-weighted sum of w[i] * (2i + 1) of what it read against the
// writer's, so a short, duplicated or misplaced chunk fails the run.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "cli/workloads/net_util.h"
#include "fmt/format.h"
#include "os/file.h"
#include "sched/sched.h"
#include "sched/stats.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::cli {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The weighted sum of `n` words that start at word index `first`.
uint64_t checksum(const uint64_t* words, size_t n, uint64_t first) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += words[i] * (2 * (first + i) + 1);
  return sum;
}

// The kernel's thread count for this process, 0 if unreadable.
int32_t os_threads() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return 0;
}

std::string temp_dir() {
  for (const char* var : {"TEST_TMPDIR", "TMPDIR"}) {
    const char* v = std::getenv(var);
    if (v != nullptr && v[0] != '\0') return v;
  }
  return "/tmp";
}

// Writes the file's words through `f` in `chunk`-byte writes; returns their
// checksum.
absl::StatusOr<uint64_t> fill(os::File& f, int64_t bytes, size_t chunk) {
  std::vector<uint64_t> buf(chunk / 8);
  uint64_t sum = 0;
  uint64_t word = 0;
  for (int64_t off = 0; off < bytes; off += static_cast<int64_t>(chunk)) {
    size_t n = std::min<int64_t>(chunk, bytes - off) / 8;
    uint64_t first = word;
    for (size_t i = 0; i < n; i++) buf[i] = splitmix64(word++);
    sum += checksum(buf.data(), n, first);
    if (absl::Status s = f.write(buf.data(), n * 8); !s.ok()) return s;
  }
  return sum;
}

// Reads the whole file with preads of `chunk` bytes; returns the checksum
// of what it read and adds the bytes to *total.
absl::StatusOr<uint64_t> read_all(os::File& f, int64_t bytes, size_t chunk,
                                  std::atomic<int64_t>* total) {
  std::vector<uint64_t> buf(chunk / 8);
  char* p = reinterpret_cast<char*>(buf.data());
  uint64_t sum = 0;
  for (int64_t off = 0; off < bytes; off += static_cast<int64_t>(chunk)) {
    size_t want = static_cast<size_t>(std::min<int64_t>(chunk, bytes - off));
    size_t got = 0;
    while (got < want) {  // pread returns less only at the end of the file
      auto r = f.read_at(p + got, want - got, off + static_cast<int64_t>(got));
      if (!r.ok()) return r.status();
      got += *r;
    }
    sum += checksum(buf.data(), want / 8, static_cast<uint64_t>(off / 8));
    total->fetch_add(static_cast<int64_t>(want), std::memory_order_relaxed);
  }
  return sum;
}

struct ThreadCounts {
  int32_t runtime = 0;  // sched::thread_stats().threads
  int32_t idle = 0;     // sched::thread_stats().idle_threads
  int32_t os = 0;       // /proc/self/status
};

ThreadCounts count_threads() {
  sched::ThreadStats t = sched::thread_stats();
  return ThreadCounts{t.threads, t.idle_threads, os_threads()};
}

absl::StatusOr<Result> run_syscall_block(const WorkloadArgs& args,
                                         std::FILE* out) {
  const int64_t goroutines = args.get("goroutines");
  const int64_t bytes = args.get("mib") << 20;
  const size_t chunk = static_cast<size_t>(args.get("chunk-kib")) << 10;
  const int64_t idle_ms = args.get("idle-ms");
  absl::Status failure;
  int procs = 0;
  int64_t nanos = 0;
  int64_t bad_sums = 0;
  std::atomic<int64_t> total{0};
  ThreadCounts before, peak, after;
  std::vector<sched::PStats> p_before, p_after;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    std::string path = fmt::format("{}/gort-syscall-block-{}", temp_dir(),
                                   static_cast<long>(getpid()));
    auto f = os::create(path);
    if (!f.ok()) {
      failure = f.status();
      return;
    }
    ::unlink(path.c_str());  // the open descriptor keeps the data
    auto want = fill(*f, bytes, chunk);
    if (!want.ok()) {
      failure = want.status();
      return;
    }
    before = count_threads();
    peak = before;
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
      while (sampling.load(std::memory_order_acquire)) {
        ThreadCounts c = count_threads();
        peak.runtime = std::max(peak.runtime, c.runtime);
        peak.os = std::max(peak.os, c.os);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    p_before = sched::p_stats();
    FirstError err;
    std::atomic<int64_t> bad{0};
    Join readers;
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < goroutines; i++) {
      readers.add();
      gort::go([&] {
        auto sum = read_all(*f, bytes, chunk, &total);
        if (!sum.ok()) {
          err.set(sum.status());
        } else if (*sum != *want) {
          bad.fetch_add(1, std::memory_order_relaxed);
        }
        readers.done();
      });
    }
    readers.wait();
    nanos = sys::nanotime() - start;
    p_after = sched::p_stats();
    time::sleep(std::chrono::milliseconds(idle_ms));
    sampling.store(false, std::memory_order_release);
    gort::blocking([&] { sampler.join(); });
    after = count_threads();
    failure = err.get();
    bad_sums = bad.load();
    if (failure.ok()) failure = f->close();
  });
  if (!failure.ok()) return failure;
  if (bad_sums > 0) {
    return absl::DataLossError(fmt::format(
        "syscall-block: {} of {} readers read a wrong checksum", bad_sums,
        goroutines));
  }
  const int64_t want_total = goroutines * bytes;
  if (total.load() != want_total) {
    return absl::DataLossError(fmt::format(
        "syscall-block: read {} bytes, want {}", total.load(), want_total));
  }
  double secs = static_cast<double>(nanos) / 1e9;
  double mbps = static_cast<double>(want_total) / 1e6 / secs;
  fmt::print(out,
             "syscall-block: {} goroutines each read a {} MiB file in {} KiB "
             "preads inside blocking(): {} MiB in {:.3f} s, {:.1f} MB/s, "
             "every checksum right (GOMAXPROCS={})\n",
             goroutines, bytes >> 20, chunk >> 10, want_total >> 20, secs,
             mbps, procs);
  fmt::print(out,
             "threads (schedtrace's threads=): before {}, peak {}, after {} "
             "with {} idle, {} ms after the reads; OS threads: before {}, "
             "peak {}, after {}\n",
             before.runtime, peak.runtime, after.runtime, after.idle, idle_ms,
             before.os, peak.os, after.os);
  if (after.runtime < peak.runtime) {
    fmt::print(out, "threads shrank by {} after the burst\n",
               peak.runtime - after.runtime);
  } else {
    fmt::print(out,
               "threads did not shrink: idle Ms sleep on the idle list and "
               "are reused, never retired (as in Go); {} of {} are idle\n",
               after.idle, after.runtime);
  }
  std::string ticks;
  for (size_t i = 0; i < p_after.size() && i < p_before.size(); i++) {
    ticks += fmt::format(" P{} {}", p_after[i].id,
                         p_after[i].syscalltick - p_before[i].syscalltick);
  }
  fmt::print(out, "syscalls entered per P (syscalltick):{}\n", ticks);
  return Result{mbps, "MB/s"};
}

const Registrar registrar(Workload{
    .name = "syscall-block",
    .description = "64 goroutines read a 16 MiB file in 1 MiB blocking "
                   "preads; threads before/peak/after; MB/s",
    .options = {{.name = "goroutines",
                 .help = "reading goroutines, each reads the whole file",
                 .default_value = 64,
                 .min_value = 1,
                 .max_value = 10'000},
                {.name = "mib",
                 .help = "file size in MiB",
                 .default_value = 16,
                 .min_value = 1,
                 .max_value = 4096},
                {.name = "chunk-kib",
                 .help = "bytes per pread, in KiB",
                 .default_value = 1024,
                 .min_value = 4,
                 .max_value = 65536},
                {.name = "idle-ms",
                 .help = "idle time after the reads, before counting threads",
                 .default_value = 100,
                 .min_value = 0,
                 .max_value = 60'000}},
    .benchmark = true,
    .has_go_twin = false,
    .run = run_syscall_block,
});

}  // namespace
}  // namespace gort::cli
