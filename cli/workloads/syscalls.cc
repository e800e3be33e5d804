// The `syscalls` workload: a fixed, known mix of system calls made through
// sys/, so that `gort run syscalls --strace` can be checked call for call
// against `strace -c -f` (cli/strace_compare_test.cc) and timed against Go
// (bench/go/syscalls/main.go, which makes the same calls in the same order).
//
// Go 1.19's syscall.Getpid is one SYSCALL instruction per call
// (syscall/zsyscall_linux_amd64.go: rawSyscallNoError(SYS_GETPID)), and so
// is sys::getpid: neither caches the pid, both enter the kernel every time.
#include "cli/workloads/syscalls.h"

#include <errno.h>
#include <fcntl.h>

#include <cstring>

#include "absl/status/status.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

constexpr size_t kWriteSize = 64;

absl::Status call_error(std::string_view call, long r) {
  return absl::InternalError(fmt::format(
      "{} returned {} ({})", call, r,
      sys::is_error(r) ? std::strerror(static_cast<int>(-r)) : "no error"));
}

absl::StatusOr<Result> run(const WorkloadArgs& args, std::FILE* out) {
  SyscallsMix mix;
  mix.getpids = args.get("getpids");
  mix.writes = args.get("writes");
  mix.missing_opens = args.get("missing-opens");
  absl::StatusOr<SyscallsMixResult> r = run_syscalls_mix(mix);
  if (!r.ok()) return r.status();
  double ns_per_op =
      r->syscalls == 0 ? 0.0 : static_cast<double>(r->nanos) / r->syscalls;
  fmt::print(out,
             "syscalls: {} getpid, {} write of {} bytes to /dev/null, {} "
             "openat of a missing file (ENOENT): {} syscalls in {:.3f} ms\n",
             mix.getpids, mix.writes, kWriteSize, mix.missing_opens,
             r->syscalls, r->nanos / 1e6);
  return Result{ns_per_op, "ns/op"};
}

const Registrar registrar(Workload{
    .name = "syscalls",
    .description = "getpid, 64-byte writes to /dev/null and failing opens "
                   "through sys/; ns per syscall",
    .options =
        {
            {.name = "getpids",
             .help = "getpid calls",
             .default_value = SyscallsMix().getpids},
            {.name = "writes",
             .help = "64-byte writes to /dev/null (opened once, closed at "
                     "the end; 0 skips the open and close too)",
             .default_value = SyscallsMix().writes},
            {.name = "missing-opens",
             .help = "openat calls of a missing file, each failing ENOENT",
             .default_value = SyscallsMix().missing_opens},
        },
    .benchmark = true,
    .has_go_twin = true,
    .run = run,
});

}  // namespace

absl::StatusOr<SyscallsMixResult> run_syscalls_mix(const SyscallsMix& mix) {
  char buf[kWriteSize];
  std::memset(buf, 'x', sizeof(buf));
  SyscallsMixResult result;
  int64_t start = sys::nanotime();

  for (int64_t i = 0; i < mix.getpids; ++i) {
    long pid = sys::getpid();
    if (pid <= 0) return call_error("getpid", pid);
  }
  result.syscalls += mix.getpids;

  if (mix.writes > 0) {
    long fd = sys::openat(AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
    if (sys::is_error(fd)) return call_error("openat(/dev/null)", fd);
    for (int64_t i = 0; i < mix.writes; ++i) {
      long n = sys::write(static_cast<int>(fd), buf, sizeof(buf));
      if (n != static_cast<long>(sizeof(buf))) {
        sys::close(static_cast<int>(fd));
        return call_error("write(/dev/null)", n);
      }
    }
    long c = sys::close(static_cast<int>(fd));
    if (c != 0) return call_error("close(/dev/null)", c);
    result.syscalls += mix.writes + 2;
  }

  for (int64_t i = 0; i < mix.missing_opens; ++i) {
    long fd = sys::openat(AT_FDCWD, kMissingPath, O_RDONLY | O_CLOEXEC);
    if (fd != -ENOENT) {
      if (!sys::is_error(fd)) sys::close(static_cast<int>(fd));
      return call_error(fmt::format("openat({})", kMissingPath), fd);
    }
  }
  result.syscalls += mix.missing_opens;

  result.nanos = sys::nanotime() - start;
  return result;
}

}  // namespace gort::cli
