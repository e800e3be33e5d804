// mem/pagealloc.cc: see pagealloc.h, and mem/malloc.cc's essay ("The page
// allocator") for the design and its cost.
#include "mem/pagealloc.h"

#include <bit>

#include "mem/fixalloc.h"
#include "sys/fatal.h"
#include "sys/syscall.h"

namespace gort::mem {
namespace pagealloc_internal {

std::atomic<HeapArena*> g_arena_index[kArenaIndexSize];

Summary summarize(const uint64_t* bits, uint32_t nbits) {
  Summary s{0, 0, 0};
  uint32_t run = 0;
  bool at_start = true;
  for (uint32_t w = 0; w < nbits / 64; ++w) {
    uint64_t word = bits[w];
    if (word == 0) {
      run += 64;
      continue;
    }
    // Walk the word's segments: a free run, then used pages, repeatedly.
    uint32_t pos = 0;
    while (pos < 64) {
      uint64_t free_here = ~word >> pos;  // 1 = free, from pos on
      if (free_here == 0) break;          // the rest of the word is used
      uint32_t used = std::countr_zero(free_here);
      if (used > 0) {  // a used segment ends the current run
        if (at_start) s.start = run, at_start = false;
        if (run > s.max) s.max = run;
        run = 0;
        pos += used;
        continue;
      }
      uint64_t used_here = ~free_here;  // ones shifted in above 64 - pos
      uint32_t len = std::countr_zero(used_here);
      if (len > 64 - pos) len = 64 - pos;
      run += len;
      pos += len;
    }
    if (pos < 64) {  // a used segment reached the word's end
      if (at_start) s.start = run, at_start = false;
      if (run > s.max) s.max = run;
      run = 0;
    }
  }
  if (at_start) s.start = run;
  if (run > s.max) s.max = run;
  s.end = run;
  return s;
}

int64_t find_run(const uint64_t* bits, uint32_t nbits, uint32_t npages,
                 uint32_t align) {
  uint32_t run_start = 0, run_len = 0;
  // A run [run_start, run_start + run_len) fits when its first aligned
  // page leaves room for npages.
  auto fits = [&](uint32_t* at) {
    uint32_t a = (run_start + align - 1) & ~(align - 1);
    if (a + npages <= run_start + run_len) {
      *at = a;
      return true;
    }
    return false;
  };
  for (uint32_t w = 0; w < nbits / 64; ++w) {
    uint64_t word = bits[w];
    if (word == ~uint64_t{0}) {
      run_len = 0;
      continue;
    }
    if (word == 0) {
      if (run_len == 0) run_start = w * 64;
      run_len += 64;
      uint32_t at;
      if (fits(&at)) return at;
      continue;
    }
    uint32_t pos = 0;
    while (pos < 64) {
      uint64_t free_here = ~word >> pos;
      if (free_here == 0) {
        run_len = 0;
        break;
      }
      uint32_t used = std::countr_zero(free_here);
      if (used > 0) {
        run_len = 0;
        pos += used;
        continue;
      }
      uint32_t len = std::countr_zero(~free_here);
      if (len > 64 - pos) len = 64 - pos;
      if (run_len == 0) run_start = w * 64 + pos;
      run_len += len;
      uint32_t at;
      if (fits(&at)) return at;
      pos += len;
      if (pos < 64) run_len = 0;
    }
  }
  return -1;
}

void set_range(uint64_t* bits, uint32_t start, uint32_t n) {
  while (n > 0) {
    uint32_t w = start / 64, b = start % 64;
    uint32_t k = n < 64 - b ? n : 64 - b;
    uint64_t mask = k == 64 ? ~uint64_t{0} : ((uint64_t{1} << k) - 1) << b;
    bits[w] |= mask;
    start += k;
    n -= k;
  }
}

void clear_range(uint64_t* bits, uint32_t start, uint32_t n) {
  while (n > 0) {
    uint32_t w = start / 64, b = start % 64;
    uint32_t k = n < 64 - b ? n : 64 - b;
    uint64_t mask = k == 64 ? ~uint64_t{0} : ((uint64_t{1} << k) - 1) << b;
    bits[w] &= ~mask;
    start += k;
    n -= k;
  }
}

uint32_t count_range(const uint64_t* bits, uint32_t start, uint32_t n) {
  uint32_t c = 0;
  while (n > 0) {
    uint32_t w = start / 64, b = start % 64;
    uint32_t k = n < 64 - b ? n : 64 - b;
    uint64_t mask = k == 64 ? ~uint64_t{0} : ((uint64_t{1} << k) - 1) << b;
    c += std::popcount(bits[w] & mask);
    start += k;
    n -= k;
  }
  return c;
}

}  // namespace pagealloc_internal

using namespace pagealloc_internal;

namespace {

void resummarize(HeapArena* a) {
  Summary s = summarize(a->alloc_bits, kPagesPerArena);
  a->sum_start = s.start;
  a->sum_max = s.max;
  a->sum_end = s.end;
}

uintptr_t round_up(uintptr_t x, uintptr_t align) {
  return (x + align - 1) & ~(align - 1);
}

// Go's first arena hint on linux/amd64 (malloc.go, mallocinit):
// 0x00c0 << 32. Heap addresses that start 0xc0... are recognisable in a
// core dump, and growth upward from there stays contiguous.
constexpr uintptr_t kFirstArenaHint = uintptr_t{0x00c0} << 32;

}  // namespace

HeapArena* PageAlloc::add_arena(uintptr_t base) {
  if (narenas_ == kMaxArenas) return nullptr;
  void* meta = os_map(nullptr, sizeof(HeapArena));
  if (meta == nullptr) return nullptr;
  metadata_bytes_ += round_up(sizeof(HeapArena), 4096);
  HeapArena* a = new (meta) HeapArena();
  a->base = base;
  // Every page of a new arena is mapped but untouched: free and released.
  for (uint32_t w = 0; w < kArenaWords; ++w) a->scav_bits[w] = ~uint64_t{0};
  a->nfree = kPagesPerArena;
  a->nreleased = kPagesPerArena;
  resummarize(a);
  free_pages_ += kPagesPerArena;
  released_pages_ += kPagesPerArena;
  // Insert in address order.
  uint32_t i = narenas_;
  while (i > 0 && arenas_[i - 1]->base > base) {
    arenas_[i] = arenas_[i - 1];
    arenas_[i]->index = i;
    --i;
  }
  arenas_[i] = a;
  a->index = i;
  ++narenas_;
  if (i < search_start_) search_start_ = i;
  // Publish last: arena_of() readers see a fully built arena (release
  // pairs with arena_of()'s acquire load).
  g_arena_index[base >> kArenaShift].store(a, std::memory_order_release);
  return a;
}

bool PageAlloc::grow(size_t npages) {
  size_t n = (npages + kPagesPerArena - 1) / kPagesPerArena;
  size_t bytes = n * kArenaBytes;
  // Ask for the address just above the highest arena so that the heap stays
  // one contiguous run; the kernel honours a free hint.
  uintptr_t hint = narenas_ == 0 ? kFirstArenaHint
                                 : arenas_[narenas_ - 1]->base + kArenaBytes;
  uintptr_t base = 0;
  void* p = os_map(reinterpret_cast<void*>(hint), bytes);
  if (p == nullptr) return false;
  if ((reinterpret_cast<uintptr_t>(p) & (kArenaBytes - 1)) == 0) {
    base = reinterpret_cast<uintptr_t>(p);
  } else {
    // Not aligned: map one arena more and trim to an aligned window.
    sys::munmap(p, bytes);
    p = os_map(nullptr, bytes + kArenaBytes);
    if (p == nullptr) return false;
    uintptr_t raw = reinterpret_cast<uintptr_t>(p);
    base = round_up(raw, kArenaBytes);
    if (base > raw) sys::munmap(p, base - raw);
    uintptr_t end = raw + bytes + kArenaBytes;
    if (end > base + bytes) {
      sys::munmap(reinterpret_cast<void*>(base + bytes), end - (base + bytes));
    }
  }
  if (base + bytes > (uintptr_t{1} << kAddressBits)) {
    sys::munmap(reinterpret_cast<void*>(base), bytes);
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    if (add_arena(base + i * kArenaBytes) == nullptr) {
      // Out of arena slots: give back what has no arena.
      sys::munmap(reinterpret_cast<void*>(base + i * kArenaBytes),
                  (n - i) * kArenaBytes);
      return i > 0;
    }
  }
  return true;
}

// First fit by address. For each arena from search_start_: a run that
// began in the arenas below and continues into this one's first pages; then
// a run inside this arena (its summary says whether one exists before we
// scan its bitmap); then carry this arena's trailing free pages upward.
uintptr_t PageAlloc::find(size_t npages, size_t align_pages) const {
  uintptr_t run_base = 0;  // first page number of the carried run
  size_t run_len = 0;      // its length in pages
  for (uint32_t i = search_start_; i < narenas_; ++i) {
    const HeapArena* a = arenas_[i];
    uintptr_t page0 = a->base >> kPageShift;
    if (i == 0 || arenas_[i - 1]->base + kArenaBytes != a->base) run_len = 0;
    if (run_len > 0) {
      uintptr_t at = round_up(run_base, align_pages);
      if (at + npages <= run_base + run_len + a->sum_start) {
        return at << kPageShift;
      }
    }
    if (npages <= kPagesPerArena && a->sum_max >= npages) {
      int64_t at =
          find_run(a->alloc_bits, kPagesPerArena, static_cast<uint32_t>(npages),
                   static_cast<uint32_t>(align_pages));
      if (at >= 0) return (page0 + static_cast<uintptr_t>(at)) << kPageShift;
    }
    if (a->sum_start == kPagesPerArena) {
      if (run_len == 0) run_base = page0;
      run_len += kPagesPerArena;
    } else {
      run_len = a->sum_end;
      run_base = page0 + kPagesPerArena - a->sum_end;
    }
  }
  return 0;
}

void PageAlloc::mark_in_use(uintptr_t base, size_t npages, PageRun* run) {
  uintptr_t addr = base;
  size_t left = npages;
  while (left > 0) {
    HeapArena* a = arena_of(addr);
    GORT_CHECK(a != nullptr);
    uint32_t first = (addr - a->base) >> kPageShift;
    uint32_t n = static_cast<uint32_t>(
        left < kPagesPerArena - first ? left : kPagesPerArena - first);
    GORT_CHECK_EQ(count_range(a->alloc_bits, first, n), 0u);
    set_range(a->alloc_bits, first, n);
    uint32_t rel = count_range(a->scav_bits, first, n);
    // Zero unless a page below zeroed_base was handed out before and not
    // released since (released pages come back zero from the kernel).
    uint32_t lo = first,
             hi = first + n < a->zeroed_base ? first + n : a->zeroed_base;
    if (hi > lo && count_range(a->scav_bits, lo, hi - lo) != hi - lo) {
      run->needzero = true;
    }
    if (first + n > a->zeroed_base) a->zeroed_base = first + n;
    clear_range(a->scav_bits, first, n);
    a->nfree -= n;
    a->nreleased -= rel;
    free_pages_ -= n;
    released_pages_ -= rel;
    run->released += rel;
    resummarize(a);
    addr += size_t{n} << kPageShift;
    left -= n;
  }
  while (search_start_ < narenas_ && arenas_[search_start_]->nfree == 0) {
    ++search_start_;
  }
}

PageRun PageAlloc::alloc(size_t npages, size_t align_pages) {
  GORT_CHECK_GE(npages, 1u);
  GORT_CHECK((align_pages & (align_pages - 1)) == 0);
  GORT_CHECK_LE(align_pages, kPagesPerArena);
  PageRun run;
  uintptr_t base = narenas_ > 0 ? find(npages, align_pages) : 0;
  if (base == 0) {
    if (!grow(npages + align_pages - 1)) return run;
    base = find(npages, align_pages);
    if (base == 0) return run;
  }
  run.base = base;
  mark_in_use(base, npages, &run);
  return run;
}

void PageAlloc::free(uintptr_t base, size_t npages) {
  uintptr_t addr = base;
  size_t left = npages;
  while (left > 0) {
    HeapArena* a = arena_of(addr);
    GORT_CHECK(a != nullptr);
    uint32_t first = (addr - a->base) >> kPageShift;
    uint32_t n = static_cast<uint32_t>(
        left < kPagesPerArena - first ? left : kPagesPerArena - first);
    GORT_CHECK_EQ(count_range(a->alloc_bits, first, n), n);
    clear_range(a->alloc_bits, first, n);
    a->nfree += n;
    free_pages_ += n;
    resummarize(a);
    if (a->index < search_start_) search_start_ = a->index;
    addr += size_t{n} << kPageShift;
    left -= n;
  }
}

size_t PageAlloc::begin_release(size_t max_pages, uintptr_t* base) {
  for (uint32_t i = narenas_; i-- > 0;) {
    HeapArena* a = arenas_[i];
    if (a->nfree == a->nreleased) continue;  // nothing free and resident
    // Highest page that is free and resident, then extend downward.
    for (uint32_t w = kArenaWords; w-- > 0;) {
      uint64_t cand = ~a->alloc_bits[w] & ~a->scav_bits[w];
      if (cand == 0) continue;
      uint32_t top = w * 64 + 63 - std::countl_zero(cand);
      uint32_t lo = top;
      while (lo > 0 && top + 1 - lo < max_pages) {
        uint32_t p = lo - 1;
        uint64_t bit = uint64_t{1} << (p % 64);
        if ((a->alloc_bits[p / 64] & bit) || (a->scav_bits[p / 64] & bit)) {
          break;
        }
        lo = p;
      }
      uint32_t n = top + 1 - lo;
      set_range(a->alloc_bits, lo, n);
      a->nfree -= n;
      free_pages_ -= n;
      resummarize(a);
      *base = a->base + (uintptr_t{lo} << kPageShift);
      return n;
    }
  }
  return 0;
}

void PageAlloc::finish_release(uintptr_t base, size_t npages) {
  HeapArena* a = arena_of(base);
  GORT_CHECK(a != nullptr);
  uint32_t first = (base - a->base) >> kPageShift;
  uint32_t n = static_cast<uint32_t>(npages);
  GORT_CHECK_LE(first + n, kPagesPerArena);
  clear_range(a->alloc_bits, first, n);
  set_range(a->scav_bits, first, n);
  a->nfree += n;
  a->nreleased += n;
  free_pages_ += n;
  released_pages_ += n;
  resummarize(a);
  if (a->index < search_start_) search_start_ = a->index;
}

void PageAlloc::set_spans(uintptr_t base, size_t npages, MSpan* span) {
  uintptr_t addr = base;
  for (size_t i = 0; i < npages; ++i, addr += kPageSize) {
    HeapArena* a = arena_of(addr);
    a->spans[(addr >> kPageShift) & (kPagesPerArena - 1)].store(
        span, std::memory_order_relaxed);
  }
}

void PageAlloc::verify() const {
  size_t free_total = 0, released_total = 0;
  for (uint32_t i = 0; i < narenas_; ++i) {
    const HeapArena* a = arenas_[i];
    GORT_CHECK_EQ(a->index, i);
    if (i > 0) GORT_CHECK_LT(arenas_[i - 1]->base, a->base);
    if (i < search_start_) GORT_CHECK_EQ(a->nfree, 0u);
    uint32_t used = count_range(a->alloc_bits, 0, kPagesPerArena);
    GORT_CHECK_EQ(a->nfree, kPagesPerArena - used);
    uint32_t rel = count_range(a->scav_bits, 0, kPagesPerArena);
    GORT_CHECK_EQ(a->nreleased, rel);
    for (uint32_t w = 0; w < kArenaWords; ++w) {
      GORT_CHECK_EQ(a->alloc_bits[w] & a->scav_bits[w], 0u);
    }
    Summary s = summarize(a->alloc_bits, kPagesPerArena);
    GORT_CHECK_EQ(s.start, a->sum_start);
    GORT_CHECK_EQ(s.max, a->sum_max);
    GORT_CHECK_EQ(s.end, a->sum_end);
    free_total += a->nfree;
    released_total += a->nreleased;
  }
  GORT_CHECK_EQ(free_total, free_pages_);
  GORT_CHECK_EQ(released_total, released_pages_);
}

}  // namespace gort::mem
