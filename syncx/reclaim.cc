// Deferred freeing for syncx::Map's lock-free readers: sleepable RCU with
// per-P counters (the shape of Linux's SRCU, built on gort's P ids).
//
// Glossary: a *section* is a ReadSection's lifetime, during which its
// owner may hold pointers loaded from shared structures; an object is
// *unlinked* when no shared pointer leads to it any more; a *grace period*
// is a wait after which every section that began before it has ended.
//
// ## Why not the alternatives
//
// - Reference counts on each snapshot or value: every Load would do an RMW
//   on a shared line (the snapshot's count), the very contention sync.Map
//   exists to avoid.
// - Quiescent-state reclamation on the scheduler's ticks (a P that has
//   scheduled since the unlink holds nothing): readers would cost nothing,
//   but plain threads have no ticks, a section could not park (Map's slow
//   path locks a Mutex inside it), and the ticks give ThreadSanitizer no
//   happens-before edge to the free.
// - Epochs announced per thread: goroutines migrate between threads, and
//   per-goroutine state costs a lookup per Load.
// - Hazard pointers: a store-load fence per pointer loaded, and Map loads
//   three (snapshot, entry, value).
//
// ## The scheme
//
// Every slot (one per P, one shared by plain threads) has two pairs of
// monotonic counters, `locks[parity]` and `unlocks[parity]`. A section
// reads the current parity, increments locks[parity] of its P's slot
// (seq_cst RMW; uncontended: each P has its own cache line), and at its end
// increments unlocks[parity] of the same slot. A section may park and
// resume on another P: only the sums over all slots matter.
//
// A retired object waits on its P's list (chunks under a per-slot lock).
// When a P's list reaches kBatch, the goroutine or thread that notices
// becomes the reclaimer (a flag; others skip) and:
//   G1. takes every slot's list: everything on them was unlinked before
//       this point;
//   G2. waits until parity `cur ^ 1` is drained: the sum of unlocks, read
//       first, equals the sum of locks, read after. (Sections that read
//       the parity long ago and increment the old counter late.)
//   G3. flips the parity (seq_cst), so new sections count on `cur ^ 1`;
//   G4. waits until parity `cur` is drained;
//   G5. clears the flag and frees the list (destructors run here, outside
//       every lock and section).
//
// Why it is safe: take a section S that may hold an object X of the list.
// S loaded X's pointer before X was unlinked, so S's lock increment (which
// precedes its loads) precedes G1 in the single seq_cst order, whichever
// parity p S used. The drain check of parity p (G2 or G4, both after G1)
// reads unlocks before locks: if it saw S's unlock it saw S's lock too, so
// unlocks <= locks always, with equality only when every counted section
// has ended; S is counted in locks, so equality means S ended. S's unlock
// RMW is read by the reclaimer's seq_cst load, which makes S's accesses
// happen-before the free (and ThreadSanitizer sees that edge).
// Why it terminates: after G3 new sections use the other parity, so only
// sections already begun (or with a stale parity, at most one each) feed
// the counters G4 waits on; sections are short or wait for something that
// is not the reclaimer (see the REQUIRES in reclaim.h).
//
// The reclaimer waits by spinning briefly, then yielding (a goroutine) or
// sleeping 20 µs (a thread).
#include "syncx/reclaim.h"

#include <utility>
#include <vector>

#include "sched/preempt.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "sys/mutex.h"
#include "sys/syscall.h"

