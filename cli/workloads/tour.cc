// The `tour` workload: what `gort` with no arguments runs. It shows each
// landed component with the report Go (or strace) users already read, and
// names the reports still to come from cli/components.h. It grows as
// components land; for now the sys layer's strace table is the whole show.
#include <string>

#include "cli/components.h"
#include "cli/registry.h"
#include "cli/workloads/syscalls.h"
#include "fmt/format.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run(const WorkloadArgs& args, std::FILE* out) {
  int64_t start = sys::nanotime();
  fmt::print(out,
             "gort: Go's runtime as a C++20 library. This tour runs a small "
             "workload\non each landed component and prints its report.\n\n");

  fmt::print(out,
             "== sys: every syscall goes through sys/, counted like strace "
             "-c ==\n");
  // Under `gort run tour --strace` the runner already counts; then the
  // tour's calls simply join its table instead of being reset here.
  bool counting_already = sys::accounting() != sys::AccountingMode::kOff;
  if (!counting_already) {
    sys::reset_syscall_stats();
    sys::set_accounting(sys::AccountingMode::kSummary);
  }
  absl::StatusOr<SyscallsMixResult> mix = run_syscalls_mix(SyscallsMix());
  if (!counting_already) sys::set_accounting(sys::AccountingMode::kOff);
  if (!mix.ok()) return mix.status();
  fmt::print(out, "{} syscalls in {:.3f} ms (gort run syscalls --strace):\n",
             mix->syscalls, mix->nanos / 1e6);
  if (!counting_already) {
    fmt::print(out, "{}", sys::format_strace_summary(sys::syscall_stats()));
  }

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
    .description = "the default: each landed component's report, and the "
                   "reports still to come",
    .options = {},
    .benchmark = false,
    .has_go_twin = false,
    .run = run,
});

}  // namespace
}  // namespace gort::cli
