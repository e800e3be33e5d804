// cli/go_twins.h: finding, building and caching the Go twins of bench/go.
//
//   find_go           the `go` command on $PATH, or the install hint
//   find_go_sources   the bench/go directory shipped with this binary
//   cache_dir         where built twins and Go's build cache live
//   build_go_twin     `go build` one twin into the cache unless it is fresh
//
// bench/go is a Go module (go.mod, `go 1.19`, no dependencies) with one
// `package main` per workload: bench/go/NAME/main.go. The sources are
// `data` of //cli:gort, so they sit in its runfiles; `bazel run` also gives
// $BUILD_WORKSPACE_DIRECTORY. Twins are built at bench time, not by Bazel:
// Bazel 4 has no offline Go rules here, and `go build` with its own cache
// takes a second.
//
// Thread safety: none needed; used from `gort bench` on the main thread.
#ifndef GORT_CLI_GO_TWINS_H_
#define GORT_CLI_GO_TWINS_H_

#include <string>

#include "absl/status/statusor.h"

namespace gort::cli {

// The message `gort bench --vs-go` prints (after "gort: ") without Go.
inline constexpr char kGoMissing[] =
    "Go is not installed: apt-get install golang-go (./bazelw installs it)";

// The first `go` on $PATH. NotFound with kGoMissing when there is none.
absl::StatusOr<std::string> find_go();

// The bench/go directory (the one holding go.mod). Tried in order:
// $GORT_BENCH_GO_DIR; the runfiles of this executable
// (/proc/self/exe.runfiles, then argv0.runfiles); $RUNFILES_DIR and
// $TEST_SRCDIR (tests and `bazel run`); $BUILD_WORKSPACE_DIRECTORY/bench/go.
// NotFound naming every place tried.
absl::StatusOr<std::string> find_go_sources(const std::string& argv0);

// $GORT_CACHE_DIR, else $XDG_CACHE_HOME/gort, else $HOME/.cache/gort;
// created if missing. FailedPrecondition when none is set or it cannot be
// created.
absl::StatusOr<std::string> cache_dir();

// Builds bench/go/NAME into CACHE/go-twins/NAME unless that binary is newer
// than go.mod and every file in NAME/. Go runs with GOCACHE, GOPATH (and
// HOME when unset) inside the cache, modules on, workspaces off, no VCS
// stamping. Sets *built to whether it ran `go build`. Returns the binary's
// path; on failure, an error carrying go's own output.
absl::StatusOr<std::string> build_go_twin(const std::string& go,
                                          const std::string& sources,
                                          const std::string& cache,
                                          const std::string& name, bool* built);

}  // namespace gort::cli

#endif  // GORT_CLI_GO_TWINS_H_
