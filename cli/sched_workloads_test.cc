// Tests of the scheduler workloads (cli/workloads/{spawn,yield,parkready,
// parked,deadlock}.cc): each benchmark runs in process at a small size and
// reports a positive result in its unit with its summary line; `parked`
// also prints its rss line; `deadlock`, run as a child of the built gort,
// dies the way a deadlocked Go program does.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "cli/workload_test_util.h"
#include "cli/subprocess.h"
#include "gtest/gtest.h"

namespace gort::cli {
namespace {

// Runs workload `name` with `option` set to `value`, capturing its output.
absl::StatusOr<Result> run_small(const std::string& name,
                                 const std::string& option, int64_t value,
                                 std::string* output) {
  const Workload* w = Registry::global().find(name);
  if (w == nullptr) return absl::NotFoundError(name + " is not registered");
  WorkloadArgs args = w->default_args();
  args.set(option, value);
  return testing::run_captured(*w, args, output);
}

// Each benchmark reports a positive value in its unit, and its summary line
// names the count it was given.
TEST(SchedWorkloads, BenchmarksReportTheirUnitAndCount) {
  struct Case {
    const char* name;
    const char* option;
    int64_t value;
    const char* unit;
  };
  for (const Case& c : std::vector<Case>{
           {"spawn", "goroutines", 2000, "ns/goroutine"},
           {"yield", "yields", 2000, "ns/yield"},
           {"parkready", "rounds", 2000, "ns/roundtrip"},
           {"parked", "goroutines", 2000, "ms"},
       }) {
    const Workload* w = Registry::global().find(c.name);
    ASSERT_NE(w, nullptr) << c.name;
    EXPECT_TRUE(w->benchmark) << c.name;
    EXPECT_TRUE(w->has_go_twin) << c.name;
    std::string out;
    absl::StatusOr<Result> r = run_small(c.name, c.option, c.value, &out);
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status();
    EXPECT_EQ(r->unit, c.unit) << c.name;
    EXPECT_GT(r->value, 0) << c.name;
    EXPECT_EQ(out.rfind(std::string(c.name) + ": ", 0), 0u) << out;
    EXPECT_NE(out.find(" 2000 "), std::string::npos) << out;
  }
}

// parked prints the resident cost per goroutine. Its value is only
// meaningful in a fresh process (here dead Gs of earlier tests, with their
// resident stack pages, are reused), so only the line's shape is checked.
TEST(SchedWorkloads, ParkedPrintsRssPerGoroutine) {
  std::string out;
  absl::StatusOr<Result> r = run_small("parked", "goroutines", 1000, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  size_t at = out.find("\nrss: ");
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_NE(out.find(" B/goroutine\n", at), std::string::npos) << out;
}

// `gort run deadlock`: Go's fatal error, the dump with the main goroutine
// waiting in semacquire (and the others, with --others), exit status 2.
TEST(SchedWorkloads, DeadlockDiesLikeGo) {
  const Workload* w = Registry::global().find("deadlock");
  ASSERT_NE(w, nullptr);
  EXPECT_FALSE(w->benchmark);
  absl::StatusOr<ProcessResult> r =
      run_process({"cli/gort", "run", "deadlock", "--others", "2"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2) << describe_exit(*r) << "\n" << r->err;
  EXPECT_EQ(r->err.rfind("fatal error: all goroutines are asleep - "
                         "deadlock!\n\ngoroutine ",
                         0),
            0u)
      << r->err;
  EXPECT_NE(r->err.find("goroutine 1 [semacquire]:\n"), std::string::npos)
      << r->err;
  size_t waiting = 0;
  for (size_t at = 0; (at = r->err.find("[semacquire]:", at)) !=
                      std::string::npos;
       at++) {
    waiting++;
  }
  EXPECT_EQ(waiting, 3u) << r->err;
  EXPECT_EQ(r->out.rfind("deadlock: the main goroutine and 2 more", 0), 0u)
      << r->out;
  EXPECT_EQ(r->out.find("result:"), std::string::npos) << r->out;
}

}  // namespace
}  // namespace gort::cli
