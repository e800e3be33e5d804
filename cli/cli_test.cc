// Runs the built `gort` as a child and checks what a user sees: output,
// messages and exit status of every command, for good input and bad.
// //cli:gort is data of this test; Bazel runs tests with the working
// directory at the runfiles root, where the binary is cli/gort.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/strace_table.h"
#include "cli/subprocess.h"
#include "gtest/gtest.h"

namespace gort::cli {
namespace {

constexpr char kGort[] = "cli/gort";

ProcessResult gort(std::vector<std::string> args) {
  struct stat st;
  if (stat(kGort, &st) != 0) {
    ADD_FAILURE() << kGort << " is not in the runfiles";
    return {};
  }
  args.insert(args.begin(), kGort);
  absl::StatusOr<ProcessResult> r = run_process(args);
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return {};
  }
  return *r;
}

// Bad input: exit status 2 and exactly one line on stderr, nothing on
// stdout.
void expect_rejected(const std::vector<std::string>& args,
                     const std::string& want_stderr) {
  ProcessResult r = gort(args);
  std::string cmd;
  for (const std::string& a : args) cmd += " " + a;
  EXPECT_EQ(r.exit_code, 2) << "gort" << cmd << "\n" << r.err;
  EXPECT_EQ(r.err, want_stderr) << "gort" << cmd;
  EXPECT_EQ(r.out, "") << "gort" << cmd;
}

TEST(Cli, UnknownWorkloadIsExactlyOneLineAndExit2) {
  expect_rejected({"run", "x"},
                  "gort: unknown workload \"x\" (see gort list)\n");
  expect_rejected({"run", "x", "--strace"},
                  "gort: unknown workload \"x\" (see gort list)\n");
}

TEST(Cli, BadFlagsNameTheFlagAndExit2) {
  expect_rejected({"run", "syscalls", "--bogus"},
                  "gort: workload syscalls: The following argument was not "
                  "expected: --bogus\n");
  expect_rejected({"--bogus"},
                  "gort: The following argument was not expected: --bogus\n");
  expect_rejected({"bench", "--bogus"},
                  "gort: The following argument was not expected: --bogus\n");
  expect_rejected({"run"}, "gort: run needs a workload (see gort list)\n");
}

TEST(Cli, OutOfRangeValuesAreOneLineNamingTheFlag) {
  expect_rejected({"run", "--procs", "0", "syscalls"},
                  "gort: --procs must be an integer from 1 to 1024, got "
                  "\"0\"\n");
  expect_rejected({"run", "syscalls", "--schedtrace", "-5"},
                  "gort: --schedtrace must be a positive number of "
                  "milliseconds, got \"-5\"\n");
  expect_rejected({"run", "syscalls", "--gogc", "-1"},
                  "gort: --gogc must be a non-negative integer or off, got "
                  "\"-1\"\n");
  expect_rejected({"run", "syscalls", "--getpids", "-1"},
                  "gort: --getpids must be an integer >= 0, got \"-1\"\n");
  expect_rejected({"run", "syscalls", "--strace=loud"},
                  "gort: --strace must be --strace, --strace=summary, "
                  "--strace=full or --strace=ptrace, got \"--strace=loud\"\n");
  expect_rejected({"bench", "--runs", "0"},
                  "gort: --runs must be an integer from 1 to 1000, got "
                  "\"0\"\n");
}

TEST(Cli, FlagsOfUnlandedComponentsSaySoAndExit2) {
  expect_rejected(
      {"run", "syscalls", "--gctrace"},
      "gort: --gctrace needs the gc component, which has not landed yet\n");
  expect_rejected(
      {"run", "syscalls", "--escape"},
      "gort: --escape needs the gc component, which has not landed yet\n");
}

// Invariant: --strace=ptrace runs the workload as a traced child: its
// output on stdout, then strace -c's table on stderr counting the
// workload's getpids on top of what the process makes anyway (a sanitizer
// runtime's getpid: measured by a run with --getpids 0), exit status 0.
// (Needs ptrace; cli/strace_compare_test.cc checks the counts against
// strace's.)
TEST(Cli, StracePtraceRunsATracedChild) {
  uint64_t getpids[2] = {0, 0};
  const char* requested[2] = {"0", "1234"};
  for (int i = 0; i < 2; ++i) {
    ProcessResult r =
        gort({"run", "syscalls", "--strace=ptrace", "--getpids", requested[i],
              "--writes", "0", "--missing-opens", "0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("result: syscalls"), std::string::npos) << r.out;
    std::string error;
    std::optional<StraceTable> t = parse_strace_table(r.err, &error);
    ASSERT_TRUE(t.has_value()) << error << "\n" << r.err;
    EXPECT_EQ(t->rows["execve"].calls, 1u);  // counted from the exec on
    getpids[i] = t->rows["getpid"].calls;
  }
  EXPECT_EQ(getpids[1] - getpids[0], 1234u);
}

// Invariant: the scheduler's flags work now that sched has landed: --procs
// sets GOMAXPROCS and --schedtrace prints Go's SCHED lines on stderr.
TEST(Cli, SchedFlagsWork) {
  // Long enough to span several 1 ms trace periods in every config; under
  // TSan each new goroutine is a fiber that costs about 1 ms to create.
#if defined(__SANITIZE_THREAD__)
  const char* goroutines = "2000";
#else
  const char* goroutines = "200000";
#endif
  ProcessResult r = gort({"run", "spawn", "--procs", "1", "--schedtrace",
                          "1", "--goroutines", goroutines});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GOMAXPROCS=1"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("SCHED "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(": gomaxprocs=1 idleprocs="), std::string::npos)
      << r.err;
}

// --memstats: after the result line, the printMem line and Go's
// `# runtime.MemStats` block (every field, Go's order) on stderr.
TEST(Cli, MemstatsPrintsGosBlockOnStderr) {
  ProcessResult r = gort({"run", "syscalls", "--memstats", "--getpids", "5",
                          "--writes", "1", "--missing-opens", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.rfind("Alloc = ", 0), 0u) << r.err;
  size_t block = r.err.find("\n# runtime.MemStats\n# Alloc = ");
  ASSERT_NE(block, std::string::npos) << r.err;
  size_t last = 0;
  for (const char* field :
       {"# TotalAlloc = ", "# Sys = ", "# Lookups = 0\n", "# Mallocs = ",
        "# Frees = ", "# HeapAlloc = ", "# HeapSys = ", "# HeapIdle = ",
        "# HeapInuse = ", "# HeapReleased = ", "# HeapObjects = ", "# Stack = ",
        "# MSpan = ", "# MCache = ", "# BuckHashSys = ", "# GCSys = ",
        "# OtherSys = ", "# NextGC = ", "# LastGC = ", "# PauseNs = [0 0 ",
        "# PauseEnd = [", "# NumGC = ", "# NumForcedGC = ",
        "# GCCPUFraction = ", "# DebugGC = false\n"}) {
    size_t at = r.err.find(field, block);
    ASSERT_NE(at, std::string::npos) << field << "\n" << r.err;
    EXPECT_GT(at, last) << field << " out of Go's order";
    last = at;
  }
  std::string out_last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  EXPECT_EQ(out_last.rfind("result: syscalls ", 0), 0u) << r.out;
}

// bigmap: the memory of a freed map goes back to the OS with
// free_os_memory (the printMem lines show RSS falling).
TEST(Cli, BigmapReturnsTheMemory) {
  ProcessResult r = gort({"run", "bigmap", "--entries", "200000",
                          "--value-bytes", "512"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* step : {"before:", "filled:", "after free:", "FreeOSMemory:"}) {
    EXPECT_NE(r.out.find(step), std::string::npos) << step << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("result: bigmap "), std::string::npos) << r.out;
  // ~100 MiB of values: most of it is resident when filled and returned
  // after free_os_memory.
  long long filled = -1, final_mib = -1;
  size_t at = r.out.find("resident ");
  ASSERT_NE(at, std::string::npos) << r.out;
  ASSERT_EQ(std::sscanf(r.out.c_str() + at, "resident %lld MiB filled, %lld MiB", &filled,
                        &final_mib),
            2)
      << r.out;
  EXPECT_LE(final_mib, filled - 80) << r.out;
}

TEST(Cli, ListShowsEveryWorkloadOnOneLine) {
  ProcessResult r = gort({"list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // One line per workload, "NAME  description", sorted by name.
  std::vector<std::string> names;
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos;
       start = nl + 1) {
    std::string line = r.out.substr(start, nl - start);
    size_t sp = line.find("  ");
    EXPECT_NE(sp, std::string::npos) << line;
    EXPECT_GT(line.size(), sp + 2) << line;
    names.push_back(line.substr(0, sp));
  }
  EXPECT_EQ(start, r.out.size()) << "unterminated last line: " << r.out;
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end())) << r.out;
  for (const char* want : {"syscalls", "tour", "spawn", "deadlock"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end())
        << want << " missing:\n"
        << r.out;
  }
}

TEST(Cli, VersionNamesGoSemanticsAndTheCompiler) {
  ProcessResult r = gort({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("gort 0.1.0 (go1.19 semantics)\ncompiler: ", 0), 0u)
      << r.out;
  r = gort({"--version"});
  EXPECT_EQ(r.out, "gort 0.1.0 (go1.19 semantics)\n");
}

// Every command has help with an example, and help exits 0.
TEST(Cli, EveryCommandHasHelpWithAnExample) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"list", "--help"},
                                             {"run", "--help"},
                                             {"bench", "--help"},
                                             {"version", "--help"}}) {
    ProcessResult r = gort(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << r.err;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << args[0] << r.out;
  }
  ProcessResult r = gort({"run", "syscalls", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--strace"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--getpids N"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(default 10000)"), std::string::npos) << r.out;
}

// The workload's lines and the result line on stdout, the result line
// last; no report on stderr without --strace.
TEST(Cli, RunPrintsTheResultLineLast) {
  ProcessResult r = gort({"run", "syscalls", "--getpids", "50", "--writes", "5",
                          "--missing-opens", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  ASSERT_FALSE(r.out.empty());
  std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  EXPECT_EQ(last.rfind("result: syscalls ", 0), 0u) << r.out;
  EXPECT_EQ(last.substr(last.size() - 7), " ns/op\n") << r.out;
  EXPECT_NE(r.out.find("59 syscalls"), std::string::npos) << r.out;
}

// --strace: the table goes to stderr and counts exactly the mix.
TEST(Cli, StraceTableOnStderrCountsTheMix) {
  ProcessResult r = gort({"run", "syscalls", "--strace", "--getpids", "300",
                          "--writes", "20", "--missing-opens", "7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("% time"), std::string::npos) << r.out;
  std::string error;
  std::optional<StraceTable> t = parse_strace_table(r.err, &error);
  ASSERT_TRUE(t.has_value()) << error << "\n" << r.err;
  EXPECT_EQ(t->rows["getpid"].calls, 300u);
  EXPECT_EQ(t->rows["write"].calls, 20u);
  EXPECT_EQ(t->rows["openat"].calls, 8u);
  EXPECT_EQ(t->rows["openat"].errors, 7u);
  EXPECT_EQ(t->rows["close"].calls, 1u);
  EXPECT_EQ(t->total.calls, 329u);
}

// --strace=full: one line per call before the table.
TEST(Cli, StraceFullPrintsOneLinePerCall) {
  ProcessResult r = gort({"run", "syscalls", "--strace=full", "--getpids", "3",
                          "--writes", "0", "--missing-opens", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  size_t getpid_lines = 0, enoent_lines = 0, pos = 0;
  while ((pos = r.err.find("] getpid() = ", pos)) != std::string::npos) {
    ++getpid_lines;
    ++pos;
  }
  pos = 0;
  while ((pos = r.err.find("= -1 ENOENT", pos)) != std::string::npos) {
    ++enoent_lines;
    ++pos;
  }
  EXPECT_EQ(getpid_lines, 3u) << r.err;
  EXPECT_EQ(enoent_lines, 2u) << r.err;
  std::string error;
  EXPECT_TRUE(parse_strace_table(r.err, &error).has_value()) << error;
}

// `gort` alone is the tour.
TEST(Cli, NoCommandRunsTheTour) {
  ProcessResult r = gort({});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("% time"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("result: tour "), std::string::npos) << r.out;
}

// Without --vs-go, bench runs gort's own workloads and prints a table.
TEST(Cli, BenchWithoutGoRunsGortOnly) {
  ProcessResult r = gort({"bench", "--filter", "^syscalls$", "--runs", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("workload"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("syscalls"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("speedup"), std::string::npos) << r.out;
  expect_rejected({"bench", "--filter", "^nothing$"},
                  "gort: no workload matches --filter \"^nothing$\" (see "
                  "gort list)\n");
}

}  // namespace
}  // namespace gort::cli
