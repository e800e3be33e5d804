// mem/mspan.cc: the span's allocation bitmap operations. See mspan.h.
#include "mem/mspan.h"

#include <cstring>

namespace gort::mem {
namespace {

// Mask of the bits of word `w` that name objects below `limit`.
uint64_t below_mask(uint32_t w, uint32_t limit) {
  if (limit >= (w + 1) * 64) return ~uint64_t{0};
  if (limit <= w * 64) return 0;
  return (uint64_t{1} << (limit - w * 64)) - 1;
}

}  // namespace

uintptr_t MSpan::next_free_slow() {
  while (freeindex < nelems) {
    if (alloc_cache == 0) {
      // Nothing free in the rest of this word: go to the next one.
      freeindex = (freeindex + 64) & ~63u;
      if (freeindex >= nelems) break;
      refill_cache();
      continue;
    }
    uint32_t t = std::countr_zero(alloc_cache);
    uint32_t index = freeindex + t;
    if (index >= nelems) break;
    freeindex = index + 1;
    if ((freeindex & 63) == 0) {
      refill_cache();
    } else {
      alloc_cache = (alloc_cache >> t) >> 1;
    }
    return object_addr(index);
  }
  freeindex = nelems;
  alloc_cache = 0;
  return 0;
}

uint32_t MSpan::fold_exhausted() {
  uint32_t nfree = 0;
  for (uint32_t w = 0; w < nwords; ++w) {
    // Acquire pairs with the release fetch_or of a remote free.
    uint64_t freed =
        local_free[w] | remote_free[w].exchange(0, std::memory_order_acquire);
    local_free[w] = 0;
    uint64_t valid = below_mask(w, nelems);
    alloc_bits[w] = ~freed & valid;
    nfree += std::popcount(freed & valid);
  }
  freeindex = 0;
  alloc_count = nelems - nfree;
  if (nfree != 0) needzero = true;
  refill_cache();
  return nfree;
}

void MSpan::fold_for_central() {
  uint32_t count = 0;
  bool freed_any = false;
  for (uint32_t w = 0; w < nwords; ++w) {
    uint64_t freed =
        local_free[w] | remote_free[w].exchange(0, std::memory_order_acquire);
    local_free[w] = 0;
    uint64_t bits = (alloc_bits[w] | below_mask(w, freeindex)) & ~freed;
    bits &= below_mask(w, nelems);
    alloc_bits[w] = bits;
    count += std::popcount(bits);
    freed_any |= freed != 0;
  }
  if (freed_any) needzero = true;
  alloc_count = count;
  freeindex = 0;
  alloc_cache = 0;
}

void MSpan::init_small_state() {
  std::memset(alloc_bits, 0, nwords * sizeof(uint64_t));
  std::memset(local_free, 0, nwords * sizeof(uint64_t));
  for (uint32_t w = 0; w < nwords; ++w) {
    remote_free[w].store(0, std::memory_order_relaxed);
  }
  freeindex = 0;
  alloc_count = 0;
  refill_cache();
}

}  // namespace gort::mem
