// syncx/reclaim.h: deferred freeing for syncx's lock-free readers (Map's
// read snapshots, entries and value boxes). Internal to syncx.
//
//   ReadSection     RAII: while one lives, nothing retired after it began
//                   is freed (a sleepable read-side critical section)
//   retire          hands an unlinked object to the reclaimer
//   maybe_reclaim   frees retired objects once a grace period has passed,
//                   when enough are pending (cheap check inline)
//   synchronize     waits for a full grace period and frees everything
//                   retired before the call (tests, destructors)
//
// The scheme is sleepable RCU with per-P counters (Linux's SRCU): see the
// essay in reclaim.cc, and docs/syncx.md.
//
// Thread safety: all from any goroutine or thread. A section pins its
// goroutine to its P (no preemption) except between allow_park() and
// disallow_park(), where it may park and migrate. maybe_reclaim and synchronize must not be called inside a
// section, nor while holding a lock that some section may wait for.
//
// Memory ordering: ReadSection's entry is a seq_cst RMW of its slot's lock
// counter, before any load of a protected pointer; its exit a seq_cst RMW
// of the unlock counter after the last use. The reclaimer reads both
// counters seq_cst after the objects were unlinked (retire comes after the
// unlinking store), so a section it does not wait for began after the
// unlink and cannot see the object; and the exit RMW it waited for
// happens-before the free.
#ifndef GORT_SYNCX_RECLAIM_H_
#define GORT_SYNCX_RECLAIM_H_

#include <atomic>
#include <cstdint>

#include "sched/sync_support.h"

namespace gort::syncx::reclaim_internal {

// One counter slot per P and one for plain threads, a cache line each.
struct alignas(64) Slot {
  std::atomic<uint64_t> locks[2] = {0, 0};    // sections begun, per parity
  std::atomic<uint64_t> unlocks[2] = {0, 0};  // sections ended, per parity
};
inline constexpr int32_t kSlots = sched::kSyncMaxProcs + 1;
extern Slot g_slots[kSlots];
// The current parity in its low bit; flipped by the reclaimer (seq_cst).
extern std::atomic<uint32_t> g_epoch;
// Objects a P's list holds before its next writer reclaims.
inline constexpr int64_t kBatch = 2048;

class ReadSection {
 public:
  ReadSection() {
    // Pinned: no async preemption inside a section (a reader preempted in
    // an out-of-line absl function would hold up the reclaimer for a whole
    // time slice). allow_park() lifts the pin around a lock that may park.
    pin_ = sched::proc_pin_token();
    slot_ = &g_slots[pin_.p >= 0 ? pin_.p : kSlots - 1];
    // The parity read may be stale: the reclaimer's counters tolerate it
    // (reclaim.cc, step G1).
    idx_ = g_epoch.load(std::memory_order_relaxed) & 1;
    slot_->locks[idx_].fetch_add(1, std::memory_order_seq_cst);
  }
  ~ReadSection() {
    // Any slot would do (the reclaimer sums them); ours may be another P's
    // by now, which costs a shared cache line, not correctness.
    slot_->unlocks[idx_].fetch_add(1, std::memory_order_seq_cst);
    sched::proc_unpin(pin_);
  }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

  // Around a call that may park (Map's Mutex): the section stays open, the
  // pin is dropped and taken again (perhaps on another M).
  void allow_park() {
    sched::proc_unpin(pin_);
    pin_ = sched::ProcPin{nullptr, -1};
  }
  void disallow_park() { pin_ = sched::proc_pin_token(); }

 private:
  sched::ProcPin pin_;
  Slot* slot_;
  uint32_t idx_;
};

// Frees `p` with destroy(p) after every section that might see it has
// ended. REQUIRES: p is unreachable for sections that begin from now on.
void retire(void* p, void (*destroy)(void*));

void reclaim();
// True when the caller's P's list holds kBatch objects or more.
bool reclaim_due();
inline void maybe_reclaim() {
  if (reclaim_due()) [[unlikely]]
    reclaim();
}

// Waits for a grace period and frees everything retired before the call.
void synchronize();

// Objects retired and not yet freed (for tests).
int64_t pending();

}  // namespace gort::syncx::reclaim_internal

#endif  // GORT_SYNCX_RECLAIM_H_
