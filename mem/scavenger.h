// mem/scavenger.h: the background scavenger (Go's bgscavenge,
// mgcscavenge.go): a thread that returns free heap pages to the OS.
//
//   scavenger_ensure_started   starts the thread once, on first heap growth
//   scavenger_wake_if_needed   after pages are freed: wakes a parked
//                              scavenger when retained memory exceeds the goal
//   retained_goal              what the scavenger keeps: 10% over the heap
//   ScavengerStats             what it has done
//
// Pacing (Go 1.19's): the goal is the heap in use plus 10%
// (retainExtraPercent; Go's heap goal is the GC's, ours is the bytes in
// in-use spans until the GC exists). While retained memory (HeapSys -
// HeapReleased) exceeds it, the thread releases 64 KiB chunks
// (scavengeQuantum), highest address first, for at least 1 ms
// (minScavWorkTime), then sleeps so that its work is about 1% of the
// machine's CPU time (scavengePercent of GOMAXPROCS CPUs): with n CPUs,
// sleep = worked x (100 / n - 1). At the goal it parks on a futex until a
// free pushes retained memory past the goal again.
//
// Thread safety: all functions may be called from any thread; none may be
// called with an allocator lock held (they may start a thread or wake one).
#ifndef GORT_MEM_SCAVENGER_H_
#define GORT_MEM_SCAVENGER_H_

#include <cstddef>
#include <cstdint>

#include "mem/mheap.h"

namespace gort::mem {

void scavenger_ensure_started();
void scavenger_wake_if_needed();

// Retained bytes the scavenger keeps for a heap with these counters.
size_t retained_goal(const HeapCounters& h);

struct ScavengerStats {
  uint64_t released_bytes = 0;  // by the background thread
  uint64_t work_ns = 0;         // time spent releasing
  uint64_t sleep_ns = 0;        // time slept for pacing
  uint64_t wakeups = 0;         // times woken from parking
};
ScavengerStats scavenger_stats();

}  // namespace gort::mem

#endif  // GORT_MEM_SCAVENGER_H_