namespace gort::syncx::reclaim_internal {

constinit Slot g_slots[kSlots];
constinit std::atomic<uint32_t> g_epoch{0};

namespace {

struct Retired {
  void* p;
  void (*destroy)(void*);
};

// Retired objects wait in per-slot lists of chunks, so that writers on
// different Ps do not share a lock or a cache line. A slot's list is under
// its own lock (uncontended but for the reclaimer, which takes every
// list); the lock is held only for plain stores, never across a call out
// of the runtime (a new chunk is allocated before taking it).
struct Chunk {
  static constexpr int kCapacity = 126;
  Chunk* next = nullptr;  // older chunks
  int n = 0;
  Retired items[kCapacity];
};

struct alignas(64) RetireSlot {
  sys::Mutex lock;
  Chunk* head ABSL_GUARDED_BY(lock) = nullptr;  // being filled; older after
  // Objects on this slot's list. Written under lock; read relaxed by
  // maybe_reclaim as a trigger.
  std::atomic<int64_t> count{0};
};
constinit RetireSlot g_retire[kSlots];

// One reclaimer at a time: exchange acquire, store release.
constinit std::atomic<bool> g_reclaiming{false};

int32_t slot_index() {
  int32_t p = sched::current_p_hint();
  return p >= 0 ? p : kSlots - 1;
}

bool drained(uint32_t parity) {
  uint64_t unlocks = 0;
  uint64_t locks = 0;
  for (Slot& s : g_slots) unlocks += s.unlocks[parity].load(std::memory_order_seq_cst);
  for (Slot& s : g_slots) locks += s.locks[parity].load(std::memory_order_seq_cst);
  return unlocks == locks;
}

void pause_briefly() {
  if (sched::current_p_hint() >= 0) {
    gort::yield();
  } else {
    sys::nanosleep(20'000);
  }
}

// Sections are short (a hash lookup and a copy) unless they park, so spin
// a little before yielding: a yield can cost a whole 10 ms time slice when
// the other goroutines on this P never yield.
void wait_drained(uint32_t parity) {
  for (int spins = 0; !drained(parity); spins++) {
    if (spins < 64) {
      sched::do_spin();
    } else {
      pause_briefly();
    }
  }
}

std::vector<Retired> take_list() {
  std::vector<Retired> list;
  for (RetireSlot& slot : g_retire) {
    if (slot.count.load(std::memory_order_relaxed) == 0) continue;
    Chunk* chunks;
    {
      sys::MutexLock l(slot.lock);
      chunks = slot.head;
      slot.head = nullptr;
      slot.count.store(0, std::memory_order_relaxed);
    }
    while (chunks != nullptr) {
      list.insert(list.end(), chunks->items, chunks->items + chunks->n);
      Chunk* next = chunks->next;
      delete chunks;
      chunks = next;
    }
  }
  return list;
}

// G1-G5, with the flag already ours.
void grace_period_and_free() {
  std::vector<Retired> list = take_list();  // G1
  uint32_t cur = g_epoch.load(std::memory_order_seq_cst) & 1;
  wait_drained(cur ^ 1);                            // G2
  g_epoch.fetch_add(1, std::memory_order_seq_cst);  // G3
  wait_drained(cur);                                // G4
  g_reclaiming.store(false, std::memory_order_release);  // G5
  for (Retired& r : list) r.destroy(r.p);
}

}  // namespace

void retire(void* p, void (*destroy)(void*)) {
  RetireSlot& slot = g_retire[slot_index()];
  Chunk* fresh = nullptr;
  for (;;) {
    {
      sys::MutexLock l(slot.lock);
      Chunk* c = slot.head;
      if (c == nullptr || c->n == Chunk::kCapacity) {
        if (fresh != nullptr) {
          fresh->next = c;
          slot.head = fresh;
          c = fresh;
          fresh = nullptr;
        }
      }
      if (c != nullptr && c->n < Chunk::kCapacity) {
        c->items[c->n++] = Retired{p, destroy};
        slot.count.store(slot.count.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
        break;
      }
    }
    fresh = new Chunk;  // outside the lock (see RetireSlot)
  }
  delete fresh;  // a chunk another retire made room for first
}

bool reclaim_due() {
  return g_retire[slot_index()].count.load(std::memory_order_relaxed) >=
         kBatch;
}

void reclaim() {
  // A relaxed look first: while a reclaim runs, every writer whose list is
  // due calls here, and an exchange each would bounce the flag's line.
  if (g_reclaiming.load(std::memory_order_relaxed)) return;
  if (g_reclaiming.exchange(true, std::memory_order_acquire)) return;
  grace_period_and_free();
}

void synchronize() {
  while (g_reclaiming.exchange(true, std::memory_order_acquire)) {
    pause_briefly();
  }
  grace_period_and_free();
}

int64_t pending() {
  int64_t n = 0;
  for (RetireSlot& slot : g_retire) {
    sys::MutexLock l(slot.lock);
    n += slot.count.load(std::memory_order_relaxed);
  }
  return n;
}

}  // namespace gort::syncx::reclaim_internal
