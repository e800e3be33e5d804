// sys/env.h: the environment variables Go's runtime reads, parsed as Go
// 1.19 parses them.
//
//   Env           GOMAXPROCS, GOGC, GOMEMLIMIT and GODEBUG, resolved
//   GoDebug       GODEBUG's known keys, plus every key=value as given
//   parse_env     the pure parser: a lookup function in, an Env out
//   env           the process's Env, read once from the real environment
//   online_cpus   the CPUs this thread may run on (sched_getaffinity)
//
// Where gort departs from Go: Go ignores a malformed GOMAXPROCS, GOGC or
// GODEBUG value silently and dies on a malformed GOMEMLIMIT
// (`malformed GOMEMLIMIT`); gort keeps the default for all four and warns,
// once, with one line on stderr, e.g.
//   gort: GODEBUG: invalid value for schedtrace: "x"
//
// Thread safety: parse_env is pure apart from the callbacks it is given.
// env() may be called from any thread; the first call parses (a
// function-local static, so concurrent first calls wait for it) and later
// calls return the same object, which is never modified.
#ifndef GORT_SYS_ENV_H_
#define GORT_SYS_ENV_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>

namespace gort::sys {

// GODEBUG, as runtime/runtime1.go's parsedebugvars reads it: comma-separated
// key=value fields; a field without '=' is skipped; unknown keys are kept
// in `raw` only; a later field overrides an earlier one.
struct GoDebug {
  int32_t gctrace = 0;          // 1: one line per GC cycle
  int32_t schedtrace = 0;       // > 0: a SCHED line every this many ms
  int32_t scheddetail = 0;      // 1: schedtrace prints every P, M and G
  int32_t asyncpreemptoff = 0;  // 1: no signal-based preemption
  int32_t madvdontneed = 1;     // Go 1.19 on Linux defaults to 1
  // gort's own: the seed of the runtime's random choices (run-queue
  // stealing order, select's case order), for reproducible runs.
  bool has_gortseed = false;
  uint64_t gortseed = 0;

  // Every well-formed field, known or not, as written (last one wins).
  std::map<std::string, std::string, std::less<>> raw;

  // The raw value of `key`, or nullptr when GODEBUG did not set it.
  const std::string* find(std::string_view key) const;
};

struct Env {
  // GOMAXPROCS: a positive int32; otherwise the CPU count. `gomaxprocs` is
  // always the resolved value (>= 1).
  int32_t gomaxprocs = 1;
  bool gomaxprocs_from_env = false;

  // GOGC: percent; -1 means off ("off", or any negative number, as Go's
  // setGCPercent clamps it). Default 100.
  int32_t gogc = 100;

  // GOMEMLIMIT in bytes: a byte count with an optional B, KiB, MiB, GiB or
  // TiB suffix (Go's parseByteCount). "off" or unset: no limit, which Go
  // spells math.MaxInt64.
  static constexpr int64_t kNoMemoryLimit = std::numeric_limits<int64_t>::max();
  int64_t gomemlimit = kNoMemoryLimit;

  GoDebug godebug;
};

// Returns the value of an environment variable, or nullptr when it is
// unset. (An empty value counts as unset, as Go's gogetenv makes it.)
using EnvLookup = std::function<const char*(const char* name)>;

// Receives one warning line, without its trailing newline.
using EnvWarningSink = std::function<void(std::string_view line)>;

// Parses GOMAXPROCS, GOGC, GOMEMLIMIT and GODEBUG through `lookup`.
// `ncpu` is GOMAXPROCS's default (REQUIRES: ncpu >= 1). Each malformed
// value produces exactly one call of `warn` and leaves that setting at its
// default; valid settings are unaffected by invalid ones.
Env parse_env(const EnvLookup& lookup, int32_t ncpu,
              const EnvWarningSink& warn);

// The process's environment, parsed on the first call with getenv and
// online_cpus(); warnings go to fd 2 with write(2), each once.
const Env& env();

// The number of CPUs in the calling thread's affinity mask (at least 1).
int32_t online_cpus();

// Go's parseByteCount (runtime/string.go): "^[0-9]+(([KMGT]i)?B)?$", the
// result <= max int64. Returns false for anything else. Exposed for the CLI
// (--memlimit) and for tests.
bool parse_byte_count(std::string_view s, int64_t* out);

}  // namespace gort::sys

#endif  // GORT_SYS_ENV_H_
