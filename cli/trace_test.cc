// `gort run --trace-out`: the file is Chrome trace-event JSON that a strict
// parser (Python's json module, independent of the code under test)
// accepts, with one track per P and per M, goroutine run slices that never
// overlap on a P and each name a goroutine; a path that cannot be written
// fails before the workload runs. Also the formatter alone: JSON escaping,
// and how a syscall splits a goroutine's run on its Ps.
#include "cli/trace_json.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <source_location>
#include <string>
#include <vector>

#include "cli/subprocess.h"
#include "gtest/gtest.h"
#include "sched/trace.h"

namespace gort::cli {
namespace {

namespace trace = sched::trace;

constexpr char kGort[] = "cli/gort";
constexpr char kPython[] = "/usr/bin/python3";

std::string tmpdir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr ? t : "/tmp";
}

ProcessResult run_ok(const std::vector<std::string>& argv) {
  absl::StatusOr<ProcessResult> r = run_process(argv);
  if (!r.ok()) {
    ADD_FAILURE() << r.status();
    return {};
  }
  return *r;
}

// Checks a trace file: argv[1] the file, argv[2] the least number of P
// tracks. Prints "slices=N steals=N ..." on success; an assertion error
// (exit 1) names what is wrong.
constexpr char kCheckTrace[] = R"PY(
import json, sys
path, min_ps = sys.argv[1], int(sys.argv[2])
with open(path, encoding="utf-8") as f:
    doc = json.load(f)
assert isinstance(doc, dict), type(doc)
assert doc.get("displayTimeUnit") == "ns", doc.get("displayTimeUnit")
ev = doc["traceEvents"]
assert isinstance(ev, list) and ev, "no events"
for e in ev:
    assert e["ph"] in ("M", "X", "i"), e
    assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
    if e["ph"] != "M":
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
    if e["ph"] == "i":
        assert e["s"] == "t", e
procs = {e["pid"]: e["args"]["name"] for e in ev
         if e["ph"] == "M" and e["name"] == "process_name"}
assert procs.get(1) == "Ps" and procs.get(2) == "Ms", procs
names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev
         if e["ph"] == "M" and e["name"] == "thread_name"}
p_tracks = {t for (p, t) in names if p == 1}
m_tracks = {t for (p, t) in names if p == 2}
assert len(p_tracks) >= min_ps, names
assert all(names[(1, t)] == "P%d" % t for t in p_tracks), names
assert m_tracks, names
def ns(x):
    return round(x * 1000)
dropped = doc["otherData"]["dropped_events"]
by_p = {}
slices = [e for e in ev if e["ph"] == "X" and e["pid"] == 1]
assert slices, "no run slices on any P"
for e in slices:
    g = e["args"]["goid"]
    assert isinstance(g, int) and g > 0, e
    assert e["name"].split(" ")[0] == "G%d" % g, e
    assert e["tid"] in p_tracks, e
    assert e["dur"] >= 0, e
    if dropped == 0:
        assert "created_at" in e["args"], e
    by_p.setdefault(e["tid"], []).append((ns(e["ts"]), ns(e["dur"]), g))
for p, s in by_p.items():
    s.sort()
    for a, b in zip(s, s[1:]):
        assert a[0] + a[1] <= b[0], ("run slices overlap on P%d" % p, a, b)
for e in ev:
    if e["ph"] == "X" and e["pid"] == 2:
        assert e["tid"] in m_tracks, e
steals = sum(1 for e in ev if e["ph"] == "i" and e["name"].startswith("steal"))
sites = sorted({e["args"].get("created_at", "?") for e in slices})
print("slices=%d steals=%d ps=%d ms=%d dropped=%d sites=%s" %
      (len(slices), steals, len(p_tracks), len(m_tracks), dropped, sites))
)PY";

// Runs the checker on `file`; returns its output, failing the test if it
// rejects the file.
std::string check_trace(const std::string& file, int min_ps) {
  ProcessResult py =
      run_ok({kPython, "-c", kCheckTrace, file, std::to_string(min_ps)});
  EXPECT_EQ(py.exit_code, 0) << "python3 rejected " << file << ":\n"
                             << py.out << py.err;
  return py.out;
}

