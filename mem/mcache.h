// mem/mcache.h: a per-P (or per-thread) cache of spans (Go's mcache,
// mcache.go).
//
//   MCache          one span per span class to allocate from without locks,
//                   the per-class LIFO free lists (the front end), the
//                   tiny block, batches of frees bound for spans this
//                   cache does not own, and the cache's statistics
//   FreeList        a bounded LIFO of objects freed into the cache's own
//                   span of one class (tcmalloc's per-class free list)
//   current_cache   the cache of the calling thread's P when the scheduler
//                   registered a hook and the thread holds a P, else the
//                   thread's own
//
// The seam for per-P caches (new_cache, destroy_cache,
// set_current_cache_hook) is public, in mem/mem.h. A P's cache is used by
// one M at a time; the hand-off of the P between Ms orders their accesses,
// so the owner-only fields need no atomics.
//
// Thread safety: an MCache is used by one thread at a time (its owner).
// Its statistics are atomics written only by the owner with relaxed
// load+store (no locked instruction) and read by read_mem_stats.
//
// Memory ordering: statistics stores are release and snapshot loads are
// acquire; read_mem_stats reads every cache's free counts before any
// malloc count, so a free it sees implies it sees the malloc that
// happened-before it (Mallocs >= Frees for every class it reports).
#ifndef GORT_MEM_MCACHE_H_
#define GORT_MEM_MCACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mem/mem.h"
#include "mem/mspan.h"
#include "mem/sizeclasses.h"

