// mem/tally.h: a count of the allocations made through the process's
// malloc and operator new while gort's allocator replaces them
// (//mem:malloc), for tests that check exact MemStats deltas.
//
//   Tally        mallocs, frees and bytes through the replaced entry points,
//                per size class as MemStats.BySize counts them
//   tally_on     starts counting (from zero); tally_off stops
//   tally_read   the counts so far
//   subtract_tally, tally_span_bound, release_cached_spans
//                for the tests' comparisons
//   tally_malloc / tally_free   called by mem/malloc_override.cc
//
// Why. With //mem:malloc linked in, the test harness (gtest, std::thread,
// libc's thread set-up) allocates from the same heap as the code under
// test, so "MemStats moved by exactly what the test allocated" no longer
// holds. The tests subtract what the tally saw instead of assuming it is
// zero. Without the replacement the tally stays zero and they check the
// same identities as before.
//
// Thread safety: all may be called from any thread. Counting costs one
// relaxed load and a not-taken branch per call while off; while on, relaxed
// RMWs on shared counters (tests only).
//
// Memory ordering: relaxed. A test reads the tally at quiescence (the
// threads it made have been joined, which orders their counts before).
#ifndef GORT_MEM_TALLY_H_
#define GORT_MEM_TALLY_H_

#include <atomic>
#include <cstdint>

#include "mem/mem.h"
#include "mem/sizeclasses.h"

namespace gort::mem {

struct Tally {
  uint64_t mallocs = 0, frees = 0;
  uint64_t alloc_bytes = 0, freed_bytes = 0;  // object sizes, as HeapAlloc
  // The bytes of the spans the objects lie in, added at malloc and taken
  // away at free: while the net is n, the objects still alive keep at most
  // n bytes of spans in use that they alone would hold (HeapInuse).
  uint64_t span_bytes_in = 0, span_bytes_out = 0;
  uint64_t class_mallocs[kNumSizeClasses] = {};
  uint64_t class_frees[kNumSizeClasses] = {};
};

void tally_on();
void tally_off();
Tally tally_read();

// What the tests compare: `after` less the replaced-malloc calls between
// the two tallies, field by field where MemStats counts them exactly
// (Alloc/HeapAlloc, TotalAlloc, Mallocs, Frees, HeapObjects, BySize).
MemStats subtract_tally(MemStats after, const Tally& from, const Tally& to);
// The bytes of spans that objects allocated through the replaced entry
// points between the tallies, and still alive, may keep in use.
uint64_t tally_span_bound(const Tally& from, const Tally& to);

// The calling thread's cache and the orphan cache (of exiting threads,
// malloc.cc) give back their spans and apply their batched frees, so that
// afterwards only live objects and other threads' caches hold spans. Their
// next allocations refill them.
void release_cached_spans();

namespace tally_internal {
extern std::atomic<bool> g_on;
void count_malloc(const void* p);
void count_free(const void* p);
}  // namespace tally_internal

// `p` was just returned by a replaced entry point (nullptr is ignored).
inline void tally_malloc(const void* p) {
  if (__builtin_expect(tally_internal::g_on.load(std::memory_order_relaxed), 0))
    tally_internal::count_malloc(p);
}
// `p`, a gort block, is about to be freed by a replaced entry point.
inline void tally_free(const void* p) {
  if (__builtin_expect(tally_internal::g_on.load(std::memory_order_relaxed), 0))
    tally_internal::count_free(p);
}

}  // namespace gort::mem

#endif  // GORT_MEM_TALLY_H_