// pingpong on 2 Ps: two goroutines handing a value back and forth, each
// run a slice; the file parses and its slices obey the invariants above.
TEST(TraceOut, PingpongWritesAValidTraceWithPerPTracks) {
  std::string file = tmpdir() + "/pingpong.json";
  ProcessResult r = run_ok({kGort, "run", "pingpong", "--procs", "2",
                            "--trace-out", file, "--rounds", "2000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("result: pingpong"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("written to " + file), std::string::npos) << r.err;
  std::string summary = check_trace(file, 1);
  // The goroutine go() made in the workload is named after its site.
  EXPECT_NE(summary.find("pingpong.cc:"), std::string::npos) << summary;
  std::cout << summary;
}

// spawn on 2 Ps: many short goroutines, which the idle P steals.
TEST(TraceOut, SpawnWritesAValidTrace) {
  std::string file = tmpdir() + "/spawn.json";
  ProcessResult r = run_ok({kGort, "run", "spawn", "--procs", "2",
                            "--trace-out", file, "--goroutines", "3000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string summary = check_trace(file, 1);
  EXPECT_NE(summary.find("spawn.cc:"), std::string::npos) << summary;
  std::cout << summary;
}

// A path that cannot be opened: exit 2, one line naming it, and the
// workload never ran (it prints its line on stdout when it does).
TEST(TraceOut, UnwritablePathFailsBeforeTheWorkload) {
  ProcessResult r = run_ok({kGort, "run", "pingpong", "--trace-out",
                            "/nonexistent/dir/t.json", "--rounds", "10"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "gort: --trace-out: cannot open /nonexistent/dir/t.json: No such "
            "file or directory\n");
  EXPECT_EQ(r.out, "");
}

// Invariant: escaping keeps valid UTF-8, escapes what JSON requires, and
// replaces each byte of invalid UTF-8 with U+FFFD.
TEST(TraceJson, EscapesForJson) {
  EXPECT_EQ(json_escape("plain"), "plain");
  EXPECT_EQ(json_escape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(json_escape("\n\t\x01"), "\\n\\t\\u0001");
  EXPECT_EQ(json_escape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(json_escape("\xff"), "\\ufffd");
  EXPECT_EQ(json_escape("\xc3"), "\\ufffd");             // truncated
  EXPECT_EQ(json_escape("\xc0\xaf"), "\\ufffd\\ufffd");  // overlong
  EXPECT_EQ(json_escape("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // surrogate
}

// Invariant: a goroutine that enters a syscall on P0 and comes back on P1
// is two slices on the Ps (P0 up to the entry, P1 from the exit) and one on
// its M, with the syscall nested in it; the file parses.
TEST(TraceJson, ASyscallSplitsTheRunOnThePs) {
  trace::ThreadEvents t;
  t.m = 5;
  std::source_location here = std::source_location::current();
  auto ev = [](int64_t ts, trace::EventKind kind, int32_t p) {
    trace::Event e;
    e.ts_ns = ts;
    e.kind = kind;
    e.p = p;
    e.goid = 9;
    return e;
  };
  t.events.push_back(ev(100, trace::EventKind::kGoStart, 0));
  t.events.back().site = here;
  t.events.push_back(ev(200, trace::EventKind::kSyscallEnter, 0));
  t.events.push_back(ev(300, trace::EventKind::kSyscallExit, 1));
  t.events.push_back(ev(400, trace::EventKind::kGoStop, 1));
  t.events.back().reason = trace::StopReason::kPark;
  t.events.back().wait = sched::WaitReason::kChanReceive;
  TraceJsonStats stats;
  std::string json = format_trace_json({t}, &stats);
  EXPECT_EQ(stats.dropped, 0u);
  auto has = [&](const std::string& s) {
    EXPECT_NE(json.find(s), std::string::npos) << s << "\n" << json;
  };
  std::string name = "\"name\":\"G9 trace_test.cc:" + std::to_string(here.line());
  has(name + "\",\"cat\":\"goroutine\",\"ph\":\"X\",\"pid\":1,\"tid\":0,"
             "\"ts\":0.100,\"dur\":0.100,");
  has(name + "\",\"cat\":\"goroutine\",\"ph\":\"X\",\"pid\":1,\"tid\":1,"
             "\"ts\":0.300,\"dur\":0.100,");
  has(name + "\",\"cat\":\"goroutine\",\"ph\":\"X\",\"pid\":2,\"tid\":5,"
             "\"ts\":0.100,\"dur\":0.300,");
  has("\"name\":\"syscall\",\"cat\":\"syscall\",\"ph\":\"X\",\"pid\":2,"
      "\"tid\":5,\"ts\":0.200,\"dur\":0.100,");
  has("\"end\":\"entersyscall\"");
  has("\"end\":\"park\",\"wait_reason\":\"chan receive\"");
  std::string file = tmpdir() + "/synthetic.json";
  std::ofstream(file) << json;
  check_trace(file, 2);
}

}  // namespace
}  // namespace gort::cli
