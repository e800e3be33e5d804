// mem/mheap.cc: the page heap. See mheap.h, and mem/malloc.cc's essay.
#include "mem/mheap.h"

#include <sys/mman.h>

#include <new>

#include "sys/env.h"
#include "sys/fatal.h"
#include "sys/syscall.h"

namespace gort::mem {

namespace mheap_internal {
constinit MHeap g_heap;
}  // namespace mheap_internal

namespace {

uint32_t pool_index(uint32_t nwords) {
  uint32_t i = 0;
  while ((1u << i) < nwords) ++i;
  return i;
}
}  // namespace

int release_advice() {
  static const int advice =
      sys::env().godebug.madvdontneed == 0 ? MADV_FREE : MADV_DONTNEED;
  return advice;
}

MSpan* MHeap::new_span_locked(const PageRun& run, size_t npages) {
  MSpan* s = new (span_pool_.alloc()) MSpan();
  s->base = run.base;
  s->npages = npages;
  s->needzero = run.needzero;
  s->state = SpanState::kInUse;
  inuse_pages_ += npages;
  ++nspans_;
  return s;
}

void* MHeap::alloc_bits_locked(uint32_t nwords, uint32_t* block_words) {
  uint32_t i = pool_index(nwords);
  *block_words = 1u << i;
  return bits_pool_[i].alloc();
}

MSpan* MHeap::alloc_small_span(int central) {
  bool tiny = central == kTinySpanIndex;
  SpanClass sc = tiny ? make_span_class(kTinySizeClass, true)
                      : static_cast<SpanClass>(central);
  int c = span_class_size_class(sc);
  size_t npages = class_pages(c);
  MSpan* s;
  {
    sys::MutexLock l(mu_);
    PageRun run = pages_.alloc(npages);
    if (run.base == 0) return nullptr;
    s = new_span_locked(run, npages);
    s->size_class = static_cast<uint8_t>(c);
    s->span_class = sc;
    s->central = static_cast<uint16_t>(central);
    s->elemsize = class_size(c);
    s->nelems = class_objects(c);
    s->nwords = (s->nelems + 63) / 64;
    uint32_t w;
    uint64_t* bits = static_cast<uint64_t*>(alloc_bits_locked(s->nwords, &w));
    s->alloc_bits = bits;
    s->local_free = bits + w;
    static_assert(sizeof(std::atomic<uint64_t>) == sizeof(uint64_t));
    s->remote_free = reinterpret_cast<std::atomic<uint64_t>*>(bits + 2 * w);
    if (tiny) {
      s->tiny_refs = static_cast<std::atomic<uint16_t>*>(tiny_pool_.alloc());
    }
    pages_.set_spans(s->base, npages, s);
  }
  s->init_small_state();
  return s;
}

MSpan* MHeap::alloc_large(size_t npages, size_t align_pages, bool noscan) {
  sys::MutexLock l(mu_);
  PageRun run = pages_.alloc(npages, align_pages);
  if (run.base == 0) return nullptr;
  MSpan* s = new_span_locked(run, npages);
  s->size_class = 0;
  s->span_class = make_span_class(0, noscan);
  s->elemsize = npages * kPageSize;
  s->nelems = 1;
  ++large_allocs_;
  large_alloc_bytes_ += s->elemsize;
  pages_.set_spans(s->base, npages, s);
  return s;
}

void MHeap::free_span(MSpan* s) {
  GORT_CHECK(s->state == SpanState::kInUse);
  GORT_CHECK(s->place == SpanPlace::kNone);
  sys::MutexLock l(mu_);
  pages_.set_spans(s->base, s->npages, nullptr);
  pages_.free(s->base, s->npages);
  inuse_pages_ -= s->npages;
  --nspans_;
  if (s->size_class == 0) {
    ++large_frees_;
    large_free_bytes_ += s->elemsize;
  } else {
    bits_pool_[pool_index(s->nwords)].free(s->alloc_bits);
    if (s->tiny_refs != nullptr) tiny_pool_.free(s->tiny_refs);
  }
  s->state = SpanState::kFree;
  s->~MSpan();
  span_pool_.free(s);
}

size_t MHeap::release(size_t max_bytes, size_t chunk_bytes) {
  size_t done = 0;
  size_t chunk_pages = chunk_bytes / kPageSize;
  if (chunk_pages == 0) chunk_pages = 1;
  int advice = release_advice();
  while (done < max_bytes) {
    size_t want = (max_bytes - done) / kPageSize;
    if (want == 0) want = 1;
    if (want > chunk_pages) want = chunk_pages;
    uintptr_t base = 0;
    size_t n;
    {
      sys::MutexLock l(mu_);
      n = pages_.begin_release(want, &base);
      releasing_pages_ += n;
    }
    if (n == 0) break;
    // Outside the lock: the pages are marked in use, nobody else has them.
    sys::madvise(reinterpret_cast<void*>(base), n * kPageSize, advice);
    {
      sys::MutexLock l(mu_);
      pages_.finish_release(base, n);
      releasing_pages_ -= n;
    }
    done += n * kPageSize;
  }
  return done;
}

HeapCounters MHeap::counters() {
  sys::MutexLock l(mu_);
  HeapCounters c;
  c.sys_bytes = pages_.sys_bytes();
  c.inuse_bytes = inuse_pages_ * kPageSize;
  c.released_bytes = pages_.released_pages() * kPageSize;
  c.free_bytes = pages_.free_pages() * kPageSize;
  c.span_sys = span_pool_.sys_bytes();
  c.span_inuse = span_pool_.inuse_bytes();
  c.bits_sys = tiny_pool_.sys_bytes();
  for (const FixAlloc& f : bits_pool_) c.bits_sys += f.sys_bytes();
  c.meta_sys = pages_.metadata_bytes();
  c.large_allocs = large_allocs_;
  c.large_frees = large_frees_;
  c.large_alloc_bytes = large_alloc_bytes_;
  c.large_free_bytes = large_free_bytes_;
  c.nspans = nspans_;
  return c;
}

void MHeap::verify() {
  sys::MutexLock l(mu_);
  pages_.verify();
  GORT_CHECK_EQ(pages_.sys_bytes() / kPageSize,
                pages_.free_pages() + inuse_pages_ + releasing_pages_);
}

}  // namespace gort::mem
