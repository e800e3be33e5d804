// mem/mem.h: gort's allocator, the public API (//mem).
//
//   alloc, alloc_aligned, free, usable_size   malloc's job, Go's heap
//   AllocFlags        kNoScan (pointer-free: tiny allocator, noscan spans),
//                     kZero (zeroed memory)
//   MemStats          Go's runtime.MemStats, field for field
//   read_mem_stats    a snapshot of MemStats
//   free_os_memory    returns every free page to the OS now (Go's
//                     debug.FreeOSMemory, without the GC it runs first)
//   add_stack_stats   the scheduler reports goroutine stacks (Stack*)
//   set_gc_stats_hook the collector fills MemStats' GC fields
//   MCache, new_cache, destroy_cache, set_current_cache_hook
//                     the scheduler's seam for Go's per-P mcaches
//
// A tcmalloc-style allocator with Go's structure: 68 size classes, per-P
// mcaches of spans (per-thread ones off goroutines), mcentrals, a page heap of 64 MiB arenas and a
// background scavenger. Design: mem/malloc.cc's essay and docs/mem.md.
//
// Thread safety: every function may be called from any thread at any time,
// including threads that are exiting. A pointer may be freed by a thread
// other than the one that allocated it.
//
// Memory ordering: free(p) happens-before any later alloc() that returns
// memory overlapping p, whichever threads they run on; writes to the object
// before free(p) are never seen by the next user (only its own writes).
#ifndef GORT_MEM_MEM_H_
#define GORT_MEM_MEM_H_

#include <cstddef>
#include <cstdint>

