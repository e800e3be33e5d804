// gort: runs workloads on the gort runtime and prints what Go (and strace)
// print about them.
//
//   gort                      the tour (= gort run tour)
//   gort list                 the workloads, one line each
//   gort run WORKLOAD ...     one workload with runtime flags and its options
//   gort bench [--vs-go] ...  medians of repeated runs, optionally against Go
//   gort version              version and compiler
//
// Exit status: 0 on success; 2 for bad input (unknown workload, bad flag,
// out-of-range value, a flag whose component has not landed, Go missing
// for --vs-go); 1 when a workload or a benchmark child fails.
//
// Parsing is CLI11's; values are validated by hand so that every error is
// one line naming the flag. `run` lets CLI11 collect what it does not know
// (allow_extras) and hands those arguments to the workload's own parser,
// so workload options may come anywhere after the workload's name.
#include <algorithm>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/bench.h"
#include "cli/registry.h"
#include "cli/run.h"
#include "cli/run_flags.h"
#include "fmt/format.h"

namespace gort::cli {
namespace {

constexpr char kVersion[] = "gort 0.1.0 (go1.19 semantics)";

std::string version_text() {
#if defined(__clang__)
  std::string compiler = fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
  std::string compiler = fmt::format("GCC {}", __VERSION__);
#else
  std::string compiler = "unknown";
#endif
#if defined(__OPTIMIZE__)
  std::string build = "optimized";
#else
  std::string build = "unoptimized";
#endif
#if defined(__SANITIZE_ADDRESS__)
  build += ", AddressSanitizer";
#endif
#if defined(__SANITIZE_THREAD__)
  build += ", ThreadSanitizer";
#endif
  return fmt::format("{}\ncompiler: {}\nbuild: {}, C++ {}\n", kVersion,
                     compiler, build, __cplusplus);
}

int list_workloads() {
  size_t width = 0;
  for (const Workload* w : Registry::global().all()) {
    width = std::max(width, w->name.size());
  }
  for (const Workload* w : Registry::global().all()) {
    fmt::print("{:<{}}  {}{}\n", w->name, width, w->description,
               w->has_go_twin ? " [Go twin]" : "");
  }
  return 0;
}

// `gort run WORKLOAD ...` after CLI11 has parsed the run subcommand.
int run_command(const std::string& name, const RunFlagParser& parser,
                const std::vector<std::string>& workload_argv) {
  absl::StatusOr<RunFlags> flags = parser.finish();
  if (!flags.ok()) {
    fmt::print(stderr, "gort: {}\n", std::string(flags.status().message()));
    return 2;
  }
  const Workload* w = Registry::global().find(name);
  if (w == nullptr) {
    fmt::print(stderr, "gort: unknown workload \"{}\" (see gort list)\n", name);
    return 2;
  }
  absl::StatusOr<WorkloadArgs> args = parse_workload_args(*w, workload_argv);
  if (!args.ok()) {
    fmt::print(stderr, "gort: {}\n", std::string(args.status().message()));
    return 2;
  }
  if (absl::Status s = check_landed(*flags); !s.ok()) {
    fmt::print(stderr, "gort: {}\n", std::string(s.message()));
    return 2;
  }
  return run_workload(*w, *args, *flags);
}

int main_impl(int argc, char** argv) {
  CLI::App app{
      "gort: Go's runtime as a C++20 library, and workloads that show it at "
      "work.\nWith no command, runs the tour (gort run tour).",
      "gort"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", std::string(kVersion));
  app.footer(
      "Examples:\n"
      "  gort                              the tour\n"
      "  gort list\n"
      "  gort run syscalls --strace\n"
      "  gort bench --vs-go --runs 5\n"
      "Run gort COMMAND --help for a command's flags.");

  CLI::App* list = app.add_subcommand("list", "List the workloads, one a line");
  list->footer("Example:\n  gort list");

  CLI::App* run = app.add_subcommand(
      "run", "Run one workload with runtime flags and its own options");
  run->set_help_flag();  // ours below also shows the workload's options
  bool run_help = false;
  run->add_flag("-h,--help", run_help,
                "Print this help (with a workload: its options too) and exit");
  RunFlagParser run_flags(run);
  std::string workload;
  run->add_option("workload", workload, "The workload (see gort list)")
      ->type_name("WORKLOAD");
  run->allow_extras();
  run->footer(
      "Options of the workload follow its name; see gort run WORKLOAD "
      "--help.\nOutput: the workload's lines and a final \"result: NAME "
      "VALUE UNIT\" line on stdout;\nreports (the strace table) on stderr.\n"
      "Example:\n"
      "  gort run syscalls --strace --getpids 100000 --writes 0");

  CLI::App* bench = app.add_subcommand(
      "bench", "Benchmark the workloads (medians of repeated runs)");
  BenchOptions bench_options;
  std::string runs_text = std::to_string(bench_options.runs);
  bench->add_flag("--vs-go", bench_options.vs_go,
                  "Alternate each run with the workload's Go twin "
                  "(bench/go, built with go build) and print the speedup");
  bench
      ->add_option("--filter", bench_options.filter,
                   "Only workloads whose name matches this regex")
      ->type_name("REGEX");
  bench->add_option("--runs", runs_text, "Runs per workload (and per side)")
      ->type_name("N")
      ->default_str(runs_text);
  bench
      ->add_option("--json", bench_options.json,
                   "Also write the table as a JSON array to FILE")
      ->type_name("FILE");
  bench->footer(
      "Each run is a child process: gort re-executes itself, the Go twin is "
      "a binary\ncached in $GORT_CACHE_DIR (default $XDG_CACHE_HOME/gort or "
      "~/.cache/gort).\nSpeedup > 1 means gort is faster.\n"
      "Example:\n"
      "  gort bench --vs-go --filter syscalls --runs 3 --json bench.json");

  CLI::App* version =
      app.add_subcommand("version", "Print the version and the compiler");
  version->footer("Example:\n  gort version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive as "errors" whose exit code is success.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);
    }
    fmt::print(stderr, "gort: {}\n", e.what());
    return 2;
  }

  if (*list) return list_workloads();
  if (*version) {
    fmt::print("{}", version_text());
    return 0;
  }
  if (*bench) {
    std::optional<int64_t> runs = parse_int(runs_text);
    if (!runs || *runs < 1 || *runs > 1000) {
      fmt::print(stderr,
                 "gort: --runs must be an integer from 1 to 1000, got \"{}\"\n",
                 runs_text);
      return 2;
    }
    bench_options.runs = static_cast<int>(*runs);
    return run_bench(bench_options, argv[0]);
  }
  if (*run) {
    if (run_help) {
      fmt::print("{}", run->help());
      if (const Workload* w = Registry::global().find(workload)) {
        fmt::print("\n{}", workload_help(*w));
      }
      return 0;
    }
    if (workload.empty()) {
      fmt::print(stderr, "gort: run needs a workload (see gort list)\n");
      return 2;
    }
    return run_command(workload, run_flags, run->remaining());
  }
  // No command: the tour, with every flag at its default.
  CLI::App defaults;
  RunFlagParser no_flags(&defaults);
  return run_command("tour", no_flags, {});
}

}  // namespace
}  // namespace gort::cli

int main(int argc, char** argv) { return gort::cli::main_impl(argc, argv); }
