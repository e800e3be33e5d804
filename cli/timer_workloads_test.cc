// Tests of the timer workloads (cli/workloads/{timers,sleepers,timerchurn,
// lateness}.cc): each runs in process at a small size, is a benchmark with
// a Go twin, reports a positive result in its unit, and prints its summary
// line naming the count it was given.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "cli/workload_test_util.h"
#include "gtest/gtest.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_small(const Workload& w, const std::string& option,
                                 int64_t value, std::string* output) {
  WorkloadArgs args = w.default_args();
  args.set(option, value);
  return testing::run_captured(w, args, output);
}

TEST(TimerWorkloads, BenchmarksReportTheirUnitAndCount) {
  struct Case {
    const char* name;
    const char* option;
    int64_t value;
    const char* unit;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"timers", "timers", 2000, "ms", "timers: 2000 after_func timers"},
           {"sleepers", "goroutines", 200, "ms", "sleepers: 200 goroutines x 10"},
           {"timerchurn", "ops", 4000, "ns/op", "timerchurn: 4000 reset/stop/new"},
           {"lateness", "timers", 200, "us", "lateness: 200 sleeps"},
       }) {
    const Workload* w = Registry::global().find(c.name);
    ASSERT_NE(w, nullptr) << c.name;
    EXPECT_TRUE(w->benchmark) << c.name;
    EXPECT_TRUE(w->has_go_twin) << c.name;
    std::string out;
    absl::StatusOr<Result> r = run_small(*w, c.option, c.value, &out);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status();
    EXPECT_EQ(r->unit, c.unit) << c.name;
    EXPECT_GT(r->value, 0) << c.name;
    EXPECT_NE(out.find(c.says), std::string::npos) << c.name << ": " << out;
  }
}

}  // namespace
}  // namespace gort::cli
