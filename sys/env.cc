// sys/env.cc: GOMAXPROCS, GOGC, GOMEMLIMIT and GODEBUG.
//
// The grammar is Go 1.19's (facts from /usr/share/go-1.19/src/runtime):
//   * integers are runtime/string.go's atoi64/atoi32: an optional '-', then
//     decimal digits only, no '+', no spaces, no overflow;
//   * GOMAXPROCS (proc.go schedinit): used when atoi32 accepts it and it is
//     > 0, else the CPU count;
//   * GOGC (mgcpacer.go readGOGC): "off" is -1, an int32 is taken (a
//     negative one becomes -1, as setGCPercent clamps), else 100;
//   * GOMEMLIMIT (mgcpacer.go readGOMEMLIMIT, string.go parseByteCount):
//     unset or "off" is max int64, else a byte count;
//   * GODEBUG (runtime1.go parsedebugvars): fields split at ',', a field
//     without '=' skipped, key and value split at the first '=', a known
//     key's value parsed with atoi32 (a bad one keeps the old value).
// The only departures are the warnings (see env.h) and gortseed, gort's own
// key (a uint64).
#include "sys/env.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include <string>

#include "sys/syscall.h"

namespace gort::sys {

namespace {

// atoi64 of runtime/string.go.
bool parse_int64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  uint64_t un = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (un > UINT64_MAX / 10) return false;
    uint64_t next = un * 10 + static_cast<uint64_t>(c - '0');
    if (next < un * 10) return false;
    un = next;
  }
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (!neg && un > kMax) return false;
  if (neg && un > kMax + 1) return false;
  *out = neg ? static_cast<int64_t>(0 - un) : static_cast<int64_t>(un);
  return true;
}

// atoi32 of runtime/string.go.
bool parse_int32(std::string_view s, int32_t* out) {
  int64_t v;
  if (!parse_int64(s, &v) || v < INT32_MIN || v > INT32_MAX) return false;
  *out = static_cast<int32_t>(v);
  return true;
}

// gortseed: decimal digits only, no overflow.
bool parse_uint64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t un = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (un > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) return false;
    un = un * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = un;
  return true;
}

std::string quoted(std::string_view s) {
  std::string q = "\"";
  q.append(s);
  q += '"';
  return q;
}

void parse_godebug(std::string_view p, GoDebug* d, const EnvWarningSink& warn) {
  struct Known {
    const char* name;
    int32_t* value;
  };
  const Known known[] = {
      {"gctrace", &d->gctrace},
      {"schedtrace", &d->schedtrace},
      {"scheddetail", &d->scheddetail},
      {"asyncpreemptoff", &d->asyncpreemptoff},
      {"madvdontneed", &d->madvdontneed},
  };
  while (!p.empty()) {
    std::string_view field;
    size_t comma = p.find(',');
    if (comma == std::string_view::npos) {
      field = p;
      p = {};
    } else {
      field = p.substr(0, comma);
      p.remove_prefix(comma + 1);
    }
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = field.substr(0, eq);
    std::string_view value = field.substr(eq + 1);
    d->raw.insert_or_assign(std::string(key), std::string(value));
    if (key == "gortseed") {
      uint64_t seed;
      if (parse_uint64(value, &seed)) {
        d->gortseed = seed;
        d->has_gortseed = true;
      } else {
        warn("gort: GODEBUG: invalid value for gortseed: " + quoted(value));
      }
      continue;
    }
    for (const Known& k : known) {
      if (key != k.name) continue;
      int32_t v;
      if (parse_int32(value, &v)) {
        *k.value = v;
      } else {
        warn(std::string("gort: GODEBUG: invalid value for ") + k.name + ": " +
             quoted(value));
      }
    }
  }
}

// getenv as Go's gogetenv sees it: empty is unset.
const char* lookup_nonempty(const EnvLookup& lookup, const char* name) {
  const char* v = lookup(name);
  return v != nullptr && v[0] != '\0' ? v : nullptr;
}

}  // namespace

const std::string* GoDebug::find(std::string_view key) const {
  auto it = raw.find(key);
  return it == raw.end() ? nullptr : &it->second;
}

