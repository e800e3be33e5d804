// cli/ptrace.cc: `gort run WORKLOAD --strace=ptrace`, strace -c -f rebuilt
// for one command: gort re-runs itself as a traced child and counts every
// syscall every thread of it makes.
//
// Glossary (ptrace(2)'s words):
//   tracee            a thread being traced; every thread of the child and
//                     of its descendants is one, each with its own stops
//   syscall stop      entry or exit of a syscall, reported with
//                     SIGTRAP|0x80 (PTRACE_O_TRACESYSGOOD); which of the two
//                     comes from PTRACE_GET_SYSCALL_INFO's op, never from a
//                     toggle kept here (a toggle goes wrong at exec)
//   signal-delivery-stop  a signal about to be delivered; the tracer chooses
//                     what to deliver when it restarts the tracee
//   group-stop        the tracee stopping for SIGSTOP/SIGTSTP/SIGTTIN/
//                     SIGTTOU; under PTRACE_SEIZE reported as
//                     PTRACE_EVENT_STOP with the stopping signal
//   event stop        PTRACE_EVENT_{CLONE,FORK,VFORK,EXEC,STOP}, status >> 16
//
// How a run goes:
//   1. fork. The child makes raw syscalls only (kill(getpid(), SIGSTOP),
//      then execve), so nothing libc does between fork and exec is seen or
//      needed.
//   2. The parent waits for the child's stop (WUNTRACED), PTRACE_SEIZEs it
//      with TRACESYSGOOD|TRACECLONE|TRACEFORK|TRACEVFORK|TRACEEXEC|EXITKILL
//      and sends SIGCONT: strace 6.1's startup_child does the same. Threads
//      and children the child creates are seized automatically and start
//      with a PTRACE_EVENT_STOP.
//   3. The loop: wait4(-1, __WALL) until ECHILD. Each stop is answered:
//        syscall stop       count (entry: remember nr; exit: count it),
//                           restart with PTRACE_SYSCALL
//        event stop         EXEC moves the in-flight execve to the leader's
//                           tid; a group-stop (EVENT_STOP with a stopping
//                           signal) is answered with PTRACE_LISTEN, so the
//                           thread stays stopped until SIGCONT, as untraced
//                           (and the real parent sees the stop); any other
//                           event, PTRACE_SYSCALL
//        signal-delivery    restart with the same signal: reinjected, so
//                           handlers, default actions, SIGCHLD and stops
//                           happen as they would untraced
//        exited/killed      forget the thread; for the child itself,
//                           remember the status
//   4. The table (sys::format_strace_summary, the formatter of the
//      in-process --strace) on stderr, after everything the child printed;
//      the child's status becomes gort's.
//
// What strace -c counts, and so what this counts (strace 6.1's src/count.c
// and src/syscall.c, read for the rules, not copied):
//   * a call is counted at its exit stop; a call never returning (exit,
//     exit_group, a thread taken by another's exit or exec) is absent from
//     the table, as in strace's;
//   * an error is a result in [-4095, -1] (is_negated_errno with
//     MAX_ERRNO_VALUE 4095), except for syscalls marked NF in strace's
//     x86_64 syscallent.h, never counted as failing; an interrupted call's
//     -ERESTARTSYS counts as an error and its restart as a new call, as in
//     strace;
//   * time is the process's system CPU time (wait4's ru_stime) at the exit
//     stop minus at the entry stop, strace's default (not -w) column.
// Since both tracers see the same stops, the calls and errors columns are
// equal to strace's for a deterministic command; times differ run to run.
//
// Rejected alternatives:
//   * PTRACE_TRACEME in the child: simpler start-up, but group-stops then
//     look like signal-delivery-stops and cannot be kept with PTRACE_LISTEN
//     (a SEIZE-only request): a stopped child would run on.
//   * An entry/exit toggle per thread (strace's TCB_INSYSCALL) instead of
//     PTRACE_GET_SYSCALL_INFO: needs care at exec and at attach; the
//     kernel's op says which stop it is (Linux 5.3+).
//   * Reading the child's argv from main: /proc/self/cmdline is the same
//     argv and keeps the change to main.cc at zero.
//
// Invariants: every stopped tracee is restarted exactly once per stop
// (ESRCH from a restart means it died meanwhile; its exit is reported
// next); the loop ends only when wait4 says no tracee is left.
#include "cli/ptrace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"

