// mem/mcentral.h: the shared spans of one span class (Go's mcentral,
// mcentral.go).
//
//   MCentral   partial and full lists of spans not cached by any mcache;
//              hands spans to mcaches, takes them back, and applies
//              batches of frees from threads that do not own the span
//
// Go 1.16+ keeps lock-free span sets split by sweep generation; without a
// GC yet, one lock per span class and two intrusive lists do the same job
// (the lock is taken once per span handed out or returned, and once per
// batch of remote frees, never per object).
//
// Thread safety: every method takes the mcentral's own lock. Lock order:
// mcentral, then heap.
#ifndef GORT_MEM_MCENTRAL_H_
#define GORT_MEM_MCENTRAL_H_

#include <cstddef>
#include <cstdint>

#include "mem/mspan.h"
#include "sys/mutex.h"

namespace gort::mem {

class MCentral {
 public:
  constexpr MCentral() = default;

  // A span with at least one free object, now owned by `cache` (place
  // kCached, allocation window loaded): from the partial list, else fresh
  // from the heap. nullptr: out of memory. `central` is this mcentral's
  // index (a span class or kTinySpanIndex).
  MSpan* cache_span(MCache* cache, int central);

  // Takes back a span from its owner: folds its frees in, then files it
  // as partial or full, or returns it to the heap when no object is in use.
  // REQUIRES: the caller's cache owns it.
  void uncache_span(MSpan* span);

  // Applies `n` frees of objects whose spans belong to this mcentral: to a
  // cached span as a remote-free bit for its owner to fold, to an uncached
  // one directly (moving it from full to partial, or to the heap when it
  // empties). A double free is a fatal error.
  void free_batch(uintptr_t* objects, int n);

  // Spans on the lists, for tests and stats.
  size_t partial_count();
  size_t full_count();

 private:
  struct List {
    MSpan* head = nullptr;
    size_t count = 0;
  };
  static void push(List& l, MSpan* s);
  static void remove(List& l, MSpan* s);
  // Files a span whose alloc_count is exact. Returns true if it is empty
  // and must go back to the heap (the caller frees it).
  bool file_locked(MSpan* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  sys::Mutex mu_;
  List partial_ ABSL_GUARDED_BY(mu_);
  List full_ ABSL_GUARDED_BY(mu_);
};

// The process's mcentrals, indexed by span class, and kTinySpanIndex.
MCentral& central(int index);

}  // namespace gort::mem

#endif  // GORT_MEM_MCENTRAL_H_
