#include "cli/run_flags.h"

#include <charconv>

#include "cli/components.h"
#include "fmt/format.h"

namespace gort::cli {

std::optional<int64_t> parse_int(const std::string& text) {
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;  // "+3" is 3, as strconv.Atoi
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || begin == end) return std::nullopt;
  return value;
}

RunFlagParser::RunFlagParser(CLI::App* app) {
  procs_opt_ = app->add_option("--procs", procs_,
                               "GOMAXPROCS: how many Ps run goroutines "
                               "(1.." +
                                   std::to_string(kMaxProcs) +
                                   "; overrides $GOMAXPROCS)");
  procs_opt_->type_name("N");
  gogc_opt_ = app->add_option(
      "--gogc", gogc_,
      "GOGC: heap growth percent that triggers a GC, or off (overrides $GOGC)");
  gogc_opt_->type_name("N|off");
  app->add_flag("--gctrace", gctrace_,
                "print a gctrace line per GC cycle (GODEBUG=gctrace=1)");
  schedtrace_opt_ = app->add_option(
      "--schedtrace", schedtrace_,
      "print a SCHED line every MS milliseconds (GODEBUG=schedtrace=MS)");
  schedtrace_opt_->type_name("MS");
  app->add_flag("--scheddetail", scheddetail_,
                "with --schedtrace: one line per P, M and G "
                "(GODEBUG=scheddetail=1)");
  // A flag that also takes `=VALUE`: bare `--strace` stores "true". Never
  // a separate argument, so `--strace syscalls` cannot eat the workload.
  strace_opt_ = app->add_flag(
      "--strace", strace_,
      "count syscalls: =summary (default) prints strace -c's table to "
      "stderr after the run; =full also prints one line per call as it "
      "happens; =ptrace traces a child as strace -c -f does");
  strace_opt_->type_name("[=summary|full|ptrace]");
  app->add_flag("--escape", escape_,
                "after the run, print where allocations escaped "
                "(go tool compile -m's shape)");
  app->add_flag("--memstats", memstats_,
                "after the run, print Go's runtime.MemStats");
  trace_out_opt_ = app->add_option(
      "--trace-out", trace_out_,
      "write a Chrome trace-event JSON file (open it in Perfetto)");
  trace_out_opt_->type_name("FILE.json");
}

absl::StatusOr<RunFlags> RunFlagParser::finish() const {
  RunFlags flags;
  auto bad = [](std::string message) {
    return absl::InvalidArgumentError(std::move(message));
  };
  if (procs_opt_->count() > 0) {
    std::optional<int64_t> n = parse_int(procs_);
    if (!n || *n < 1 || *n > kMaxProcs) {
      return bad(
          fmt::format("--procs must be an integer from 1 to {}, got \"{}\"",
                      kMaxProcs, procs_));
    }
    flags.procs = static_cast<int>(*n);
  }
  if (gogc_opt_->count() > 0) {
    // Go's readGOGC (runtime/mgcpacer.go) reads "off" as -1; a negative
    // number from the command line is almost surely a typo, so only off.
    std::optional<int64_t> n = parse_int(gogc_);
    if (gogc_ == "off") {
      flags.gogc = -1;
    } else if (n && *n >= 0 && *n <= INT32_MAX) {
      flags.gogc = static_cast<int>(*n);
    } else {
      return bad(fmt::format(
          "--gogc must be a non-negative integer or off, got \"{}\"", gogc_));
    }
  }
  flags.gctrace = gctrace_;
  if (schedtrace_opt_->count() > 0) {
    std::optional<int64_t> n = parse_int(schedtrace_);
    if (!n || *n < 1) {
      return bad(fmt::format(
          "--schedtrace must be a positive number of milliseconds, got \"{}\"",
          schedtrace_));
    }
    flags.schedtrace_ms = *n;
  }
  flags.scheddetail = scheddetail_;
  if (strace_opt_->count() > 0) {
    if (strace_ == "true" || strace_ == "summary") {
      flags.strace = StraceMode::kSummary;
    } else if (strace_ == "full") {
      flags.strace = StraceMode::kFull;
    } else if (strace_ == "ptrace") {
      flags.strace = StraceMode::kPtrace;
    } else {
      return bad(fmt::format(
          "--strace must be --strace, --strace=summary, --strace=full or "
          "--strace=ptrace, got \"--strace={}\"",
          strace_));
    }
  }
  flags.escape = escape_;
  flags.memstats = memstats_;
  if (trace_out_opt_->count() > 0) {
    if (trace_out_.empty()) return bad("--trace-out needs a file name");
    flags.trace_out = trace_out_;
  }
  return flags;
}

absl::Status check_landed(const RunFlags& flags) {
  struct Need {
    bool set;
    const char* flag;
    const char* component;
  };
  const Need needs[] = {
      {flags.procs.has_value(), "--procs", "sched"},
      {flags.gogc.has_value(), "--gogc", "gc"},
      {flags.gctrace, "--gctrace", "gc"},
      {flags.schedtrace_ms.has_value(), "--schedtrace", "sched"},
      {flags.scheddetail, "--scheddetail", "sched"},
      {flags.escape, "--escape", "gc"},
      {flags.memstats, "--memstats", "mem"},
      {!flags.trace_out.empty(), "--trace-out", "trace"},
  };
  for (const Need& n : needs) {
    if (n.set && !component_landed(n.component)) {
      return absl::FailedPreconditionError(
          fmt::format("{} needs the {} component, which has not landed yet",
                      n.flag, n.component));
    }
  }
  return absl::OkStatus();
}

}  // namespace gort::cli