bool parse_byte_count(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  uint64_t multiplier = 1;
  std::string_view digits = s;
  char last = s.back();
  if (last < '0' || last > '9') {
    // A suffix: "B", or one of "KiB", "MiB", "GiB", "TiB".
    if (last != 'B' || s.size() < 2) return false;
    char c = s[s.size() - 2];
    if (c >= '0' && c <= '9') {
      digits = s.substr(0, s.size() - 1);
    } else {
      if (c != 'i' || s.size() < 4) return false;
      int power;
      switch (s[s.size() - 3]) {
        case 'K':
          power = 1;
          break;
        case 'M':
          power = 2;
          break;
        case 'G':
          power = 3;
          break;
        case 'T':
          power = 4;
          break;
        default:
          return false;
      }
      for (int i = 0; i < power; ++i) multiplier *= 1024;
      digits = s.substr(0, s.size() - 3);
    }
  }
  // Digits only (the regexp's [0-9]+; Go's atoi64 would also take "-0").
  if (digits.empty() || digits[0] == '-') return false;
  int64_t n;
  if (!parse_int64(digits, &n) || n < 0) return false;
  uint64_t un = static_cast<uint64_t>(n);
  if (un > UINT64_MAX / multiplier) return false;
  un *= multiplier;
  if (un > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = static_cast<int64_t>(un);
  return true;
}

Env parse_env(const EnvLookup& lookup, int32_t ncpu,
              const EnvWarningSink& warn) {
  Env e;
  e.gomaxprocs = ncpu >= 1 ? ncpu : 1;

  if (const char* p = lookup_nonempty(lookup, "GOMAXPROCS")) {
    int32_t n;
    if (parse_int32(p, &n) && n > 0) {
      e.gomaxprocs = n;
      e.gomaxprocs_from_env = true;
    } else {
      warn("gort: GOMAXPROCS: invalid value " + quoted(p) +
           " (want a positive integer); using " + std::to_string(e.gomaxprocs));
    }
  }

  if (const char* p = lookup_nonempty(lookup, "GOGC")) {
    int32_t n;
    if (std::string_view(p) == "off") {
      e.gogc = -1;
    } else if (parse_int32(p, &n)) {
      e.gogc = n < 0 ? -1 : n;
    } else {
      warn("gort: GOGC: invalid value " + quoted(p) +
           " (want an integer percent or \"off\"); using 100");
    }
  }

  if (const char* p = lookup_nonempty(lookup, "GOMEMLIMIT")) {
    int64_t n;
    if (std::string_view(p) == "off") {
      e.gomemlimit = Env::kNoMemoryLimit;
    } else if (parse_byte_count(p, &n)) {
      e.gomemlimit = n;
    } else {
      warn("gort: GOMEMLIMIT: invalid value " + quoted(p) +
           " (want bytes with an optional B, KiB, MiB, GiB or TiB suffix, "
           "or \"off\"); no limit");
    }
  }

  if (const char* p = lookup_nonempty(lookup, "GODEBUG")) {
    parse_godebug(p, &e.godebug, warn);
  }
  return e;
}

int32_t online_cpus() {
  // 8192 CPUs' worth of mask; the kernel returns how many bytes it wrote.
  uint64_t mask[128] = {};
  long n = syscall6(SYS_sched_getaffinity, 0, sizeof(mask),
                    reinterpret_cast<long>(mask));
  if (is_error(n) || n <= 0) return 1;
  int32_t count = 0;
  for (long i = 0; i < n / 8 && i < 128; ++i) {
    count += __builtin_popcountll(mask[i]);
  }
  return count > 0 ? count : 1;
}

const Env& env() {
  static const Env parsed = parse_env(
      [](const char* name) { return static_cast<const char*>(getenv(name)); },
      online_cpus(),
      [](std::string_view line) {
        std::string out(line);
        out += '\n';
        size_t off = 0;
        while (off < out.size()) {
          long w = write(2, out.data() + off, out.size() - off);
          if (w == -EINTR) continue;
          if (is_error(w) || w == 0) break;
          off += static_cast<size_t>(w);
        }
      });
  return parsed;
}

}  // namespace gort::sys
