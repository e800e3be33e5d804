// cli/memstats.h: the MemStats reports of `gort run`.
//
//   format_print_mem   one line in the format of the printMem helper Go
//                      programmers paste into programs that seem to keep
//                      memory (Alloc, TotalAlloc, Sys in MiB, NumGC), with
//                      the heap's idle and released bytes and the process's
//                      resident set added, which tell whether freed memory
//                      went back to the OS
//   format_mem_stats   every MemStats field, in the `# runtime.MemStats`
//                      block that Go's heap profile prints with debug=1
//                      (runtime/pprof/pprof.go, writeHeapInternal)
//   resident_bytes     the process's resident set (/proc/self/statm)
//
// Thread safety: pure functions.
#ifndef GORT_CLI_MEMSTATS_H_
#define GORT_CLI_MEMSTATS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "mem/mem.h"

namespace gort::cli {

// "<label>Alloc = A MiB\tTotalAlloc = T MiB\tSys = S MiB\tNumGC = N\t
// HeapIdle = I MiB\tHeapReleased = R MiB\tRSS = M MiB\n" (MiB rounded
// down, as the Go helper's bToMb; rss_bytes < 0 prints RSS = ?).
std::string format_print_mem(std::string_view label, const mem::MemStats& m,
                             int64_t rss_bytes);

// The `# runtime.MemStats` block, one `# Field = value` line per field,
// in Go's order.
std::string format_mem_stats(const mem::MemStats& m);

// Resident bytes now (statm's second field times the page size), or -1 if
// /proc/self/statm cannot be read.
int64_t resident_bytes();

}  // namespace gort::cli

#endif  // GORT_CLI_MEMSTATS_H_
