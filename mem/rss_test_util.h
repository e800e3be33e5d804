// mem/rss_test_util.h: helpers for the RSS tests: the process's resident
// memory, and a heap of live objects plus garbage.
#ifndef GORT_MEM_RSS_TEST_UTIL_H_
#define GORT_MEM_RSS_TEST_UTIL_H_

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "mem/mem.h"

namespace gort::mem {

// Resident bytes, from /proc/self/statm's second field (pages).
inline size_t rss_bytes() {
  int fd = ::open("/proc/self/statm", O_RDONLY);
  char buf[128] = {};
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) std::abort();
  unsigned long size = 0, resident = 0;
  std::sscanf(buf, "%lu %lu", &size, &resident);
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// Allocates objects of random sizes in [min_size, max_size] until `bytes`
// of them (usable sizes) are live, touching every page of each.
inline std::vector<void*> allocate_touched(size_t bytes, size_t min_size,
                                           size_t max_size, uint64_t seed,
                                           size_t* usable_total) {
  std::mt19937_64 rng(seed);
  std::vector<void*> v;
  size_t total = 0;
  while (total < bytes) {
    size_t s = min_size + rng() % (max_size - min_size + 1);
    void* p = alloc(s);
    std::memset(p, 0x3c, s);
    total += usable_size(p);
    v.push_back(p);
  }
  *usable_total = total;
  return v;
}

}  // namespace gort::mem

#endif  // GORT_MEM_RSS_TEST_UTIL_H_
