// The runtime's random choices are reproducible: with GODEBUG=gortseed=N
// every P's generator starts from a state fixed by N, so the first steal
// victims each P picks are the same in every run.
//
// The test runs this binary again as a child (GORT_RNG_PROBE=1) under a
// chosen GODEBUG, in a fresh process whose runtime parses that environment;
// the child prints the first victim choices of a few Ps and exits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sys/env.h"

namespace gort::sched {
namespace {

constexpr int kProbePs = 4;
constexpr int kChoices = 32;
// A wide range, so that two different sequences agreeing by chance is
// out of the question (256^-32).
constexpr int32_t kProcs = kMaxProcs;

// The first kChoices steal starts of P `id` from generator state `rng`
// (a copy: the P's own generator is not advanced).
std::string choices(Rng rng) {
  std::string out;
  for (int i = 0; i < kChoices; i++) {
    out += std::to_string(steal_start(rng, kProcs));
    out += ' ';
  }
  return out;
}

// The child: the runtime starts (no goroutine runs, so no P has chosen a
// victim yet) and each probed P's choices are printed, one P per line.
int probe() {
  schedinit();
  for (int i = 0; i < kProbePs; i++) {
    printf("%s\n", choices(sched().allp[i]->rng).c_str());
  }
  // The child also says what the seed should give, from the seeding rule.
  const sys::GoDebug& d = sys::env().godebug;
  printf("has_seed=%d\n", d.has_gortseed ? 1 : 0);
  for (int i = 0; i < kProbePs; i++) {
    Rng expected{rng_seed_for_p(d.gortseed, i)};
    printf("%s\n", choices(expected).c_str());
  }
  fflush(stdout);
  return 0;
}

// Runs the probe child with GODEBUG=`godebug` and returns what it printed.
std::string run_probe(const std::string& godebug) {
  std::string cmd = "GORT_RNG_PROBE=1 GODEBUG='" + godebug + "' /proc/" +
                    std::to_string(getpid()) + "/exe";
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return "popen failed";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int status = pclose(f);
  if (status != 0) out += "\nexit status " + std::to_string(status);
  return out;
}

// The first half of the probe's output: the Ps' actual choices.
std::string actual_part(const std::string& out) {
  return out.substr(0, out.find("has_seed="));
}

// Invariant: two runs with the same gortseed choose the same victims, P by
// P, and those are exactly what the seeding rule gives for that seed.
TEST(RngTest, FixedSeedGivesTheSameVictimsEveryRun) {
  std::string a = run_probe("gortseed=12345");
  std::string b = run_probe("gortseed=12345");
  ASSERT_NE(a.find("has_seed=1\n"), std::string::npos) << a;
  EXPECT_EQ(actual_part(a), actual_part(b));
  // The Ps' generators were seeded by the rule, from GODEBUG's seed.
  std::string expected = a.substr(a.find("has_seed=1\n") + 11);
  EXPECT_EQ(actual_part(a), expected);
  // Each probed P has a sequence of its own.
  size_t first_line = a.find('\n');
  EXPECT_NE(a.substr(0, first_line), a.substr(first_line + 1, first_line));
}

// Invariant: the seed matters: another seed, or none (the clock), gives
// other victims.
TEST(RngTest, OtherSeedsGiveOtherVictims) {
  std::string a = run_probe("gortseed=12345");
  std::string b = run_probe("gortseed=12346");
  std::string c = run_probe("");
  ASSERT_NE(c.find("has_seed=0\n"), std::string::npos) << c;
  EXPECT_NE(actual_part(a), actual_part(b));
  EXPECT_NE(actual_part(a), actual_part(c));
}

}  // namespace
}  // namespace gort::sched

int main(int argc, char** argv) {
  if (const char* p = getenv("GORT_RNG_PROBE"); p != nullptr && p[0] == '1') {
    return gort::sched::probe();
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
