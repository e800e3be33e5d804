#include "cli/go_twins.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "cli/subprocess.h"
#include "fmt/format.h"

namespace gort::cli {
namespace {

namespace fs = std::filesystem;

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

bool has_go_mod(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / "go.mod", ec);
}

// The newest modification time among go.mod and NAME/'s files (following
// the runfiles symlinks to the real sources).
absl::StatusOr<fs::file_time_type> newest_source(const std::string& sources,
                                                 const std::string& name) {
  std::error_code ec;
  fs::file_time_type newest =
      fs::last_write_time(fs::path(sources) / "go.mod", ec);
  if (ec)
    return absl::NotFoundError(
        fmt::format("{}/go.mod: {}", sources, ec.message()));
  fs::path dir = fs::path(sources) / name;
  if (!fs::is_regular_file(dir / "main.go", ec)) {
    return absl::NotFoundError(
        fmt::format("the Go twin of {} is missing: no {}", name,
                    (dir / "main.go").string()));
  }
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    fs::file_time_type t = fs::last_write_time(e.path(), ec);
    if (!ec && t > newest) newest = t;
  }
  // Code that twins share (bench/go/internal/...) may be imported by any
  // twin: a change there rebuilds them all.
  fs::path shared = fs::path(sources) / "internal";
  if (fs::is_directory(shared, ec)) {
    for (const fs::directory_entry& e :
         fs::recursive_directory_iterator(shared, ec)) {
      fs::file_time_type t = fs::last_write_time(e.path(), ec);
      if (!ec && t > newest) newest = t;
    }
  }
  return newest;
}

}  // namespace

absl::StatusOr<std::string> find_go() {
  const char* path = std::getenv("PATH");
  if (path != nullptr) {
    if (std::optional<std::string> go = find_in_path("go", path)) return *go;
  }
  return absl::NotFoundError(kGoMissing);
}

absl::StatusOr<std::string> find_go_sources(const std::string& argv0) {
  std::vector<std::string> tried;
  auto try_dir = [&](const std::string& dir) {
    tried.push_back(dir);
    return has_go_mod(dir);
  };
  std::string dir = env_or_empty("GORT_BENCH_GO_DIR");
  if (!dir.empty() && try_dir(dir)) return dir;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && try_dir(exe.string() + ".runfiles/gort/bench/go")) {
    return exe.string() + ".runfiles/gort/bench/go";
  }
  if (!argv0.empty() && try_dir(argv0 + ".runfiles/gort/bench/go")) {
    return argv0 + ".runfiles/gort/bench/go";
  }
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    dir = env_or_empty(var);
    if (!dir.empty() && try_dir(dir + "/gort/bench/go")) {
      return dir + "/gort/bench/go";
    }
  }
  dir = env_or_empty("BUILD_WORKSPACE_DIRECTORY");
  if (!dir.empty() && try_dir(dir + "/bench/go")) return dir + "/bench/go";
  std::string list;
  for (const std::string& t : tried) list += (list.empty() ? "" : ", ") + t;
  return absl::NotFoundError(fmt::format(
      "cannot find the Go twins' sources (bench/go/go.mod); tried {}; set "
      "GORT_BENCH_GO_DIR to a checkout's bench/go",
      list));
}

absl::StatusOr<std::string> cache_dir() {
  std::string dir = env_or_empty("GORT_CACHE_DIR");
  if (dir.empty()) {
    std::string xdg = env_or_empty("XDG_CACHE_HOME");
    std::string home = env_or_empty("HOME");
    if (!xdg.empty()) {
      dir = xdg + "/gort";
    } else if (!home.empty()) {
      dir = home + "/.cache/gort";
    } else {
      return absl::FailedPreconditionError(
          "no cache directory for the Go twins: set GORT_CACHE_DIR (or "
          "XDG_CACHE_HOME or HOME)");
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || access(dir.c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "cache directory {} is not writable{}{}; set GORT_CACHE_DIR", dir,
        ec ? ": " : "", ec ? ec.message() : ""));
  }
  return dir;
}

absl::StatusOr<std::string> build_go_twin(const std::string& go,
                                          const std::string& sources,
                                          const std::string& cache,
                                          const std::string& name,
                                          bool* built) {
  *built = false;
  absl::StatusOr<fs::file_time_type> newest = newest_source(sources, name);
  if (!newest.ok()) return newest.status();
  std::string bin_dir = cache + "/go-twins";
  std::string bin = bin_dir + "/" + name;
  std::error_code ec;
  fs::file_time_type bin_time = fs::last_write_time(bin, ec);
  if (!ec && bin_time > *newest) return bin;

  fs::create_directories(bin_dir, ec);
  RunOptions options;
  options.cwd = sources;
  options.env["GOCACHE"] = cache + "/go-build";
  options.env["GO111MODULE"] = "on";
  options.env["GOWORK"] = "off";
  options.env["GOFLAGS"] = std::nullopt;  // a user's -mod=vendor would break
  options.env["GOTOOLCHAIN"] = "local";   // newer go: never download one
  if (env_or_empty("GOPATH").empty()) options.env["GOPATH"] = cache + "/gopath";
  if (env_or_empty("HOME").empty()) options.env["HOME"] = cache;
  // Built to a temporary name and renamed: a concurrent bench never runs a
  // half-written binary.
  std::string tmp = fmt::format("{}.tmp{}", bin, getpid());
  absl::StatusOr<ProcessResult> r = run_process(
      {go, "build", "-buildvcs=false", "-trimpath", "-o", tmp, "./" + name},
      options);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    fs::remove(tmp, ec);
    return absl::InternalError(
        fmt::format("go build ./{} in {} failed ({}):\n{}{}", name, sources,
                    describe_exit(*r), r->out, r->err));
  }
  fs::rename(tmp, bin, ec);
  if (ec) {
    return absl::InternalError(
        fmt::format("rename {} to {}: {}", tmp, bin, ec.message()));
  }
  *built = true;
  return bin;
}

}  // namespace gort::cli
