// mem/tally.cc: the test tally of replaced-malloc calls (see tally.h).
#include "mem/tally.h"

#include <iterator>

#include "mem/mheap.h"
#include "mem/pagealloc.h"
#include "mem/mspan.h"

namespace gort::mem {
namespace {

struct Counters {
  std::atomic<uint64_t> mallocs{0}, frees{0};
  std::atomic<uint64_t> alloc_bytes{0}, freed_bytes{0};
  std::atomic<uint64_t> span_bytes_in{0}, span_bytes_out{0};
  std::atomic<uint64_t> class_mallocs[kNumSizeClasses] = {};
  std::atomic<uint64_t> class_frees[kNumSizeClasses] = {};
};
constinit Counters g_counters;

// The span's class and object size, as MemStats counts them (a tiny block's
// objects count as tiny allocs, which the replacement never makes).
MSpan* span_for(const void* p) {
  return heap().span_of(reinterpret_cast<uintptr_t>(p));
}

}  // namespace

namespace tally_internal {
constinit std::atomic<bool> g_on{false};

void count_malloc(const void* p) {
  MSpan* s = p != nullptr ? span_for(p) : nullptr;
  if (s == nullptr) return;
  g_counters.mallocs.fetch_add(1, std::memory_order_relaxed);
  g_counters.alloc_bytes.fetch_add(s->elemsize, std::memory_order_relaxed);
  g_counters.span_bytes_in.fetch_add(s->npages * kPageSize,
                                     std::memory_order_relaxed);
  g_counters.class_mallocs[s->size_class].fetch_add(1,
                                                    std::memory_order_relaxed);
}

void count_free(const void* p) {
  MSpan* s = span_for(p);
  if (s == nullptr) return;
  g_counters.frees.fetch_add(1, std::memory_order_relaxed);
  g_counters.freed_bytes.fetch_add(s->elemsize, std::memory_order_relaxed);
  g_counters.span_bytes_out.fetch_add(s->npages * kPageSize,
                                      std::memory_order_relaxed);
  g_counters.class_frees[s->size_class].fetch_add(1,
                                                  std::memory_order_relaxed);
}
}  // namespace tally_internal

void tally_on() {
  g_counters.mallocs.store(0, std::memory_order_relaxed);
  g_counters.frees.store(0, std::memory_order_relaxed);
  g_counters.alloc_bytes.store(0, std::memory_order_relaxed);
  g_counters.freed_bytes.store(0, std::memory_order_relaxed);
  g_counters.span_bytes_in.store(0, std::memory_order_relaxed);
  g_counters.span_bytes_out.store(0, std::memory_order_relaxed);
  for (int k = 0; k < kNumSizeClasses; ++k) {
    g_counters.class_mallocs[k].store(0, std::memory_order_relaxed);
    g_counters.class_frees[k].store(0, std::memory_order_relaxed);
  }
  tally_internal::g_on.store(true, std::memory_order_relaxed);
}

void tally_off() { tally_internal::g_on.store(false, std::memory_order_relaxed); }

Tally tally_read() {
  Tally t;
  t.mallocs = g_counters.mallocs.load(std::memory_order_relaxed);
  t.frees = g_counters.frees.load(std::memory_order_relaxed);
  t.alloc_bytes = g_counters.alloc_bytes.load(std::memory_order_relaxed);
  t.freed_bytes = g_counters.freed_bytes.load(std::memory_order_relaxed);
  t.span_bytes_in = g_counters.span_bytes_in.load(std::memory_order_relaxed);
  t.span_bytes_out = g_counters.span_bytes_out.load(std::memory_order_relaxed);
  for (int k = 0; k < kNumSizeClasses; ++k) {
    t.class_mallocs[k] = g_counters.class_mallocs[k].load(std::memory_order_relaxed);
    t.class_frees[k] = g_counters.class_frees[k].load(std::memory_order_relaxed);
  }
  return t;
}

MemStats subtract_tally(MemStats m, const Tally& from, const Tally& to) {
  uint64_t mallocs = to.mallocs - from.mallocs;
  uint64_t frees = to.frees - from.frees;
  uint64_t in = to.alloc_bytes - from.alloc_bytes;
  uint64_t out = to.freed_bytes - from.freed_bytes;
  m.alloc = m.heap_alloc = m.heap_alloc - in + out;
  m.total_alloc -= in;
  m.mallocs -= mallocs;
  m.frees -= frees;
  m.heap_objects = m.heap_objects - mallocs + frees;
  for (size_t k = 1; k < std::size(m.by_size); ++k) {
    m.by_size[k].mallocs -= to.class_mallocs[k] - from.class_mallocs[k];
    m.by_size[k].frees -= to.class_frees[k] - from.class_frees[k];
  }
  return m;
}

uint64_t tally_span_bound(const Tally& from, const Tally& to) {
  uint64_t in = to.span_bytes_in - from.span_bytes_in;
  uint64_t out = to.span_bytes_out - from.span_bytes_out;
  return in > out ? in - out : 0;
}

}  // namespace gort::mem
