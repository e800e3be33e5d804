// RSS falls back near the live set after a large heap is freed and
// free_os_memory() returns the free pages (Go's debug.FreeOSMemory).
#include <gtest/gtest.h>

#include <cstdio>

#include "mem/mem.h"
#include "mem/rss_test_util.h"

namespace gort::mem {
namespace {

#if defined(__SANITIZE_THREAD__)
// TSan shadows every byte written with 2x..4x of its own memory, which our
// madvise does not release: the test keeps the garbage small and checks
// HeapReleased, which is what drives RSS without the sanitizer.
constexpr size_t kGarbage = size_t{128} << 20;
constexpr bool kCheckRss = false;
#else
constexpr size_t kGarbage = size_t{1} << 30;
constexpr bool kCheckRss = true;
#endif
constexpr size_t kLive = size_t{64} << 20;

// After 1 GiB of garbage is freed and free_os_memory() runs, the
// process's RSS is within 10% of the live set (plus the allocator's
// metadata, under 2 MiB), and every free page is released.
TEST(Rss, FreeOsMemoryReturnsFreedPages) {
  size_t rss0 = rss_bytes();
  size_t live_bytes = 0, garbage_bytes = 0;
  auto live = allocate_touched(kLive, 1024, 64 << 10, 1, &live_bytes);
  auto garbage = allocate_touched(kGarbage, 256, 256 << 10, 2, &garbage_bytes);
  size_t rss_peak = rss_bytes();
  for (void* p : garbage) free(p);
  free_os_memory();
  size_t rss1 = rss_bytes();
  MemStats m = read_mem_stats();
  std::printf(
      "live %zu MiB, garbage %zu MiB, RSS: base %zu MiB, peak %zu "
      "MiB, after %zu MiB; HeapInuse %zu MiB, HeapReleased %zu MiB\n",
      live_bytes >> 20, garbage_bytes >> 20, rss0 >> 20, rss_peak >> 20,
      rss1 >> 20, size_t{m.heap_inuse} >> 20, size_t{m.heap_released} >> 20);
  // Every free page is released: idle == released, but for one scavenger
  // quantum (64 KiB) that the background thread may be releasing right now.
  EXPECT_LE(m.heap_idle - m.heap_released, size_t{64} << 10);
  EXPECT_LE(m.heap_inuse, live_bytes + live_bytes / 10);
  if (kCheckRss) {
    EXPECT_GE(rss_peak - rss0, kGarbage);
    EXPECT_LE(rss1 - rss0, live_bytes + live_bytes / 10 + (size_t{2} << 20));
  }
  for (void* p : live) free(p);
}

}  // namespace
}  // namespace gort::mem