extern char** environ;

namespace gort::cli {

// ---- accounting ---------------------------------------------------------------

bool never_fails(long nr) {
  // The NF entries of strace's src/linux/x86_64/syscallent.h.
  switch (nr) {
    case SYS_getpid:
    case SYS_umask:
    case SYS_getuid:
    case SYS_getgid:
    case SYS_geteuid:
    case SYS_getegid:
    case SYS_getppid:
    case SYS_getpgrp:
    case SYS_setfsuid:
    case SYS_setfsgid:
    case SYS_personality:
    case SYS_gettid:
      return true;
    default:
      return false;
  }
}

bool counts_as_error(long nr, long result) {
  return !never_fails(nr) && sys::is_error(result);
}

void SyscallCounter::on_entry(pid_t tid, long nr, int64_t stime_ns) {
  in_flight_[tid] = InFlight{nr, stime_ns};
}

bool SyscallCounter::on_exit(pid_t tid, long result, int64_t stime_ns) {
  auto it = in_flight_.find(tid);
  if (it == in_flight_.end()) return false;
  InFlight call = it->second;
  in_flight_.erase(it);
  if (call.nr < 0) return false;
  Totals& t = totals_[call.nr];
  t.calls++;
  if (counts_as_error(call.nr, result)) t.errors++;
  if (stime_ns > call.entry_stime_ns) {
    t.nanos += static_cast<uint64_t>(stime_ns - call.entry_stime_ns);
  }
  return true;
}

void SyscallCounter::on_thread_gone(pid_t tid) { in_flight_.erase(tid); }

void SyscallCounter::on_exec(pid_t tid, pid_t former_tid) {
  if (former_tid == tid) return;
  in_flight_.erase(tid);
  auto it = in_flight_.find(former_tid);
  if (it == in_flight_.end()) return;
  in_flight_[tid] = it->second;
  in_flight_.erase(it);
}

bool SyscallCounter::in_syscall(pid_t tid) const {
  return in_flight_.count(tid) > 0;
}

std::vector<sys::SyscallStat> SyscallCounter::stats() const {
  std::vector<sys::SyscallStat> out;
  for (const auto& [nr, t] : totals_) {
    if (t.calls == 0) continue;
    sys::SyscallStat s;
    s.nr = nr;
    s.name = sys::syscall_name(nr);
    s.calls = t.calls;
    s.errors = t.errors;
    s.nanos = t.nanos;
    out.push_back(s);
  }
  return out;
}

// ---- the command line ---------------------------------------------------------

std::vector<std::string> child_argv(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (const std::string& a : argv) {
    if (a != "--strace=ptrace") out.push_back(a);
  }
  return out;
}

std::vector<std::string> read_self_cmdline() {
  std::vector<std::string> out;
  FILE* f = std::fopen("/proc/self/cmdline", "re");
  if (f == nullptr) return out;
  std::string all;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) all.append(buf, n);
  std::fclose(f);
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    out.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// ---- the tracer -----------------------------------------------------------------

namespace {

// The child's pid for the forwarding handler; 0 when none. Written before
// the handlers are installed and after they are removed (relaxed: the
// handler runs on this thread or sees the value published by sigaction's
// syscall, and a stale 0 only skips a forward).
std::atomic<pid_t> g_forward_to{0};

void forward_signal(int sig, siginfo_t* info, void*) {
  // The terminal signals the whole foreground process group, the child
  // included: only a kill(2) aimed at gort (si_code <= 0) is forwarded.
  if ((sig == SIGINT || sig == SIGQUIT) && info != nullptr &&
      info->si_code > 0) {
    return;
  }
  pid_t pid = g_forward_to.load(std::memory_order_relaxed);
  if (pid > 0) kill(pid, sig);
}

constexpr int kForwarded[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};

int64_t stime_nanos(const struct rusage& ru) {
  return static_cast<int64_t>(ru.ru_stime.tv_sec) * 1'000'000'000 +
         static_cast<int64_t>(ru.ru_stime.tv_usec) * 1000;
}

bool is_stopping_signal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

// Restarts a stopped tracee; ESRCH (it died meanwhile) is expected and its
// exit arrives through wait4.
void restart(long request, pid_t tid, int sig) {
  ptrace(static_cast<__ptrace_request>(request), tid, nullptr,
         reinterpret_cast<void*>(static_cast<intptr_t>(sig)));
}

// A field of /proc/PID/status ("TracerPid"), or "" when absent.
std::string proc_status_field(pid_t pid, std::string_view field) {
  FILE* f = std::fopen(fmt::format("/proc/{}/status", pid).c_str(), "re");
  if (f == nullptr) return "";
  char line[256];
  std::string value;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    std::string_view l(line);
    if (l.size() > field.size() && l.substr(0, field.size()) == field &&
        l[field.size()] == ':') {
      l.remove_prefix(field.size() + 1);
      while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) {
        l.remove_prefix(1);
      }
      while (!l.empty() && (l.back() == '\n' || l.back() == ' ')) {
        l.remove_suffix(1);
      }
      value = std::string(l);
      break;
    }
  }
  std::fclose(f);
  return value;
}

