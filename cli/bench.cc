#include "cli/bench.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
// GCC 12 at -O1 with -fsanitize=address warns -Wmaybe-uninitialized deep
// inside libstdc++'s regex compiler (a false positive in the library's
// std::function moves); the library, not this file, is what it flags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include "absl/status/statusor.h"
#include "cli/go_twins.h"
#include "cli/registry.h"
#include "cli/subprocess.h"
#include "cli/term.h"
#include "cli/trace_json.h"
#include "fmt/format.h"

namespace gort::cli {
namespace {

// One measured side of a workload: gort's re-exec of itself, or the twin.
struct Side {
  std::string label;  // "gort" or "go"
  std::vector<std::string> argv;
  std::vector<double> values;
  std::string unit;
};

// Runs one child and records its result. Prints why and returns false when
// it failed or printed no well-formed result line for `name`.
bool measure(const std::string& name, Side& side) {
  absl::StatusOr<ProcessResult> r = run_process(side.argv);
  if (!r.ok()) {
    fmt::print(stderr, "gort: bench: {}\n", std::string(r.status().message()));
    return false;
  }
  std::optional<ParsedResult> parsed = parse_result_line(r->out);
  if (r->exit_code != 0 || !parsed || parsed->name != name) {
    fmt::print(stderr,
               "gort: bench: {} of {} failed ({}) or printed no \"result: "
               "{} VALUE UNIT\" line\nstdout:\n{}stderr:\n{}",
               side.label, name, describe_exit(*r), name, r->out, r->err);
    return false;
  }
  if (!side.unit.empty() && side.unit != parsed->result.unit) {
    fmt::print(stderr, "gort: bench: {} of {} changed unit: {} then {}\n",
               side.label, name, side.unit, parsed->result.unit);
    return false;
  }
  side.unit = parsed->result.unit;
  side.values.push_back(parsed->result.value);
  return true;
}

// A JSON string literal (trace_json.h's escaping: control characters,
// quotes, backslashes, and invalid UTF-8 as U+FFFD).
std::string json_string(std::string_view s) {
  return "\"" + json_escape(s) + "\"";
}

std::string json_number(double v) {
  return std::isfinite(v) ? fmt::format("{}", v) : "null";
}

std::string table_number(double v) {
  return std::isfinite(v) ? fmt::format("{:.2f}", v) : "-";
}

void print_table(const std::vector<BenchRow>& rows, bool vs_go, int runs) {
  size_t w = 8;
  for (const BenchRow& r : rows) w = std::max(w, r.workload.size());
  if (vs_go) {
    fmt::print("{:<{}}  {:<8} {:>14} {:>14} {:>8}\n", "workload", w, "unit",
               "gort", "go", "speedup");
    // On a terminal, a speedup is green where gort wins and red where it
    // loses (padded first, so the escapes do not upset the columns).
    const bool colour = colour_on(stdout);
    for (const BenchRow& r : rows) {
      std::string sp = fmt::format("{:>7}x", table_number(r.speedup));
      sp = paint(sp, r.speedup >= 1 ? Colour::kGreen : Colour::kRed,
                 colour && !std::isnan(r.speedup));
      fmt::print("{:<{}}  {:<8} {:>14} {:>14} {}\n", r.workload, w, r.unit,
                 table_number(r.gort), table_number(r.go), sp);
    }
    fmt::print(
        "(medians of {} run{}; speedup > 1 means gort is faster: Go's time "
        "/ gort's, or gort's rate / Go's)\n",
        runs, runs == 1 ? "" : "s");
  } else {
    fmt::print("{:<{}}  {:<8} {:>14}\n", "workload", w, "unit", "gort");
    for (const BenchRow& r : rows) {
      fmt::print("{:<{}}  {:<8} {:>14}\n", r.workload, w, r.unit,
                 table_number(r.gort));
    }
    fmt::print("(medians of {} run{})\n", runs, runs == 1 ? "" : "s");
  }
}

}  // namespace

double speedup(const std::string& unit, double gort, double go) {
  double num = is_rate_unit(unit) ? gort : go;
  double den = is_rate_unit(unit) ? go : gort;
  if (den == 0) return std::numeric_limits<double>::quiet_NaN();
  return num / den;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string bench_json(const std::vector<BenchRow>& rows, bool vs_go) {
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const BenchRow& r = rows[i];
    out += i == 0 ? "\n  " : ",\n  ";
    out += fmt::format("{{\"workload\": {}, \"unit\": {}, \"gort\": {}",
                       json_string(r.workload), json_string(r.unit),
                       json_number(r.gort));
    if (vs_go) {
      out += fmt::format(", \"go\": {}, \"speedup\": {}", json_number(r.go),
                         json_number(r.speedup));
    }
    out += "}";
  }
  return out + (rows.empty() ? "]\n" : "\n]\n");
}

int run_bench(const BenchOptions& options, const std::string& argv0) {
  std::regex filter;
  try {
    filter = std::regex(options.filter);
  } catch (const std::regex_error& e) {
    fmt::print(stderr, "gort: --filter \"{}\" is not a valid regex: {}\n",
               options.filter, e.what());
    return 2;
  }
  std::vector<const Workload*> selected;
  for (const Workload* w : Registry::global().all()) {
    if (!w->benchmark || (options.vs_go && !w->has_go_twin)) continue;
    if (std::regex_search(w->name, filter)) selected.push_back(w);
  }
  if (selected.empty()) {
    fmt::print(stderr,
               "gort: no {}workload matches --filter \"{}\" (see gort list)\n",
               options.vs_go ? "Go-twinned " : "", options.filter);
    return 2;
  }

  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    fmt::print(stderr, "gort: bench: cannot read /proc/self/exe: {}\n",
               ec.message());
    return 1;
  }
  std::vector<Side> gort_sides, go_sides;
  for (const Workload* w : selected) {
    gort_sides.push_back(Side{"gort", {self, "run", w->name}, {}, ""});
  }
  if (options.vs_go) {
    absl::StatusOr<std::string> go = find_go();
    absl::StatusOr<std::string> sources = find_go_sources(argv0);
    absl::StatusOr<std::string> cache = cache_dir();
    for (const absl::Status& s :
         {go.status(), sources.status(), cache.status()}) {
      if (!s.ok()) {
        fmt::print(stderr, "gort: {}\n", std::string(s.message()));
        return 2;
      }
    }
    for (const Workload* w : selected) {
      bool built = false;
      absl::StatusOr<std::string> bin =
          build_go_twin(*go, *sources, *cache, w->name, &built);
      if (!bin.ok()) {
        fmt::print(stderr, "gort: bench: {}\n",
                   std::string(bin.status().message()));
        return 1;
      }
      if (built) fmt::print(stderr, "built Go twin {}\n", *bin);
      go_sides.push_back(Side{"go", {*bin}, {}, ""});
    }
  }

