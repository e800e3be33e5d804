// Tests of the workload registry, the result line, and the workloads run in
// process (the syscalls mix under accounting makes exactly its documented
// calls).
#include "cli/registry.h"
#include "cli/workload_test_util.h"

#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <string>

#include "cli/components.h"
#include "cli/workloads/syscalls.h"
#include "gtest/gtest.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

using testing::counted;
using testing::run_captured;


// The static Registrars ran (alwayslink kept them): the expected workloads
// are present, listed in name order, each with a one-line description and
// options whose defaults lie within their range.
TEST(Registry, HoldsTheWorkloadsSortedAndWellFormed) {
  const Registry& reg = Registry::global();
  ASSERT_NE(reg.find("syscalls"), nullptr);
  ASSERT_NE(reg.find("tour"), nullptr);
  EXPECT_EQ(reg.find("no-such-workload"), nullptr);
  std::vector<const Workload*> all = reg.all();
  ASSERT_GE(all.size(), 2u);
  for (size_t i = 0; i < all.size(); ++i) {
    const Workload& w = *all[i];
    if (i > 0) {
      EXPECT_LT(all[i - 1]->name, w.name);
    }
    EXPECT_FALSE(w.description.empty()) << w.name;
    EXPECT_EQ(w.description.find('\n'), std::string::npos) << w.name;
    for (const WorkloadOption& o : w.options) {
      EXPECT_LE(o.min_value, o.default_value) << w.name << " --" << o.name;
      EXPECT_LE(o.default_value, o.max_value) << w.name << " --" << o.name;
      EXPECT_EQ(w.default_args().get(o.name), o.default_value);
    }
  }
  EXPECT_FALSE(reg.find("tour")->benchmark);
  EXPECT_TRUE(reg.find("syscalls")->has_go_twin);
}

// Every workload that claims a Go twin ships its source (bench/go is data
// of this test, at the same runfiles path as for //cli:gort).
TEST(Registry, EveryGoTwinHasItsSource) {
  ASSERT_TRUE(file_exists("bench/go/go.mod"))
      << "bench/go/go.mod missing from the runfiles";
  for (const Workload* w : Registry::global().all()) {
    if (!w->has_go_twin) continue;
    EXPECT_TRUE(file_exists("bench/go/" + w->name + "/main.go")) << w->name;
  }
}

TEST(ResultLine, FormatsNameValueAndUnit) {
  EXPECT_EQ(format_result_line("syscalls", Result{123.456, "ns/op"}),
            "result: syscalls 123.46 ns/op");
  EXPECT_EQ(format_result_line("chan", Result{1e6, "msgs/s"}),
            "result: chan 1000000.00 msgs/s");
}

TEST(ResultLine, ParsesTheLastResultLine) {
  std::optional<ParsedResult> p = parse_result_line(
      "result: old 1 ms\nnoise\nresult: syscalls 312.25 ns/op\ntrailer\n");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->name, "syscalls");
  EXPECT_DOUBLE_EQ(p->result.value, 312.25);
  EXPECT_EQ(p->result.unit, "ns/op");

  std::string line = format_result_line("x", Result{0.5, "ms"});
  p = parse_result_line(line);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->name, "x");
  EXPECT_DOUBLE_EQ(p->result.value, 0.5);
}

TEST(ResultLine, RejectsMalformedLines) {
  for (const char* bad :
       {"", "no result here\n", "result: syscalls 12\n",
        "result: syscalls 12x ns/op\n", "result: syscalls nan ns/op\n",
        "result: syscalls 1e999 ns/op\n", "result: a 1 ms extra\n",
        " result: a 1 ms\n"}) {
    EXPECT_FALSE(parse_result_line(bad).has_value()) << bad;
  }
}

TEST(ResultLine, RateUnitsEndInPerSecond) {
  EXPECT_TRUE(is_rate_unit("msgs/s"));
  EXPECT_TRUE(is_rate_unit("MB/s"));
  EXPECT_FALSE(is_rate_unit("ns/op"));
  EXPECT_FALSE(is_rate_unit("ms"));
  EXPECT_FALSE(is_rate_unit("/s"));
}

// The syscalls workload makes exactly its documented mix, through sys/:
// N getpid, one openat + W writes + one close of /dev/null, M failing
// openat, and nothing else that sys/ accounts.
TEST(SyscallsWorkload, MakesExactlyTheDocumentedMix) {
  const Workload* w = Registry::global().find("syscalls");
  ASSERT_NE(w, nullptr);
  WorkloadArgs args = w->default_args();
  args.set("getpids", 37);
  args.set("writes", 11);
  args.set("missing-opens", 5);
  std::string out;
  absl::StatusOr<Result> r;
  auto stats = counted([&] { r = run_captured(*w, args, &out); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->unit, "ns/op");
  EXPECT_GT(r->value, 0);
  using Counts = std::pair<uint64_t, uint64_t>;
  std::map<std::string, Counts> want = {{"getpid", {37, 0}},
                                        {"write", {11, 0}},
                                        {"openat", {6, 5}},
                                        {"close", {1, 0}}};
  EXPECT_EQ(stats, want);
  EXPECT_NE(out.find("55 syscalls"), std::string::npos) << out;
}

// With every count zero the workload makes no syscall at all: the strace
// comparison's baseline depends on it.
TEST(SyscallsWorkload, AllZeroMakesNoSyscall) {
  const Workload* w = Registry::global().find("syscalls");
  ASSERT_NE(w, nullptr);
  WorkloadArgs args = w->default_args();
  args.set("getpids", 0);
  args.set("writes", 0);
  args.set("missing-opens", 0);
  std::string out;
  absl::StatusOr<Result> r;
  auto stats = counted([&] { r = run_captured(*w, args, &out); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->value, 0);
  EXPECT_TRUE(stats.empty());
}

// The tour runs a workload per component, prints every report (a SCHED
// line, the MemStats block, the strace table of the whole tour) and names
// every component still to land.
TEST(TourWorkload, PrintsTheTableAndTheReportsToCome) {
  const Workload* w = Registry::global().find("tour");
  ASSERT_NE(w, nullptr);
  std::string out;
  absl::StatusOr<Result> r = run_captured(*w, w->default_args(), &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->unit, "ms");
  EXPECT_NE(out.find("% time     seconds  usecs/call"), std::string::npos)
      << out;
  EXPECT_NE(out.find("getpid"), std::string::npos) << out;
  for (const char* section :
       {"== sched: gort run spawn", "== chan: gort run pingpong",
        "== syncx: gort run mutex", "== timer: gort run sleepers",
        "== netpoll: gort run echo", "== mem: gort run bigmap"}) {
    EXPECT_NE(out.find(section), std::string::npos) << section << "\n" << out;
  }
  EXPECT_NE(out.find("\nSCHED "), std::string::npos) << out;
  EXPECT_NE(out.find("# runtime.MemStats\n# Alloc = "), std::string::npos)
      << out;
  EXPECT_NE(out.find("epoll_ctl"), std::string::npos) << out;  // echo's
  EXPECT_EQ(out.find("(not in this build)"), std::string::npos) << out;
  for (const Component& c : kComponents) {
    EXPECT_EQ(out.find(std::string(c.reports)) != std::string::npos, !c.landed)
        << c.name << "\n"
        << out;
  }
  EXPECT_EQ(sys::accounting(), sys::AccountingMode::kOff);
}

}  // namespace
}  // namespace gort::cli
