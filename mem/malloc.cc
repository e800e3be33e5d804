// mem/malloc.cc: gort's allocator: the API, the tiny allocator, MemStats.
//
// Design essay (Go's malloc.go, mheap.go, mcentral.go, mcache.go,
// mpagealloc.go and mgcscavenge.go tell the same story for Go; this is how
// gort tells it, and where it differs).
//
// Glossary
//   page      8 KiB, the heap's unit (kPageSize).
//   arena     64 MiB of address space mapped at once (MAP_NORESERVE), 8192
//             pages, with its metadata (HeapArena): page bitmaps, a
//             free-run summary, and the page -> span map.
//   span      (MSpan) a run of pages: for a small size class, nelems
//             objects of one size; for a large object (> 32 KiB), the one
//             object.
//   size class  one of Go's 68 (sizeclasses.h); 0 means large.
//   span class  size class x 2 + noscan bit: pointer-free objects live in
//             spans of their own so that the GC can skip them.
//   mcache    a per-thread (later per-P) cache: one span per span class to
//             allocate from without a lock.
//   mcentral  per span class, the spans no mcache holds: partial (some
//             object free) and full lists.
//   mheap     the pages: the page allocator, the MSpan pool, large objects.
//   scavenger a background thread returning free pages to the OS.
//
// How a malloc flows
//   1. alloc(size): the thread's mcache (a TLS load; the scheduler may
//      register a hook that returns its P's cache instead).
//   2. size < 16 with kNoScan: the tiny allocator (below). size <= 32 KiB:
//      size_to_class (a table lookup), span class, the cache's span.
//   3. The cache's LIFO for the span class ("The front end" below), then
//      span->next_free_fast(): the span's alloc_cache is the complement of
//      the allocation bitmap from freeindex on, so the next free object is
//      ctz(alloc_cache); shift, bump freeindex. No lock, no atomic.
//   4. The window is empty: next_free_slow() reloads it from the next
//      bitmap word. The span is exhausted: fold the frees recorded since the
//      last fold (below) into the bitmap and go on if any; else hand the
//      span back to its mcentral and take one from its partial list, or a
//      fresh span from the heap (mcentral lock, then heap lock).
//   5. Large: pages straight from the heap (heap lock), one span.
//
// How a free flows
//   1. span_of(p): arena index (addr >> 26) -> HeapArena -> spans[page].
//      Not a live span: fatal error. Large: the span goes back to the heap.
//   2. Small: object index by magic division (no divide instruction);
//      a pointer that is not an object's start is a fatal error.
//   3. The calling cache owns the span (owner == cache, a relaxed load):
//      set the object's bit in the span's local_free bitmap. No lock, no
//      atomic: same-cache frees are as cheap as the allocation.
//   4. Otherwise (another thread's span, or one on an mcentral list):
//      append p to this cache's batch for that mcentral (64 objects, or
//      64 KiB of them). The cache's next allocation of that span class
//      takes the newest batched object first (LIFO, like tcmalloc's
//      per-thread free lists): to its span it never stopped being
//      allocated, so reusing it needs no bookkeeping. A full batch takes the
//      mcentral lock once and, per object: for a span some cache owns, sets its
//      bit in the span's remote_free bitmap with an atomic fetch_or (the owner
//      folds it in later); for an uncached span, clears its allocation bit
//      directly, moving the span from full to partial, or to the heap when its
//      last object is freed. So cross-thread frees cost one lock per batch,
//      never one per object, and no span is touched by two writers without
//      a lock or an atomic.
//   Why per-thread batches rather than a lock-free per-span list pushed by
//   every remote free (mimalloc's way): an uncached span must move between
//   mcentral lists and reach the heap when empty, and deciding that
//   without the mcentral lock races with a cache taking the span (the
//   span could be recycled under the freeing thread). The batch takes the
//   lock that decides it anyway, amortised over 64 objects. The cost is
//   latency: up to a batch of freed objects per class per thread is not
//   yet reusable (bounded, 64 KiB per class; flushed at thread exit and by
//   free_os_memory on the calling thread).
//
// The front end (tcmalloc's per-class free lists). Step 3 of a free also
// pushes the object on the cache's LIFO for its span class, linked through
// the object's first word, and step 3 of a malloc pops that LIFO first
// (then the batch of step 4 below, then the window), so a same-thread
// malloc/free pair reuses one hot object: a pop and a push instead of a
// bitmap walk. A LIFO object keeps its local_free bit set (so a second
// free of it is still caught, invariant 4); the pop clears it (one magic
// division for the index). Hence a LIFO holds only objects of the cache's
// current span of that class (the only span whose owner it is), each of
// them free to that span, and emptying a LIFO ("flushing" it) is O(1):
// forget the list, and the span's next fold reuses its objects. The cache
// flushes a class's LIFO before its span is folded or uncached
// (cache_alloc_slow), and all of them in cache_release and so in
// destroy_cache; tiny blocks have no LIFO (tiny_alloc zeroes each block
// and tiny_retire frees into the bits only). Bound: 32 KiB of objects per
// class, at most 512 (FreeList in mcache.h; a push past it forgets the
// list and starts anew with the newest object). Memory is not what it
// bounds (the objects are in the cache's own span either way; most spans
// are one page, so the span bounds the list first): it keeps the LIFO to
// objects likely still in cache, past which the window's address order is
// as good. A kZero allocation from the LIFO zeroes the whole object, link
// word included, whatever the span's needzero. MemStats are unchanged: a
// push is a free, a pop a malloc. For the GC: the mark phase must not see
// a LIFO object as allocated; cache_flush_lifos(c) on every cache before
// marking makes them plain local_free objects, which the sweep's fold
// treats as free.
//
// The fold (Go's sweep, without a collector). Objects below freeindex are
// allocated; when freeindex reaches nelems, every object is allocated
// except those whose bit is set in local_free or remote_free, so the new
// allocation bitmap is the complement of their union, freeindex restarts
// at 0, and the window is reloaded. A span handed back to its mcentral is
// folded the same way (objects below freeindex count as allocated) under
// the mcentral lock, after its owner is cleared, so that no later remote
// free can miss it: from then on batches clear its bits directly.
//
// Tiny (malloc.go's tiny allocator): pointer-free requests under 16 bytes
// are packed into one 16-byte block per cache, aligned to 8, 4 or 2 by
// their size. Go frees a block when the GC finds all of its objects dead;
// with explicit frees each block has a reference count (uint16 per block,
// in its span's side table). The cache holds a bias (kTinyBias) on its
// current block and counts its own allocations without atomics; a free
// decrements atomically; retiring the block adds (allocations - bias). The
// count reaches zero exactly when the cache has let go and every object is
// freed; that thread frees the block as an ordinary 16-byte object. Tiny
// blocks live in spans of their own (mcentral kTinySpanIndex), so that a
// 16-byte noscan object is never mistaken for a block.
//
// The page allocator. Go 1.14+ keeps one bit per page and a radix tree of
// summaries (start, max, end free run) over 5 levels to find a run in
// O(log) over a 256 TiB address space. gort keeps the bottom two levels: a
// bitmap per 64 MiB arena (128 words) and that arena's summary, plus an
// address-ordered array of arenas and `search_start`, the lowest arena
// with a free page. An allocation of n pages walks the arenas from
// search_start: a run carried over from the arenas below (their end
// summaries) may finish in this arena's start; otherwise if the arena's
// max >= n, scan its 128 words (whole-word skips, then ctz over mixed
// words); otherwise carry its end run upward. Cost: O(A) summary checks
// for A arenas plus O(128) words in the arena that fits, and O(128) words
// to recompute a summary after each change. On this 24 GiB machine A <=
// 384, so the worst walk is ~400 loads (~1 us), and in the common case
// search_start's arena fits. The radix tree pays off at terabytes; here it
// would be more code and more cache misses for the same answer. Free runs
// coalesce by construction: a free run is just zero bits, whoever freed
// its parts. First fit by address keeps the heap dense at low addresses
// and leaves the top to the scavenger, which works from the highest
// address down, as Go's does.
//
// Memory from the OS. An arena is mapped read/write with MAP_NORESERVE,
// first at Go's hint 0xc000000000 and then just above the highest arena,
// so the heap grows as one contiguous range; a fresh arena's pages count as
// released (untouched), as Go counts a new arena. The scavenger (and
// free_os_memory) releases free pages with madvise(MADV_DONTNEED) (or
// MADV_FREE with GODEBUG=madvdontneed=0): it marks them in use under the
// heap lock, releases them without it, then marks them free and released.
// A released page comes back zero; `zeroed_base` per arena remembers
// which pages were never handed out, so kZero skips the memset on memory
// known zero.
//
// How the GC will plug in. Spans already carry the span class with its
// noscan bit. The collector adds a mark bitmap beside alloc_bits (the
// bitmap block is per span, sized by nelems) and a sweep generation; its
// sweep is the fold above with "freed" = "allocated and not marked", which
// is exactly how Go's sweep builds allocBits from gcmarkBits. Explicit
// free() and the sweep can coexist because both only ever turn allocated
// objects into free ones through the same fold.
//
// Invariants
//   1. A page is in exactly one state: in use (one span, every page of it
//      mapped to it in spans[]), free, or free and released (PageAlloc's
//      two bitmaps, checked by verify()).
//   2. A small span is in exactly one place: cached (owner set, by one
//      cache), partial, or full; a span with no object in use is in the
//      heap, not on a list (uncache and free_batch return it).
//   3. Uncached spans are exact: alloc_count == popcount(alloc_bits).
//   4. An object is freed at most once: a second free finds its bit already
//      clear (uncached), already set in local_free or remote_free (cached;
//      LIFO objects included), or its page free (large); all fatal.
//   7. A cache's LIFO of span class sc holds only objects of c->alloc[sc],
//      each with its local_free bit set; it is empty whenever that span is
//      folded, uncached or replaced.
//   5. Lock order: mcentral, then heap; the cache registry lock is taken
//      alone or after neither.
//   6. HeapSys == HeapIdle + HeapInuse and Mallocs - Frees == HeapObjects
//      in every snapshot (by construction; see read_mem_stats).
#include <cstring>