namespace gort::mem {

enum AllocFlags : unsigned {
  kNoFlags = 0,
  // The object holds no pointers into the collected heap: it may be packed
  // by the tiny allocator (size < 16) and lives in a noscan span that the
  // GC will not scan.
  kNoScan = 1,
  // The memory is zeroed (cheaply when it is known zero already).
  kZero = 2,
};

// Allocates `size` bytes (0 is taken as 1), aligned to 8 bytes, to 16 for
// sizes of 16 and more that are multiples of 16, and to the size itself for
// power-of-two sizes up to 8 KiB. Contents are unspecified unless kZero.
// Returns nullptr only when size is impossibly large (over 2^46); running
// out of memory is a fatal error (`fatal error: runtime: out of memory`),
// as in Go.
void* alloc(size_t size, unsigned flags = kNoFlags);

// As alloc, aligned to `align`. Returns nullptr when `align` is not a power
// of two, exceeds 64 MiB, or size is impossibly large.
void* alloc_aligned(size_t size, size_t align, unsigned flags = kNoFlags);

// Frees what alloc or alloc_aligned returned; nullptr is ignored. Freeing
// anything else, or twice, is a fatal error where it can be seen
// (`fatal error: free of ...`); not every double free is seen.
void free(void* p);

// The bytes usable at `p` (>= the size asked for): its size class's size,
// or the large object's page-rounded size. Exception: an object of under
// 16 bytes allocated with kNoScan shares a 16-byte block with other tiny
// objects; for it the answer is the bytes from p to the end of the block,
// of which only the size asked for belong to it.
// REQUIRES: p came from alloc and is not freed.
size_t usable_size(const void* p);

// One size class's row of MemStats.by_size.
struct MemStatsBySize {
  uint32_t size = 0;
  uint64_t mallocs = 0;
  uint64_t frees = 0;
};

// Go's runtime.MemStats (mstats.go), same fields, same meanings, in
// snake_case. Identities that hold in every snapshot:
//   heap_sys == heap_idle + heap_inuse,  heap_released <= heap_idle
//   sys == heap_sys + stack_sys + mspan_sys + mcache_sys + buck_hash_sys
//          + gc_sys + other_sys
//   heap_objects == mallocs - frees,  alloc == heap_alloc
// and, when no other thread allocates or frees meanwhile, heap_alloc is the
// bytes of live objects (by size class) and heap_alloc <= heap_inuse.
struct MemStats {
  // General.
  uint64_t alloc = 0;        // bytes of allocated heap objects
  uint64_t total_alloc = 0;  // cumulative bytes allocated
  uint64_t sys = 0;          // bytes obtained from the OS
  uint64_t lookups = 0;      // always 0, as in Go
  uint64_t mallocs = 0;      // cumulative objects allocated
  uint64_t frees = 0;        // cumulative objects freed
  // Heap.
  uint64_t heap_alloc = 0;
  uint64_t heap_sys = 0;
  uint64_t heap_idle = 0;
  uint64_t heap_inuse = 0;
  uint64_t heap_released = 0;
  uint64_t heap_objects = 0;
  // Stacks and off-heap metadata.
  uint64_t stack_inuse = 0;
  uint64_t stack_sys = 0;
  uint64_t mspan_inuse = 0;
  uint64_t mspan_sys = 0;
  uint64_t mcache_inuse = 0;
  uint64_t mcache_sys = 0;
  uint64_t buck_hash_sys = 0;
  uint64_t gc_sys = 0;
  uint64_t other_sys = 0;
  // Garbage collector (filled by the GC's hook; zero without one).
  uint64_t next_gc = 0;
  uint64_t last_gc = 0;
  uint64_t pause_total_ns = 0;
  uint64_t pause_ns[256] = {};
  uint64_t pause_end[256] = {};
  uint32_t num_gc = 0;
  uint32_t num_forced_gc = 0;
  double gc_cpu_fraction = 0;
  bool enable_gc = true;
  bool debug_gc = false;
  // Per size class; Go's BySize has 61 rows (classes 0..60).
  MemStatsBySize by_size[61];
};

// A snapshot of the allocator's statistics. Takes the heap's and the cache
// registry's locks briefly; does not stop other threads.
MemStats read_mem_stats();

// Returns every free page of the heap to the OS (madvise) before returning,
// after applying the calling thread's pending batched frees.
void free_os_memory();

// The scheduler's goroutine stacks: bytes in use and obtained from the OS
// change by these deltas (MemStats.StackInuse and StackSys).
void add_stack_stats(int64_t inuse_delta, int64_t sys_delta);

// Registers the scheduler's stack accounting, read at each snapshot: it
// stores the bytes of goroutine stacks in use and obtained from the OS,
// added to what add_stack_stats reported (pulled, so that making a
// goroutine touches no shared counter). nullptr unregisters.
using StackStatsHook = void (*)(uint64_t* inuse, uint64_t* sys);
void set_stack_stats_hook(StackStatsHook hook);
// Registers a function that fills MemStats' GC fields (next_gc, num_gc,
// pause_ns, ...) and may add to gc_sys; nullptr unregisters.
using GcStatsHook = void (*)(MemStats* stats);
void set_gc_stats_hook(GcStatsHook hook);

// ---- the seam for per-P caches (mem/mcache.h has the rest) ----
//
// Every thread that allocates uses a cache of its own, made on first use
// and destroyed at thread exit, unless a hook gives it another. The
// scheduler makes one cache per P (Go's p.mcache) and registers a hook that
// returns the running P's cache, or nullptr on a thread holding no P (a
// plain thread, an M in a syscall), which then uses its thread cache. A
// P's cache is used by one M at a time; handing the P between Ms orders
// their accesses.

class MCache;
// A new cache, registered for statistics. REQUIRES: the caller later
// destroy_cache()s it.
MCache* new_cache();
// Returns every span, the tiny block and every pending free of `c` to the
// mcentrals, folds its statistics into the totals and frees it.
// REQUIRES: nobody uses `c` any more.
void destroy_cache(MCache* c);
// Registers the function that returns the calling thread's P's cache, or
// nullptr when it has none. nullptr unregisters. REQUIRES: the hook is
// async-signal-safe, cheap (it runs on every allocation and free) and
// never allocates.
using CurrentCacheHook = MCache* (*)();
void set_current_cache_hook(CurrentCacheHook hook);

}  // namespace gort::mem

#endif  // GORT_MEM_MEM_H_
