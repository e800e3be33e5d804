// sched/stack.h: goroutine stacks.
//
//   Stack           one goroutine stack: [lo, hi), a guard page below lo
//   StackAllocator  carves stacks from large mappings, guards them, caches
//                   freed ones and returns their memory to the OS
//   StackStats      what MemStats reports as StackInuse and StackSys
//
// A stack is reserved, not committed: the kernel backs a page when it is
// first touched, so a parked goroutine that used one page costs one page.
// Stacks do not grow (C++ frames cannot be moved), so the reservation is
// the limit: 64 KiB by default, set by GORT_STACK_SIZE or set_stack_size.
//
// Guards. One mapping, or one mprotect'd page, per stack would split the
// address space into two mappings per stack and stop near 32k goroutines
// (vm.max_map_count is 65530). So stacks are carved from 64 MiB chunks and
// guarded with madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which installs the
// guard in the page tables without splitting the mapping. On older kernels
// the allocator falls back to mprotect guards for the first
// kMprotectGuardBudget stacks; beyond that budget a stack has no guard page
// and is protected only by the canary word at its bottom, which the
// scheduler checks whenever the goroutine stops running (an overflow is then
// reported, late, as the same fatal error). `guard_mode()` says which.
//
// Thread safety: all methods may be called from any thread. The global
// cache is under a lock; per-P caches (sched/p.h) sit in front of it.
#ifndef GORT_SCHED_STACK_H_
#define GORT_SCHED_STACK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sys/mutex.h"

namespace gort::sched {

inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kDefaultStackSize = 64 * 1024;
inline constexpr size_t kMinStackSize = 16 * 1024;
inline constexpr size_t kMaxStackSize = 64 * 1024 * 1024;
inline constexpr size_t kStackChunkSize = 64 * 1024 * 1024;
inline constexpr size_t kMprotectGuardBudget = 24000;
// Written at lo; a different value there means the stack overflowed.
inline constexpr uint64_t kStackCanary = 0x676f72745f737461ULL;  // "gort_sta"

struct Stack {
  uintptr_t lo = 0;  // lowest usable byte; the guard page is [lo - page, lo)
  uintptr_t hi = 0;  // one past the highest usable byte
  Stack* next = nullptr;  // free-list link (stored in the Stack record only)
  // No guard page below this stack (kCanaryOnly): the canary at lo stands
  // in for it. Guarded stacks carry no canary, so that a new goroutine
  // touches only the top page of its stack.
  bool has_canary = false;

  size_t size() const { return hi - lo; }
  bool contains(uintptr_t addr) const { return addr >= lo && addr < hi; }
  // True if addr is in the guard page below the stack.
  bool in_guard(uintptr_t addr) const {
    return addr < lo && addr >= lo - kPageSize;
  }
  bool canary_intact() const {
    return !has_canary || *reinterpret_cast<const uint64_t*>(lo) == kStackCanary;
  }
};

enum class GuardMode {
  kGuardInstall,  // madvise(MADV_GUARD_INSTALL): every stack guarded
  kMprotect,      // mprotect(PROT_NONE) within kMprotectGuardBudget
  kCanaryOnly,    // past the budget: canary checked at every switch
};

struct StackStats {
  uint64_t inuse_bytes = 0;  // reserved bytes of stacks handed out (StackInuse)
  uint64_t sys_bytes = 0;    // bytes of chunks mapped from the OS (StackSys)
  uint64_t stacks_live = 0;  // stacks handed out now
  uint64_t stacks_cached = 0;
  uint64_t guards_installed = 0;
};

class StackAllocator {
 public:
  // `stack_size` is rounded up to a page; it must lie in
  // [kMinStackSize, kMaxStackSize] (else fatal).
  explicit StackAllocator(size_t stack_size = kDefaultStackSize);
  ~StackAllocator();  // unmaps every chunk: REQUIRES no stack in use
  StackAllocator(const StackAllocator&) = delete;
  StackAllocator& operator=(const StackAllocator&) = delete;

  // A stack from the cache, or a new one carved from a chunk. If it has no
  // guard page, its canary is written. Never fails: running out of address space is fatal
  // (`fatal error: runtime: cannot allocate goroutine stack`).
  Stack* allocate();

  // Returns `s` to the cache. If the cache holds more than `cache_limit`
  // stacks, the memory of the surplus is returned to the OS
  // (MADV_DONTNEED, guard kept) and the stack record stays cached.
  void free(Stack* s);

  // Returns the memory of every cached stack to the OS.
  void release_cached();

  size_t stack_size() const { return stack_size_; }
  GuardMode guard_mode() const { return guard_mode_; }
  StackStats stats() const;
  void set_cache_limit(size_t n) { cache_limit_ = n; }

 private:
  void new_chunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Guards the page at guard_lo; false if it could not (kCanaryOnly).
  bool guard(uintptr_t guard_lo) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Guards every slot of the new chunk at once; false if it could not.
  bool guard_chunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t stack_size_;  // usable bytes per stack
  const size_t slot_size_;   // stack_size_ + guard page
  GuardMode guard_mode_;

  mutable sys::Mutex mu_;
  Stack* free_ ABSL_GUARDED_BY(mu_) = nullptr;        // committed stacks
  Stack* released_ ABSL_GUARDED_BY(mu_) = nullptr;    // madvised stacks
  size_t nfree_ ABSL_GUARDED_BY(mu_) = 0;
  size_t nreleased_ ABSL_GUARDED_BY(mu_) = 0;
  size_t cache_limit_ = 1024;
  uintptr_t chunk_cur_ ABSL_GUARDED_BY(mu_) = 0;  // next slot to carve
  uintptr_t chunk_end_ ABSL_GUARDED_BY(mu_) = 0;
  // Every slot of the current chunk already has its guard (guard_chunk).
  bool chunk_guarded_ ABSL_GUARDED_BY(mu_) = false;
  struct Chunk {
    uintptr_t base;
    Chunk* next;
  };
  Chunk* chunks_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t sys_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t guards_ ABSL_GUARDED_BY(mu_) = 0;
  // Stack records live in arrays of their own (never in the stack itself,
  // so releasing a stack's pages keeps its record).
  static constexpr size_t kRecordBatch = 1024;
  Stack* records_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t records_left_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Stack*> record_arrays_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gort::sched

#endif  // GORT_SCHED_STACK_H_