#include "mem/mcache.h"
#include "mem/mcentral.h"
#include "mem/mem.h"
#include "mem/mheap.h"
#include "mem/tally.h"
#include "mem/scavenger.h"
#include "mem/sizeclasses.h"
#include "sys/fatal.h"
#include "sys/mutex.h"

namespace gort::mem {

namespace {

// Larger requests return nullptr (Go's maxAlloc on amd64 is 2^48).
constexpr size_t kMaxAlloc = size_t{1} << 46;

// The cache of threads that are exiting after their own cache was
// destroyed (another thread_local's destructor may still allocate).
struct Orphan {
  sys::Mutex mu;
  MCache* cache ABSL_GUARDED_BY(mu) = nullptr;
};
constinit Orphan g_orphan;

std::atomic<int64_t> g_stack_inuse{0};
std::atomic<int64_t> g_stack_sys{0};
std::atomic<GcStatsHook> g_gc_hook{nullptr};
std::atomic<StackStatsHook> g_stack_hook{nullptr};

// Runs f(cache) with the orphan cache, made on first use.
template <typename F>
auto with_orphan(F f) {
  sys::MutexLock l(g_orphan.mu);
  if (g_orphan.cache == nullptr) g_orphan.cache = new_cache();
  return f(g_orphan.cache);
}

uintptr_t alloc_large(size_t size, size_t align, bool noscan, bool zero) {
  size_t npages = (size + kPageSize - 1) / kPageSize;
  size_t align_pages = align <= kPageSize ? 1 : align / kPageSize;
  MSpan* s = heap().alloc_large(npages, align_pages, noscan);
  if (s == nullptr) sys::fatal("runtime: out of memory");
  scavenger_ensure_started();
  if (zero && s->needzero)
    std::memset(reinterpret_cast<void*>(s->base), 0, s->elemsize);
  return s->base;
}

// Reuses the most recently freed object waiting in the cache's batch for
// span class `sc` (objects of spans the cache does not own; to those spans
// they are still allocated), or returns 0. LIFO: the object is likely hot.
inline uintptr_t pop_batch(MCache* c, int sc) {
  RemoteBatch* b = c->remote[sc];
  if (b == nullptr || b->n == 0) return 0;
  return b->objects[--b->n];
}

inline uintptr_t alloc_class(MCache* c, int size_class, bool noscan,
                             bool zero) {
  int sc = make_span_class(size_class, noscan);
  if (uintptr_t q = cache_pop_lifo(c, sc)) {
    // A freed object holds old data (and the LIFO link): zero it all.
    c->nmalloc[size_class].add(1);
    if (zero)
      std::memset(reinterpret_cast<void*>(q), 0, class_size(size_class));
    return q;
  }
  if (uintptr_t q = pop_batch(c, sc)) {
    c->nmalloc[size_class].add(1);
    if (zero)
      std::memset(reinterpret_cast<void*>(q), 0, class_size(size_class));
    return q;
  }
  MSpan* s = c->alloc[sc];
  uintptr_t p = s->next_free_fast();
  if (__builtin_expect(p == 0, 0)) {
    p = cache_alloc_slow(c, sc);
    s = c->alloc[sc];
  }
  c->nmalloc[size_class].add(1);
  if (zero && s->needzero) {
    std::memset(reinterpret_cast<void*>(p), 0, s->elemsize);
  }
  return p;
}

// ---- tiny ----

uintptr_t tiny_alloc(MCache* c, size_t size, bool zero) {
  // Align as malloc.go does: by the size's low bits.
  uint32_t off = c->tiny_offset;
  if ((size & 7) == 0) {
    off = (off + 7) & ~7u;
  } else if ((size & 3) == 0) {
    off = (off + 3) & ~3u;
  } else if ((size & 1) == 0) {
    off = (off + 1) & ~1u;
  }
  c->tiny_allocs.add(1);
  if (c->tiny != 0 && off + size <= kTinySize) {
    uintptr_t p = c->tiny + off;
    c->tiny_offset = off + static_cast<uint32_t>(size);
    ++c->tiny_count;
    if (zero) std::memset(reinterpret_cast<void*>(p), 0, size);
    return p;
  }
  // A new block, an ordinary object of the tiny spans.
  MSpan* s = c->alloc[kTinySpanIndex];
  uintptr_t block = pop_batch(c, kTinySpanIndex);
  if (block != 0) {
    s = MHeap::span_of(block);
  } else {
    block = s->next_free_fast();
  }
  if (block == 0) {
    block = cache_alloc_slow(c, kTinySpanIndex);
    s = c->alloc[kTinySpanIndex];
  }
  c->nmalloc[kTinySizeClass].add(1);
  std::memset(reinterpret_cast<void*>(block), 0, kTinySize);
  std::atomic<uint16_t>& refs = s->tiny_refs[s->index_of(block)];
  // Keep the block with more room left (malloc.go: size < tinyoffset).
  if (c->tiny == 0 || size < c->tiny_offset) {
    mcache_internal::tiny_retire(c);
    // Relaxed: no other thread can reach the block before we hand out an
    // object of it, which orders this store (see mem.h, Memory ordering).
    refs.store(kTinyBias, std::memory_order_relaxed);
    c->tiny = block;
    c->tiny_offset = static_cast<uint32_t>(size);
    c->tiny_count = 1;
  } else {
    refs.store(1, std::memory_order_relaxed);
  }
  return block;
}

void free_small_object(MCache* c, MSpan* s, uintptr_t p, uint32_t index) {
  if (c != nullptr) {
    cache_free_small(c, s, p, index);
  } else {
    with_orphan([&](MCache* o) {
      cache_free_small(o, s, p, index);
      return 0;
    });
  }
}

// Drops one reference to tiny block `index` of `s`; frees the block when
// it was the last. acq_rel: every free's writes happen-before the block's
// reuse by whoever frees it.
void tiny_release(MCache* c, MSpan* s, uint32_t index, uint16_t delta_add) {
  uint16_t after = static_cast<uint16_t>(
      s->tiny_refs[index].fetch_add(delta_add, std::memory_order_acq_rel) +
      delta_add);
  if (after == 0) free_small_object(c, s, s->object_addr(index), index);
}

}  // namespace

void mcache_internal::tiny_retire(MCache* c) {
  if (c->tiny == 0) return;
  MSpan* s = heap().span_of(c->tiny);
  uint32_t index = s->index_of(c->tiny);
  uint16_t delta = static_cast<uint16_t>(c->tiny_count - kTinyBias);
  c->tiny = 0;
  c->tiny_offset = 0;
  c->tiny_count = 0;
  tiny_release(c, s, index, delta);
}

// ---- the API ----

namespace {

[[gnu::noinline]] void* alloc_slow(size_t size, unsigned flags) {
  if (size == 0) size = 1;
  if (size > kMaxAlloc) return nullptr;
  bool noscan = flags & kNoScan;
  bool zero = flags & kZero;
  if (size > kMaxSmallSize) {
    return reinterpret_cast<void*>(alloc_large(size, kPageSize, noscan, zero));
  }
  MCache* c = current_cache();
  if (__builtin_expect(c == nullptr, 0)) {
    return with_orphan([&](MCache* o) {
      return reinterpret_cast<void*>(
          noscan && size < kTinySize
              ? tiny_alloc(o, size, zero)
              : alloc_class(o, size_to_class(size), noscan, zero));
    });
  }
  if (noscan && size < kTinySize) {
    return reinterpret_cast<void*>(tiny_alloc(c, size, zero));
  }
  return reinterpret_cast<void*>(
      alloc_class(c, size_to_class(size), noscan, zero));
}

}  // namespace

// The fast path: 1..1024 bytes, no flags, a cache with a non-empty window.
// Everything else (and every refill) goes to alloc_slow, so that this path
// saves no registers.
void* alloc(size_t size, unsigned flags) {
  if (__builtin_expect(size - 1 < kSmallSizeMax && flags == 0, 1)) {
    MCache* c = current_cache_if_any();
    if (__builtin_expect(c != nullptr, 1)) {
      int size_class = sizeclasses_internal::kSizeToClass8
                           .v[(size + kSmallSizeDiv - 1) / kSmallSizeDiv];
      int sc = make_span_class(size_class, false);
      uintptr_t p = cache_pop_lifo(c, sc);
      if (p == 0) p = pop_batch(c, sc);
      if (p == 0) p = c->alloc[sc]->next_free_fast();
      if (__builtin_expect(p != 0, 1)) {
        c->nmalloc[size_class].add(1);
        return reinterpret_cast<void*>(p);
      }
    }
  }
  return alloc_slow(size, flags);
}

void* alloc_aligned(size_t size, size_t align, unsigned flags) {
  if (align == 0 || (align & (align - 1)) != 0 || align > kArenaBytes) {
    return nullptr;
  }
  if (size == 0) size = 1;
  if (size > kMaxAlloc) return nullptr;
  if (align <= 8) return alloc(size, flags);
  bool noscan = flags & kNoScan;
  bool zero = flags & kZero;
  if (size <= kMaxSmallSize && align <= kPageSize) {
    // Spans start on a page boundary, so a class whose size is a multiple
    // of `align` has every object aligned to it.
    for (int c = size_to_class(size); c < kNumSizeClasses; ++c) {
      if (class_size(c) % align != 0) continue;
      MCache* mc = current_cache();
      if (mc == nullptr) {
        return with_orphan([&](MCache* o) {
          return reinterpret_cast<void*>(alloc_class(o, c, noscan, zero));
        });
      }
      return reinterpret_cast<void*>(alloc_class(mc, c, noscan, zero));
    }
  }
  if (size < kMaxSmallSize + 1) size = kMaxSmallSize + 1;  // a large span
  return reinterpret_cast<void*>(alloc_large(size, align, noscan, zero));
}

namespace {

[[gnu::noinline]] void free_slow(uintptr_t p, MSpan* s) {
  if (s == nullptr || s->state != SpanState::kInUse) {
    sys::fatalf("free of pointer %#lx not allocated by gort (or freed)",
                static_cast<unsigned long>(p));
  }
  if (s->size_class == 0) {
    if (p != s->base) {
      sys::fatalf("free of interior pointer %#lx",
                  static_cast<unsigned long>(p));
    }
    heap().free_span(s);
    scavenger_wake_if_needed();
    return;
  }
  uint32_t index = s->index_of(p);
  if (s->central == kTinySpanIndex) {
    tiny_release(current_cache(), s, index, static_cast<uint16_t>(-1));
    return;
  }
  if (s->object_addr(index) != p) {
    sys::fatalf("free of interior pointer %#lx", static_cast<unsigned long>(p));
  }
  free_small_object(current_cache(), s, p, index);
}

}  // namespace

// The fast path: a small object of a span the calling cache owns. The
// checks of cache_free_small (double free, unallocated) stay on it.
void free(void* ptr) {
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  MSpan* s = MHeap::span_of(p);
  if (__builtin_expect(s != nullptr, 1)) {
    MCache* c = current_cache_if_any();
    // An owned span is in use and small; tiny spans take the slow path.
    if (c != nullptr && s->owner.load(std::memory_order_relaxed) == c &&
        s->central != kTinySpanIndex) {
      uint32_t index = s->index_of(p);
      if (__builtin_expect(s->object_addr(index) == p, 1)) {
        cache_free_owned(c, s, p, index);
        return;
      }
    }
  }
  if (ptr == nullptr) return;
  free_slow(p, s);
}

void release_cached_spans() {
  if (MCache* c = current_cache()) cache_release(c);
  with_orphan([](MCache* o) { cache_release(o); });
}

size_t usable_size(const void* ptr) {
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  MSpan* s = heap().span_of(p);
  if (s == nullptr || s->state != SpanState::kInUse) {
    sys::fatalf("usable_size of pointer %#lx not allocated by gort",
                static_cast<unsigned long>(p));
  }
  if (s->central == kTinySpanIndex)
    return kTinySize - (p - s->base) % kTinySize;
  return s->elemsize;
}

void free_os_memory() {
  if (MCache* c = current_cache()) cache_flush_remote(c);
  heap().release(~size_t{0}, size_t{64} << 20);
}

void add_stack_stats(int64_t inuse_delta, int64_t sys_delta) {
  // Relaxed: independent counters, read by snapshots only.
  g_stack_inuse.fetch_add(inuse_delta, std::memory_order_relaxed);
  g_stack_sys.fetch_add(sys_delta, std::memory_order_relaxed);
}

void set_stack_stats_hook(StackStatsHook hook) {
  g_stack_hook.store(hook, std::memory_order_release);
}

void set_gc_stats_hook(GcStatsHook hook) {
  g_gc_hook.store(hook, std::memory_order_release);
}

MemStats read_mem_stats() {
  MemStats m;
  // Caches first (frees before mallocs, see mcache.h), then the heap.
  CacheTotals t = cache_totals();
  HeapCounters h = heap().counters();
  uint64_t small_alloc_bytes = 0, small_free_bytes = 0;
  uint64_t nmalloc = 0, nfree = 0;
  for (int c = 1; c < kNumSizeClasses; ++c) {
    nmalloc += t.nmalloc[c];
    nfree += t.nfree[c];
    small_alloc_bytes += t.nmalloc[c] * class_size(c);
    small_free_bytes += t.nfree[c] * class_size(c);
  }
  m.mallocs = nmalloc + h.large_allocs + t.tiny_allocs;
  m.frees = nfree + h.large_frees + t.tiny_allocs;
  m.heap_objects = m.mallocs - m.frees;
  m.total_alloc = small_alloc_bytes + h.large_alloc_bytes;
  m.heap_alloc = m.total_alloc - (small_free_bytes + h.large_free_bytes);
  m.alloc = m.heap_alloc;
  m.heap_sys = h.sys_bytes;
  m.heap_inuse = h.inuse_bytes;
  m.heap_idle = h.sys_bytes - h.inuse_bytes;
  m.heap_released = h.released_bytes;
  int64_t si = g_stack_inuse.load(std::memory_order_relaxed);
  int64_t ss = g_stack_sys.load(std::memory_order_relaxed);
  m.stack_inuse = si > 0 ? static_cast<uint64_t>(si) : 0;
  m.stack_sys = ss > 0 ? static_cast<uint64_t>(ss) : 0;
  if (StackStatsHook hook = g_stack_hook.load(std::memory_order_acquire)) {
    uint64_t inuse = 0, sys = 0;
    hook(&inuse, &sys);
    m.stack_inuse += inuse;
    m.stack_sys += sys;
  }
  m.mspan_inuse = h.span_inuse;
  m.mspan_sys = h.span_sys;
  m.mcache_inuse = t.cache_inuse;
  m.mcache_sys = t.cache_sys;
  m.gc_sys = h.bits_sys;
  m.other_sys = h.meta_sys;
  // Go's BySize: class 0's row counts nothing (large objects are not in
  // it); rows 1..60 are size classes 1..60.
  for (int c = 0; c < 61; ++c) {
    m.by_size[c].size = static_cast<uint32_t>(class_size(c));
    m.by_size[c].mallocs = c == 0 ? 0 : t.nmalloc[c];
    m.by_size[c].frees = c == 0 ? 0 : t.nfree[c];
  }
  if (GcStatsHook hook = g_gc_hook.load(std::memory_order_acquire)) hook(&m);
  m.sys = m.heap_sys + m.stack_sys + m.mspan_sys + m.mcache_sys +
          m.buck_hash_sys + m.gc_sys + m.other_sys;
  return m;
}

}  // namespace gort::mem
