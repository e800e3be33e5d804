// mem/fixalloc.h: the allocator of the allocator's own metadata.
//
//   FixAlloc     fixed-size blocks (MSpan, MCache, bitmaps) carved from
//                64 KiB chunks mapped from the OS, with a free list
//   os_map       maps anonymous read/write memory, or returns nullptr
//
// Go's fixalloc (mfixalloc.go) does the same job: the heap cannot use itself
// for the structures that describe it. Memory handed out is zeroed on first
// use (fresh mmap); a reused block is zeroed by alloc(). Chunks are never
// returned to the OS; `sys_bytes()` and `inuse_bytes()` feed MemStats'
// MSpanSys/MSpanInuse, MCacheSys/MCacheInuse and GCSys.
//
// Thread safety: none; the owner's lock (the heap's) protects a FixAlloc.
#ifndef GORT_MEM_FIXALLOC_H_
#define GORT_MEM_FIXALLOC_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "sys/fatal.h"
#include "sys/syscall.h"

namespace gort::mem {

// Maps `bytes` of fresh zeroed read/write memory near `hint` (nullptr: the
// kernel chooses). MAP_NORESERVE: pages cost nothing until touched.
// Returns nullptr when the kernel refuses.
inline void* os_map(void* hint, size_t bytes) {
  long r = sys::mmap(hint, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return sys::is_error(r) ? nullptr : reinterpret_cast<void*>(r);
}

class FixAlloc {
 public:
  static constexpr size_t kChunkBytes = 64 << 10;

  // REQUIRES: 16 <= block_size <= kChunkBytes, a multiple of 16.
  constexpr explicit FixAlloc(size_t block_size) : size_(block_size) {}

  // A zeroed block of block_size bytes. Out of memory is a fatal error.
  void* alloc() {
    if (free_ != nullptr) {
      Link* b = free_;
      free_ = b->next;
      std::memset(static_cast<void*>(b), 0, size_);
      inuse_ += size_;
      return b;
    }
    if (chunk_left_ < size_) {
      void* c = os_map(nullptr, kChunkBytes);
      if (c == nullptr) sys::fatal("runtime: cannot allocate memory");
      chunk_ = static_cast<char*>(c);
      chunk_left_ = kChunkBytes;
      sys_ += kChunkBytes;
    }
    void* b = chunk_;
    chunk_ += size_;
    chunk_left_ -= size_;
    inuse_ += size_;
    return b;
  }

  // Returns a block from alloc() to the free list.
  void free(void* p) {
    Link* b = static_cast<Link*>(p);
    b->next = free_;
    free_ = b;
    inuse_ -= size_;
  }

  size_t block_size() const { return size_; }
  size_t sys_bytes() const { return sys_; }      // mapped for this FixAlloc
  size_t inuse_bytes() const { return inuse_; }  // handed out, not freed

 private:
  struct Link {
    Link* next;
  };
  size_t size_;
  Link* free_ = nullptr;
  char* chunk_ = nullptr;
  size_t chunk_left_ = 0;
  size_t sys_ = 0;
  size_t inuse_ = 0;
};

}  // namespace gort::mem

#endif  // GORT_MEM_FIXALLOC_H_
