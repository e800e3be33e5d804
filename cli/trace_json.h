// cli/trace_json.h: `gort run --trace-out FILE.json`: the scheduler's
// events (sched/trace.h) as Chrome trace-event JSON, which Perfetto and
// chrome://tracing open.
//
//   TraceJsonStats     what a file holds: events written, events lost
//   format_trace_json  drained events -> the JSON Object Format text
//   json_escape        text -> the inside of a JSON string literal
//   TraceOut           the file: opened before the workload (so a bad path
//                      fails before anything runs), written after it
//
// The layout: process 1 "Ps" has one track per P (tid = P id), process 2
// "Ms" one per M (tid = M id; threads that are no M, i.e. sysmon, get tids
// from 1000000). A goroutine's run is an "X" slice on its P's track and on
// its M's track, named "G<goid> <file>:<line>" after the go() that made
// it, with args goid, created_at, function, and why it ended (`end`, plus
// Go's `wait_reason` for a park). On a P the slice ends when the goroutine
// enters a syscall (the P is released) and a new one starts when it comes
// back with a P; on its M it runs on, with a nested "syscall" slice.
// Steals, syscall entry and exit, polls that readied goroutines and timer
// batches are instant ("i") events. Timestamps are microseconds with
// nanosecond digits, from the moment tracing was enabled.
//
// Thread safety: none needed; used once, from main.
#ifndef GORT_CLI_TRACE_JSON_H_
#define GORT_CLI_TRACE_JSON_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sched/trace.h"

namespace gort::cli {

struct TraceJsonStats {
  uint64_t events = 0;   // trace events written (metadata included)
  uint64_t dropped = 0;  // recorded events lost to full rings
};

// The whole file's text: {"traceEvents":[...],"displayTimeUnit":"ns",
// "otherData":{...}}. A goroutine whose start was overwritten in its ring
// gets no slice for that run; a run still open at the end of the trace
// ends at the last timestamp of any thread.
std::string format_trace_json(
    const std::vector<sched::trace::ThreadEvents>& threads,
    TraceJsonStats* stats);

// `text` escaped for a JSON string: quote, backslash and control characters
// escaped; invalid UTF-8 replaced by U+FFFD, so that the file always parses.
std::string json_escape(std::string_view text);

class TraceOut {
 public:
  // Creates or truncates `path` for writing. On failure: InvalidArgument
  // with one line, "--trace-out: cannot open PATH: REASON".
  static absl::StatusOr<TraceOut> open(const std::string& path);

  TraceOut(TraceOut&& other) noexcept;
  TraceOut& operator=(TraceOut&&) = delete;
  ~TraceOut();

  // Starts recording (sched::trace::enable). Call once, right before the
  // workload.
  void start();
  // Stops recording, drains the rings, writes and closes the file. Error:
  // one line naming the path ("--trace-out: writing PATH: REASON").
  absl::StatusOr<TraceJsonStats> finish();

 private:
  TraceOut(std::FILE* file, std::string path)
      : file_(file), path_(std::move(path)) {}

  std::FILE* file_;
  std::string path_;
};

}  // namespace gort::cli

#endif  // GORT_CLI_TRACE_JSON_H_
