// cli/registry.h: the workloads `gort run` and `gort bench` know by name.
//
//   WorkloadOption   one integer option of a workload (name, help, default,
//                    allowed range)
//   WorkloadArgs     the option values one run was given
//   Result           what a run measured: value and unit (`ns/op`, `msgs/s`)
//   Workload         name, one-line description, options, flags, run function
//   Registry         the process-wide table, sorted by name
//   Registrar        a static object whose constructor registers a workload
//
// Registration: each workload lives in cli/workloads/NAME.cc and registers
// itself with a file-scope Registrar. The library holding the workloads is
// `alwayslink = True`, so the linker keeps every workload's object file even
// though nothing refers to it by symbol. Adding a workload is then one new
// file and one line in cli/BUILD, and no central list can fall out of date;
// registry_test checks the expected workloads are present, so a lost
// `alwayslink` fails a test instead of silently emptying `gort list`.
//
// Every workload's output ends with exactly one line
//
//   result: NAME VALUE UNIT
//
// which format_result_line writes and parse_result_line reads back (the
// bench harness reads it from gort's and Go's children alike).
//
// Thread safety: registration happens during static initialisation, before
// main; after that the registry is read-only and may be read from any thread.
#ifndef GORT_CLI_REGISTRY_H_
#define GORT_CLI_REGISTRY_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gort::cli {

// One integer option, spelled `--NAME VALUE` after the workload's name.
struct WorkloadOption {
  std::string name;  // without dashes: "getpids"
  std::string help;  // one line
  int64_t default_value = 0;
  int64_t min_value = 0;          // inclusive
  int64_t max_value = INT64_MAX;  // inclusive
};

// The values of a workload's options for one run.
class WorkloadArgs {
 public:
  // REQUIRES: `name` is one of the workload's options (checked; a misspelt
  // name is a programming error and aborts).
  int64_t get(std::string_view name) const;
  void set(const std::string& name, int64_t value) { values_[name] = value; }

 private:
  std::map<std::string, int64_t, std::less<>> values_;
};

// What a run measured. `unit` ending in "/s" is a rate (bigger is better);
// any other unit is a time (smaller is better).
struct Result {
  double value = 0;
  std::string unit;
};

// True for rate units ("msgs/s"), false for times ("ns/op", "ms").
bool is_rate_unit(std::string_view unit);

struct Workload {
  std::string name;         // [a-z0-9_-]+, unique
  std::string description;  // one line, shown by `gort list`
  std::vector<WorkloadOption> options;
  // `gort bench` runs it (the tour, a demo, is not a benchmark).
  bool benchmark = true;
  // bench/go/NAME/main.go is its Go twin, run by `gort bench --vs-go`.
  bool has_go_twin = false;
  // Runs once, printing its own lines (not the result line) to `out`.
  // Errors (a syscall that misbehaved, say) come back as a Status; the
  // caller prints them and exits 1.
  absl::StatusOr<Result> (*run)(const WorkloadArgs& args,
                                std::FILE* out) = nullptr;

  // Every option at its default.
  WorkloadArgs default_args() const;
};

class Registry {
 public:
  // The process-wide registry (a function-local static, so it is ready for
  // Registrars in any translation unit whatever the initialisation order).
  static Registry& global();

  // REQUIRES: no workload of that name yet; `w.run` set (both checked).
  void add(Workload w);

  // nullptr when there is none.
  const Workload* find(std::string_view name) const;

  // Every workload, sorted by name.
  std::vector<const Workload*> all() const;

 private:
  std::map<std::string, Workload, std::less<>> workloads_;
};

// Registers a workload from a file-scope static object.
struct Registrar {
  explicit Registrar(Workload w) { Registry::global().add(std::move(w)); }
};

// "result: NAME VALUE UNIT" without a newline; VALUE has two decimals.
std::string format_result_line(std::string_view name, const Result& r);

struct ParsedResult {
  std::string name;
  Result result;
};

// Finds the last line of `output` starting with "result: " and parses it.
// nullopt when there is none or it is malformed (wrong field count, a value
// that is not a finite number).
std::optional<ParsedResult> parse_result_line(std::string_view output);

}  // namespace gort::cli

#endif  // GORT_CLI_REGISTRY_H_
