// mem/mspan.h: a span, a run of pages holding objects of one size class
// (Go's mspan, mheap.go).
//
//   SpanState   free (in the MSpan pool) or in use (small or large)
//   SpanPlace   where an in-use small span is: cached by an mcache, or on
//               its mcentral's partial or full list
//   MSpan       the span: bounds, class, allocation bitmap and the cached
//               64-bit window over it, free-index, frees waiting to be
//               folded in
//
// Allocation state (Go's model). Objects below `freeindex` are allocated;
// at or above it, an object is free iff its bit in `alloc_bits` is 0.
// `alloc_cache` is the complement of alloc_bits' word holding freeindex,
// shifted so that bit 0 is object `freeindex`: allocating is ctz + shift.
// Freed objects are not put back at once. The owner records its own frees
// in `local_free` and other threads set bits in `remote_free`; when
// freeindex reaches nelems the owner folds both in (a "sweep": Go's
// sweep builds allocBits from gcmarkBits the same way, and the GC will add
// its mark bits beside these). A span on an mcentral list is kept exact:
// alloc_bits has a 1 for each allocated object and freeindex is 0.
//
// Thread safety: the fields under "owner" are used only by the mcache in
// `owner` while it is set, and under the span's mcentral lock otherwise.
// `remote_free` words are atomics anyone may set; `owner` is written under
// the mcentral lock by the owning mcache's thread only. Immutable fields
// are set by the heap before the span is published.
//
// Memory ordering: a remote free is a fetch_or (release) of the object's
// bit; the owner's fold exchanges the word (acquire), so the freeing
// thread's last writes to the object happen-before its reuse. `owner`
// is read with relaxed loads: a thread that reads its own cache there set
// it itself; any other value sends the free down the batched path, which
// re-reads it under the mcentral lock.
#ifndef GORT_MEM_MSPAN_H_
#define GORT_MEM_MSPAN_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "mem/sizeclasses.h"

namespace gort::mem {

class MCache;

enum class SpanState : uint8_t {
  kFree,   // in the heap's MSpan pool; owned by the heap lock
  kInUse,  // holds objects (small: its class; large: one object)
};

enum class SpanPlace : uint8_t {
  kNone,     // large span, or a small span being created or destroyed
  kCached,   // owned by the mcache in `owner`
  kPartial,  // on its mcentral's partial list: some objects free
  kFull,     // on its mcentral's full list: no object free
};

// The pseudo span class of tiny-allocator blocks: size class 2, noscan, in
// spans of their own with per-block reference counts (see malloc.cc).
inline constexpr int kTinySpanIndex = kNumSpanClasses;
inline constexpr int kNumCentrals = kNumSpanClasses + 1;

inline constexpr uint32_t kMaxSpanWords = kMaxObjectsPerSpan / 64;  // 16

class MSpan {
 public:
  // ---- immutable while in use ----
  uintptr_t base = 0;
  size_t npages = 0;
  size_t elemsize = 0;     // object size; large: npages * kPageSize
  uint32_t nelems = 0;     // objects; large: 1
  uint32_t nwords = 0;     // words per bitmap: ceil(nelems / 64)
  uint8_t size_class = 0;  // 0: large
  SpanClass span_class = 0;
  uint16_t central = 0;  // index of its mcentral: span_class or tiny
  SpanState state = SpanState::kFree;

  // ---- owner (the mcache in `owner`, else the mcentral lock) ----
  SpanPlace place = SpanPlace::kNone;
  bool needzero = false;  // some object may hold old data
  uint32_t freeindex = 0;
  uint32_t alloc_count = 0;        // exact while on an mcentral list
  uint64_t alloc_cache = 0;        // ~alloc_bits from freeindex; see above
  uint64_t* alloc_bits = nullptr;  // nwords words
  uint64_t* local_free = nullptr;  // owner's frees since the last fold
  std::atomic<uint64_t>* remote_free = nullptr;  // other threads' frees
  std::atomic<uint16_t>* tiny_refs = nullptr;    // tiny spans: per block

  // Written only by the caching thread (see Thread safety).
  std::atomic<MCache*> owner{nullptr};

  // mcentral list links (mcentral lock).
  MSpan* next = nullptr;
  MSpan* prev = nullptr;

  // The index of the object at `addr`; REQUIRES: a small span, addr inside.
  uint32_t index_of(uintptr_t addr) const {
    return object_index(size_class, addr - base);
  }
  uintptr_t object_addr(uint32_t index) const {
    return base + index * elemsize;
  }

  // Allocates the next free object by the cached window, or returns 0 when
  // the window is empty or crosses a word (then call next_free_slow).
  // Go's nextFreeFast. REQUIRES: owner.
  uintptr_t next_free_fast() {
    uint64_t cache = alloc_cache;
    if (cache == 0) return 0;
    uint32_t t = std::countr_zero(cache);
    uint32_t index = freeindex + t;
    uint32_t next = index + 1;
    if (index >= nelems || ((next & 63) == 0 && next != nelems)) return 0;
    alloc_cache = (cache >> t) >> 1;
    freeindex = next;
    return object_addr(index);
  }

  // Allocates the next free object at or after freeindex, refilling the
  // window from alloc_bits; 0 when the span is exhausted (freeindex ==
  // nelems). Go's nextFreeIndex. REQUIRES: owner.
  uintptr_t next_free_slow();

  // Reloads alloc_cache for the current freeindex. REQUIRES: owner.
  void refill_cache() {
    if (freeindex >= nelems) {
      alloc_cache = 0;
      return;
    }
    alloc_cache = ~alloc_bits[freeindex / 64] >> (freeindex % 64);
  }

  // Folds local and remote frees into an exhausted span: every object is
  // allocated except those freed since the last fold. Resets freeindex.
  // Returns the number of free objects. REQUIRES: owner, freeindex ==
  // nelems.
  uint32_t fold_exhausted();

  // Makes alloc_bits exact (objects below freeindex allocated, frees
  // folded in), sets alloc_count, freeindex = 0. REQUIRES: owner, under the
  // mcentral lock, owner already cleared.
  void fold_for_central();

  // Initialises a fresh small span's allocation state: every object free.
  void init_small_state();
};

}  // namespace gort::mem

#endif  // GORT_MEM_MSPAN_H_
