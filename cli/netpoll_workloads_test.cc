// Tests of the network workloads (cli/workloads/{echo,accept,stream}.cc):
// each runs in process at a small size, is a benchmark with a Go twin,
// reports a positive rate in its unit, and prints its summary line naming
// the size it was given (stream also checks that every byte arrived, and
// fails otherwise).
#include <cstdio>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "cli/workload_test_util.h"
#include "gtest/gtest.h"

namespace gort::cli {
namespace {

struct Option {
  const char* name;
  int64_t value;
};

absl::StatusOr<Result> run_small(const Workload& w,
                                 const std::vector<Option>& options,
                                 std::string* output) {
  WorkloadArgs args = w.default_args();
  for (const Option& o : options) args.set(o.name, o.value);
  return testing::run_captured(w, args, output);
}

TEST(NetpollWorkloads, BenchmarksReportTheirRateAndSize) {
  struct Case {
    const char* name;
    std::vector<Option> options;
    const char* unit;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"echo", {{"conns", 8}, {"size", 64}, {"ms", 200}}, "msgs/s",
            "echo: 8 connections x 64-byte ping-pong"},
           {"accept", {{"conns", 300}, {"dialers", 3}}, "conns/s",
            "accept: 300 connections dialled by 3 goroutines"},
           {"stream", {{"mib", 8}, {"chunk", 10000}}, "MB/s",
            "stream: 8 MiB over one loopback TCP connection in 10000-byte"},
       }) {
    const Workload* w = Registry::global().find(c.name);
    ASSERT_NE(w, nullptr) << c.name;
    EXPECT_TRUE(w->benchmark) << c.name;
    EXPECT_TRUE(w->has_go_twin) << c.name;
    std::string out;
    absl::StatusOr<Result> r = run_small(*w, c.options, &out);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status();
    EXPECT_EQ(r->unit, c.unit) << c.name;
    EXPECT_TRUE(is_rate_unit(r->unit)) << c.name;
    EXPECT_GT(r->value, 0) << c.name;
    EXPECT_NE(out.find(c.says), std::string::npos) << c.name << ": " << out;
  }
}

}  // namespace
}  // namespace gort::cli
