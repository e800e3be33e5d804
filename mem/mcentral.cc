// mem/mcentral.cc: see mcentral.h, and mem/malloc.cc's essay ("How a free
// flows").
#include "mem/mcentral.h"

#include "mem/mheap.h"
#include "mem/scavenger.h"
#include "sys/fatal.h"

namespace gort::mem {
namespace {
constinit MCentral g_centrals[kNumCentrals];
}  // namespace

MCentral& central(int index) { return g_centrals[index]; }

void MCentral::push(List& l, MSpan* s) {
  s->prev = nullptr;
  s->next = l.head;
  if (l.head != nullptr) l.head->prev = s;
  l.head = s;
  ++l.count;
}

void MCentral::remove(List& l, MSpan* s) {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    l.head = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->next = s->prev = nullptr;
  --l.count;
}

bool MCentral::file_locked(MSpan* s) {
  if (s->alloc_count == 0) {
    s->place = SpanPlace::kNone;
    return true;
  }
  if (s->alloc_count == s->nelems) {
    s->place = SpanPlace::kFull;
    push(full_, s);
  } else {
    s->place = SpanPlace::kPartial;
    push(partial_, s);
  }
  return false;
}

MSpan* MCentral::cache_span(MCache* cache, int central) {
  MSpan* s = nullptr;
  {
    sys::MutexLock l(mu_);
    if (partial_.head != nullptr) {
      s = partial_.head;
      remove(partial_, s);
      s->place = SpanPlace::kCached;
      // Relaxed: see mspan.h, Memory ordering. Set under our lock, so a
      // batch of remote frees (also under it) sees it.
      s->owner.store(cache, std::memory_order_relaxed);
    }
  }
  if (s == nullptr) {
    // A fresh span: nobody else can reach it until we hand out objects.
    s = heap().alloc_small_span(central);
    if (s == nullptr) return nullptr;
    scavenger_ensure_started();
    s->place = SpanPlace::kCached;
    s->owner.store(cache, std::memory_order_relaxed);
  }
  s->freeindex = 0;
  s->refill_cache();
  return s;
}

void MCentral::uncache_span(MSpan* s) {
  bool empty;
  {
    sys::MutexLock l(mu_);
    s->owner.store(nullptr, std::memory_order_relaxed);
    // From here on, free_batch (under this lock) treats the span as
    // uncached, so the remote bits folded now are the last ones.
    s->fold_for_central();
    empty = file_locked(s);
  }
  if (empty) {
    heap().free_span(s);
    scavenger_wake_if_needed();
  }
}

void MCentral::free_batch(uintptr_t* objects, int n) {
  // Spans that empty are returned to the heap after the loop; at most n.
  MSpan* empty[64];
  int nempty = 0;
  int i = 0;
  while (i < n) {
    {
      sys::MutexLock l(mu_);
      for (; i < n && nempty < 64; ++i) {
        uintptr_t p = objects[i];
        MSpan* s = heap().span_of(p);
        GORT_CHECK(s != nullptr);
        uint32_t index = s->index_of(p);
        uint64_t bit = uint64_t{1} << (index % 64);
        if (s->owner.load(std::memory_order_relaxed) != nullptr) {
          // Cached: leave it for the owner to fold. Release pairs with the
          // owner's acquire exchange (mspan.cc).
          uint64_t old = s->remote_free[index / 64].fetch_or(
              bit, std::memory_order_release);
          if (old & bit) sys::fatal("free of already freed object");
          continue;
        }
        if ((s->alloc_bits[index / 64] & bit) == 0) {
          sys::fatal("free of already freed object");
        }
        s->alloc_bits[index / 64] &= ~bit;
        s->needzero = true;
        bool was_full = s->alloc_count == s->nelems;
        --s->alloc_count;
        if (s->alloc_count == 0) {
          remove(was_full ? full_ : partial_, s);
          s->place = SpanPlace::kNone;
          empty[nempty++] = s;
        } else if (was_full) {
          remove(full_, s);
          s->place = SpanPlace::kPartial;
          push(partial_, s);
        }
      }
    }
    for (int k = 0; k < nempty; ++k) heap().free_span(empty[k]);
    if (nempty > 0) scavenger_wake_if_needed();
    nempty = 0;
  }
}

size_t MCentral::partial_count() {
  sys::MutexLock l(mu_);
  return partial_.count;
}

size_t MCentral::full_count() {
  sys::MutexLock l(mu_);
  return full_.count;
}

}  // namespace gort::mem
