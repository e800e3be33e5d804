// Goroutine stacks: carving, guarding, caching, releasing.
//
// Layout of a chunk (64 MiB, one anonymous MAP_NORESERVE mapping):
//
//   base                                                          base+64MiB
//   | guard | stack 0 ...... | guard | stack 1 ...... | ... | guard | stack n |
//     4 KiB   stack_size_       4 KiB   stack_size_
//
// The guard page sits below its stack because stacks grow down. The records
// (struct Stack) live in a separately allocated array per chunk, never in
// the stack's own pages, so that returning a cached stack's pages to the OS
// (MADV_DONTNEED) keeps its record and its guard: MADV_DONTNEED leaves
// guard regions installed (Linux's madvise(2), MADV_GUARD_INSTALL).
//
// Caching has two levels. `free_` holds stacks whose pages may still be
// committed (fast to reuse: no fault); past `cache_limit_` stacks, freed
// stacks have their pages released and go on `released_`, reused after
// `free_` is empty (their first touch faults a zero page back in).
#include "sched/stack.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "sys/fatal.h"
#include "sys/syscall.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define GORT_LSAN_ROOTS 1
#endif

namespace gort::sched {
namespace {

// Linux 6.13's madvise advice; not yet in every libc's headers.
constexpr int kMadvGuardInstall = 102;

size_t round_up_page(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

}  // namespace

StackAllocator::StackAllocator(size_t stack_size)
    : stack_size_(round_up_page(stack_size)),
      slot_size_(round_up_page(stack_size) + kPageSize),
      guard_mode_(GuardMode::kGuardInstall) {
  if (stack_size < kMinStackSize || stack_size > kMaxStackSize) {
    sys::fatal("runtime: goroutine stack size out of range");
  }
}

StackAllocator::~StackAllocator() {
  sys::MutexLock l(mu_);
  GORT_CHECK(live_ == 0);
#if defined(GORT_LSAN_ROOTS)
  for (size_t a = 0; a < record_arrays_.size(); a++) {
    Stack* array = record_arrays_[a];
    // Every record of an array was carved, but those left in the last one.
    size_t n = a + 1 == record_arrays_.size() ? kRecordBatch - records_left_
                                               : kRecordBatch;
    for (size_t i = 0; i < n; i++) {
      __lsan_unregister_root_region(reinterpret_cast<void*>(array[i].lo),
                                    array[i].size());
    }
  }
#endif
  while (chunks_ != nullptr) {
    Chunk* c = chunks_;
    chunks_ = c->next;
    sys::munmap(reinterpret_cast<void*>(c->base), kStackChunkSize);
    delete c;
  }
  // Stack records are owned by the chunks' record arrays, freed here.
  for (Stack* r : record_arrays_) delete[] r;
}

void StackAllocator::new_chunk() {
  long r = sys::mmap(nullptr, kStackChunkSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (sys::is_error(r)) sys::fatal("runtime: cannot allocate goroutine stack");
  chunk_cur_ = static_cast<uintptr_t>(r);
  chunk_end_ = chunk_cur_ + kStackChunkSize;
  chunks_ = new Chunk{chunk_cur_, chunks_};
  sys_bytes_ += kStackChunkSize;
  chunk_guarded_ = guard_mode_ == GuardMode::kGuardInstall && guard_chunk();
}

// Installs the guard of every slot of the chunk being carved with one
// process_madvise(2) per 1024 slots (UIO_MAXIOV) instead of one madvise per
// stack: measured here, 0.56 µs per guard batched against ~1.5 µs alone, and
// off the lock-held path of all but one allocation in a chunk's thousand.
// Any advice may be given to the caller's own process since Linux 6.13; an
// older kernel says EINVAL and the slots are guarded one by one. A pidfd of
// our own pid is opened each time (never cached: after fork it would name the
// parent).
bool StackAllocator::guard_chunk() {
  long pidfd = sys::syscall6(SYS_pidfd_open, sys::getpid(), 0);
  if (sys::is_error(pidfd)) return false;
  constexpr size_t kMaxIov = 1024;
  iovec iov[kMaxIov];
  bool ok = true;
  uintptr_t slot = chunk_cur_;
  while (ok && chunk_end_ - slot >= slot_size_) {
    size_t n = 0;
    for (; n < kMaxIov && chunk_end_ - slot >= slot_size_; n++, slot += slot_size_) {
      iov[n] = iovec{reinterpret_cast<void*>(slot), kPageSize};
    }
    long r = sys::syscall6(SYS_process_madvise, pidfd,
                           reinterpret_cast<long>(iov), static_cast<long>(n),
                           kMadvGuardInstall, 0);
    // It returns the bytes advised; a short count is a failure part way.
    ok = !sys::is_error(r) && static_cast<size_t>(r) == n * kPageSize;
  }
  sys::close(static_cast<int>(pidfd));
  return ok;
}

bool StackAllocator::guard(uintptr_t guard_lo) {
  void* p = reinterpret_cast<void*>(guard_lo);
  if (guard_mode_ == GuardMode::kGuardInstall) {
    long r = sys::madvise(p, kPageSize, kMadvGuardInstall);
    if (!sys::is_error(r)) {
      guards_++;
      return true;
    }
    // EINVAL: a kernel before 6.13. Fall back for this and later stacks.
    guard_mode_ = GuardMode::kMprotect;
  }
  if (guard_mode_ == GuardMode::kMprotect) {
    if (guards_ < kMprotectGuardBudget &&
        !sys::is_error(sys::mprotect(p, kPageSize, PROT_NONE))) {
      guards_++;
      return true;
    }
    guard_mode_ = GuardMode::kCanaryOnly;
  }
  return false;
}

Stack* StackAllocator::allocate() {
  Stack* s;
  {
    sys::MutexLock l(mu_);
    if (free_ != nullptr) {
      s = free_;
      free_ = s->next;
      nfree_--;
    } else if (released_ != nullptr) {
      s = released_;
      released_ = s->next;
      nreleased_--;
    } else {
      if (chunk_end_ - chunk_cur_ < slot_size_) new_chunk();
      if (records_left_ == 0) {
        records_ = new Stack[kRecordBatch];
        record_arrays_.push_back(records_);
        records_left_ = kRecordBatch;
      }
      s = records_++;
      records_left_--;
      if (chunk_guarded_) {
        guards_++;
        s->has_canary = false;
      } else {
        s->has_canary = !guard(chunk_cur_);
      }
      s->lo = chunk_cur_ + kPageSize;
      s->hi = chunk_cur_ + slot_size_;
      chunk_cur_ += slot_size_;
#if defined(GORT_LSAN_ROOTS)
      // LeakSanitizer scans threads' stacks, not ours: a heap object that
      // only a parked goroutine's frame points to would be called leaked.
      // Each stack's usable range is a root region (not the chunk: the scan
      // would fault on the guard pages). Stale words in a dead G's stack
      // can only hide a leak, never invent one.
      __lsan_register_root_region(reinterpret_cast<void*>(s->lo), s->size());
#endif
    }
    s->next = nullptr;
    live_++;
  }
  if (s->has_canary) *reinterpret_cast<uint64_t*>(s->lo) = kStackCanary;
  return s;
}

void StackAllocator::free(Stack* s) {
  sys::MutexLock l(mu_);
  GORT_CHECK(live_ > 0);
  live_--;
  if (nfree_ < cache_limit_) {
    s->next = free_;
    free_ = s;
    nfree_++;
    return;
  }
  sys::madvise(reinterpret_cast<void*>(s->lo), s->size(), MADV_DONTNEED);
  s->next = released_;
  released_ = s;
  nreleased_++;
}

void StackAllocator::release_cached() {
  sys::MutexLock l(mu_);
  while (free_ != nullptr) {
    Stack* s = free_;
    free_ = s->next;
    nfree_--;
    sys::madvise(reinterpret_cast<void*>(s->lo), s->size(), MADV_DONTNEED);
    s->next = released_;
    released_ = s;
    nreleased_++;
  }
}

StackStats StackAllocator::stats() const {
  sys::MutexLock l(mu_);
  StackStats st;
  st.stacks_live = live_;
  st.stacks_cached = nfree_ + nreleased_;
  st.inuse_bytes = live_ * stack_size_;
  st.sys_bytes = sys_bytes_;
  st.guards_installed = guards_;
  return st;
}

}  // namespace gort::sched