std::string seize_failure(pid_t child, int err) {
  std::string why = fmt::format("ptrace(PTRACE_SEIZE) of the child failed: {}",
                                strerror(err));
  std::string tracer = proc_status_field(child, "TracerPid");
  if (!tracer.empty() && tracer != "0") {
    return why + fmt::format(
                     "; the child is already traced by pid {} (is gort "
                     "itself running under strace -f or a debugger?)",
                     tracer);
  }
  std::string scope;
  if (FILE* f = std::fopen("/proc/sys/kernel/yama/ptrace_scope", "re")) {
    int v = 0;
    if (std::fscanf(f, "%d", &v) == 1) scope = std::to_string(v);
    std::fclose(f);
  }
  return why + fmt::format(
                   "; ptrace is not permitted here (Yama ptrace_scope {}, "
                   "seccomp, or a container without CAP_SYS_PTRACE)",
                   scope.empty() ? "absent" : scope);
}

}  // namespace

absl::StatusOr<TraceResult> trace_command(
    const std::string& path, const std::vector<std::string>& argv,
    const std::vector<std::string>& envp) {
  // Everything the child needs, built before fork (no allocation after).
  std::vector<char*> cargv, cenvp;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : envp) cenvp.push_back(const_cast<char*>(e.c_str()));
  cenvp.push_back(nullptr);

  std::fflush(stdout);
  std::fflush(stderr);
  pid_t child = fork();
  if (child < 0) {
    return absl::InternalError(fmt::format("fork: {}", strerror(errno)));
  }
  if (child == 0) {
    // Raw syscalls only: the parent seizes us while stopped here.
    long self = sys::raw_syscall6(SYS_getpid);
    sys::raw_syscall6(SYS_kill, self, SIGSTOP);
    long r = sys::raw_syscall6(SYS_execve, reinterpret_cast<long>(path.c_str()),
                               reinterpret_cast<long>(cargv.data()),
                               reinterpret_cast<long>(cenvp.data()));
    static const char kMsg[] = "gort: --strace=ptrace: execve of the child failed\n";
    sys::raw_syscall6(SYS_write, 2, reinterpret_cast<long>(kMsg),
                      sizeof(kMsg) - 1);
    sys::raw_syscall6(SYS_exit_group, r == -ENOENT ? 127 : 126);
    __builtin_unreachable();
  }

  int status = 0;
  pid_t w;
  do {
    w = waitpid(child, &status, WUNTRACED);
  } while (w < 0 && errno == EINTR);
  if (w != child || !WIFSTOPPED(status)) {
    if (w == child && (WIFEXITED(status) || WIFSIGNALED(status))) {
      return absl::InternalError("the child ended before it could be traced");
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return absl::InternalError(
        fmt::format("waiting for the child to stop: {}", strerror(errno)));
  }
  const long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE |
                       PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                       PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
  if (ptrace(PTRACE_SEIZE, child, nullptr, reinterpret_cast<void*>(options)) !=
      0) {
    int err = errno;
    std::string why = seize_failure(child, err);
    kill(child, SIGKILL);
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return absl::FailedPreconditionError(why);
  }
  kill(child, SIGCONT);

  g_forward_to.store(child, std::memory_order_relaxed);
  struct sigaction old_actions[std::size(kForwarded)];
  for (size_t i = 0; i < std::size(kForwarded); ++i) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(kForwarded[i], &sa, &old_actions[i]);
  }

  SyscallCounter counter;
  TraceResult result;
  for (;;) {
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    pid_t tid = wait4(-1, &status, __WALL, &ru);
    if (tid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: no tracee left
    }
    const int64_t stime = stime_nanos(ru);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      counter.on_thread_gone(tid);
      if (tid == child) {
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        g_forward_to.store(0, std::memory_order_relaxed);
      }
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    const int sig = WSTOPSIG(status);
    const int event = static_cast<unsigned>(status) >> 16;
    if (sig == (SIGTRAP | 0x80)) {
      struct __ptrace_syscall_info info;
      memset(&info, 0, sizeof(info));
      long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid,
                      reinterpret_cast<void*>(sizeof(info)), &info);
      if (n > 0 && info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        counter.on_entry(tid, static_cast<long>(info.entry.nr), stime);
      } else if (n > 0 && info.op == PTRACE_SYSCALL_INFO_EXIT) {
        counter.on_exit(tid, static_cast<long>(info.exit.rval), stime);
      }
      restart(PTRACE_SYSCALL, tid, 0);
    } else if (event == PTRACE_EVENT_STOP) {
      if (is_stopping_signal(sig)) {
        restart(PTRACE_LISTEN, tid, 0);  // group-stop: stay stopped
      } else {
        restart(PTRACE_SYSCALL, tid, 0);  // new tracee, or SIGCONT's trap
      }
    } else if (event == PTRACE_EVENT_EXEC) {
      unsigned long former = 0;
      ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former);
      counter.on_exec(tid, static_cast<pid_t>(former));
      restart(PTRACE_SYSCALL, tid, 0);
    } else if (event != 0) {
      restart(PTRACE_SYSCALL, tid, 0);  // CLONE, FORK, VFORK
    } else {
      restart(PTRACE_SYSCALL, tid, sig);  // signal-delivery-stop: reinject
    }
  }

  g_forward_to.store(0, std::memory_order_relaxed);
  for (size_t i = 0; i < std::size(kForwarded); ++i) {
    sigaction(kForwarded[i], &old_actions[i], nullptr);
  }
  result.stats = counter.stats();
  return result;
}

