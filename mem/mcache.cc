// mem/mcache.cc: per-thread caches, their batches of remote frees, and the
// registry that read_mem_stats walks. See mcache.h and malloc.cc's essay.
#include "mem/mcache.h"

#include <new>

#include "mem/fixalloc.h"
#include "mem/mcentral.h"
#include "mem/mheap.h"
#include "sys/fatal.h"
#include "sys/mutex.h"

namespace gort::mem {

namespace mcache_internal {
std::atomic<CurrentCacheHook> g_hook{nullptr};
constinit thread_local MCache* tls_cache = nullptr;
}  // namespace mcache_internal

namespace {

using namespace mcache_internal;

constinit MSpan g_empty_span;

// The registry of live caches, the totals of dead ones, and the pools the
// caches and their batches come from.
struct Registry {
  sys::Mutex mu;
  MCache* head ABSL_GUARDED_BY(mu) = nullptr;
  CacheTotals dead ABSL_GUARDED_BY(mu);
  FixAlloc cache_pool ABSL_GUARDED_BY(mu){(sizeof(MCache) + 15) & ~size_t{15}};
  FixAlloc batch_pool ABSL_GUARDED_BY(mu){(sizeof(RemoteBatch) + 15) &
                                          ~size_t{15}};
};
constinit Registry g_registry;

// Per-thread state: whether this thread's cache was made and destroyed.
enum class TlsState : uint8_t { kNone, kLive, kDead };
constinit thread_local TlsState tls_state = TlsState::kNone;

// Destroys the thread's cache at thread exit (a thread_local with a
// destructor is registered with __cxa_thread_atexit on first use).
struct ThreadCacheReleaser {
  ~ThreadCacheReleaser() {
    MCache* c = tls_cache;
    tls_cache = nullptr;
    tls_state = TlsState::kDead;
    if (c != nullptr) destroy_cache(c);
  }
};

}  // namespace

MSpan* empty_span() { return &g_empty_span; }

MCache::MCache() {
  for (MSpan*& s : alloc) s = &g_empty_span;
  for (int sc = 0; sc < kNumSpanClasses; ++sc) {
    lifo[sc].limit = free_list_limit(span_class_size_class(sc));
  }
}

void cache_flush_lifos(MCache* c) {
  for (int sc = 0; sc < kNumSpanClasses; ++sc) cache_flush_lifo(c, sc);
}

void set_current_cache_hook(CurrentCacheHook hook) {
  g_hook.store(hook, std::memory_order_relaxed);
}

MCache* mcache_internal::thread_cache_slow() {
  if (tls_state == TlsState::kDead) return nullptr;
  static thread_local ThreadCacheReleaser releaser;
  (void)&releaser;  // odr-use: registers the destructor
  // Registering it may call calloc, which is this allocator when it
  // replaces malloc (//mem:malloc): that nested call made the cache already.
  if (tls_cache != nullptr) return tls_cache;
  tls_cache = new_cache();
  tls_state = TlsState::kLive;
  return tls_cache;
}

MCache* new_cache() {
  sys::MutexLock l(g_registry.mu);
  MCache* c = new (g_registry.cache_pool.alloc()) MCache();
  c->registry_next = g_registry.head;
  if (g_registry.head != nullptr) g_registry.head->registry_prev = c;
  g_registry.head = c;
  return c;
}

void cache_release(MCache* c) {
  tiny_retire(c);  // tiny blocks have no LIFO: no flush needed for them
  cache_flush_remote(c);
  // Before the spans are uncached: a LIFO object is free to its span
  // (local_free), and the fold in uncache_span makes it so for good.
  cache_flush_lifos(c);
  for (int i = 0; i < kNumCentrals; ++i) {
    MSpan* s = c->alloc[i];
    if (s == &g_empty_span) continue;
    c->alloc[i] = &g_empty_span;
    central(i).uncache_span(s);
  }
}

void destroy_cache(MCache* c) {
  cache_release(c);
  sys::MutexLock l(g_registry.mu);
  for (int i = 0; i < kNumCentrals; ++i) {
    if (c->remote[i] != nullptr) g_registry.batch_pool.free(c->remote[i]);
  }
  for (int k = 0; k < kNumSizeClasses; ++k) {
    g_registry.dead.nfree[k] += c->nfree[k].get();
    g_registry.dead.nmalloc[k] += c->nmalloc[k].get();
  }
  g_registry.dead.tiny_allocs += c->tiny_allocs.get();
  if (c->registry_prev != nullptr) {
    c->registry_prev->registry_next = c->registry_next;
  } else {
    g_registry.head = c->registry_next;
  }
  if (c->registry_next != nullptr) {
    c->registry_next->registry_prev = c->registry_prev;
  }
  c->~MCache();
  g_registry.cache_pool.free(c);
}

uintptr_t cache_alloc_slow(MCache* c, int central_index) {
  MSpan* s = c->alloc[central_index];
  // The span is about to be folded or replaced: its LIFO objects go back
  // to it (callers pop the LIFO first, so it is normally empty here).
  if (central_index != kTinySpanIndex) cache_flush_lifo(c, central_index);
  if (s != &g_empty_span) {
    uintptr_t p = s->next_free_slow();
    if (p != 0) return p;
    // Exhausted: fold in the frees since the last fold (Go's sweep). Any
    // free object keeps the span here; this costs no lock.
    if (s->fold_exhausted() > 0) return s->next_free_slow();
    c->alloc[central_index] = &g_empty_span;
    central(central_index).uncache_span(s);
  }
  s = central(central_index).cache_span(c, central_index);
  if (s == nullptr) sys::fatal("runtime: out of memory");
  c->alloc[central_index] = s;
  uintptr_t p = s->next_free_slow();
  GORT_CHECK(p != 0);
  return p;
}

void cache_bad_free(uintptr_t p) {
  sys::fatalf("free of already freed object %#lx",
              static_cast<unsigned long>(p));
}

void cache_free_remote(MCache* c, MSpan* s, uintptr_t p) {
  RemoteBatch* b = c->remote[s->central];
  if (__builtin_expect(b == nullptr, 0)) {
    {
      sys::MutexLock l(g_registry.mu);
      b = new (g_registry.batch_pool.alloc()) RemoteBatch();
    }
    size_t limit = kRemoteBatchBytes / s->elemsize;
    if (limit > kRemoteBatchMax) limit = kRemoteBatchMax;
    if (limit < 1) limit = 1;
    b->limit = static_cast<int>(limit);
    c->remote[s->central] = b;
  }
  b->objects[b->n++] = p;
  if (b->n >= b->limit) {
    central(s->central).free_batch(b->objects, b->n);
    b->n = 0;
  }
}

void cache_flush_remote(MCache* c) {
  for (int i = 0; i < kNumCentrals; ++i) {
    RemoteBatch* b = c->remote[i];
    if (b == nullptr || b->n == 0) continue;
    central(i).free_batch(b->objects, b->n);
    b->n = 0;
  }
}

CacheTotals cache_totals() {
  sys::MutexLock l(g_registry.mu);
  CacheTotals t = g_registry.dead;
  // Frees first, then mallocs: see mcache.h, Memory ordering.
  for (MCache* c = g_registry.head; c != nullptr; c = c->registry_next) {
    for (int k = 0; k < kNumSizeClasses; ++k) t.nfree[k] += c->nfree[k].get();
    t.tiny_allocs += c->tiny_allocs.get();
  }
  for (MCache* c = g_registry.head; c != nullptr; c = c->registry_next) {
    for (int k = 0; k < kNumSizeClasses; ++k) {
      t.nmalloc[k] += c->nmalloc[k].get();
    }
  }
  t.cache_sys =
      g_registry.cache_pool.sys_bytes() + g_registry.batch_pool.sys_bytes();
  t.cache_inuse =
      g_registry.cache_pool.inuse_bytes() + g_registry.batch_pool.inuse_bytes();
  return t;
}

}  // namespace gort::mem
