// cli/subprocess.h: run a program as a child and capture what it prints.
//
//   ProcessResult   exit status, stdout and stderr of a finished child
//   RunOptions      environment changes, working directory, stdin
//   run_process     posix_spawn + poll until both pipes close + waitpid
//   find_in_path    exec.LookPath: the first executable NAME on $PATH
//
// Used by `gort bench` (gort's own children and the Go twins, `go build`)
// and by the tests that run the built gort binary.
//
// Thread safety: run_process may be called from several threads at once;
// the children inherit only the pipes made for them (O_CLOEXEC elsewhere).
#ifndef GORT_CLI_SUBPROCESS_H_
#define GORT_CLI_SUBPROCESS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gort::cli {

struct ProcessResult {
  int exit_code = -1;  // the child's exit status; -1 when killed by a signal
  int signal = 0;      // the signal that killed it, or 0
  std::string out;     // everything it wrote to stdout
  std::string err;     // everything it wrote to stderr
};

struct RunOptions {
  // Variables to set (or, with a nullopt value, unset) in the child; the
  // rest of the parent's environment is inherited.
  std::map<std::string, std::optional<std::string>> env;
  std::string cwd;  // "" = the parent's
};

// Runs argv[0] (a path; no $PATH search) with argv, waits for it to exit
// and returns what it printed. stdin is /dev/null. Error only when the
// child could not be started (the message names the program and errno);
// a child that fails is an OK result with its exit code.
absl::StatusOr<ProcessResult> run_process(const std::vector<std::string>& argv,
                                          const RunOptions& options = {});

// The first regular executable file `name` in the colon-separated `path`
// (an empty entry means "."); nullopt when there is none.
std::optional<std::string> find_in_path(const std::string& name,
                                        const std::string& path);

// One line describing how a child ended: "exit status 2", "killed by
// signal 11 (Segmentation fault)".
std::string describe_exit(const ProcessResult& r);

}  // namespace gort::cli

#endif  // GORT_CLI_SUBPROCESS_H_