namespace {

// Writes all of `text` to fd 2 (the table, as strace prints it).
void write_stderr(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = write(2, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

int run_traced() {
  std::vector<std::string> argv = child_argv(read_self_cmdline());
  if (argv.empty()) {
    std::fprintf(stderr,
                 "gort: --strace=ptrace: cannot read /proc/self/cmdline\n");
    return 2;
  }
  std::vector<std::string> envp;
  bool have_asan_options = false;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
#if defined(__SANITIZE_ADDRESS__)
    // LeakSanitizer stops the world with ptrace, which fails in a traced
    // process: the traced child runs without the leak check.
    if (entry.rfind("ASAN_OPTIONS=", 0) == 0) {
      have_asan_options = true;
      if (entry.find("detect_leaks=0") == std::string::npos) {
        entry += ":detect_leaks=0";
      }
    }
#endif
    envp.push_back(std::move(entry));
  }
#if defined(__SANITIZE_ADDRESS__)
  if (!have_asan_options) envp.push_back("ASAN_OPTIONS=detect_leaks=0");
#endif
  (void)have_asan_options;

  absl::StatusOr<TraceResult> r = trace_command("/proc/self/exe", argv, envp);
  if (!r.ok()) {
    std::fprintf(stderr, "gort: --strace=ptrace: %s\n",
                 std::string(r.status().message()).c_str());
    return 2;
  }
  std::fflush(stdout);
  write_stderr(sys::format_strace_summary(r->stats));
  if (r->signal != 0) {
    // Die of the same signal, as strace does, so a shell sees the same
    // status as without the tracer.
    signal(r->signal, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, r->signal);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    kill(getpid(), r->signal);
    return 128 + r->signal;
  }
  return r->exit_code;
}

}  // namespace gort::cli
