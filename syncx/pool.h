// syncx/pool.h: Go's sync.Pool.
//
//   Pool<T>   a cache of spare T objects, owned as std::unique_ptr<T>: get()
//             returns a pooled object or a fresh one from the `make`
//             function (Go's New), put() gives one back. Per-P private slot
//             and lock-free shared chain; a victim cache that keeps objects
//             one GC cycle longer
//   pool_internal::PoolCore   the type-erased machinery (pool.cc)
//
// As in Go, a Pool promises nothing about which object get() returns or
// whether a put object is ever returned: objects may be dropped at any GC
// cycle (sched::run_gc_cleanups: sysmon's forced-GC tick, or a test's
// call). An object put and not taken again survives exactly one cycle (it
// moves to the victim cache) and is destroyed at the next.
//
// Thread safety: get and put from any goroutine or thread, concurrently.
// Goroutines take the per-P fast path; plain threads a path under a lock.
// The constructor and destructor need no concurrent use.
//
// Memory ordering: an object handed from put to get on another P goes
// through the chain's head/tail word (a release add by the owner's push,
// acquire CAS by a stealer) and the slot (cleared with release by the
// stealer, checked with acquire by the next push); on the same P through
// program order. So what the putter wrote to the object happens-before
// what the getter does with it. Cleanup cycles stop the world.
#ifndef GORT_SYNCX_POOL_H_
#define GORT_SYNCX_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "sched/preempt.h"
#include "sched/sync_support.h"
#include "sys/mutex.h"

namespace gort::syncx {
namespace pool_internal {

struct Ring;

// Go's poolChain: the owner pushes and pops at head's head; stealers take
// from tail's tail (pool.cc).
struct Chain {
  Ring* head = nullptr;              // owner only
  std::atomic<Ring*> tail{nullptr};  // release store, acquire load
  Ring* all = nullptr;               // every ring, newest first (owner)
};

// One P's share (Go's poolLocal), a cache line of its own.
struct alignas(64) Local {
  void* private_item = nullptr;  // owner only
  Chain shared;
};

// A pool of non-null void* items with a destroy function. Everything
// Pool<T> does apart from typing and the make function.
class PoolCore {
 public:
  // destroy(x) frees an item the pool drops (a GC cycle, the destructor).
  explicit PoolCore(void (*destroy)(void*));
  ~PoolCore();
  PoolCore(const PoolCore&) = delete;
  PoolCore& operator=(const PoolCore&) = delete;

  // A pooled item, removed from the pool, or nullptr. The private slot
  // is inline (one pin, no other call); the rest out of line.
  void* get() {
    sched::ProcPin pin = sched::proc_pin_token();
    if (pin.p < 0) return get_thread();
    Local& l = local_.load(std::memory_order_relaxed)[pin.p];
    void* x = l.private_item;
    l.private_item = nullptr;
    if (x == nullptr) [[unlikely]]
      x = get_pinned(pin.p);
    sched::proc_unpin(pin);
    return x;
  }
  // Adds x. REQUIRES: x != nullptr.
  void put(void* x) {
    sched::ProcPin pin = sched::proc_pin_token();
    if (pin.p < 0) return put_thread(x);
    Local& l = local_.load(std::memory_order_relaxed)[pin.p];
    if (l.private_item == nullptr) [[likely]] {
      l.private_item = x;
    } else {
      push_pinned(l, x);
    }
    sched::proc_unpin(pin);
  }

  // Test introspection: items held in the primary and the victim cache
  // now. REQUIRES: no concurrent get/put.
  int64_t primary_size_for_testing();
  int64_t victim_size_for_testing();

  // For pool.cc's cleanup cycle.
  void cycle_with_world_stopped();
  // Moves the dropped items to *doomed (with their destroy function) and
  // keeps their array as the spare.
  void cycle_after(std::vector<std::pair<void (*)(void*), void*>>* doomed);

 private:
  void* get_pinned(int32_t pid);  // private slot empty: chain, steal, victim
  static void push_pinned(Local& l, void* x);
  void* get_slow(int32_t pid);
  void* get_thread();
  void put_thread(void* x);

  // The per-P arrays (kSyncMaxProcs + 1 Locals; the last is the plain
  // threads'). local_ and victim_ change only with the world stopped and
  // thread_mu_ held: pinned goroutines and thread_mu_ holders read them
  // relaxed (the stop, or the lock, orders the swap).
  std::atomic<Local*> local_;
  std::atomic<Local*> victim_;
  // Cleared and ready to become local_ at the next cycle (null while a
  // cycle frees it, between the stopped phase and the after phase).
  Local* spare_ ABSL_GUARDED_BY(thread_mu_) = nullptr;
  Local* dropped_ ABSL_GUARDED_BY(thread_mu_) = nullptr;
  // Set when a get found the victim empty (Go's victimSize = 0); cleared
  // by the next cycle. Relaxed: a hint.
  std::atomic<bool> victim_empty_{true};
  // Plain threads' path, and the cycle's swap.
  sys::Mutex thread_mu_;
  void (*destroy_)(void*);

 public:
  // The registry of live pools (pool.cc), under its lock.
  PoolCore* registry_next_ = nullptr;
  PoolCore* registry_prev_ = nullptr;
};

}  // namespace pool_internal

template <typename T>
class Pool {
 public:
  using MakeFn = std::function<std::unique_ptr<T>()>;

  // A pool whose get() returns nullptr when empty.
  Pool() : core_(&destroy) {}
  // A pool whose get() calls make() when empty (Go's New). make may return
  // nullptr.
  explicit Pool(MakeFn make) : core_(&destroy), make_(std::move(make)) {}

  // Removes and returns an arbitrary pooled object, or, if none, make()'s
  // result (nullptr without make). make runs outside every lock and stays
  // preemptible.
  std::unique_ptr<T> get() {
    if (void* x = core_.get()) return std::unique_ptr<T>(static_cast<T*>(x));
    std::unique_ptr<T> made;
    if (make_) {
      auto call = [&] { made = make_(); };
      gort_user_call(call);
    }
    return made;
  }

  // Adds x to the pool (nullptr is ignored, as Go ignores Put(nil)).
  void put(std::unique_ptr<T> x) {
    if (x != nullptr) core_.put(x.release());
  }

  pool_internal::PoolCore& core_for_testing() { return core_; }

 private:
  static void destroy(void* x) { delete static_cast<T*>(x); }

  pool_internal::PoolCore core_;
  MakeFn make_;
};

}  // namespace gort::syncx

#endif  // GORT_SYNCX_POOL_H_