  // Progress: one line rewritten in place on a terminal, a line per
  // measurement otherwise (a log).
  Progress progress(is_terminal(stderr));
  const int total = options.runs * static_cast<int>(selected.size());
  int done = 0;
  for (int run = 0; run < options.runs; ++run) {
    for (size_t i = 0; i < selected.size(); ++i) {
      const std::string& name = selected[i]->name;
      std::vector<Side*> order = {&gort_sides[i]};
      if (options.vs_go) {
        // Even runs gort first, odd runs Go first (ABBA).
        order.insert(run % 2 == 0 ? order.end() : order.begin(), &go_sides[i]);
      }
      for (Side* side : order) {
        if (!measure(name, *side)) return 1;
      }
      std::string line = fmt::format(
          "{}: run {}/{}: gort {:.2f} {}", name, run + 1, options.runs,
          gort_sides[i].values.back(), gort_sides[i].unit);
      if (options.vs_go) {
        line += fmt::format(", go {:.2f} {}", go_sides[i].values.back(),
                            go_sides[i].unit);
      }
      progress.update(++done, total, line);
    }
  }
  progress.clear();

  std::vector<BenchRow> rows;
  for (size_t i = 0; i < selected.size(); ++i) {
    BenchRow row;
    row.workload = selected[i]->name;
    row.unit = gort_sides[i].unit;
    row.gort = median(gort_sides[i].values);
    if (options.vs_go) {
      if (go_sides[i].unit != row.unit) {
        fmt::print(stderr,
                   "gort: bench: {}: gort reports {} but its Go twin {}\n",
                   row.workload, row.unit, go_sides[i].unit);
        return 1;
      }
      row.go = median(go_sides[i].values);
      row.speedup = speedup(row.unit, row.gort, row.go);
    }
    rows.push_back(row);
  }
  print_table(rows, options.vs_go, options.runs);
  if (!options.json.empty()) {
    std::ofstream f(options.json, std::ios::trunc);
    f << bench_json(rows, options.vs_go);
    f.close();
    if (!f) {
      fmt::print(stderr, "gort: cannot write {}\n", options.json);
      return 1;
    }
  }
  return 0;
}

}  // namespace gort::cli
