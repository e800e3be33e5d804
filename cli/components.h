// cli/components.h: which runtime components the CLI can use yet.
//
//   Component        a subsystem (sys, mem, sched, gc, trace), whether it has
//                    landed, and the reports it brings to `gort run`
//   kComponents      the table, in layering order (lowest first)
//
// The runtime lands component by component. A flag whose component has not
// landed parses and validates like any other, then stops with
//   gort: --gctrace needs the gc component, which has not landed yet
// and exit status 2. When a component lands, its engineer flips `landed`
// here and wires the flag in cli/run.cc; the tour lists the reports still
// to come from this table.
//
// Thread safety: constant data.
#ifndef GORT_CLI_COMPONENTS_H_
#define GORT_CLI_COMPONENTS_H_

#include <string_view>

namespace gort::cli {

struct Component {
  std::string_view name;     // the Bazel package: "gc"
  bool landed;               // its flags and reports work in this build
  std::string_view reports;  // what it adds to `gort run`, one line
};

inline constexpr Component kComponents[] = {
    {"sys", true, "strace -c's syscall table (--strace, --strace=full)"},
    {"mem", true, "Go's MemStats (--memstats)"},
    {"sched", true, "--procs, schedtrace and scheddetail lines"},
    {"trace", true, "Chrome trace-event JSON (--trace-out)"},
    {"gc", false,
     "gctrace lines (--gctrace, --gogc), escape report (--escape)"},
};

// Whether the named component has landed. REQUIRES: `name` is in the table
// (checked: an unknown name aborts).
bool component_landed(std::string_view name);

}  // namespace gort::cli

#endif  // GORT_CLI_COMPONENTS_H_
