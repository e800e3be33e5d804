// cli/bench.h: `gort bench`: gort's workloads, alone or against Go.
//
//   BenchOptions    --vs-go, --filter, --runs, --json
//   BenchRow        one workload's medians and the speedup
//   speedup         Go ÷ gort for times, gort ÷ Go for rates (> 1: gort wins)
//   median          of a non-empty sample
//   bench_json      the rows as a JSON array
//   run_bench       the command
//
// Every measurement is a child process that prints a `result:` line: gort
// re-executes itself (/proc/self/exe run NAME), the Go twin is its binary.
// With --vs-go the two alternate within each run, and the order flips from
// run to run (gort first, then Go first), so that slow drift of a noisy
// machine lands on both sides equally.
//
// Thread safety: none needed; used once, from main.
#ifndef GORT_CLI_BENCH_H_
#define GORT_CLI_BENCH_H_

#include <string>
#include <vector>

namespace gort::cli {

struct BenchOptions {
  bool vs_go = false;
  std::string filter;  // ECMAScript regex searched in workload names; "" = all
  int runs = 5;        // REQUIRES: >= 1
  std::string json;    // "" = no JSON file
};

struct BenchRow {
  std::string workload;
  std::string unit;
  double gort = 0;     // median of gort's runs
  double go = 0;       // median of Go's runs (vs_go only)
  double speedup = 0;  // NaN when undefined (a zero median)
};

// > 1 means gort is faster: go/gort for times, gort/go for rates. NaN when
// the divisor is 0.
double speedup(const std::string& unit, double gort, double go);

// REQUIRES: `v` non-empty. The middle value, or the mean of the middle two.
double median(std::vector<double> v);

// `[{"workload":…,"unit":…,"gort":…,"go":…,"speedup":…}]` with strings
// escaped and non-finite numbers written as null; without `vs_go`, only
// workload, unit and gort.
std::string bench_json(const std::vector<BenchRow>& rows, bool vs_go);

// Runs the command; returns the exit status (0; 2 for bad input or a
// missing Go; 1 when a child or a build failed). `argv0` helps find the
// Go sources (see go_twins.h).
int run_bench(const BenchOptions& options, const std::string& argv0);

}  // namespace gort::cli

#endif  // GORT_CLI_BENCH_H_
