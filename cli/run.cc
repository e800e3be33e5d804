#include "cli/run.h"

#include <errno.h>

#include <algorithm>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "fmt/format.h"
#include "cli/memstats.h"
#include "cli/ptrace.h"
#include "cli/trace_json.h"
#include "mem/mem.h"
#include "sched/sched.h"
#include "sched/schedtrace.h"
#include "sys/env.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

// Writes all of `text` to `fd` with sys::write. Called with accounting off,
// so the report's own write is never in the report; the strace comparison
// test relies on it being one write(2) per report whatever its length (a
// pipe or file takes up to 64 KiB at once).
void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    long n = sys::write(fd, text.data(), text.size());
    if (n == -EINTR) continue;
    if (sys::is_error(n) || n == 0) return;  // nowhere left to report it
    text.remove_prefix(static_cast<size_t>(n));
  }
}

sys::AccountingMode accounting_for(StraceMode mode) {
  switch (mode) {
    case StraceMode::kSummary:
      return sys::AccountingMode::kSummary;
    case StraceMode::kFull:
      return sys::AccountingMode::kFull;
    case StraceMode::kOff:
    case StraceMode::kPtrace:  // counted from outside: run_traced
      break;
  }
  return sys::AccountingMode::kOff;
}

}  // namespace

absl::StatusOr<WorkloadArgs> parse_workload_args(
    const Workload& w, const std::vector<std::string>& argv) {
  CLI::App app{"", "gort run " + w.name};
  app.set_help_flag();  // `gort run NAME --help` is the run command's
  std::vector<std::string> text(w.options.size());
  std::vector<CLI::Option*> opts;
  for (size_t i = 0; i < w.options.size(); ++i) {
    opts.push_back(
        app.add_option("--" + w.options[i].name, text[i], w.options[i].help));
  }
  // CLI11 takes a vector of arguments last-first.
  std::vector<std::string> reversed(argv.rbegin(), argv.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(
        fmt::format("workload {}: {}", w.name, e.what()));
  }
  WorkloadArgs args = w.default_args();
  for (size_t i = 0; i < w.options.size(); ++i) {
    if (opts[i]->count() == 0) continue;
    const WorkloadOption& o = w.options[i];
    std::optional<int64_t> v = parse_int(text[i]);
    if (!v || *v < o.min_value || *v > o.max_value) {
      std::string range =
          o.max_value == INT64_MAX
              ? fmt::format(">= {}", o.min_value)
              : fmt::format("from {} to {}", o.min_value, o.max_value);
      return absl::InvalidArgumentError(fmt::format(
          "--{} must be an integer {}, got \"{}\"", o.name, range, text[i]));
    }
    args.set(o.name, *v);
  }
  return args;
}

std::string workload_help(const Workload& w) {
  if (w.options.empty()) {
    return fmt::format("Workload {} has no options of its own.\n", w.name);
  }
  std::string out =
      fmt::format("Options of workload {} (given after its name):\n", w.name);
  for (const WorkloadOption& o : w.options) {
    out += fmt::format("  --{:<20} {} (default {})\n", o.name + " N", o.help,
                       o.default_value);
  }
  return out;
}

int run_workload(const Workload& w, const WorkloadArgs& args,
                 const RunFlags& flags) {
  // --strace=ptrace: this same command, minus that flag, as a traced child
  // counted from outside (cli/ptrace.h); the child does everything else.
  if (flags.strace == StraceMode::kPtrace) return run_traced();
  // --trace-out's file is opened first: a path that cannot be written fails
  // before anything runs (exit 2), not after the workload.
  std::optional<TraceOut> trace;
  if (!flags.trace_out.empty()) {
    absl::StatusOr<TraceOut> t = TraceOut::open(flags.trace_out);
    if (!t.ok()) {
      fmt::print(stderr, "gort: {}\n", std::string(t.status().message()));
      return 2;
    }
    trace.emplace(std::move(*t));
  }
  // Scheduler flags override GOMAXPROCS and GODEBUG, as Go's would if set
  // before start-up.
  if (flags.procs) gort::gomaxprocs(static_cast<int>(*flags.procs));
  if (flags.schedtrace_ms || flags.scheddetail) {
    const sys::GoDebug& env = sys::env().godebug;
    int ms = flags.schedtrace_ms ? static_cast<int>(*flags.schedtrace_ms)
                                 : env.schedtrace;
    sched::set_schedtrace(ms, flags.scheddetail || env.scheddetail > 0);
  }
  sys::AccountingMode mode = accounting_for(flags.strace);
  std::fflush(stdout);
  if (mode != sys::AccountingMode::kOff) {
    sys::reset_syscall_stats();
    sys::set_accounting(mode);
  }
  if (trace) trace->start();
  absl::StatusOr<Result> result = w.run(args, stdout);
  if (mode != sys::AccountingMode::kOff) {
    sys::set_accounting(sys::AccountingMode::kOff);
  }
  absl::StatusOr<TraceJsonStats> traced = TraceJsonStats{};
  if (trace) traced = trace->finish();
  if (!traced.ok()) {
    std::fflush(stdout);
    fmt::print(stderr, "gort: {}\n", std::string(traced.status().message()));
    return 1;
  }
  if (trace) {
    fmt::print(stderr, "trace: {} events ({} lost to full rings) written to {}\n",
               traced->events, traced->dropped, flags.trace_out);
  }
  if (!result.ok()) {
    std::fflush(stdout);
    fmt::print(stderr, "gort: {}: {}\n", w.name,
               std::string(result.status().message()));
    return 1;
  }
  fmt::print(stdout, "{}\n", format_result_line(w.name, *result));
  std::fflush(stdout);
  if (flags.memstats) {  // after the run, on stderr as the other reports
    mem::MemStats m = mem::read_mem_stats();
    write_all(2, format_print_mem("", m, resident_bytes()) + format_mem_stats(m));
  }
  if (mode != sys::AccountingMode::kOff) {
    write_all(2, sys::format_strace_summary(sys::syscall_stats()));
  }
  return 0;
}

}  // namespace gort::cli
