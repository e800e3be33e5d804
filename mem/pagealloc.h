// mem/pagealloc.h: the page allocator: arenas of 8 KiB pages and the
// bitmaps that find free runs in them.
//
//   HeapArena   one 64 MiB arena's metadata: page -> span map, in-use and
//               released bitmaps, free-run summary
//   PageAlloc   the arenas in address order; allocates and frees runs of
//               pages, grows the heap, finds pages to return to the OS
//
// The design (a bitmap per arena plus a summary of its free runs, searched
// from the lowest arena that has free pages) and its cost are explained in
// mem/malloc.cc's essay, "The page allocator".
//
// Page states, two bits per page (alloc, scav):
//   (1, 0) in use: part of a span, or being returned to the OS right now
//   (0, 0) free, possibly resident ("idle" in MemStats)
//   (0, 1) free and released to the OS (MADV_DONTNEED): "released"
//   (1, 1) never
// A new arena starts with every page (0, 1): mapped but never touched, as
// Go counts a fresh arena as released.
//
// Thread safety: PageAlloc is not thread-safe; the heap's lock protects it.
// Exception: arena_of() and HeapArena::span_of() are called without the
// lock by free() and usable_size(), for pages of a span the caller owns.
//
// Memory ordering: an arena is published in the arena index with a release
// store that arena_of()'s acquire load pairs with, so a lock-free reader
// that finds an arena sees it initialised. The page -> span entries are
// relaxed atomics: a reader looks up only pages of an object it holds, and
// the chain that handed it that object (heap lock, mcentral lock, or the
// program's own synchronisation) already orders the span's initialisation
// before the lookup.
#ifndef GORT_MEM_PAGEALLOC_H_
#define GORT_MEM_PAGEALLOC_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "mem/sizeclasses.h"

namespace gort::mem {

class MSpan;

inline constexpr int kArenaShift = 26;
inline constexpr size_t kArenaBytes = size_t{1} << kArenaShift;      // 64 MiB
inline constexpr uint32_t kPagesPerArena = kArenaBytes / kPageSize;  // 8192
inline constexpr uint32_t kArenaWords = kPagesPerArena / 64;         // 128
// User addresses on x86-64 Linux are below 2^47; the index covers 2^48.
inline constexpr int kAddressBits = 48;
inline constexpr size_t kArenaIndexSize = size_t{1}
                                          << (kAddressBits - kArenaShift);
// The most arenas one process may have (1 TiB of heap).
inline constexpr uint32_t kMaxArenas = 1 << 14;

struct HeapArena {
  uintptr_t base = 0;  // kArenaBytes-aligned
  uint32_t index = 0;  // position in PageAlloc's address-ordered list

  // Free-run summary of alloc_bits (Go's pallocSum): free pages at the
  // start, the longest free run, free pages at the end.
  uint32_t sum_start = 0, sum_max = 0, sum_end = 0;
  uint32_t nfree = 0;        // pages (0, *)
  uint32_t nreleased = 0;    // pages (0, 1)
  uint32_t zeroed_base = 0;  // pages >= this were never handed out: zero

  uint64_t alloc_bits[kArenaWords] = {};  // 1: in use
  uint64_t scav_bits[kArenaWords] = {};   // 1: released to the OS

  // Page -> the in-use span that covers it; nullptr for free pages.
  std::atomic<MSpan*> spans[kPagesPerArena] = {};

  MSpan* span_of(uintptr_t addr) const {
    return spans[(addr >> kPageShift) & (kPagesPerArena - 1)].load(
        std::memory_order_relaxed);
  }
};

// What an allocation of pages found.
struct PageRun {
  uintptr_t base = 0;     // 0: out of memory
  size_t released = 0;    // pages of the run that had been released
  bool needzero = false;  // false: every page of the run is known zero
};

namespace pagealloc_internal {
// The arena index (Go's mheap_.arenas on linux/amd64: one level of 2^22
// entries): 32 MiB of zero-fill-on-demand BSS, touched only where arenas
// exist. Shared by every PageAlloc (their arenas never overlap).
extern std::atomic<HeapArena*> g_arena_index[kArenaIndexSize];
}  // namespace pagealloc_internal

class PageAlloc {
 public:
  constexpr PageAlloc() = default;
  PageAlloc(const PageAlloc&) = delete;
  PageAlloc& operator=(const PageAlloc&) = delete;

  // Allocates `npages` contiguous pages whose first page number is a
  // multiple of `align_pages` (a power of two), lowest address first,
  // growing the heap when no run fits. Returns base 0 if the OS refuses
  // memory. REQUIRES: npages >= 1.
  PageRun alloc(size_t npages, size_t align_pages = 1);

  // Frees pages [base, base + npages * kPageSize). REQUIRES: in use.
  void free(uintptr_t base, size_t npages);

  // Finds the highest run of free, resident pages (at most max_pages) and
  // marks it in use, so that nobody allocates it while the caller releases
  // it without the lock. Returns the number of pages (0: none) and sets
  // *base. The caller then calls finish_release(). (mgcscavenge.go's
  // scavengeOne does the same.)
  size_t begin_release(size_t max_pages, uintptr_t* base);
  // Marks pages from begin_release() free and released.
  void finish_release(uintptr_t base, size_t npages);

  // Records `span` (or nullptr) as the span of pages [base, +npages).
  void set_spans(uintptr_t base, size_t npages, MSpan* span);

  // The arena holding `addr`, or nullptr: lock-free (see Memory ordering).
  static HeapArena* arena_of(uintptr_t addr) {
    if ((addr >> kAddressBits) != 0) return nullptr;
    return pagealloc_internal::g_arena_index[addr >> kArenaShift].load(
        std::memory_order_acquire);
  }

  size_t sys_bytes() const { return size_t{narenas_} * kArenaBytes; }
  size_t free_pages() const { return free_pages_; }
  size_t released_pages() const { return released_pages_; }
  size_t metadata_bytes() const { return metadata_bytes_; }
  uint32_t narenas() const { return narenas_; }

  // For tests: checks every arena's counters and summaries against its
  // bitmaps (a fatal error on mismatch).
  void verify() const;

 private:
  bool grow(size_t npages);
  HeapArena* add_arena(uintptr_t base);
  uintptr_t find(size_t npages, size_t align_pages) const;
  void mark_in_use(uintptr_t base, size_t npages, PageRun* run);

  HeapArena* arenas_[kMaxArenas] = {};  // address order
  uint32_t narenas_ = 0;
  uint32_t search_start_ = 0;  // no arena below this one has a free page
  size_t free_pages_ = 0;
  size_t released_pages_ = 0;
  size_t metadata_bytes_ = 0;
};

// Bitmap helpers over 64-bit words, page i at bit i % 64 of word i / 64.
// Exposed for tests.
namespace pagealloc_internal {
struct Summary {
  uint32_t start, max, end;
};
// Free runs (zero bits) of the first `nbits` bits.
Summary summarize(const uint64_t* bits, uint32_t nbits);
// The first run of `npages` zero bits starting at a multiple of `align`,
// or -1.
int64_t find_run(const uint64_t* bits, uint32_t nbits, uint32_t npages,
                 uint32_t align);
void set_range(uint64_t* bits, uint32_t start, uint32_t n);
void clear_range(uint64_t* bits, uint32_t start, uint32_t n);
uint32_t count_range(const uint64_t* bits, uint32_t start, uint32_t n);
}  // namespace pagealloc_internal

}  // namespace gort::mem

#endif  // GORT_MEM_PAGEALLOC_H_
