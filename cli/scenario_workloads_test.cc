// Tests of the scenario workloads (cli/workloads/{http_client,
// syscall_block,steal,spin}.cc), each run in process at a small size and
// checked for the fact it exists to show:
//   http-client    every request answered and every dial to the closed port
//                  refused; the socket and connect calls are exactly the
//                  number the options fix (what a comparison with strace -c
//                  relies on)
//   syscall-block  every reader read the whole file with the right checksum,
//                  and every pread entered blocking() on some P
//   steal          every spawned goroutine ran, and another P stole some
//   spin           with preemption by signal the probe runs while the
//                  spinners hold every P; without it, never
// No assertion is on a time: the machine is shared and noisy.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cli/registry.h"
#include "cli/workload_test_util.h"
#include "gtest/gtest.h"
#include "sched/preempt.h"
#include "sched/sched.h"
#include "sys/syscall.h"

namespace gort::cli {
namespace {

using testing::counted;

#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif

struct Option {
  const char* name;
  int64_t value;
};

absl::StatusOr<Result> run_small(const std::string& name,
                                 const std::vector<Option>& options,
                                 std::string* output) {
  const Workload* w = Registry::global().find(name);
  if (w == nullptr) return absl::NotFoundError(name + " is not registered");
  WorkloadArgs args = w->default_args();
  for (const Option& o : options) args.set(o.name, o.value);
  return testing::run_captured(*w, args, output);
}

// The integer that follows the first `marker` in `text`; -1 if none.
int64_t number_after(const std::string& text, const std::string& marker) {
  size_t at = text.find(marker);
  if (at == std::string::npos) return -1;
  const char* p = text.c_str() + at + marker.size();
  char* end = nullptr;
  long long v = std::strtoll(p, &end, 10);
  return end == p ? -1 : v;
}

// The integer that ends right before the first `marker` in `text`; -1 if
// none.
int64_t number_before(const std::string& text, const std::string& marker) {
  size_t at = text.find(marker);
  if (at == std::string::npos) return -1;
  size_t start = at;
  while (start > 0 && text[start - 1] >= '0' && text[start - 1] <= '9') start--;
  if (start == at) return -1;
  return std::strtoll(text.substr(start, at - start).c_str(), nullptr, 10);
}


// Sets GOMAXPROCS for a scope.
class ScopedProcs {
 public:
  explicit ScopedProcs(int n) : old_(gort::gomaxprocs(n)) {}
  ~ScopedProcs() { gort::gomaxprocs(old_); }

