// Pool (Go's sync/pool.go and poolqueue.go, Go 1.19); the package essay is
// in syncx/syncx.cc, this is the Pool part.
//
// ## Layout
//
// Each P has a Local: a private slot (one item, used by that P only) and a
// shared chain. The chain (Go's poolChain) is a list of ring buffers
// (Go's poolDequeue), each twice the size of the one before: the owner P
// pushes and pops at the head ring's head; other Ps steal from the tail
// ring's tail. A ring's head and tail indices share one 64-bit word, so a
// pop from either end claims its slot with one CAS; a push needs no CAS
// (only the owner pushes) but waits for a stealer to clear the slot it
// needs (the stealer clears it with release after reading it; until then
// the ring counts as full and the owner starts a bigger ring).
//
// One more Local, after the Ps', belongs to the plain threads: they use it
// (and everything else they touch) under the pool's thread_mu_, so its
// owner operations are serialized by the lock, and goroutines steal from
// it like from any P.
//
// ## Pinning
//
// A goroutine works on its P's Local between proc_pin and proc_unpin: no
// preemption, no park, so no other goroutine runs on that P meanwhile (the
// owner-only fields are safe) and a stop-the-world waits until it is done.
//
// ## The victim cache and reclamation
//
// A cleanup cycle (sched::run_gc_cleanups), with the world stopped and each
// pool's thread_mu_ held, rotates three arrays: the victim becomes
// `dropped`, the primary becomes the victim, the spare (empty) becomes the
// primary. After the world restarts, the dropped array's items are
// destroyed and its rings freed, and it becomes the spare. So an item
// survives one cycle (in the victim) and not two. Rings that stealers unlink
// (they advance the chain's tail past an empty ring) are never freed while
// their array is live: another stealer may still be reading them. Each
// chain keeps every ring it allocated on an owner-only list, and the rings
// are freed with their array, when no goroutine can be pinned in it (the
// world was stopped since it was detached) and no thread holds thread_mu_
// in it. Go's GC does the same job.
#include "syncx/pool.h"

#include <new>
#include <vector>

#include "sched/preempt.h"
#include "sched/sync_support.h"
#include "sys/fatal.h"

namespace gort::syncx::pool_internal {
namespace {

constexpr int32_t kThreadSlot = sched::kSyncMaxProcs;  // plain threads'
constexpr int32_t kLocals = sched::kSyncMaxProcs + 1;
constexpr uint32_t kFirstRing = 8;           // Go's first poolChain size
constexpr uint32_t kMaxRing = 1u << 30;      // Go's dequeueLimit

}  // namespace

// One ring (Go's poolDequeue plus poolChainElt's links).
struct Ring {
  uint32_t size;  // a power of two
  // head (next push) in the high 32 bits, tail (next steal) in the low.
  // Owner's push: release add; pops: acq_rel CAS; so a stealer that claims
  // a slot sees the owner's write of it.
  std::atomic<uint64_t> head_tail{0};
  // Chain links, written once each (next by the owner, prev cleared by a
  // stealer); release stores, acquire loads.
  std::atomic<Ring*> next{nullptr};
  std::atomic<Ring*> prev{nullptr};
  Ring* alloc_next = nullptr;  // every ring of the chain (owner only)
  // The items; nullptr is an empty slot. A stealer clears its slot with a
  // release store that the owner's push checks with acquire.
  std::atomic<void*> slots[];

  static Ring* make(uint32_t size) {
    void* mem = ::operator new(sizeof(Ring) + size * sizeof(std::atomic<void*>));
    Ring* r = new (mem) Ring;
    r->size = size;
    for (uint32_t i = 0; i < size; i++) new (&r->slots[i]) std::atomic<void*>(nullptr);
    return r;
  }
  static void free(Ring* r) {
    r->~Ring();
    ::operator delete(r);
  }

  static uint64_t pack(uint32_t head, uint32_t tail) {
    return (static_cast<uint64_t>(head) << 32) | tail;
  }

