// Tests of the pieces behind the commands, in process: workload option
// parsing, runtime flag validation and the landed-component gate, the bench
// arithmetic and JSON, and the strace -c table parser (on strace 6.1's real
// output and on gort's own table).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/bench.h"
#include "cli/registry.h"
#include "cli/run.h"
#include "cli/run_flags.h"
#include "cli/strace_table.h"
#include "gtest/gtest.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

const Workload& syscalls_workload() {
  const Workload* w = Registry::global().find("syscalls");
  if (w == nullptr) std::abort();
  return *w;
}

TEST(WorkloadArgs, DefaultsThenOverridesInEitherSpelling) {
  absl::StatusOr<WorkloadArgs> a = parse_workload_args(syscalls_workload(), {});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->get("getpids"), 10000);
  EXPECT_EQ(a->get("writes"), 1000);
  EXPECT_EQ(a->get("missing-opens"), 100);

  a = parse_workload_args(syscalls_workload(),
                          {"--getpids", "7", "--missing-opens=0"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->get("getpids"), 7);
  EXPECT_EQ(a->get("writes"), 1000);
  EXPECT_EQ(a->get("missing-opens"), 0);
}

// Every rejection is one line naming the option.
TEST(WorkloadArgs, RejectsUnknownMissingAndOutOfRangeNamingTheOption) {
  struct Case {
    std::vector<std::string> argv;
    std::string names;
  };
  for (const Case& c : std::vector<Case>{
           {{"--bogus", "1"}, "--bogus"},
           {{"--getpids", "-1"}, "--getpids"},
           {{"--writes", "12x"}, "--writes"},
           {{"--writes"}, "--writes"},
           {{"stray"}, "stray"},
       }) {
    absl::StatusOr<WorkloadArgs> a =
        parse_workload_args(syscalls_workload(), c.argv);
    ASSERT_FALSE(a.ok()) << c.names;
    std::string m(a.status().message());
    EXPECT_NE(m.find(c.names), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

// Parses `args` as the run subcommand would, then validates.
absl::StatusOr<RunFlags> run_flags(std::vector<std::string> args) {
  CLI::App app;
  RunFlagParser parser(&app);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  return parser.finish();
}

TEST(RunFlags, ParseEveryFlagOfTheDesign) {
  absl::StatusOr<RunFlags> f =
      run_flags({"--procs", "4", "--gogc", "off", "--gctrace", "--schedtrace",
                 "1000", "--scheddetail", "--strace=full", "--escape",
                 "--memstats", "--trace-out", "t.json"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->procs, 4);
  EXPECT_EQ(f->gogc, -1);
  EXPECT_TRUE(f->gctrace);
  EXPECT_EQ(f->schedtrace_ms, 1000);
  EXPECT_TRUE(f->scheddetail);
  EXPECT_EQ(f->strace, StraceMode::kFull);
  EXPECT_TRUE(f->escape);
  EXPECT_TRUE(f->memstats);
  EXPECT_EQ(f->trace_out, "t.json");

  f = run_flags({"--strace", "--gogc", "50"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->strace, StraceMode::kSummary);
  EXPECT_EQ(f->gogc, 50);
  EXPECT_FALSE(f->procs.has_value());

  f = run_flags({"--strace=summary"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->strace, StraceMode::kSummary);
  f = run_flags({"--strace=ptrace"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->strace, StraceMode::kPtrace);
  f = run_flags({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->strace, StraceMode::kOff);
}

TEST(RunFlags, OutOfRangeValuesNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  for (const Case& c : std::vector<Case>{
           {{"--procs", "0"}, "--procs"},
           {{"--procs", "1025"}, "--procs"},
           {{"--procs", "two"}, "--procs"},
           {{"--gogc", "-5"}, "--gogc"},
           {{"--gogc", "on"}, "--gogc"},
           {{"--schedtrace", "-5"}, "--schedtrace"},
           {{"--schedtrace", "0"}, "--schedtrace"},
           {{"--strace=loud"}, "--strace"},
           {{"--trace-out", ""}, "--trace-out"},
       }) {
    absl::StatusOr<RunFlags> f = run_flags(c.args);
    ASSERT_FALSE(f.ok()) << c.flag;
    std::string m(f.status().message());
    EXPECT_EQ(m.rfind(c.flag, 0), 0u) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

// Only sys has landed: --strace passes the gate, every other runtime flag
// is refused naming its component; --strace=ptrace passes too.
TEST(RunFlags, FlagsOfUnlandedComponentsAreRefused) {
  RunFlags ok;
  ok.strace = StraceMode::kSummary;
  EXPECT_TRUE(check_landed(ok).ok());
  ok.strace = StraceMode::kFull;
  EXPECT_TRUE(check_landed(ok).ok());

  RunFlags f;
  f.gctrace = true;
  EXPECT_EQ(check_landed(f).message(),
            "--gctrace needs the gc component, which has not landed yet");
  f = RunFlags();
  f.procs = 2;
  EXPECT_TRUE(check_landed(f).ok());  // sched has landed
  f = RunFlags();
  f.trace_out = "t.json";
  EXPECT_TRUE(check_landed(f).ok());  // trace has landed
  f = RunFlags();
  f.memstats = true;  // mem has landed
  EXPECT_TRUE(check_landed(f).ok()) << check_landed(f);
  f = RunFlags();
  f.strace = StraceMode::kPtrace;  // landed: a traced child (cli/ptrace.h)
  EXPECT_TRUE(check_landed(f).ok()) << check_landed(f);
}

TEST(Bench, SpeedupIsAboveOneWhenGortWins) {
  EXPECT_DOUBLE_EQ(speedup("ns/op", 100, 200), 2.0);  // gort takes half
  EXPECT_DOUBLE_EQ(speedup("ms", 300, 150), 0.5);
  EXPECT_DOUBLE_EQ(speedup("msgs/s", 2e6, 1e6), 2.0);  // gort moves twice
  EXPECT_TRUE(std::isnan(speedup("ns/op", 0, 100)));
  EXPECT_TRUE(std::isnan(speedup("msgs/s", 5, 0)));
}

TEST(Bench, MedianOfOddAndEvenSamples) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median({7}), 7);
}

TEST(Bench, JsonEscapesStringsAndNullsNonFiniteNumbers) {
  std::vector<BenchRow> rows = {
      {"syscalls", "ns/op", 100.5, 201, 2.0},
      {"we\"ird\\\n", "ms", 0, 1, std::nan("")},
  };
  EXPECT_EQ(bench_json(rows, true),
            "[\n"
            "  {\"workload\": \"syscalls\", \"unit\": \"ns/op\", \"gort\": "
            "100.5, \"go\": 201, \"speedup\": 2},\n"
            "  {\"workload\": \"we\\\"ird\\\\\\n\", \"unit\": \"ms\", "
            "\"gort\": 0, \"go\": 1, \"speedup\": null}\n"
            "]\n");
  EXPECT_EQ(bench_json({}, true), "[]\n");
  EXPECT_EQ(bench_json({rows[0]}, false),
            "[\n  {\"workload\": \"syscalls\", \"unit\": \"ns/op\", \"gort\": "
            "100.5}\n]\n");
}

// Captured from `strace -c -f -o FILE sh -c ...` with strace 6.1 on the
// build machine (trimmed): blank errors columns and a total row.
constexpr char kRealStrace61[] =
    "% time     seconds  usecs/call     calls    errors syscall\n"
    "------ ----------- ----------- --------- --------- ----------------\n"
    " 67.65    0.001987         993         2         1 wait4\n"
    "  9.87    0.000290           7        37        17 openat\n"
    "  9.64    0.000283           9        29           mmap\n"
    "  0.00    0.000000           0         5           write\n"
    "  0.00    0.000000           0         1           getpid\n"
    "------ ----------- ----------- --------- --------- ----------------\n"
    "100.00    0.002937          15        74        18 total\n";

TEST(StraceTable, ParsesStrace61Output) {
  std::string error;
  std::optional<StraceTable> t = parse_strace_table(kRealStrace61, &error);
  ASSERT_TRUE(t.has_value()) << error;
  ASSERT_EQ(t->rows.size(), 5u);
  EXPECT_EQ(t->rows["wait4"].calls, 2u);
  EXPECT_EQ(t->rows["wait4"].errors, 1u);
  EXPECT_EQ(t->rows["openat"].calls, 37u);
  EXPECT_EQ(t->rows["openat"].errors, 17u);
  EXPECT_EQ(t->rows["mmap"].errors, 0u);
  EXPECT_DOUBLE_EQ(t->rows["mmap"].seconds, 0.000283);
  EXPECT_EQ(t->total.calls, 74u);
  EXPECT_EQ(t->total.errors, 18u);
}

TEST(StraceTable, RejectsTruncatedTables) {
  std::string error;
  EXPECT_FALSE(parse_strace_table("nothing here\n", &error).has_value());
  std::string text = kRealStrace61;
  std::string no_total = text.substr(0, text.rfind("100.00"));
  EXPECT_FALSE(parse_strace_table(no_total, &error).has_value());
  std::string bad_row = text;
  bad_row.replace(bad_row.find("wait4"), 5, "wait4 extra words");
  EXPECT_FALSE(parse_strace_table(bad_row, &error).has_value());
}

// gort's own --strace table reads back to the stats it was made from, so
// the comparison test can parse both sides with one parser.
TEST(StraceTable, ReadsBackGortsOwnTable) {
  std::vector<sys::SyscallStat> stats(2);
  stats[0].nr = SYS_getpid;
  stats[0].name = "getpid";
  stats[0].calls = 10000;
  stats[0].nanos = 1500000;
  stats[1].nr = SYS_openat;
  stats[1].name = "openat";
  stats[1].calls = 101;
  stats[1].errors = 100;
  stats[1].nanos = 700000;
  std::string error;
  std::optional<StraceTable> t = parse_strace_table(
      "workload output\n" + sys::format_strace_summary(stats), &error);
  ASSERT_TRUE(t.has_value()) << error;
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows["getpid"].calls, 10000u);
  EXPECT_EQ(t->rows["getpid"].errors, 0u);
  EXPECT_EQ(t->rows["openat"].calls, 101u);
  EXPECT_EQ(t->rows["openat"].errors, 100u);
  EXPECT_EQ(t->total.calls, 10101u);
  EXPECT_EQ(t->total.errors, 100u);
}

}  // namespace
}  // namespace gort::cli
