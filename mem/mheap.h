// mem/mheap.h: the page heap (Go's mheap, mheap.go).
//
//   MHeap        spans of pages for mcentrals and large objects, the
//                page -> span map, returning free pages to the OS
//   HeapCounters the heap's numbers for MemStats, read under its lock
//
// Thread safety: every method may be called from any thread. One lock
// (Go's mheap_.lock) protects the page allocator, the MSpan pool and the
// counters; span_of() is lock-free (see pagealloc.h). Lock order: an
// mcentral lock may be held while taking the heap lock, never the reverse.
#ifndef GORT_MEM_MHEAP_H_
#define GORT_MEM_MHEAP_H_

#include <cstddef>
#include <cstdint>

#include "mem/fixalloc.h"
#include "mem/mspan.h"
#include "mem/pagealloc.h"
#include "sys/mutex.h"

namespace gort::mem {

struct HeapCounters {
  size_t sys_bytes = 0;                 // HeapSys: arena address space mapped
  size_t inuse_bytes = 0;               // HeapInuse: pages in in-use spans
  size_t released_bytes = 0;            // HeapReleased
  size_t free_bytes = 0;                // free pages, released or not
  size_t span_sys = 0, span_inuse = 0;  // MSpanSys, MSpanInuse
  size_t bits_sys = 0;                  // GCSys: span bitmaps, tiny counts
  size_t meta_sys = 0;                  // OtherSys: arena metadata
  uint64_t large_allocs = 0, large_frees = 0;  // objects > 32 KiB
  uint64_t large_alloc_bytes = 0, large_free_bytes = 0;
  size_t nspans = 0;
};

class MHeap {
 public:
  constexpr MHeap() = default;

  // A new small span for mcentral `central` (a span class, or
  // kTinySpanIndex), every object free, place kNone. nullptr: out of
  // memory.
  MSpan* alloc_small_span(int central);

  // A span of `npages` pages aligned to `align_pages` (a power of two) for
  // one large object. nullptr: out of memory.
  MSpan* alloc_large(size_t npages, size_t align_pages, bool noscan);

  // Returns a span's pages to the page allocator and the MSpan to its pool.
  // REQUIRES: in use, on no list, no owner.
  void free_span(MSpan* span);

  // The in-use span holding `addr`, or nullptr (not a heap address, or a
  // free page). Lock-free; meaningful for addresses of live objects.
  static MSpan* span_of(uintptr_t addr) {
    HeapArena* a = PageAlloc::arena_of(addr);
    return a == nullptr ? nullptr : a->span_of(addr);
  }

  // Returns up to `max_bytes` of free, resident pages to the OS, highest
  // addresses first, in chunks of at most `chunk_bytes`, dropping the lock
  // around each madvise. Returns the bytes released.
  size_t release(size_t max_bytes, size_t chunk_bytes);

  // The heap's numbers, consistent with each other (one lock hold).
  HeapCounters counters();

  // For tests: checks the page allocator against its bitmaps.
  void verify();

 private:
  MSpan* new_span_locked(const PageRun& run, size_t npages);
  void* alloc_bits_locked(uint32_t nwords, uint32_t* block_words);
  void free_bits_locked(MSpan* span);

  sys::Mutex mu_;
  PageAlloc pages_ ABSL_GUARDED_BY(mu_);
  FixAlloc span_pool_ ABSL_GUARDED_BY(mu_){(sizeof(MSpan) + 15) & ~size_t{15}};
  // Bitmap blocks for spans of 1, 2, 4, 8, 16 words per bitmap (three
  // bitmaps each), and tiny reference counts.
  FixAlloc bits_pool_[5] ABSL_GUARDED_BY(mu_) = {
      FixAlloc(32), FixAlloc(48), FixAlloc(96), FixAlloc(192), FixAlloc(384)};
  FixAlloc tiny_pool_ ABSL_GUARDED_BY(mu_){1024};
  size_t inuse_pages_ ABSL_GUARDED_BY(mu_) = 0;
  size_t nspans_ ABSL_GUARDED_BY(mu_) = 0;
  // Pages between begin_release and finish_release (being madvised).
  size_t releasing_pages_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t large_allocs_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t large_frees_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t large_alloc_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t large_free_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// The process's heap.
namespace mheap_internal {
extern constinit MHeap g_heap;
}  // namespace mheap_internal
inline MHeap& heap() { return mheap_internal::g_heap; }

// madvise advice for releasing pages: MADV_DONTNEED, or MADV_FREE when
// GODEBUG=madvdontneed=0 (Go 1.19's rule, mem_linux.go sysUnused).
int release_advice();

}  // namespace gort::mem

#endif  // GORT_MEM_MHEAP_H_
