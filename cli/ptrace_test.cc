// cli/ptrace.h: strace -c's accounting rules, and the tracer on small
// children of this very binary.
//
// Invariants checked:
//   * a syscall counts once, at its exit stop, per thread, whatever the
//     interleaving of the threads' stops; a call never returning (exit,
//     exit_group) is not counted; exec from a thread moves its execve to
//     the leader's tid; a negative number is not a syscall;
//   * an error is a result in [-4095, -1], except for strace's never-failing
//     syscalls; -4096 and large successful values (addresses) are not;
//   * traced for real, every thread's and every forked child's syscalls are
//     counted exactly; signals reach the child as untraced (a handler
//     runs, a default action kills, a SIGSTOP stops a child so that its
//     parent's waitpid sees the stop until SIGCONT); the child's exit
//     status is the result.
//
// The traced children are this binary re-executed with --ptrace-test-child
// (see main below). Under ASan their leak check is off: LeakSanitizer
// stops the world with ptrace, which fails in a traced process.
#include "cli/ptrace.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sys/syscall.h"

extern char** environ;

namespace gort::cli {
namespace {

const sys::SyscallStat* find(const std::vector<sys::SyscallStat>& stats,
                             std::string_view name) {
  for (const sys::SyscallStat& s : stats) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

uint64_t calls_of(const std::vector<sys::SyscallStat>& stats,
                  std::string_view name) {
  const sys::SyscallStat* s = find(stats, name);
  return s == nullptr ? 0 : s->calls;
}

uint64_t errors_of(const std::vector<sys::SyscallStat>& stats,
                   std::string_view name) {
  const sys::SyscallStat* s = find(stats, name);
  return s == nullptr ? 0 : s->errors;
}

// ---- the rules ---------------------------------------------------------------

TEST(CountsAsError, NegatedErrnoRangeOnly) {
  EXPECT_TRUE(counts_as_error(SYS_openat, -ENOENT));
  EXPECT_TRUE(counts_as_error(SYS_openat, -1));
  EXPECT_TRUE(counts_as_error(SYS_read, -4095));
  EXPECT_FALSE(counts_as_error(SYS_read, -4096));  // below MAX_ERRNO
  EXPECT_FALSE(counts_as_error(SYS_read, 0));
  EXPECT_FALSE(counts_as_error(SYS_read, 4096));
  // A large success: mmap's address, lseek's offset.
  EXPECT_FALSE(counts_as_error(SYS_mmap, 0x7f0123456000L));
  EXPECT_FALSE(counts_as_error(SYS_lseek, (1L << 62)));
  // -ERESTARTSYS (512) is seen by a tracer and counts, as in strace.
  EXPECT_TRUE(counts_as_error(SYS_futex, -512));
}

TEST(CountsAsError, NeverFailingSyscallsNeverCount) {
  for (long nr : {SYS_getpid, SYS_gettid, SYS_getuid, SYS_getgid,
                  SYS_geteuid, SYS_getegid, SYS_getppid, SYS_getpgrp,
                  SYS_umask, SYS_setfsuid, SYS_setfsgid, SYS_personality}) {
    EXPECT_TRUE(never_fails(nr)) << sys::syscall_name(nr);
    EXPECT_FALSE(counts_as_error(nr, -1)) << sys::syscall_name(nr);
  }
  EXPECT_FALSE(never_fails(SYS_getpgid));  // getpgid(pid) can fail: ESRCH
  EXPECT_TRUE(counts_as_error(SYS_getpgid, -ESRCH));
}

// ---- the accounting ----------------------------------------------------------

TEST(SyscallCounter, CountsAtExitPerThreadWhateverTheInterleaving) {
  SyscallCounter c;
  c.on_entry(10, SYS_read, 0);
  c.on_entry(11, SYS_openat, 0);
  EXPECT_TRUE(c.in_syscall(10));
  EXPECT_TRUE(c.stats().empty());  // nothing returned yet
  EXPECT_TRUE(c.on_exit(11, -ENOENT, 0));
  c.on_entry(11, SYS_openat, 0);
  EXPECT_TRUE(c.on_exit(10, 5, 0));  // thread 10's read, not 11's openat
  EXPECT_TRUE(c.on_exit(11, 3, 0));
  EXPECT_FALSE(c.in_syscall(10));
  std::vector<sys::SyscallStat> s = c.stats();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_STREQ(s[0].name, "read");  // syscall-number order
  EXPECT_EQ(s[0].calls, 1u);
  EXPECT_EQ(s[0].errors, 0u);
  EXPECT_STREQ(s[1].name, "openat");
  EXPECT_EQ(s[1].calls, 2u);
  EXPECT_EQ(s[1].errors, 1u);
}

TEST(SyscallCounter, ExitWithoutEntryAndNegativeNumbersCountNothing) {
  SyscallCounter c;
  EXPECT_FALSE(c.on_exit(7, 0, 0));
  c.on_entry(7, -1, 0);
  EXPECT_FALSE(c.on_exit(7, -ENOSYS, 0));
  EXPECT_TRUE(c.stats().empty());
}

TEST(SyscallCounter, CallsThatNeverReturnAreNotCounted) {
  SyscallCounter c;
  c.on_entry(20, SYS_futex, 0);       // killed by the group exit below
  c.on_entry(21, SYS_exit_group, 0);  // never returns
  c.on_thread_gone(20);
  c.on_thread_gone(21);
  EXPECT_FALSE(c.on_exit(20, 0, 0));
  EXPECT_TRUE(c.stats().empty());
}

TEST(SyscallCounter, InterruptedCallCountsAsErrorAndItsRestartAgain) {
  SyscallCounter c;
  c.on_entry(5, SYS_futex, 0);
  c.on_exit(5, -512 /* ERESTARTSYS */, 0);
  c.on_entry(5, SYS_futex, 0);  // re-executed after the handler
  c.on_exit(5, 0, 0);
  std::vector<sys::SyscallStat> s = c.stats();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].calls, 2u);
  EXPECT_EQ(s[0].errors, 1u);
}

TEST(SyscallCounter, ExecFromAThreadMovesItsExecveToTheLeader) {
  SyscallCounter c;
  c.on_entry(100, SYS_futex, 0);   // the leader, waiting
  c.on_entry(103, SYS_execve, 0);  // a thread execs
  c.on_thread_gone(101);           // the other threads vanish
  c.on_exec(100, 103);             // PTRACE_EVENT_EXEC on the leader's tid
  EXPECT_FALSE(c.in_syscall(103));
  EXPECT_TRUE(c.on_exit(100, 0, 0));  // execve's exit, on tid 100
  std::vector<sys::SyscallStat> s = c.stats();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_STREQ(s[0].name, "execve");
  EXPECT_EQ(s[0].calls, 1u);
}

TEST(SyscallCounter, TimeIsTheSystemTimeBetweenEntryAndExit) {
  SyscallCounter c;
  c.on_entry(1, SYS_write, 1000);
  c.on_exit(1, 64, 4000);
  c.on_entry(1, SYS_write, 5000);
  c.on_exit(1, 64, 5000);
  std::vector<sys::SyscallStat> s = c.stats();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].nanos, 3000u);
}

