// Tests of the page allocator (mem/pagealloc.h): the bitmap helpers against
// brute force, and PageAlloc against a model of which pages are in use.
#include "mem/pagealloc.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace gort::mem {
namespace {

using namespace pagealloc_internal;

bool bit(const std::vector<uint64_t>& b, uint32_t i) {
  return (b[i / 64] >> (i % 64)) & 1;
}

std::vector<uint64_t> random_bits(std::mt19937_64& rng, uint32_t nwords) {
  std::vector<uint64_t> b(nwords);
  int style = rng() % 4;
  for (auto& w : b) {
    switch (style) {
      case 0:
        w = rng();
        break;  // noise
      case 1:
        w = (rng() % 3 == 0) ? 0 : ~uint64_t{0};
        break;  // blocks
      case 2:
        w = rng() & rng() & rng();
        break;  // sparse
      default:
        w = (rng() % 2) ? (rng() | rng()) : 0;
        break;  // mixed
    }
  }
  return b;
}

// summarize() equals a page-by-page count of free runs.
TEST(PageAllocBits, SummaryMatchesBruteForce) {
  std::mt19937_64 rng(1);
  for (int iter = 0; iter < 2000; ++iter) {
    uint32_t nwords = 1 + rng() % 8;
    auto b = random_bits(rng, nwords);
    uint32_t n = nwords * 64, start = 0, max = 0, run = 0;
    while (start < n && !bit(b, start)) ++start;
    for (uint32_t i = 0; i < n; ++i) {
      run = bit(b, i) ? 0 : run + 1;
      if (run > max) max = run;
    }
    Summary s = summarize(b.data(), n);
    ASSERT_EQ(s.start, start);
    ASSERT_EQ(s.max, max);
    ASSERT_EQ(s.end, run);
  }
}

// find_run() returns the lowest aligned start of npages free pages.
TEST(PageAllocBits, FindRunIsFirstFit) {
  std::mt19937_64 rng(2);
  for (int iter = 0; iter < 3000; ++iter) {
    uint32_t nwords = 1 + rng() % 8;
    auto b = random_bits(rng, nwords);
    uint32_t n = nwords * 64;
    uint32_t npages = 1 + rng() % (iter % 2 ? 8 : 150);
    uint32_t align = 1u << (rng() % 4);
    int64_t want = -1;
    for (uint32_t s = 0; s + npages <= n && want < 0; s += align) {
      bool ok = true;
      for (uint32_t i = s; i < s + npages && ok; ++i) ok = !bit(b, i);
      if (ok) want = s;
    }
    ASSERT_EQ(find_run(b.data(), n, npages, align), want)
        << "npages " << npages << " align " << align;
  }
}

TEST(PageAllocBits, RangeOps) {
  std::vector<uint64_t> b(4, 0);
  set_range(b.data(), 60, 70);
  EXPECT_EQ(count_range(b.data(), 0, 256), 70u);
  EXPECT_EQ(count_range(b.data(), 59, 2), 1u);
  EXPECT_EQ(b[1], ~uint64_t{0});
  clear_range(b.data(), 64, 64);
  EXPECT_EQ(count_range(b.data(), 0, 256), 6u);
}

// A PageAlloc is big (the arena list); tests keep theirs on the heap.
// Its arenas are never unmapped, so each test uses few.
struct Model {
  std::map<uintptr_t, size_t> runs;  // base -> npages, the runs in use
  bool overlaps(uintptr_t base, size_t n) const {
    auto it = runs.upper_bound(base);
    if (it != runs.end() && it->first < base + n * kPageSize) return true;
    if (it != runs.begin()) {
      --it;
      if (it->first + it->second * kPageSize > base) return true;
    }
    return false;
  }
};

// Random allocations and frees never overlap, keep every counter and
// summary consistent with the bitmaps, and honour alignment.
TEST(PageAlloc, RandomAgainstModel) {
  auto pa = std::make_unique<PageAlloc>();
  Model m;
  std::mt19937_64 rng(3);
  std::vector<uintptr_t> live;
  size_t in_use = 0, peak = 0;
  for (int step = 0; step < 4000; ++step) {
    if (live.empty() || rng() % 100 < 55) {
      size_t n = rng() % 10 == 0 ? 1 + rng() % 2000 : 1 + rng() % 12;
      size_t align = size_t{1} << (rng() % 3 == 0 ? rng() % 6 : 0);
      PageRun r = pa->alloc(n, align);
      ASSERT_NE(r.base, 0u);
      ASSERT_EQ((r.base >> kPageShift) % align, 0u);
      ASSERT_FALSE(m.overlaps(r.base, n));
      m.runs[r.base] = n;
      live.push_back(r.base);
      in_use += n;
      if (in_use > peak) peak = in_use;
    } else {
      size_t i = rng() % live.size();
      uintptr_t base = live[i];
      live[i] = live.back();
      live.pop_back();
      pa->free(base, m.runs[base]);
      in_use -= m.runs[base];
      m.runs.erase(base);
    }
    if (step % 97 == 0) pa->verify();
    ASSERT_EQ(pa->sys_bytes() / kPageSize - pa->free_pages(), in_use);
  }
  pa->verify();
  // First fit keeps fragmentation bounded: the heap never grew past twice
  // the peak in use plus one arena of slack.
  EXPECT_LE(pa->sys_bytes() / kPageSize, 2 * peak + kPagesPerArena);
}

// Freed neighbours coalesce: after freeing everything, one run as large as
// the whole heap fits without growing it.
TEST(PageAlloc, FreeRunsCoalesce) {
  auto pa = std::make_unique<PageAlloc>();
  std::vector<uintptr_t> bases;
  for (int i = 0; i < 1000; ++i) bases.push_back(pa->alloc(3).base);
  for (size_t i = 0; i < bases.size(); i += 2) pa->free(bases[i], 3);
  for (size_t i = 1; i < bases.size(); i += 2) pa->free(bases[i], 3);
  uint32_t arenas = pa->narenas();
  ASSERT_EQ(arenas, 1u);
  PageRun whole = pa->alloc(kPagesPerArena);
  EXPECT_EQ(whole.base, bases[0]);
  EXPECT_EQ(pa->narenas(), arenas);
  EXPECT_EQ(pa->free_pages(), 0u);
  pa->verify();
}

// Reused pages are reported as not zero unless they had been released;
// a run longer than an arena spans adjacent arenas.
TEST(PageAlloc, RunsAcrossArenasAndZeroness) {
  auto pa = std::make_unique<PageAlloc>();
  PageRun a = pa->alloc(100);
  EXPECT_FALSE(a.needzero);     // fresh pages are zero
  EXPECT_EQ(a.released, 100u);  // and counted as released
  pa->free(a.base, 100);
  PageRun again = pa->alloc(50);
  EXPECT_EQ(again.base, a.base);
  EXPECT_TRUE(again.needzero);  // handed out before, never released
  EXPECT_EQ(again.released, 0u);
  PageRun big = pa->alloc(kPagesPerArena + 500);
  ASSERT_NE(big.base, 0u);
  for (size_t i = 0; i < kPagesPerArena + 500; i += 511) {
    HeapArena* ar = pa->arena_of(big.base + i * kPageSize);
    ASSERT_NE(ar, nullptr);
    uint32_t page = (big.base + i * kPageSize - ar->base) >> kPageShift;
    EXPECT_EQ(count_range(ar->alloc_bits, page, 1), 1u);
  }
  pa->verify();
  pa->free(big.base, kPagesPerArena + 500);
  pa->free(again.base, 50);
  EXPECT_EQ(pa->free_pages() * kPageSize, pa->sys_bytes());
  pa->verify();
}

// begin/finish_release move free resident pages to released, highest
// first, and never touch pages in use.
TEST(PageAlloc, ReleaseFreePages) {
  auto pa = std::make_unique<PageAlloc>();
  PageRun a = pa->alloc(64);
  PageRun b = pa->alloc(64);
  pa->free(a.base, 64);  // 64 free resident pages below b
  size_t released_before = pa->released_pages();
  uintptr_t base = 0;
  size_t total = 0;
  for (;;) {
    size_t n = pa->begin_release(16, &base);
    if (n == 0) break;
    EXPECT_LE(n, 16u);
    EXPECT_GE(base, a.base);
    EXPECT_LE(base + n * kPageSize, a.base + 64 * kPageSize);
    pa->finish_release(base, n);
    total += n;
  }
  EXPECT_EQ(total, 64u);
  EXPECT_EQ(pa->released_pages(), released_before + 64);
  PageRun c = pa->alloc(64);
  EXPECT_EQ(c.base, a.base);
  EXPECT_EQ(c.released, 64u);
  EXPECT_FALSE(c.needzero);  // every page was released: zero again
  pa->verify();
  pa->free(b.base, 64);
  pa->free(c.base, 64);
}

}  // namespace
}  // namespace gort::mem
