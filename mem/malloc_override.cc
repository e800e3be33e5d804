// mem/malloc_override.cc: gort's allocator as the process's malloc
// (//mem:malloc, linked in; //mem:libgortmalloc.so, for LD_PRELOAD).
//
// Defines the C allocation functions (malloc, free, calloc, realloc,
// reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
// malloc_usable_size) and every replaceable form of operator new/delete
// (plain, nothrow, sized, aligned) over gort::mem. The C contracts are
// C17's and POSIX's; where they leave room, glibc's behaviour is followed
// because programs rely on it: malloc(0) returns a unique pointer,
// realloc(p, 0) frees p and returns nullptr, errors set errno to ENOMEM or
// EINVAL. Running out of memory stays fatal (gort::mem says why: Go's
// `fatal error: runtime: out of memory`); only impossible sizes return
// nullptr.
//
// Foreign pointers. Under LD_PRELOAD the dynamic loader allocates a few
// blocks with its own minimal malloc before ours is bound, and libc may
// free them later through ours. A pointer outside gort's arenas is such a
// block: free ignores it (the loader's blocks are few and small) and
// realloc, which cannot know its size, reports it as a fatal error.
// malloc_usable_size of one is 0.
//
// Recursion. gort::mem never calls malloc itself (its metadata comes from
// fixed-size pools over mmap), so these functions cannot re-enter; the one
// libc path it triggers, the registration of a thread's cache destructor,
// may call calloc, which lands here and is served normally (mcache.cc).
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "mem/mem.h"
#include "mem/pagealloc.h"
#include "mem/tally.h"
#include "sys/fatal.h"

// The helpers live in namespace gort, so the scheduler's async preemption
// counts them as runtime code, as it does the entry points below
// (sched/preempt.cc, kAllocatorSymbols): none may be preempted on a
// goroutine, since they use its P's cache without a lock.
namespace gort::mem {
namespace {

bool is_ours(const void* p) {
  return PageAlloc::arena_of(reinterpret_cast<uintptr_t>(p)) != nullptr;
}

// Every block handed out or taken back here is also counted by the test
// tally (mem/tally.h; a not-taken branch unless a test turned it on).
void* counted_alloc(size_t size, AllocFlags flags = kNoFlags) {
  void* p = alloc(size, flags);
  tally_malloc(p);
  return p;
}
void* counted_alloc_aligned(size_t size, size_t align) {
  void* p = alloc_aligned(size, align);
  tally_malloc(p);
  return p;
}
void counted_free(void* p) {
  tally_free(p);
  free(p);
}

bool is_power_of_two(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

// operator new's loop: call the new-handler until memory comes or there is
// none (then std::bad_alloc), as [new.delete.single] specifies.
void* new_or_throw(size_t size, size_t align) {
  for (;;) {
    void* p = align <= alignof(std::max_align_t)
                  ? counted_alloc(size)
                  : counted_alloc_aligned(size, align);
    if (p != nullptr) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}

void* new_nothrow(size_t size, size_t align) noexcept {
  try {
    return new_or_throw(size, align);
  } catch (...) {
    return nullptr;
  }
}

void* aligned_or_errno(size_t align, size_t size) {
  void* p = counted_alloc_aligned(size, align);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

}  // namespace
}  // namespace gort::mem

using gort::mem::aligned_or_errno;
using gort::mem::counted_alloc;
using gort::mem::counted_alloc_aligned;
using gort::mem::counted_free;
using gort::mem::is_ours;
using gort::mem::is_power_of_two;
using gort::mem::new_nothrow;
using gort::mem::new_or_throw;

extern "C" {

void* malloc(size_t size) {
  void* p = counted_alloc(size);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void free(void* p) {
  if (p == nullptr || !is_ours(p)) return;  // see "Foreign pointers"
  counted_free(p);
}

void cfree(void* p) { free(p); }

void* calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = counted_alloc(total, gort::mem::kZero);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* realloc(void* p, size_t size) {
  if (p == nullptr) return malloc(size);
  if (size == 0) {  // glibc: frees and returns nullptr
    free(p);
    return nullptr;
  }
  if (!is_ours(p)) {
    gort::sys::fatalf("realloc of pointer %#lx not allocated by gort",
                      static_cast<unsigned long>(reinterpret_cast<uintptr_t>(p)));
  }
  size_t usable = gort::mem::usable_size(p);
  // Keep the block when the new size fits and does not waste over half.
  if (size <= usable && size >= usable / 2) return p;
  void* q = counted_alloc(size);
  if (q == nullptr) {
    errno = ENOMEM;
    return nullptr;  // p stays valid, as C requires
  }
  std::memcpy(q, p, size < usable ? size : usable);
  counted_free(p);
  return q;
}

void* reallocarray(void* p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, total);
}

int posix_memalign(void** out, size_t align, size_t size) {
  if (!is_power_of_two(align) || align % sizeof(void*) != 0) return EINVAL;
  void* p = counted_alloc_aligned(size, align);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* aligned_alloc(size_t align, size_t size) {
  if (!is_power_of_two(align)) {  // glibc 2.38+ and C17 DR 460: EINVAL
    errno = EINVAL;
    return nullptr;
  }
  return aligned_or_errno(align, size);
}

void* memalign(size_t align, size_t size) {
  if (!is_power_of_two(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return aligned_or_errno(align, size);
}

void* valloc(size_t size) {
  return aligned_or_errno(static_cast<size_t>(sysconf(_SC_PAGESIZE)), size);
}

void* pvalloc(size_t size) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  return aligned_or_errno(page, rounded & ~(page - 1));
}

size_t malloc_usable_size(void* p) {
  if (p == nullptr || !is_ours(p)) return 0;
  return gort::mem::usable_size(p);
}

}  // extern "C"

// ---- operator new and delete ---------------------------------------------------

void* operator new(size_t size) { return new_or_throw(size, 0); }
void* operator new[](size_t size) { return new_or_throw(size, 0); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size, 0);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return new_nothrow(size, 0);
}
void* operator new(size_t size, std::align_val_t al) {
  return new_or_throw(size, static_cast<size_t>(al));
}
void* operator new[](size_t size, std::align_val_t al) {
  return new_or_throw(size, static_cast<size_t>(al));
}
void* operator new(size_t size, std::align_val_t al,
                   const std::nothrow_t&) noexcept {
  return new_nothrow(size, static_cast<size_t>(al));
}
void* operator new[](size_t size, std::align_val_t al,
                     const std::nothrow_t&) noexcept {
  return new_nothrow(size, static_cast<size_t>(al));
}

void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  free(p);
}
void operator delete[](void* p, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  free(p);
}
