// The `tour` workload: what `gort` with no arguments runs. In two to five
// seconds it runs a small instance of one workload per landed component,
// each printing its own summary, then prints every report a run can ask
// for: a scheduler trace line (--schedtrace), the MemStats block
// (--memstats), and the strace table of everything the tour did
// (--strace). Components still to land are named from cli/components.h.
//
// The sections reuse the registered workloads (cli/registry.h) with smaller
// options, so the tour shows exactly what `gort run NAME` shows. A section
// whose workload is not in this build is skipped, with a line saying so.
// Sanitizer builds divide the counts (by 20 under ASan, 200 under TSan,
// where a goroutine costs about a millisecond).
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli/components.h"
#include "cli/memstats.h"
#include "cli/registry.h"
#include "cli/workloads/syscalls.h"
#include "fmt/format.h"
#include "mem/mem.h"
#include "sched/schedtrace.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int64_t kScale = 200;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int64_t kScale = 20;
#else
constexpr int64_t kScale = 1;
#endif

struct Section {
  const char* component;
  const char* workload;
  std::vector<std::pair<const char*, int64_t>> options;  // before scaling
  bool scale;  // whether the first option is a count to scale down
};

// Runs one section: a header, the workload's own lines, its result.
absl::Status run_section(const Section& s, std::FILE* out) {
  const Workload* w = Registry::global().find(s.workload);
  fmt::print(out, "\n== {}: gort run {}", s.component, s.workload);
  WorkloadArgs args;
  if (w != nullptr) args = w->default_args();
  for (size_t i = 0; i < s.options.size(); ++i) {
    int64_t v = s.options[i].second;
    if (i == 0 && s.scale) v = std::max<int64_t>(1, v / kScale);
    args.set(s.options[i].first, v);
    fmt::print(out, " --{} {}", s.options[i].first, v);
  }
  fmt::print(out, " ==\n");
  if (w == nullptr) {
    fmt::print(out, "(not in this build)\n");
    return absl::OkStatus();
  }
  std::fflush(out);
  absl::StatusOr<Result> r = w->run(args, out);
  if (!r.ok()) return r.status();
  fmt::print(out, "-> {} {}\n", r->value, r->unit);
  return absl::OkStatus();
}

absl::StatusOr<Result> run(const WorkloadArgs& args, std::FILE* out) {
  int64_t start = sys::nanotime();
  fmt::print(out,
             "gort: Go's runtime as a C++20 library. This tour runs a small "
             "instance of one\nworkload per component, then prints the "
             "reports `gort run` can add to any run.\n");

  // Under `gort run tour --strace` the runner already counts and prints
  // the table; otherwise the tour counts everything it does itself.
  bool counting_already = sys::accounting() != sys::AccountingMode::kOff;
  if (!counting_already) {
    sys::reset_syscall_stats();
    sys::set_accounting(sys::AccountingMode::kSummary);
  }
  fmt::print(out,
             "\n== sys: every syscall goes through sys/, counted like strace "
             "-c ==\n");
  absl::StatusOr<SyscallsMixResult> mix = run_syscalls_mix(SyscallsMix());
  absl::Status status = mix.status();
  if (mix.ok()) {
    fmt::print(out, "{} syscalls in {:.3f} ms (gort run syscalls --strace)\n",
               mix->syscalls, mix->nanos / 1e6);
  }
  const Section sections[] = {
      {"sched", "spawn", {{"goroutines", 200'000}}, true},
      {"sched", "steal", {{"goroutines", 2'000}}, true},
      {"chan", "pingpong", {{"rounds", 200'000}}, true},
      {"chan", "select4", {{"selects", 400'000}}, true},
      {"syncx", "mutex", {{"ops", 200'000}}, true},
      {"timer", "sleepers", {{"goroutines", 10'000}, {"sleeps", 3}}, true},
      {"netpoll", "echo", {{"conns", 20}, {"ms", 1000}}, false},
      {"mem", "bigmap", {{"entries", 500'000}}, true},
  };
  for (const Section& s : sections) {
    if (!status.ok()) break;
    status = run_section(s, out);
  }
  if (!counting_already) sys::set_accounting(sys::AccountingMode::kOff);
  if (!status.ok()) return status;

  std::fflush(out);
  fmt::print(out, "\n== the scheduler now (--schedtrace MS, --scheddetail) ==\n");
  std::fflush(out);
  sched::set_schedtrace_fd(fileno(out));
  sched::schedtrace(false);
  sched::set_schedtrace_fd(2);

  mem::MemStats m = mem::read_mem_stats();
  fmt::print(out, "\n== memory (--memstats) ==\n{}{}",
             format_print_mem("", m, resident_bytes()), format_mem_stats(m));

  if (!counting_already) {
    fmt::print(out, "\n== every syscall of the tour (--strace; --strace=full, "
                    "--strace=ptrace) ==\n{}",
               sys::format_strace_summary(sys::syscall_stats()));
  }
  fmt::print(out,
             "\n== a timeline (--trace-out FILE.json) ==\n"
             "gort run pingpong --rounds 1000 --trace-out t.json, then open "
             "t.json in\nui.perfetto.dev or chrome://tracing: a track per P "
             "and per M.\n");

  bool header = false;
  for (const Component& c : kComponents) {
    if (c.landed) continue;
    if (!header) {
      fmt::print(out, "\nReports that join the tour as components land:\n");
      header = true;
    }
    fmt::print(out, "  {:<6} {}\n", c.name, c.reports);
  }
  fmt::print(out, "\n");
  return Result{(sys::nanotime() - start) / 1e6, "ms"};
}

const Registrar registrar(Workload{
    .name = "tour",
    .description = "the default: a few seconds of every component, then "
                   "every report (schedtrace, MemStats, strace table)",
    .options = {},
    .benchmark = false,
    .has_go_twin = false,
    .run = run,
});

}  // namespace
}  // namespace gort::cli
