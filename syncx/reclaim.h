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
// disallow_park(), where it may park and migrate. maybe_reclaim and
// synchronize must not be called inside a section, nor while holding a
// lock that some section may wait for.
//
// Memory ordering: two modes, chosen once per process (reclaim.cc).
// Asymmetric (membarrier(2) works): a section on a P bumps its P's lock
// counter with a relaxed load and store (the P's running, pinned goroutine
// is the slot's only writer) followed by a compiler barrier, before any
// load of a protected pointer; its exit is a release store of its
// current P's unlock counter after the last use. The reclaimer issues
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) after taking the retired
// objects and before reading the counters: every running thread of the
// process executes a full barrier in between, so either its section's
// entry is visible to the reclaimer's reads, or its loads after the entry
// see the unlinking stores (and cannot reach the objects). Sections off a
// P (plain threads; a section between allow_park and disallow_park) use
// seq_cst RMWs on the shared thread slot. Fallback (no membarrier): every
// entry and exit is a seq_cst RMW, and the reclaimer's seq_cst reads come
// after the unlinks. In both, the reclaimer reads unlocks (acquire) before
// locks: seeing a section's exit means seeing its entry, and the exit it
// waited for happens-before the free.
#ifndef GORT_SYNCX_RECLAIM_H_
#define GORT_SYNCX_RECLAIM_H_

#include <atomic>
#include <cstdint>

#include "sched/sync_support.h"

namespace gort::syncx::reclaim_internal {

// One counter slot per P and one for plain threads, a cache line each. In
// asymmetric mode a P's slot is written only by the goroutine running,
// pinned, on that P (the scheduler's hand-offs order successive writers);
// the thread slot by RMWs.
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

// The mode of sections, fixed once per process: kUnknown until the first
// section asks (init_mode), then kAsymmetric or kFallback. Relaxed: a
// section that reads kUnknown calls init_mode, which returns the mode.
enum Mode : uint32_t { kUnknown = 0, kAsymmetric = 1, kFallback = 2 };
extern std::atomic<uint32_t> g_mode;
// Decides the mode (registers for private expedited membarrier), once.
uint32_t init_mode();

class ReadSection {
 public:
  ReadSection() {
    uint32_t mode = g_mode.load(std::memory_order_relaxed);
    if (mode == kUnknown) [[unlikely]]
      mode = init_mode();
    // Pinned: no async preemption inside a section (a reader preempted in
    // an out-of-line absl function would hold up the reclaimer for a whole
    // time slice). allow_park() lifts the pin around a lock that may park.
    pin_ = sched::proc_pin_token();
    // The parity read may be stale: the reclaimer's counters tolerate it
    // (reclaim.cc, step G2).
    idx_ = g_epoch.load(std::memory_order_relaxed) & 1;
    asymmetric_ = mode == kAsymmetric;
    if (asymmetric_ && pin_.p >= 0) {
      // Only this P's running goroutine writes its slot, and it is pinned:
      // a load and a store, no lock prefix. The compiler barrier keeps the
      // store before our loads; the reclaimer's membarrier supplies the
      // CPU's.
      slot_ = &g_slots[pin_.p];
      bump(slot_->locks[idx_], std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      slot_ = &g_slots[pin_.p >= 0 ? pin_.p : kSlots - 1];
      slot_->locks[idx_].fetch_add(1, std::memory_order_seq_cst);
    }
  }
  ~ReadSection() {
    if (asymmetric_) {
      if (pin_.p >= 0) {
        // Our current P's slot (not necessarily the entry's, if we parked
        // and moved): the reclaimer sums all slots. Release: pairs with
        // the reclaimer's acquire reads; our loads stay before it.
        bump(g_slots[pin_.p].unlocks[idx_], std::memory_order_release);
      } else {
        g_slots[kSlots - 1].unlocks[idx_].fetch_add(1,
                                                    std::memory_order_seq_cst);
      }
    } else {
      // Any slot would do; ours may be another P's by now, which costs a
      // shared cache line, not correctness.
      slot_->unlocks[idx_].fetch_add(1, std::memory_order_seq_cst);
    }
    sched::proc_unpin(pin_);
  }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

  // Around a call that may park (Map's Mutex): the section stays open, the
  // pin is dropped and taken again (perhaps on another M and P).
  void allow_park() {
    sched::proc_unpin(pin_);
    pin_ = sched::ProcPin{nullptr, -1};
  }
  void disallow_park() { pin_ = sched::proc_pin_token(); }

 private:
  // counter + 1 by its only writer.
  static void bump(std::atomic<uint64_t>& counter, std::memory_order order) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, order);
  }

  sched::ProcPin pin_;
  Slot* slot_;
  uint32_t idx_;
  bool asymmetric_;
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
