// cli/ptrace.h: `gort run WORKLOAD --strace=ptrace`: the same command re-run
// as a traced child, its syscalls counted as `strace -c -f` counts them.
//
//   never_fails         strace's SYSCALL_NEVER_FAILS set (x86-64)
//   counts_as_error     strace -c's error rule for one result
//   SyscallCounter      strace -c's accounting, fed with syscall stops per
//                       thread (entry, exit, thread gone, exec)
//   child_argv          a command line minus `--strace=ptrace`
//   read_self_cmdline   /proc/self/cmdline, split
//   TraceResult         how the traced child ended, and the counts
//   trace_command       fork, exec, follow every thread and child, count
//   run_traced          the whole --strace=ptrace command: trace, table to
//                       stderr, the child's exit status as gort's
//
// Unlike the in-process --strace (sys/syscall.h's accounting), this counts
// every syscall of every thread, the dynamic loader's, libc's, the
// sanitizers' and the CLI's own output included: the same numbers
// `strace -c -f gort run WORKLOAD` prints (cli/strace_compare_test.cc).
//
// Thread safety: SyscallCounter is not thread-safe (one tracer thread owns
// it). trace_command and run_traced must not run concurrently with each
// other in one process: they wait for any child (the tracees are not all
// the tracer's children) and install signal handlers that forward to the
// child.
#ifndef GORT_CLI_PTRACE_H_
#define GORT_CLI_PTRACE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sys/syscall.h"

namespace gort::cli {

// Whether strace marks syscall `nr` "never fails" (NF in strace's
// src/linux/x86_64/syscallent.h): its result is never counted as an error
// whatever its value (getpid, gettid, getuid, umask, personality, ...).
bool never_fails(long nr);

// strace -c's rule: a result in [-4095, -1] (as strace's is_negated_errno,
// MAX_ERRNO_VALUE 4095) is an error, unless the syscall never fails. Large
// successful results (mmap's addresses, lseek's offsets) are not errors,
// nor is -4096 or anything below it.
bool counts_as_error(long nr, long result);

// strace -c's accounting. A syscall is counted at its exit stop (strace's
// count_syscall runs in syscall_exiting_trace): a call whose thread never
// returns from it (exit, exit_group, a thread killed by another's exit
// group or exec) is not counted, exactly as strace leaves it out. Time is
// strace's default: the system CPU time of the process (wait4's ru_stime)
// at the exit stop minus at the entry stop.
class SyscallCounter {
 public:
  // Syscall-entry stop of `tid` for syscall `nr`; `stime_ns` as above. A
  // negative `nr` (a syscall skipped by a seccomp filter, or the -1 of a
  // restart) is not a syscall and is ignored at exit, as strace's
  // scno_in_range leaves it.
  void on_entry(pid_t tid, long nr, int64_t stime_ns);

  // Syscall-exit stop of `tid` with the kernel's result. Counts the call
  // entered last by `tid`; an exit with no entry seen (a thread attached
  // inside a syscall) counts nothing. Returns whether it counted.
  bool on_exit(pid_t tid, long result, int64_t stime_ns);

  // `tid` exited or was killed: whatever call it was in is dropped.
  void on_thread_gone(pid_t tid);

  // PTRACE_EVENT_EXEC on `tid` (the thread-group leader after the exec)
  // reported by `former_tid` (the thread that called execve, which takes
  // the leader's tid): the leader's own call is dropped, the exec'ing
  // thread's execve moves to `tid` so that its exit stop counts it.
  void on_exec(pid_t tid, pid_t former_tid);

  // Whether `tid` is between an entry and an exit stop.
  bool in_syscall(pid_t tid) const;

  // Totals per syscall with calls > 0, in syscall-number order, named as
  // strace names them; ready for sys::format_strace_summary.
  std::vector<sys::SyscallStat> stats() const;

 private:
  struct InFlight {
    long nr;
    int64_t entry_stime_ns;
  };
  struct Totals {
    uint64_t calls = 0;
    uint64_t errors = 0;
    uint64_t nanos = 0;
  };
  std::map<pid_t, InFlight> in_flight_;  // by tid
  std::map<long, Totals> totals_;        // by syscall number
};

// `argv` without its `--strace=ptrace` elements (the child runs the same
// command counted from outside, not traced again).
std::vector<std::string> child_argv(const std::vector<std::string>& argv);

// This process's command line, from /proc/self/cmdline; empty on error.
std::vector<std::string> read_self_cmdline();

struct TraceResult {
  int exit_code = -1;  // the child's exit status; -1 when a signal killed it
  int signal = 0;      // the signal that killed it, or 0
  std::vector<sys::SyscallStat> stats;
};

// Runs `path` with `argv` and `envp` as a child traced with PTRACE_SEIZE
// (options TRACESYSGOOD, TRACECLONE, TRACEFORK, TRACEVFORK, TRACEEXEC,
// EXITKILL), follows every thread and every descendant, counts their
// syscalls from the child's execve on, and returns when the last tracee
// has gone. Signals reach the tracees as without a tracer: each
// signal-delivery-stop reinjects its signal, a group-stop is kept with
// PTRACE_LISTEN until SIGCONT. SIGTERM, SIGHUP, and a SIGINT or SIGQUIT
// sent with kill(2) (not by the terminal, which signals the child itself)
// are forwarded to the child while it runs.
// Errors: FailedPrecondition, one line naming ptrace and the reason, when
// the child cannot be traced (EPERM: Yama's ptrace_scope, seccomp, a
// container without CAP_SYS_PTRACE, or the child already traced);
// Internal when fork or wait fails.
absl::StatusOr<TraceResult> trace_command(const std::string& path,
                                          const std::vector<std::string>& argv,
                                          const std::vector<std::string>& envp);

// `gort run ... --strace=ptrace`: re-runs this very command
// (/proc/self/exe, the command line minus --strace=ptrace, the environment
// with ASAN_OPTIONS=detect_leaks=0 added in ASan builds, since
// LeakSanitizer's own ptrace cannot attach to a traced process), prints
// strace -c's table to stderr after the child's output, and returns the
// child's exit status (a child killed by a signal kills gort with the same
// signal after the table, as strace does; 128+signal if that fails).
// Prints "gort: --strace=ptrace: REASON" and returns 2 when ptrace is not
// permitted.
int run_traced();

}  // namespace gort::cli

#endif  // GORT_CLI_PTRACE_H_