TEST(ChildArgv, DropsOnlyTheFlag) {
  EXPECT_EQ(child_argv({"gort", "run", "syscalls", "--strace=ptrace",
                        "--getpids", "5"}),
            (std::vector<std::string>{"gort", "run", "syscalls", "--getpids",
                                      "5"}));
  EXPECT_EQ(child_argv({"gort", "run", "x", "--strace=full"}),
            (std::vector<std::string>{"gort", "run", "x", "--strace=full"}));
}

TEST(ReadSelfCmdline, IsThisProcessArgv) {
  std::vector<std::string> argv = read_self_cmdline();
  ASSERT_FALSE(argv.empty());
  EXPECT_NE(argv[0].find("ptrace_test"), std::string::npos) << argv[0];
}

// ---- traced children ---------------------------------------------------------

constexpr char kChildFlag[] = "--ptrace-test-child=";
constexpr int kThreads = 4;
constexpr int kGetpgidsPerThread = 100;
constexpr int kBadFchdirsPerThread = 7;
constexpr int kGrandchildGetpgids = 10;

std::vector<std::string> child_env() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "ASAN_OPTIONS=", 13) != 0) env.push_back(*e);
  }
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("ASAN_OPTIONS=") + (asan != nullptr ? asan : "") +
                ":detect_leaks=0");
  return env;
}

TraceResult trace_child(const std::string& scenario) {
  absl::StatusOr<TraceResult> r =
      trace_command("/proc/self/exe",
                    {"ptrace_test", std::string(kChildFlag) + scenario},
                    child_env());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : TraceResult{};
}

