// cli/workloads/syscalls.h: the `syscalls` workload's mix, for reuse.
//
//   SyscallsMix         how many of each call
//   SyscallsMixResult   how many syscalls were made and how long they took
//   run_syscalls_mix    makes them, every one through sys/
//
// The mix, in order: `getpids` getpid calls; if `writes` > 0, one openat of
// /dev/null, `writes` writes of 64 bytes to it and one close; then
// `missing_opens` openat calls of a path that cannot exist, each failing
// with ENOENT. With every count 0 it makes no syscall at all (the strace
// comparison test's baseline relies on that).
//
// Thread safety: may run on any thread; the calls are independent.
#ifndef GORT_CLI_WORKLOADS_SYSCALLS_H_
#define GORT_CLI_WORKLOADS_SYSCALLS_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace gort::cli {

struct SyscallsMix {
  int64_t getpids = 10000;
  int64_t writes = 1000;
  int64_t missing_opens = 100;
};

struct SyscallsMixResult {
  int64_t syscalls = 0;  // every syscall made, /dev/null's open and close too
  int64_t nanos = 0;     // wall time of the whole mix
};

// The missing file: procfs refuses to create anything in /proc/self, so
// opening this fails with ENOENT on every Linux. The Go twin uses it too.
inline constexpr char kMissingPath[] = "/proc/self/gort-missing-file";

// Makes the mix. Internal error if a call misbehaves (getpid not positive,
// a short or failed write, an open of the missing file that does not fail
// with ENOENT); the message names the call and the errno.
absl::StatusOr<SyscallsMixResult> run_syscalls_mix(const SyscallsMix& mix);

}  // namespace gort::cli

#endif  // GORT_CLI_WORKLOADS_SYSCALLS_H_
