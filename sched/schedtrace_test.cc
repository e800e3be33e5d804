// schedtrace: every line sysmon prints has Go 1.19's shape, and the
// detailed form describes the scheduler's real state.
#include "sched/schedtrace.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

namespace gort::sched {
namespace {

using testing::Latch;
using testing::ScopedProcs;
using testing::Sem;
using testing::Watchdog;

// Go 1.19's formats (runtime/proc.go, func schedtrace).
const std::regex kSchedLine(
    R"(SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) )"
    R"(spinningthreads=(\d+) idlethreads=(\d+) runqueue=(\d+) \[(\d+(?: \d+)*)\])");
const std::regex kDetailHeader(
    R"(SCHED (\d+)ms: gomaxprocs=(\d+) idleprocs=(\d+) threads=(\d+) )"
    R"(spinningthreads=(\d+) idlethreads=(\d+) runqueue=(\d+) )"
    R"(gcwaiting=([01]) nmidlelocked=(\d+) stopwait=(-?\d+) sysmonwait=([01]))");
const std::regex kPLine(
    R"(  P(\d+): status=([0-4]) schedtick=(\d+) syscalltick=(\d+) )"
    R"(m=(-1|\d+) runqsize=(\d+) gfreecnt=(\d+) timerslen=(\d+))");
const std::regex kMLine(
    R"(  M(\d+): p=(-1|\d+) curg=(-1|\d+) mallocing=0 throwing=0 preemptoff= )"
    R"(locks=(\d+) dying=0 spinning=(true|false) blocked=(true|false) )"
    R"(lockedg=(-1|\d+))");
const std::regex kGLine(
    R"(  G(\d+): status=([0-6])\((.*)\) m=(-1|\d+) lockedm=(-1|\d+))");

int64_t num(const std::ssub_match& m) { return std::stoll(m.str()); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The trace written into a memfd between start() and finish().
class Capture {
 public:
  Capture() : fd_(memfd_create("schedtrace", 0)) { GORT_CHECK(fd_ >= 0); }
  ~Capture() { close(fd_); }

  void start(int ms, bool detail) {
    set_schedtrace_fd(fd_);
    set_schedtrace(ms, detail);
  }
  // Turns the trace off; once set_schedtrace_fd returns, nothing more is
  // written to the memfd.
  void stop() {
    set_schedtrace(0, false);
    set_schedtrace_fd(2);
  }
  std::string text() const {
    std::string out;
    char buf[65536];
    for (off_t off = 0;;) {
      ssize_t n = pread(fd_, buf, sizeof(buf), off);
      if (n <= 0) break;
      out.append(buf, n);
      off += n;
    }
    return out;
  }

 private:
  int fd_;
};

// Keeps `n` goroutines yielding until `ns` have passed; returns when all
// have stopped. REQUIRES: on a goroutine.
void busy_for(int n, int64_t ns) {
  Latch latch(n);
  int64_t deadline = sys::nanotime() + ns;
  for (int i = 0; i < n; i++) {
    go([&latch, deadline] {
      while (sys::nanotime() < deadline) yield();
      latch.done();
    });
  }
  latch.wait();
}

class SchedtraceTest : public testing::SchedTest {};

// Invariants: with schedtrace=10, sysmon prints lines in Go's exact shape,
// one run queue length per P, at least 10 ms apart by their own clock.
TEST_F(SchedtraceTest, PeriodicLinesHaveGoShape) {
  Watchdog watchdog("PeriodicLinesHaveGoShape", 60);
  Capture cap;
  run([&] {
    ScopedProcs procs(2);
    cap.start(10, false);
    busy_for(6, 200'000'000);
    cap.stop();
  });
  std::vector<std::string> lines = lines_of(cap.text());
  ASSERT_GE(lines.size(), 3u) << cap.text();
  int64_t last_ms = -1;
  for (const std::string& line : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, kSchedLine)) << line;
    int64_t ms = num(m[1]), procs = num(m[2]), idle = num(m[3]),
            threads = num(m[4]);
    EXPECT_EQ(procs, 2) << line;
    EXPECT_LE(idle, procs) << line;
    EXPECT_GE(threads, 2) << line;  // an M and sysmon at least
    std::istringstream runqs(m[8].str());
    int64_t count = 0;
    for (int64_t v; runqs >> v;) count++;
    EXPECT_EQ(count, procs) << line;
    if (last_ms >= 0) {
      EXPECT_GE(ms - last_ms, 10) << line;
    }
    last_ms = ms;
  }
}

// Invariant: a trace asked for directly is one line in Go's shape, and
// with the trace off sysmon adds nothing to the fd over 50 ms.
TEST_F(SchedtraceTest, OffMeansOffAndDirectTraceIsOneLine) {
  Capture cap;
  set_schedtrace(0, false);
  set_schedtrace_fd(2);
  cap.start(0, false);  // fd set, period off
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(cap.text(), "");
  schedtrace(false);
  cap.stop();
  std::vector<std::string> lines = lines_of(cap.text());
  ASSERT_EQ(lines.size(), 1u) << cap.text();
  EXPECT_TRUE(std::regex_match(lines[0], kSchedLine)) << lines[0];
}

// Invariants of scheddetail=1: each trace is a header, one line per P in
// order, one line per M (threads - 1 of them: sysmon has none), then the
// Gs; every line has Go's shape; and the lines tell the truth about a
// goroutine locked to its thread and parked (its M holds no P and runs
// nothing, the two point at each other, and nmidlelocked counts the M), and
// about an ordinary parked goroutine.
TEST_F(SchedtraceTest, DetailLinesHaveGoShapeAndTellTheTruth) {
  Watchdog watchdog("DetailLinesHaveGoShapeAndTellTheTruth", 60);
  Capture cap;
  int64_t locked_gid = 0, locked_mid = 0, parked_gid = 0;
  G* parked_g = nullptr;
  run([&] {
    ScopedProcs procs(2);
    Latch ready(2);
    Latch finished(2);
    Sem hold_locked, hold_parked;
    go([&] {
      lock_os_thread();
      locked_gid = current_g()->id;
      locked_mid = getm()->id;
      ready.done();
      hold_locked.wait();
      unlock_os_thread();
      finished.done();
    });
    go([&] {
      parked_g = current_g();
      parked_gid = parked_g->id;
      ready.done();
      hold_parked.wait();
      finished.done();
    });
    ready.wait();
    // Wait until the locked goroutine's M sleeps for it (counted idle).
    for (;;) {
      {
        Sched& s = sched();
        sys::MutexLock l(s.lock);
        if (s.nmidlelocked == 1) break;
      }
      yield();
    }
    // The other goroutine has parked too once it reached its wait.
    while (parked_g->status.load() != GStatus::kWaiting) yield();
    cap.start(10, true);
    busy_for(4, 200'000'000);
    cap.stop();
    hold_locked.post();
    hold_parked.post();
    finished.wait();
  });

  std::vector<std::string> lines = lines_of(cap.text());
  ASSERT_FALSE(lines.empty());
  size_t i = 0;
  int traces = 0;
  const std::string locked_g = std::to_string(locked_gid);
  const std::string locked_m = std::to_string(locked_mid);
  while (i < lines.size()) {
    std::smatch h;
    ASSERT_TRUE(std::regex_match(lines[i], h, kDetailHeader)) << lines[i];
    traces++;
    int64_t procs = num(h[2]), threads = num(h[4]);
    EXPECT_EQ(procs, 2);
    EXPECT_EQ(h[8].str(), "0") << "gcwaiting";
    EXPECT_EQ(num(h[9]), 1) << "nmidlelocked: " << lines[i];
    EXPECT_EQ(h[10].str(), "0") << "stopwait";
    EXPECT_EQ(h[11].str(), "0") << "sysmon must not deep-sleep while tracing";
    i++;
    for (int64_t p = 0; p < procs; p++, i++) {
      std::smatch pm;
      ASSERT_LT(i, lines.size());
      ASSERT_TRUE(std::regex_match(lines[i], pm, kPLine)) << lines[i];
      EXPECT_EQ(num(pm[1]), p) << lines[i];
    }
    int64_t ms = 0;
    bool saw_locked_m = false;
    for (std::smatch mm;
         i < lines.size() && std::regex_match(lines[i], mm, kMLine);
         i++, ms++) {
      if (mm[1].str() == locked_m) {
        saw_locked_m = true;
        EXPECT_EQ(mm[2].str(), "-1")
            << "a sleeping locked M holds no P: " << lines[i];
        EXPECT_EQ(mm[3].str(), "-1") << lines[i];
        EXPECT_EQ(mm[7].str(), locked_g) << lines[i];
      } else {
        EXPECT_EQ(mm[7].str(), "-1") << lines[i];
      }
    }
    EXPECT_EQ(ms, threads - 1) << "one M line per M; sysmon has none";
    EXPECT_TRUE(saw_locked_m);
    int64_t gs = 0;
    bool saw_locked_g = false, saw_parked_g = false;
    for (std::smatch gm;
         i < lines.size() && std::regex_match(lines[i], gm, kGLine);
         i++, gs++) {
      if (gm[1].str() == locked_g) {
        saw_locked_g = true;
        EXPECT_EQ(gm[2].str(), "4") << lines[i];
        EXPECT_EQ(gm[3].str(), "semacquire") << lines[i];
        EXPECT_EQ(gm[4].str(), "-1") << lines[i];
        EXPECT_EQ(gm[5].str(), locked_m) << lines[i];
      } else if (gm[1].str() == std::to_string(parked_gid)) {
        saw_parked_g = true;
        EXPECT_EQ(lines[i], "  G" + gm[1].str() +
                                ": status=4(semacquire) m=-1 lockedm=-1");
      } else {
        EXPECT_EQ(gm[5].str(), "-1") << lines[i];
      }
    }
    EXPECT_GE(gs, 2);
    EXPECT_TRUE(saw_locked_g);
    EXPECT_TRUE(saw_parked_g);
  }
  EXPECT_GE(traces, 3);
}

}  // namespace
}  // namespace gort::sched
