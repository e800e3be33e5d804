// `gort bench --vs-go` end to end: it builds the Go twin into the cache
// given by GORT_CACHE_DIR, runs both sides, and writes valid JSON with a
// numeric speedup. Needs Go; without it the test fails saying so (it does
// not skip). The JSON is checked with Python's json module, a strict
// parser independent of the code under test.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/subprocess.h"
#include "gtest/gtest.h"

namespace gort::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kGort[] = "cli/gort";

std::string tmpdir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

// GORT_CACHE_DIR and HOME inside the test's scratch space: Bazel's test
// environment has no writable HOME, and go needs one (and a GOCACHE).
RunOptions bench_env() {
  RunOptions o;
  o.env["GORT_CACHE_DIR"] = tmpdir() + "/gort-cache";
  o.env["HOME"] = tmpdir() + "/home";
  fs::create_directories(tmpdir() + "/home");
  return o;
}

ProcessResult run_ok(const std::vector<std::string>& argv,
                     const RunOptions& options) {
  absl::StatusOr<ProcessResult> r = run_process(argv, options);
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return {};
  }
  return *r;
}

void require_go() {
  const char* path = std::getenv("PATH");
  ASSERT_TRUE(path != nullptr && find_in_path("go", path).has_value())
      << "this test needs Go 1.19 on PATH: apt-get install golang-go "
         "(./bazelw installs it); PATH="
      << (path ? path : "(unset)");
}

TEST(BenchVsGo, WritesValidJsonWithANumericSpeedup) {
  require_go();
  std::string json = tmpdir() + "/out.json";
  ProcessResult r = run_ok({kGort, "bench", "--vs-go", "--filter", "syscalls",
                            "--runs", "1", "--json", json},
                           bench_env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("speedup"), std::string::npos) << r.out;
  // Strict JSON, one row for syscalls, finite positive numbers, and the
  // speedup is Go's time over gort's (ns/op is a time).
  ProcessResult py = run_ok(
      {"/usr/bin/python3", "-c",
       "import json, math, sys\n"
       "rows = json.load(open(sys.argv[1]))\n"
       "assert isinstance(rows, list) and len(rows) == 1, rows\n"
       "r = rows[0]\n"
       "assert set(r) == {'workload', 'unit', 'gort', 'go', 'speedup'}, r\n"
       "assert r['workload'] == 'syscalls' and r['unit'] == 'ns/op', r\n"
       "for k in ('gort', 'go', 'speedup'):\n"
       "    assert isinstance(r[k], (int, float)) and math.isfinite(r[k]) "
       "and r[k] > 0, (k, r)\n"
       "assert abs(r['speedup'] - r['go'] / r['gort']) <= 1e-6 * "
       "r['speedup'] + 0.01, r\n"
       "print(r['speedup'])\n",
       json},
      {});
  EXPECT_EQ(py.exit_code, 0) << "python3 rejected " << json << ":\n"
                             << py.err << "\nbench said:\n"
                             << r.out << r.err;
}

// The twin is rebuilt only when its sources are newer than the binary.
TEST(BenchVsGo, RebuildsTheTwinOnlyWhenSourcesChange) {
  require_go();
  std::string src = tmpdir() + "/go-src";
  fs::remove_all(src);
  fs::copy("bench/go", src, fs::copy_options::recursive);
  RunOptions env = bench_env();
  env.env["GORT_BENCH_GO_DIR"] = src;
  env.env["GORT_CACHE_DIR"] = tmpdir() + "/rebuild-cache";
  std::vector<std::string> argv = {kGort,      "bench",  "--vs-go", "--filter",
                                   "syscalls", "--runs", "1"};

  ProcessResult first = run_ok(argv, env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("built Go twin"), std::string::npos) << first.err;

  ProcessResult second = run_ok(argv, env);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err.find("built Go twin"), std::string::npos) << second.err;

  fs::last_write_time(src + "/syscalls/main.go",
                      fs::file_time_type::clock::now() + std::chrono::hours(1));
  ProcessResult third = run_ok(argv, env);
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_NE(third.err.find("built Go twin"), std::string::npos) << third.err;
}

TEST(BenchVsGo, WithoutGoSaysHowToInstallItAndExits2) {
  RunOptions env = bench_env();
  env.env["PATH"] = tmpdir() + "/no-go-here";
  ProcessResult r = run_ok({kGort, "bench", "--vs-go", "--runs", "1"}, env);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "gort: Go is not installed: apt-get install golang-go (./bazelw "
            "installs it)\n");
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace gort::cli