 private:
  int old_;
};

// Every request gets its 200 and every closed-port dial its refusal; the
// sockets made and connects tried are exactly what the options fix (one
// socket per client connection, per refused dial and per listener; one
// connect per connection and refused dial, each returning EINPROGRESS), with
// keep-alive and without.
TEST(ScenarioWorkloads, HttpClientAnswersAllAndCountsSocketsExactly) {
  constexpr int64_t kClients = 6, kRequests = 4, kRefused = 3;
  for (int64_t keepalive : {1, 0}) {
    SCOPED_TRACE(keepalive ? "keep-alive" : "a connection per request");
    std::string out;
    absl::StatusOr<Result> r;
    auto calls = counted([&] {
      r = run_small("http-client",
                    {{"clients", kClients},
                     {"requests", kRequests},
                     {"refused", kRefused},
                     {"keepalive", keepalive}},
                    &out);
    });
    ASSERT_TRUE(r.ok()) << r.status() << "\n" << out;
    EXPECT_EQ(r->unit, "requests/s");
    EXPECT_GT(r->value, 0);
    EXPECT_NE(out.find("24 of 24 requests succeeded"), std::string::npos)
        << out;
    EXPECT_NE(out.find("3 of 3 dials to a closed port refused"),
              std::string::npos)
        << out;
    const uint64_t conns = keepalive ? kClients : kClients * kRequests;
    EXPECT_EQ(calls["socket"].first, conns + kRefused + 2);
    EXPECT_EQ(calls["connect"].first, conns + kRefused);
    EXPECT_EQ(calls["connect"].second, conns + kRefused);  // EINPROGRESS
    // Each socket and accepted connection closed (the runtime may close a
    // few descriptors of its own besides).
    EXPECT_GE(calls["close"].first, 2 * conns + kRefused + 2);
    EXPECT_EQ(number_after(out, "sockets: socket "),
              static_cast<int64_t>(conns + kRefused + 2))
        << out;
  }
}

// Every reader read the whole file and its checksum matched (the workload
// fails otherwise), and each pread went through blocking(): the P counters
// of syscalls entered grew by at least the number of preads.
TEST(ScenarioWorkloads, SyscallBlockReadsEverythingThroughBlocking) {
  constexpr int64_t kGoroutines = 8, kMiB = 2, kChunkKiB = 256;
  std::string out;
  absl::StatusOr<Result> r = run_small("syscall-block",
                                       {{"goroutines", kGoroutines},
                                        {"mib", kMiB},
                                        {"chunk-kib", kChunkKiB},
                                        {"idle-ms", 10}},
                                       &out);
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << out;
  EXPECT_EQ(r->unit, "MB/s");
  EXPECT_GT(r->value, 0);
  EXPECT_NE(out.find("8 goroutines each read a 2 MiB file"), std::string::npos)
      << out;
  EXPECT_NE(out.find("16 MiB in "), std::string::npos) << out;
  EXPECT_NE(out.find("every checksum right"), std::string::npos) << out;
  // "syscalls entered per P (syscalltick): P0 n P1 m ..."
  size_t at = out.find("(syscalltick):");
  ASSERT_NE(at, std::string::npos) << out;
  int64_t entered = 0;
  for (size_t p = out.find(" P", at); p != std::string::npos && p < out.find('\n', at);
       p = out.find(" P", p + 1)) {
    size_t space = out.find(' ', p + 2);
    entered += std::strtoll(out.c_str() + space + 1, nullptr, 10);
  }
  EXPECT_GE(entered, kGoroutines * (kMiB * 1024 / kChunkKiB)) << out;
  EXPECT_GE(number_after(out, "peak "), number_after(out, "before ")) << out;
}

// With two Ps, goroutines spawned on one P are run by both, and the other
// P gets its share by stealing: every spawned goroutine ran (the per-P
// run counts add up to at least that many) and some were stolen.
TEST(ScenarioWorkloads, StealSpreadsTheWorkOfOnePAcrossPs) {
  ScopedProcs procs(2);
  constexpr int64_t kGoroutines = 400;
  std::string out;
  absl::StatusOr<Result> r = run_small(
      "steal", {{"goroutines", kGoroutines}, {"batch", 100}, {"work", 50'000}},
      &out);
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << out;
  EXPECT_EQ(r->unit, "ns/goroutine");
  EXPECT_NE(out.find("  P0: ran "), std::string::npos) << out;
  EXPECT_NE(out.find("  P1: ran "), std::string::npos) << out;
  EXPECT_GE(number_after(out, "total: ran "), kGoroutines) << out;
  EXPECT_GT(number_after(out, ", stolen "), 0) << out;
}

// Two spinners without calls hold both Ps. With preemption by signal, the
// signal takes them off now and then and the probe runs while they spin;
// with it off (or unsupported, under TSan) nothing can, and the probe runs
// again only after they stop.
TEST(ScenarioWorkloads, SpinProbeRunsWhileSpinningOnlyWithAsyncPreemption) {
  ScopedProcs procs(2);
  const int64_t ms = kTsan ? 200 : 500;
  const bool supported = sched::async_preempt_supported();
  EXPECT_EQ(supported, !kTsan);
  for (bool async : {true, false}) {
    SCOPED_TRACE(async ? "async preemption on" : "async preemption off");
    const bool old = sched::set_async_preempt_enabled(async);
    std::string out;
    absl::StatusOr<Result> r =
        run_small("spin", {{"ms", ms}, {"spinners", 2}}, &out);
    sched::set_async_preempt_enabled(old);
    ASSERT_TRUE(r.ok()) << r.status() << "\n" << out;
    EXPECT_EQ(r->unit, "ms");
    int64_t woke = number_before(out, " woke while spinning");
    int64_t preempted = number_before(out, " preempted by signal");
    ASSERT_GE(woke, 0) << out;
    ASSERT_GE(preempted, 0) << out;
    if (async && supported) {
      EXPECT_NE(out.find("async preemption on;"), std::string::npos) << out;
      EXPECT_GT(preempted, 0) << out;
      EXPECT_GT(woke, 0) << out;
    } else {
      EXPECT_EQ(preempted, 0) << out;
      EXPECT_EQ(woke, 0) << out;
    }
  }
}

}  // namespace
}  // namespace gort::cli
