// Tests of the syncx workloads (cli/workloads/{mutex,mutex1,rwmutex,wg,
// once,pool,syncmap}.cc): each runs in process at a small size, is a
// benchmark with a Go twin, reports a positive value in ns/op, and its
// summary line starts with its name.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "cli/workload_test_util.h"
#include "gtest/gtest.h"

namespace gort::cli {
namespace {

TEST(SyncxWorkloads, SmallRunsReportNsPerOp) {
  for (const char* name : {"mutex", "mutex1", "rwmutex", "wg", "once", "pool",
                           "syncmap", "syncmap50"}) {
    const Workload* w = Registry::global().find(name);
    ASSERT_NE(w, nullptr) << name;
    EXPECT_TRUE(w->benchmark) << name;
    EXPECT_TRUE(w->has_go_twin) << name;
    WorkloadArgs args = w->default_args();
    args.set("ops", 2000);
    std::string out;
    absl::StatusOr<Result> r = testing::run_captured(*w, args, &out);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_EQ(r->unit, "ns/op") << name;
    EXPECT_GT(r->value, 0) << name;
    EXPECT_EQ(out.rfind(std::string(name) + ": ", 0), 0u) << out;
  }
}

}  // namespace
}  // namespace gort::cli
