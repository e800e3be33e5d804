// cli/run_flags.h: the runtime flags of `gort run`, parsed and validated.
//
//   StraceMode     off, summary (strace -c's table), full (one line per
//                  call), ptrace (a traced child, as strace -c -f)
//   RunFlags       the validated values
//   RunFlagParser  adds the flags to a CLI11 (sub)command, then turns what
//                  CLI11 collected into RunFlags or a one-line error
//   check_landed   refuses a flag whose component has not landed yet
//
// Every flag of DESIGN.md's `gort run` parses and validates here, landed or
// not; values arrive as text and are checked by hand so that every error is
// one line naming the flag: `--procs must be an integer >= 1, got 0`.
//
// Thread safety: none needed; used once, from main.
#ifndef GORT_CLI_RUN_FLAGS_H_
#define GORT_CLI_RUN_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gort::cli {

enum class StraceMode { kOff, kSummary, kFull, kPtrace };

// GOMAXPROCS's ceiling here. Go 1.19 has no fixed maximum; a bound keeps a
// typo (`--procs 10000000`) from becoming millions of Ps.
inline constexpr int kMaxProcs = 1024;

struct RunFlags {
  std::optional<int> procs;              // GOMAXPROCS, 1..kMaxProcs
  std::optional<int> gogc;               // GOGC percent; -1 = off
  bool gctrace = false;                  // GODEBUG=gctrace=1
  std::optional<int64_t> schedtrace_ms;  // GODEBUG=schedtrace=MS, >= 1
  bool scheddetail = false;              // GODEBUG=scheddetail=1
  StraceMode strace = StraceMode::kOff;
  bool escape = false;    // escape report after the run
  bool memstats = false;  // MemStats after the run
  std::string trace_out;  // Chrome trace JSON; "" = none
};

class RunFlagParser {
 public:
  // Adds the runtime flags to `app`. `app` must outlive this object.
  explicit RunFlagParser(CLI::App* app);

  // After `app` has parsed: the validated flags, or InvalidArgument whose
  // message is one line naming the flag (no "gort: " prefix).
  absl::StatusOr<RunFlags> finish() const;

 private:
  std::string procs_, gogc_, schedtrace_, strace_, trace_out_;
  bool gctrace_ = false, scheddetail_ = false, escape_ = false,
       memstats_ = false;
  CLI::Option* procs_opt_;
  CLI::Option* gogc_opt_;
  CLI::Option* schedtrace_opt_;
  CLI::Option* strace_opt_;
  CLI::Option* trace_out_opt_;
};

// OK when every flag set in `flags` can run in this build; otherwise
// FailedPrecondition with the one-line reason, e.g.
// "--gctrace needs the gc component, which has not landed yet".
absl::Status check_landed(const RunFlags& flags);

// Parses a whole decimal integer ("12", "-5"); nullopt for anything else
// ("", "1x", "0x10", out of int64 range).
std::optional<int64_t> parse_int(const std::string& text);

}  // namespace gort::cli

#endif  // GORT_CLI_RUN_FLAGS_H_
