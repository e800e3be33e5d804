// cli/run.h: `gort run WORKLOAD`: workload options, accounting, reports.
//
//   parse_workload_args  the options after the workload's name
//   workload_help        those options, as `gort run NAME --help` lists them
//   run_workload         one run: reports on, the workload, result line,
//                        reports printed
//
// Output: the workload's own lines and the `result:` line go to stdout; the
// reports (the strace table) go to stderr, as strace prints them.
//
// Thread safety: none needed; used once, from main.
#ifndef GORT_CLI_RUN_H_
#define GORT_CLI_RUN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/run_flags.h"

namespace gort::cli {

// Parses `argv` (in order, e.g. {"--getpids", "100"} or {"--getpids=100"})
// against `w`'s options, starting from their defaults. InvalidArgument with
// one line naming the option on an unknown option, a missing or non-integer
// value, or a value outside the option's range.
absl::StatusOr<WorkloadArgs> parse_workload_args(
    const Workload& w, const std::vector<std::string>& argv);

// "Options of workload NAME:" and one line per option with its default.
std::string workload_help(const Workload& w);

// Runs `w` once. REQUIRES: check_landed(flags) is OK. Accounting (when
// --strace asks for it) is on exactly around w.run: the counts are the
// workload's calls plus the runtime's on its behalf, never the CLI's own
// output. Returns the exit status: 0, or 1 when the workload failed (its
// error is printed to stderr as "gort: NAME: message").
int run_workload(const Workload& w, const WorkloadArgs& args,
                 const RunFlags& flags);

}  // namespace gort::cli

#endif  // GORT_CLI_RUN_H_
