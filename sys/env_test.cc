// Tests for sys/env.h: Go 1.19's grammar for GOMAXPROCS, GOGC, GOMEMLIMIT
// and GODEBUG, and gort's one-warning-per-malformed-value rule.
#include "sys/env.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gort::sys {
namespace {

constexpr int32_t kCpus = 6;
constexpr int64_t kMax = Env::kNoMemoryLimit;

struct Parsed {
  Env env;
  std::vector<std::string> warnings;
};

Parsed parse(const std::map<std::string, std::string>& vars) {
  Parsed out;
  out.env = parse_env(
      [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      kCpus, [&](std::string_view line) { out.warnings.emplace_back(line); });
  return out;
}

// Invariant: with nothing set, every setting is Go's default.
TEST(EnvTest, Defaults) {
  Parsed p = parse({});
  EXPECT_EQ(p.env.gomaxprocs, kCpus);
  EXPECT_FALSE(p.env.gomaxprocs_from_env);
  EXPECT_EQ(p.env.gogc, 100);
  EXPECT_EQ(p.env.gomemlimit, kMax);
  EXPECT_EQ(p.env.godebug.gctrace, 0);
  EXPECT_EQ(p.env.godebug.schedtrace, 0);
  EXPECT_EQ(p.env.godebug.scheddetail, 0);
  EXPECT_EQ(p.env.godebug.asyncpreemptoff, 0);
  EXPECT_EQ(p.env.godebug.madvdontneed, 1);
  EXPECT_FALSE(p.env.godebug.has_gortseed);
  EXPECT_TRUE(p.env.godebug.raw.empty());
  EXPECT_TRUE(p.warnings.empty());
}

struct IntCase {
  const char* value;
  int64_t want;         // the resulting setting
  const char* warning;  // the exact warning, or nullptr for none
};

// Invariant: GOMAXPROCS takes a positive int32; anything else keeps the CPU
// count and warns once; empty is unset.
TEST(EnvTest, Gomaxprocs) {
  const IntCase cases[] = {
      {"1", 1, nullptr},
      {"4", 4, nullptr},
      {"0123", 123, nullptr},
      {"2147483647", 2147483647, nullptr},
      {"", kCpus, nullptr},
      {"0", kCpus,
       "gort: GOMAXPROCS: invalid value \"0\" (want a positive integer); "
       "using 6"},
      {"-3", kCpus,
       "gort: GOMAXPROCS: invalid value \"-3\" (want a positive integer); "
       "using 6"},
      {"2147483648", kCpus,
       "gort: GOMAXPROCS: invalid value \"2147483648\" (want a positive "
       "integer); using 6"},
      {"+4", kCpus,
       "gort: GOMAXPROCS: invalid value \"+4\" (want a positive integer); "
       "using 6"},
      {" 4", kCpus,
       "gort: GOMAXPROCS: invalid value \" 4\" (want a positive integer); "
       "using 6"},
      {"four", kCpus,
       "gort: GOMAXPROCS: invalid value \"four\" (want a positive integer); "
       "using 6"},
  };
  for (const IntCase& c : cases) {
    SCOPED_TRACE(c.value);
    Parsed p = parse({{"GOMAXPROCS", c.value}});
    EXPECT_EQ(p.env.gomaxprocs, c.want);
    EXPECT_EQ(p.env.gomaxprocs_from_env, c.warning == nullptr && c.value[0]);
    if (c.warning == nullptr) {
      EXPECT_TRUE(p.warnings.empty());
    } else {
      EXPECT_EQ(p.warnings, std::vector<std::string>{c.warning});
    }
  }
}

// Invariant: GOGC is an int32 percent, "off" or negative is -1, anything
// else keeps 100 and warns once.
TEST(EnvTest, Gogc) {
  const char* kWarn = " (want an integer percent or \"off\"); using 100";
  const IntCase cases[] = {
      {"100", 100, nullptr}, {"50", 50, nullptr},
      {"0", 0, nullptr},     {"off", -1, nullptr},
      {"-1", -1, nullptr},   {"-50", -1, nullptr},
      {"400", 400, nullptr}, {"", 100, nullptr},
      {"OFF", 100, "OFF"},   {"50%", 100, "50%"},
      {"1e3", 100, "1e3"},   {"9999999999", 100, "9999999999"},
      {"-", 100, "-"},
  };
  for (const IntCase& c : cases) {
    SCOPED_TRACE(c.value);
    Parsed p = parse({{"GOGC", c.value}});
    EXPECT_EQ(p.env.gogc, c.want);
    if (c.warning == nullptr) {
      EXPECT_TRUE(p.warnings.empty());
    } else {
      EXPECT_EQ(p.warnings,
                std::vector<std::string>{std::string("gort: GOGC: invalid "
                                                     "value \"") +
                                         c.warning + "\"" + kWarn});
    }
  }
}

// Invariant: GOMEMLIMIT follows parseByteCount; "off" and unset mean no
// limit; a malformed value keeps no limit and warns once (Go would throw).
TEST(EnvTest, Gomemlimit) {
  const IntCase cases[] = {
      {"0", 0, nullptr},
      {"123", 123, nullptr},
      {"123B", 123, nullptr},
      {"1KiB", 1024, nullptr},
      {"512MiB", 512LL << 20, nullptr},
      {"2GiB", 2LL << 30, nullptr},
      {"3TiB", 3LL << 40, nullptr},
      {"9223372036854775807", kMax, nullptr},
      {"off", kMax, nullptr},
      {"", kMax, nullptr},
      {"8388608TiB", kMax, "8388608TiB"},  // 2^63: overflows int64
      {"9223372036854775808", kMax, "9223372036854775808"},
      {"1KB", kMax, "1KB"},
      {"1kiB", kMax, "1kiB"},
      {"1PiB", kMax, "1PiB"},
      {"MiB", kMax, "MiB"},
      {"B", kMax, "B"},
      {"-1", kMax, "-1"},
      {"-0", kMax, "-0"},
      {"1.5GiB", kMax, "1.5GiB"},
      {"1 GiB", kMax, "1 GiB"},
      {"1G", kMax, "1G"},
  };
  for (const IntCase& c : cases) {
    SCOPED_TRACE(c.value);
    Parsed p = parse({{"GOMEMLIMIT", c.value}});
    EXPECT_EQ(p.env.gomemlimit, c.want);
    if (c.warning == nullptr) {
      EXPECT_TRUE(p.warnings.empty());
    } else {
      EXPECT_EQ(
          p.warnings,
          std::vector<std::string>{
              std::string("gort: GOMEMLIMIT: invalid value \"") + c.warning +
              "\" (want bytes with an optional B, KiB, MiB, GiB or TiB "
              "suffix, or \"off\"); no limit"});
    }
  }
}

// Invariant: parse_byte_count is exactly parseByteCount's grammar.
TEST(EnvTest, ParseByteCount) {
  int64_t n = -1;
  EXPECT_TRUE(parse_byte_count("8191TiB", &n));
  EXPECT_EQ(n, 8191LL << 40);
  EXPECT_TRUE(parse_byte_count("7B", &n));
  EXPECT_EQ(n, 7);
  EXPECT_FALSE(parse_byte_count("", &n));
  EXPECT_FALSE(parse_byte_count("iB", &n));
  EXPECT_FALSE(parse_byte_count("1iB", &n));
  EXPECT_FALSE(parse_byte_count("KiB", &n));
}

// Invariant: GODEBUG is split as parsedebugvars splits it: known keys set
// their field, unknown keys land only in `raw`, fields without '=' are
// skipped, a later field wins, and a malformed known value warns once and
// keeps the earlier value.
TEST(EnvTest, Godebug) {
  Parsed p =
      parse({{"GODEBUG",
              "gctrace=1,schedtrace=1000,scheddetail=1,"
              "asyncpreemptoff=1,madvdontneed=0,gortseed=18446744073709551615,"
              "http2client=0,noequals,,inittrace=1"}});
  const GoDebug& d = p.env.godebug;
  EXPECT_EQ(d.gctrace, 1);
  EXPECT_EQ(d.schedtrace, 1000);
  EXPECT_EQ(d.scheddetail, 1);
  EXPECT_EQ(d.asyncpreemptoff, 1);
  EXPECT_EQ(d.madvdontneed, 0);
  EXPECT_TRUE(d.has_gortseed);
  EXPECT_EQ(d.gortseed, 18446744073709551615ULL);
  ASSERT_NE(d.find("http2client"), nullptr);
  EXPECT_EQ(*d.find("http2client"), "0");
  EXPECT_EQ(*d.find("inittrace"), "1");
  EXPECT_EQ(*d.find("gctrace"), "1");
  EXPECT_EQ(d.find("noequals"), nullptr);
  EXPECT_EQ(d.raw.size(), 8u);
  EXPECT_TRUE(p.warnings.empty());
}

struct DebugCase {
  const char* godebug;
  int32_t schedtrace;
  int32_t gctrace;
  std::vector<std::string> warnings;
};

TEST(EnvTest, GodebugMalformedValues) {
  const DebugCase cases[] = {
      {"schedtrace=x",
       0,
       0,
       {"gort: GODEBUG: invalid value for schedtrace: \"x\""}},
      {"schedtrace=500,schedtrace=1e3",
       500,
       0,
       {"gort: GODEBUG: invalid value for schedtrace: \"1e3\""}},
      {"gctrace=,schedtrace=20",
       20,
       0,
       {"gort: GODEBUG: invalid value for gctrace: \"\""}},
      {"schedtrace=1=2,gctrace=2",
       0,
       2,
       {"gort: GODEBUG: invalid value for schedtrace: \"1=2\""}},
      {"gortseed=-1,gctrace=1",
       0,
       1,
       {"gort: GODEBUG: invalid value for gortseed: \"-1\""}},
      {"gortseed=18446744073709551616",
       0,
       0,
       {"gort: GODEBUG: invalid value for gortseed: "
        "\"18446744073709551616\""}},
      {"schedtrace=-1", -1, 0, {}},  // an int32: Go takes it (and ignores <= 0)
      {"unknown=garbage", 0, 0, {}},  // unknown keys are never checked
  };
  for (const DebugCase& c : cases) {
    SCOPED_TRACE(c.godebug);
    Parsed p = parse({{"GODEBUG", c.godebug}});
    EXPECT_EQ(p.env.godebug.schedtrace, c.schedtrace);
    EXPECT_EQ(p.env.godebug.gctrace, c.gctrace);
    EXPECT_EQ(p.warnings, c.warnings);
  }
}

// Invariant: one malformed variable does not disturb the others, and each
// malformed value gives exactly one warning.
TEST(EnvTest, IndependentSettings) {
  Parsed p = parse({{"GOMAXPROCS", "x"},
                    {"GOGC", "200"},
                    {"GOMEMLIMIT", "1GiB"},
                    {"GODEBUG", "gctrace=1,schedtrace=y"}});
  EXPECT_EQ(p.env.gomaxprocs, kCpus);
  EXPECT_EQ(p.env.gogc, 200);
  EXPECT_EQ(p.env.gomemlimit, 1LL << 30);
  EXPECT_EQ(p.env.godebug.gctrace, 1);
  EXPECT_EQ(p.env.godebug.schedtrace, 0);
  EXPECT_EQ(p.warnings.size(), 2u);
}

// Invariant: the CPU count is what the affinity mask allows.
TEST(EnvTest, OnlineCpusMatchesAffinity) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(online_cpus(), CPU_COUNT(&set));
  EXPECT_GE(online_cpus(), 1);
}

// Invariant: env() is parsed once and returns the same object.
TEST(EnvTest, ProcessEnvIsStable) {
  const Env& a = env();
  const Env& b = env();
  EXPECT_EQ(&a, &b);
  EXPECT_GE(a.gomaxprocs, 1);
}

// Invariant: env() reads the real environment and warns on stderr.
// "threadsafe" death tests re-execute the binary, so env() parses afresh
// in the child whatever this process has already parsed.
TEST(EnvDeathTest, ProcessEnvWarnsOnStderr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("GOGC", "lots", 1);
        setenv("GOMAXPROCS", "3", 1);
        const Env& e = env();
        _exit(e.gogc == 100 && e.gomaxprocs == 3 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0),
      "^gort: GOGC: invalid value \"lots\" \\(want an integer percent or "
      "\"off\"\\); using 100\n$");
}

}  // namespace
}  // namespace gort::sys
