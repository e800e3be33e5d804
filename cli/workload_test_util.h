// cli/workload_test_util.h: what the workload tests share.
//
//   run_captured   runs a workload in process and captures what it prints
//   counted        the syscalls (calls, errors by name) made while a
//                  function runs, with in-process accounting on
//
// Thread safety: call from one thread (the test's).
#ifndef GORT_CLI_WORKLOAD_TEST_UTIL_H_
#define GORT_CLI_WORKLOAD_TEST_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "sys/syscall.h"

namespace gort::cli::testing {

// Runs `w` with `args`; *output gets everything it printed. Returns the
// workload's result, or Internal if no temporary file could be made.
inline absl::StatusOr<Result> run_captured(const Workload& w, const WorkloadArgs& args,
                                           std::string* output) {
  output->clear();
  std::FILE* f = std::tmpfile();
  if (f == nullptr) return absl::InternalError("tmpfile");
  absl::StatusOr<Result> r = w.run(args, f);
  std::fflush(f);
  std::rewind(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) output->append(buf, n);
  std::fclose(f);
  return r;
}

// Accounting on around `fn` only; returns calls and errors by name.
template <typename Fn>
std::map<std::string, std::pair<uint64_t, uint64_t>> counted(Fn fn) {
  sys::reset_syscall_stats();
  sys::set_accounting(sys::AccountingMode::kSummary);
  fn();
  sys::set_accounting(sys::AccountingMode::kOff);
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (const sys::SyscallStat& s : sys::syscall_stats()) {
    out[s.name] = {s.calls, s.errors};
  }
  return out;
}

}  // namespace gort::cli::testing

#endif  // GORT_CLI_WORKLOAD_TEST_UTIL_H_