  // Owner only. False if full.
  bool push_head(void* x) {
    uint64_t ht = head_tail.load(std::memory_order_relaxed);
    uint32_t head = static_cast<uint32_t>(ht >> 32);
    uint32_t tail = static_cast<uint32_t>(ht);
    if (tail + size == head) return false;
    std::atomic<void*>& slot = slots[head & (size - 1)];
    // Acquire pairs with pop_tail's release clear: a stealer may have
    // claimed this slot (moved tail) but not read it yet.
    if (slot.load(std::memory_order_acquire) != nullptr) return false;
    slot.store(x, std::memory_order_relaxed);
    // Release: publishes the slot (and the item's contents) to stealers.
    head_tail.fetch_add(uint64_t{1} << 32, std::memory_order_release);
    return true;
  }

  // Owner only.
  void* pop_head() {
    uint64_t ht = head_tail.load(std::memory_order_relaxed);
    uint32_t head;
    for (;;) {
      head = static_cast<uint32_t>(ht >> 32);
      uint32_t tail = static_cast<uint32_t>(ht);
      if (head == tail) return nullptr;
      head--;
      if (head_tail.compare_exchange_weak(ht, pack(head, tail),
                                          std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
        break;
      }
    }
    std::atomic<void*>& slot = slots[head & (size - 1)];
    void* x = slot.load(std::memory_order_relaxed);
    slot.store(nullptr, std::memory_order_relaxed);  // only we touch it now
    return x;
  }

  // Anyone.
  void* pop_tail() {
    uint64_t ht = head_tail.load(std::memory_order_acquire);
    uint32_t tail;
    for (;;) {
      uint32_t head = static_cast<uint32_t>(ht >> 32);
      tail = static_cast<uint32_t>(ht);
      if (head == tail) return nullptr;
      // Acquire: the owner's release add that published the slot.
      if (head_tail.compare_exchange_weak(ht, pack(head, tail + 1),
                                          std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        break;
      }
    }
    std::atomic<void*>& slot = slots[tail & (size - 1)];
    void* x = slot.load(std::memory_order_relaxed);
    // Release: hands the slot back to the owner's push (its acquire check).
    slot.store(nullptr, std::memory_order_release);
    return x;
  }
};

namespace {

// Go's poolChain's operations (its fields are in pool.h).
void push_head(Chain& c, void* x) {
  Ring* r = c.head;
  if (r == nullptr) {
    r = Ring::make(kFirstRing);
    c.head = r;
    c.all = r;
    c.tail.store(r, std::memory_order_release);
  }
  if (r->push_head(x)) return;
  uint32_t size = r->size * 2 <= kMaxRing ? r->size * 2 : kMaxRing;
  Ring* bigger = Ring::make(size);
  bigger->prev.store(r, std::memory_order_relaxed);
  bigger->alloc_next = c.all;
  c.all = bigger;
  r->next.store(bigger, std::memory_order_release);
  c.head = bigger;
  bool ok = bigger->push_head(x);
  GORT_CHECK(ok);
}

void* pop_head(Chain& c) {
  for (Ring* r = c.head; r != nullptr; r = r->prev.load(std::memory_order_acquire)) {
    if (void* x = r->pop_head()) return x;
  }
  return nullptr;
}

void* pop_tail(Chain& c) {
  Ring* r = c.tail.load(std::memory_order_acquire);
  if (r == nullptr) return nullptr;
  for (;;) {
    // Read next before popping: if r is empty and had no successor when
    // we looked, the chain is empty (a push after that is a later push).
    Ring* next = r->next.load(std::memory_order_acquire);
    if (void* x = r->pop_tail()) return x;
    if (next == nullptr) return nullptr;
    // r is empty and the owner has moved on to next: unlink r (it stays
    // allocated; see "The victim cache and reclamation").
    Ring* expected = r;
    if (c.tail.compare_exchange_strong(expected, next, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
      next->prev.store(nullptr, std::memory_order_release);
    }
    r = next;
  }
}

// With no concurrent user: hands every item to fn, frees every ring.
template <typename Fn>
void drain(Chain& c, Fn fn) {
  for (Ring* r = c.all; r != nullptr;) {
    Ring* n = r->alloc_next;
    for (uint32_t i = 0; i < r->size; i++) {
      if (void* x = r->slots[i].load(std::memory_order_relaxed)) fn(x);
    }
    Ring::free(r);
    r = n;
  }
  c.head = nullptr;
  c.all = nullptr;
  c.tail.store(nullptr, std::memory_order_relaxed);
}


Local* new_locals() { return new Local[kLocals]; }

// With no concurrent user: every item of `locals` to fn, rings freed.
template <typename Fn>
void drain_locals(Local* locals, Fn fn) {
  for (int32_t i = 0; i < kLocals; i++) {
    Local& l = locals[i];
    if (l.private_item != nullptr) fn(l.private_item);
    l.private_item = nullptr;
    drain(l.shared, fn);
  }
}

int64_t count_items(Local* locals) {
  int64_t n = 0;
  for (int32_t i = 0; i < kLocals; i++) {
    Local& l = locals[i];
    if (l.private_item != nullptr) n++;
    for (Ring* r = l.shared.all; r != nullptr; r = r->alloc_next) {
      for (uint32_t j = 0; j < r->size; j++) {
        if (r->slots[j].load(std::memory_order_relaxed) != nullptr) n++;
      }
    }
  }
  return n;
}

// ---- the registry of pools and the cleanup cycle -------------------------

constinit sys::Mutex g_pools_lock;
constinit PoolCore* g_pools ABSL_GUARDED_BY(g_pools_lock) = nullptr;
constinit std::atomic<bool> g_cleanup_registered{false};

void cleanup_with_world_stopped() {
  sys::MutexLock l(g_pools_lock);
  for (PoolCore* p = g_pools; p != nullptr; p = p->registry_next_) {
    p->cycle_with_world_stopped();
  }
}

// Destroys the dropped items after the lock is released: destructors are
// user code (they may park or run long), never under a sys::Mutex.
void cleanup_after() {
  std::vector<std::pair<void (*)(void*), void*>> doomed;
  {
    // The vector's code is outside the runtime's names: no async preemption
    // while it runs under the locks (sched/preempt.h).
    sched::NoAsyncPreempt no_preempt;
    sys::MutexLock l(g_pools_lock);
    for (PoolCore* p = g_pools; p != nullptr; p = p->registry_next_) {
      p->cycle_after(&doomed);
    }
  }
  for (auto& [destroy, x] : doomed) destroy(x);
}

}  // namespace

PoolCore::PoolCore(void (*destroy)(void*))
    : local_(new_locals()), victim_(new_locals()), destroy_(destroy) {
  {
    sys::MutexLock l(thread_mu_);
    spare_ = new_locals();
  }
  // First pool: register the cycle (once per process).
  if (!g_cleanup_registered.exchange(true, std::memory_order_acq_rel)) {
    GORT_CHECK(sched::add_gc_cleanup(cleanup_with_world_stopped, cleanup_after));
  }
  sys::MutexLock l(g_pools_lock);
  registry_next_ = g_pools;
  if (g_pools != nullptr) g_pools->registry_prev_ = this;
  g_pools = this;
}

PoolCore::~PoolCore() {
  {
    sys::MutexLock l(g_pools_lock);
    if (registry_prev_ != nullptr) {
      registry_prev_->registry_next_ = registry_next_;
    } else {
      g_pools = registry_next_;
    }
    if (registry_next_ != nullptr) registry_next_->registry_prev_ = registry_prev_;
  }
  std::vector<void*> items;
  Local* arrays[4];
  {
    sys::MutexLock l(thread_mu_);
    arrays[0] = local_.load(std::memory_order_relaxed);
    arrays[1] = victim_.load(std::memory_order_relaxed);
    arrays[2] = spare_;
    arrays[3] = dropped_;
  }
  for (Local* a : arrays) {
    if (a == nullptr) continue;
    drain_locals(a, [&](void* x) { items.push_back(x); });
    delete[] a;
  }
  for (void* x : items) destroy_(x);
}

// Pinned on P pid with an empty private slot: the chain's head, then
// get_slow.
void* PoolCore::get_pinned(int32_t pid) {
  Local& l = local_.load(std::memory_order_relaxed)[pid];
  if (void* x = pop_head(l.shared)) return x;
  return get_slow(pid);
}

void PoolCore::push_pinned(Local& l, void* x) { push_head(l.shared, x); }

// Pinned on P pid, which found nothing of its own (Go's getSlow).
void* PoolCore::get_slow(int32_t pid) {
  int32_t n = sched::procs_now();
  Local* locals = local_.load(std::memory_order_relaxed);
  // Steal from the other Ps, then from the plain threads.
  for (int32_t i = 1; i < n; i++) {
    if (void* x = pop_tail(locals[(pid + i) % n].shared)) return x;
  }
  if (void* x = pop_tail(locals[kThreadSlot].shared)) return x;
  if (victim_empty_.load(std::memory_order_relaxed)) return nullptr;
  Local* victim = victim_.load(std::memory_order_relaxed);
  if (void* x = victim[pid].private_item) {
    victim[pid].private_item = nullptr;
    return x;
  }
  for (int32_t i = 0; i < n; i++) {
    if (void* x = pop_tail(victim[(pid + i) % n].shared)) return x;
  }
  if (void* x = pop_tail(victim[kThreadSlot].shared)) return x;
  // Nothing in the victim: later gets need not look (until the next cycle).
  victim_empty_.store(true, std::memory_order_relaxed);
  return nullptr;
}

void* PoolCore::get_thread() {
  sys::MutexLock lock(thread_mu_);
  Local* locals = local_.load(std::memory_order_relaxed);
  Local& l = locals[kThreadSlot];
  if (void* x = l.private_item) {
    l.private_item = nullptr;
    return x;
  }
  if (void* x = pop_head(l.shared)) return x;
  int32_t n = sched::procs_now();
  for (int32_t i = 0; i < n; i++) {
    if (void* x = pop_tail(locals[i].shared)) return x;
  }
  if (victim_empty_.load(std::memory_order_relaxed)) return nullptr;
  Local* victim = victim_.load(std::memory_order_relaxed);
  Local& v = victim[kThreadSlot];
  if (void* x = v.private_item) {
    v.private_item = nullptr;
    return x;
  }
  if (void* x = pop_head(v.shared)) return x;
  for (int32_t i = 0; i < n; i++) {
    if (void* x = pop_tail(victim[i].shared)) return x;
  }
  return nullptr;
}

void PoolCore::put_thread(void* x) {
  sys::MutexLock lock(thread_mu_);
  Local& l = local_.load(std::memory_order_relaxed)[kThreadSlot];
  if (l.private_item == nullptr) {
    l.private_item = x;
  } else {
    push_head(l.shared, x);
  }
}

void PoolCore::cycle_with_world_stopped() {
  sys::MutexLock lock(thread_mu_);
  if (spare_ == nullptr) return;  // the previous cycle's after phase is due
  dropped_ = victim_.load(std::memory_order_relaxed);
  victim_.store(local_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  local_.store(spare_, std::memory_order_relaxed);
  spare_ = nullptr;
  victim_empty_.store(false, std::memory_order_relaxed);
}

void PoolCore::cycle_after(
    std::vector<std::pair<void (*)(void*), void*>>* doomed) {
  Local* dropped;
  {
    sys::MutexLock lock(thread_mu_);
    dropped = dropped_;
    dropped_ = nullptr;
  }
  if (dropped == nullptr) return;
  // Nobody can reach `dropped` now: goroutines were stopped since it was
  // detached, and plain threads read the arrays under thread_mu_.
  drain_locals(dropped, [&](void* x) { doomed->emplace_back(destroy_, x); });
  sys::MutexLock lock(thread_mu_);
  spare_ = dropped;
}

int64_t PoolCore::primary_size_for_testing() {
  sys::MutexLock lock(thread_mu_);
  return count_items(local_.load(std::memory_order_relaxed));
}

int64_t PoolCore::victim_size_for_testing() {
  sys::MutexLock lock(thread_mu_);
  return count_items(victim_.load(std::memory_order_relaxed));
}

}  // namespace gort::syncx::pool_internal