TEST(TraceCommand, CountsEveryThreadsSyscallsExactly) {
  TraceResult r = trace_child("threads");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  // getpgid and fchdir are made by nothing but the child's threads here.
  EXPECT_EQ(calls_of(r.stats, "getpgid"),
            static_cast<uint64_t>(kThreads * kGetpgidsPerThread));
  EXPECT_EQ(errors_of(r.stats, "getpgid"), 0u);
  EXPECT_EQ(calls_of(r.stats, "fchdir"),
            static_cast<uint64_t>(kThreads * kBadFchdirsPerThread));
  EXPECT_EQ(errors_of(r.stats, "fchdir"),
            static_cast<uint64_t>(kThreads * kBadFchdirsPerThread));
  // Counting starts at the exec: exactly one execve, and exit_group (which
  // never returns) is absent, as in strace -c's table.
  EXPECT_EQ(calls_of(r.stats, "execve"), 1u);
  EXPECT_EQ(calls_of(r.stats, "exit_group"), 0u);
}

TEST(TraceCommand, ExitStatusIsTheChilds) {
  TraceResult r = trace_child("exit3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.signal, 0);
}

TEST(TraceCommand, SignalsAreReinjected) {
  // The child's handler runs (it exits 0 only then).
  TraceResult r = trace_child("handler");
  EXPECT_EQ(r.exit_code, 0);
  // A default action still kills.
  r = trace_child("sigterm");
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST(TraceCommand, GroupStopIsKeptAndForkedChildrenAreFollowed) {
  // The grandchild stops itself; its parent must see it stopped
  // (waitpid WUNTRACED), see it not run for 100 ms, continue it, and see
  // it exit 5. Exit codes name the step that failed.
  TraceResult r = trace_child("stop");
  EXPECT_EQ(r.exit_code, 0) << "see run_child_scenario(\"stop\")";
  EXPECT_EQ(calls_of(r.stats, "getpgid"),
            static_cast<uint64_t>(kGrandchildGetpgids));
}

// ---- the children's side -----------------------------------------------------

std::atomic<bool> g_handled{false};

int run_child_scenario(std::string_view name) {
  if (name == "threads") {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([] {
        for (int i = 0; i < kGetpgidsPerThread; ++i) {
          sys::raw_syscall6(SYS_getpgid, 0);
        }
        for (int i = 0; i < kBadFchdirsPerThread; ++i) {
          if (!sys::is_error(sys::raw_syscall6(SYS_fchdir, -1))) std::abort();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return 0;
  }
  if (name == "exit3") return 3;
  if (name == "handler") {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = [](int) {
      g_handled.store(true, std::memory_order_relaxed);
    };
    sigaction(SIGUSR1, &sa, nullptr);
    raise(SIGUSR1);
    return g_handled.load(std::memory_order_relaxed) ? 0 : 1;
  }
  if (name == "sigterm") {
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    return 1;
  }
  if (name == "stop") {
    // The grandchild writes a byte once it runs again after its stop; none
    // may arrive while it is stopped.
    int ran[2];
    if (pipe(ran) != 0) return 9;
    pid_t g = fork();
    if (g < 0) return 10;
    if (g == 0) {
      for (int i = 0; i < kGrandchildGetpgids; ++i) {
        sys::raw_syscall6(SYS_getpgid, 0);
      }
      sys::raw_syscall6(SYS_kill, sys::raw_syscall6(SYS_getpid), SIGSTOP);
      static const char kByte = 'r';
      sys::raw_syscall6(SYS_write, ran[1], reinterpret_cast<long>(&kByte), 1);
      sys::raw_syscall6(SYS_exit_group, 5);
    }
    close(ran[1]);
    int status = 0;
    if (waitpid(g, &status, WUNTRACED) != g) return 11;
    if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) return 12;
    struct pollfd p = {ran[0], POLLIN, 0};
    if (poll(&p, 1, 100) != 0) return 16;  // it ran while stopped
    if (kill(g, SIGCONT) != 0) return 13;
    if (waitpid(g, &status, 0) != g) return 14;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 5) return 15;
    char byte = 0;
    if (read(ran[0], &byte, 1) != 1 || byte != 'r') return 17;
    return 0;
  }
  return 99;
}

}  // namespace
}  // namespace gort::cli

int main(int argc, char** argv) {
  constexpr std::string_view kFlag = gort::cli::kChildFlag;
  if (argc == 2 && std::string_view(argv[1]).substr(0, kFlag.size()) == kFlag) {
    return gort::cli::run_child_scenario(
        std::string_view(argv[1]).substr(kFlag.size()));
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