namespace gort::mem {

// A statistic with one writer.
class OwnerCounter {
 public:
  void add(uint64_t d) {
    v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_release);
  }
  uint64_t get() const { return v_.load(std::memory_order_acquire); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Frees of objects in spans that a cache does not own are batched per
// mcentral and applied under its lock once per batch. Until then the
// cache's own allocations of that span class take them back, newest first
// (to their spans they are still allocated).
inline constexpr int kRemoteBatchMax = 64;
// A batch holds at most this many bytes of objects (a 32 KiB class: 2).
inline constexpr size_t kRemoteBatchBytes = 64 << 10;
struct RemoteBatch {
  int n = 0;
  int limit = 0;
  uintptr_t objects[kRemoteBatchMax];
};

// The front end (see malloc.cc, "The front end"): a same-cache free
// pushes the object on its class's LIFO, linked through the object's first
// word, and also sets its local_free bit as before; an allocation pops the
// newest one and clears the bit. A list holds objects of exactly one span,
// c->alloc[span class] (only that span has owner == c), and its objects
// are free to the span (local_free) at all times, so "flushing" a list is
// forgetting it: the span's next fold makes them allocatable again.
//
// Bound: at most kFreeListBytes of objects per class (and at least 1,
// at most kFreeListMax). Memory is not the reason (the objects sit in the
// cache's own span, which no other cache allocates from either way); the
// bound keeps the LIFO to objects likely still in L1/L2, so past it the
// span's window (address order) takes over. tcmalloc bounds its per-class
// lists the same way (max_length, grown towards a per-thread byte budget).
inline constexpr size_t kFreeListBytes = 32 << 10;
inline constexpr uint32_t kFreeListMax = 512;

constexpr uint32_t free_list_limit(int size_class) {
  size_t n = class_size(size_class) == 0
                 ? 1
                 : kFreeListBytes / class_size(size_class);
  if (n > kFreeListMax) n = kFreeListMax;
  if (n < 1) n = 1;
  return static_cast<uint32_t>(n);
}

struct FreeList {
  uintptr_t head = 0;  // newest object; its first word links the next
  uint32_t n = 0;
  uint32_t limit = 0;  // free_list_limit(size class), set by MCache()
};

// The tiny allocator's reference-count bias (see malloc.cc, "Tiny").
inline constexpr uint16_t kTinyBias = 1 << 15;

class MCache {
 public:
  MCache();

  // Current spans, one per span class plus the tiny blocks' span; the
  // empty span (nelems 0) where there is none yet.
  MSpan* alloc[kNumCentrals];

  // The front end: per span class (tiny blocks have none), objects of
  // alloc[span class] freed by this cache; see FreeList.
  FreeList lifo[kNumSpanClasses];

  // Tiny allocator: the current 16-byte block, the next free offset in
  // it, and objects handed out from it (see malloc.cc).
  uintptr_t tiny = 0;
  uint32_t tiny_offset = 0;
  uint32_t tiny_count = 0;

  RemoteBatch* remote[kNumCentrals] = {};

  // Statistics, per size class (class 0 unused: large objects are
  // counted by the heap).
  OwnerCounter nmalloc[kNumSizeClasses];
  OwnerCounter nfree[kNumSizeClasses];
  OwnerCounter tiny_allocs;

  // The registry of live caches (read_mem_stats walks it).
  MCache* registry_next = nullptr;
  MCache* registry_prev = nullptr;
};

// The span with no objects that an MCache slot holds before its first
// refill; its allocation window is always empty.
MSpan* empty_span();

// Allocates an object of span class / central index `central` from the
// cache, refilling from the mcentral when the current span is full.
// Out of memory is a fatal error.
uintptr_t cache_alloc_slow(MCache* c, int central);

// `fatal error: free of already freed object` (never returns).
[[noreturn, gnu::cold]] void cache_bad_free(uintptr_t p);

// Puts a free of object `p` (index `index` of span `s`, which `c` does not
// own) into the cache's batch for its mcentral, flushing when full.
void cache_free_remote(MCache* c, MSpan* s, uintptr_t p);

// Applies every pending batch of `c`.
void cache_flush_remote(MCache* c);

// Empties the LIFO of span class `sc` (its objects are already free in the
// span's local_free bits). REQUIRES: the caller owns `c`; called before the
// span c->alloc[sc] is folded, uncached or replaced.
inline void cache_flush_lifo(MCache* c, int sc) {
  c->lifo[sc].head = 0;
  c->lifo[sc].n = 0;
}

// Empties every LIFO of `c`. The seam for the GC: before marking, so that
// the mark phase never counts a LIFO object as allocated (its local_free
// bit says free) and the sweep's fold may reuse it. REQUIRES: the caller
// owns `c` (or the world is stopped).
void cache_flush_lifos(MCache* c);

// Pops the newest object of the LIFO of span class `sc` (clearing its
// local_free bit, so that its next free is legal), or returns 0.
// REQUIRES: the caller owns `c`.
inline uintptr_t cache_pop_lifo(MCache* c, int sc) {
  FreeList& l = c->lifo[sc];
  uintptr_t p = l.head;
  if (p == 0) return 0;
  l.head = *reinterpret_cast<uintptr_t*>(p);
  --l.n;
  MSpan* s = c->alloc[sc];
  uint32_t index = s->index_of(p);
  s->local_free[index / 64] &= ~(uint64_t{1} << (index % 64));
  return p;
}

// Gives back the tiny block, every pending free and every span of `c` (the
// cache stays usable and refills on its next allocations). REQUIRES: the
// caller owns `c`.
void cache_release(MCache* c);

// Frees small object `p`, index `index` of span `s`: into the span's local
// free bits when `c` owns the span (and, but for tiny blocks, onto its
// class's LIFO; a full LIFO is forgotten first, see FreeList), else into
// the batch. A double free seen here is a fatal error: an object on the
// LIFO has its local_free bit set like any other freed object.
// The owned case of cache_free_small. REQUIRES: s->owner == c.
inline void cache_free_owned(MCache* c, MSpan* s, uintptr_t p,
                             uint32_t index) {
  c->nfree[s->size_class].add(1);
  uint32_t w = index / 64;
  uint64_t bit = uint64_t{1} << (index % 64);
  if ((s->local_free[w] & bit) != 0 ||
      (index >= s->freeindex && (s->alloc_bits[w] & bit) == 0)) {
    cache_bad_free(p);
  }
  s->local_free[w] |= bit;
  if (__builtin_expect(s->central != kTinySpanIndex, 1)) {
    FreeList& l = c->lifo[s->central];
    if (__builtin_expect(l.n >= l.limit, 0)) {
      l.head = 0;
      l.n = 0;
    }
    *reinterpret_cast<uintptr_t*>(p) = l.head;
    l.head = p;
    ++l.n;
  }
}

inline void cache_free_small(MCache* c, MSpan* s, uintptr_t p, uint32_t index) {
  if (s->owner.load(std::memory_order_relaxed) == c) {
    cache_free_owned(c, s, p, index);
    return;
  }
  c->nfree[s->size_class].add(1);
  cache_free_remote(c, s, p);
}

namespace mcache_internal {
extern std::atomic<CurrentCacheHook> g_hook;
extern constinit thread_local MCache* tls_cache;
MCache* thread_cache_slow();  // nullptr: the thread is exiting
void tiny_retire(MCache* c);  // malloc.cc: gives up the current tiny block
}  // namespace mcache_internal

// The calling thread's cache if it already has one, else nullptr (no
// call: for fast paths, which fall back to current_cache()).
inline MCache* current_cache_if_any() {
  CurrentCacheHook h = mcache_internal::g_hook.load(std::memory_order_relaxed);
  if (h != nullptr) {
    if (MCache* c = h()) return c;
  }
  return mcache_internal::tls_cache;
}

// The calling thread's cache, or nullptr while it is exiting (after its
// cache was destroyed); the callers then use the orphan cache (malloc.cc).
inline MCache* current_cache() {
  // Relaxed: the hook is a plain function pointer set once at start.
  CurrentCacheHook h = mcache_internal::g_hook.load(std::memory_order_relaxed);
  if (h != nullptr) {
    if (MCache* c = h()) return c;
  }
  MCache* c = mcache_internal::tls_cache;
  if (__builtin_expect(c != nullptr, 1)) return c;
  return mcache_internal::thread_cache_slow();
}

// Statistics of caches destroyed so far, plus a walk over the live ones.
struct CacheTotals {
  uint64_t nmalloc[kNumSizeClasses] = {};
  uint64_t nfree[kNumSizeClasses] = {};
  uint64_t tiny_allocs = 0;
  size_t cache_sys = 0, cache_inuse = 0;  // MCacheSys, MCacheInuse
};
CacheTotals cache_totals();

}  // namespace gort::mem

#endif  // GORT_MEM_MCACHE_H_
