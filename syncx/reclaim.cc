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
// reads the current parity, increments locks[parity] of its P's slot, and
// at its end increments unlocks[parity] of the slot of the P it is on then
// (a section may park and resume on another P: only the sums over all
// slots matter).
//
// How a section increments, in one of two modes fixed at the first
// section (init_mode):
// - Asymmetric, when membarrier(2)'s private expedited command works (the
//   fence-free readers of liburcu's "memb" flavour): on a P, a relaxed
//   load and store (no lock prefix: the pinned goroutine running on the P
//   is the slot's only writer, and the scheduler's hand-off of the P
//   orders one writer's stores before the next's), then a compiler
//   barrier; the exit is a release store. A section off a P (a plain
//   thread, or a goroutine between allow_park and disallow_park) does a
//   seq_cst RMW on the shared thread slot. The reclaimer pays instead: one
//   membarrier call per grace period, which makes every running thread of
//   the process execute a full barrier (an IPI; a descheduled thread's
//   context switch is one).
// - Fallback: a seq_cst RMW for both (uncontended: each P has its own
//   cache line), in the slot of the P the section began on.
// A seq_cst RMW on x86 drains the store buffer and waits for every earlier
// load; perf put many of a read-mostly Map Load's samples just after its
// exit RMW. Measured gain: on an uncontended reader (docs/syncx.md); none
// measurable under contention on the loaded 2-core machine.
//
// A retired object waits on its P's list (chunks under a per-slot lock).
// When a P's list reaches kBatch, the goroutine or thread that notices
// becomes the reclaimer (a flag; others skip) and:
//   G1. takes every slot's list: everything on them was unlinked before
//       this point; then (asymmetric mode) calls membarrier;
//   G2. waits until parity `cur ^ 1` is drained: the sum of unlocks, read
//       first, equals the sum of locks, read after. (Sections that read
//       the parity long ago and increment the old counter late.)
//   G3. flips the parity (seq_cst), so new sections count on `cur ^ 1`;
//   G4. waits until parity `cur` is drained;
//   G5. clears the flag and frees the list (destructors run here, outside
//       every lock and section).
//
// Why it is safe: take a section S that may hold an object X of the list.
// S loaded X's pointer before X's unlink was visible to it. In fallback
// mode S's lock RMW (which precedes its loads) therefore precedes G1 in the
// single seq_cst order; in asymmetric mode, the full barrier membarrier
// forces on S's CPU after G1 falls either before S's lock store (then S's
// later loads would see the unlink: not S) or after it (then the store is
// visible to the reclaimer's reads after membarrier returns). Either way
// the drain check of S's parity p (G2 or G4, both after that point) sees
// S's lock. It reads unlocks before locks (acquire): if it saw S's unlock
// (a release) it saw S's lock too, so unlocks <= locks always, with
// equality only when every counted section has ended; S is counted in
// locks, so equality means S ended, and S's accesses happen-before the
// free (ThreadSanitizer sees that edge: release store or RMW, acquire
// load, with the scheduler's own edges between successive writers of a
// P's slot).
// Why it terminates: after G3 new sections use the other parity, so only
// sections already begun (or with a stale parity, at most one each) feed
// the counters G4 waits on; sections are short or wait for something that
// is not the reclaimer (see the REQUIRES in reclaim.h).
//
// The reclaimer waits by spinning briefly, then yielding (a goroutine) or
// sleeping 20 µs (a thread).
#include "syncx/reclaim.h"

#include <linux/membarrier.h>

#include <string>
#include <utility>

#include "sched/preempt.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "sys/env.h"
#include "sys/fatal.h"
#include "sys/mutex.h"
#include "sys/syscall.h"

namespace gort::syncx::reclaim_internal {

constinit Slot g_slots[kSlots];
constinit std::atomic<uint32_t> g_epoch{0};
constinit std::atomic<uint32_t> g_mode{kUnknown};

uint32_t init_mode() {
  // A function-local static: one registration, other first callers wait
  // for it (before they pin). Registration is what the kernel requires
  // before the private expedited command; it fails (EINVAL, ENOSYS, or
  // EPERM under seccomp) where the command is unavailable.
  // GODEBUG=syncxmembarrier=0 (gort's own key) forces the fallback: for
  // its test and for measuring one mode against the other.
  static const uint32_t mode = [] {
    const std::string* off = sys::env().godebug.find("syncxmembarrier");
    long r = -1;
    if (off == nullptr || *off != "0") {
      r = sys::syscall6(SYS_membarrier,
                        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
    }
    uint32_t m = r == 0 ? kAsymmetric : kFallback;
    g_mode.store(m, std::memory_order_relaxed);
    return m;
  }();
  return mode;
}

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

// Every slot's chunks, chained (not copied: the lists can hold many
// thousands of objects, and a flat copy cost a malloc, a memmove and
// fresh pages per grace period).
Chunk* take_list() {
  Chunk* all = nullptr;
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
      Chunk* next = chunks->next;
      chunks->next = all;
      all = chunks;
      chunks = next;
    }
  }
  return all;
}

// The asymmetric mode's half of the barrier pairing (the essay, G1).
void heavy_barrier() {
  uint32_t mode = g_mode.load(std::memory_order_relaxed);
  if (mode == kUnknown) mode = init_mode();  // sections may be deciding now
  if (mode != kAsymmetric) return;
  long r =
      sys::syscall6(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  if (r != 0) sys::fatal("syncx: membarrier failed after registration");
}

// G1-G5, with the flag already ours.
void grace_period_and_free() {
  Chunk* list = take_list();  // G1
  heavy_barrier();
  uint32_t cur = g_epoch.load(std::memory_order_seq_cst) & 1;
  wait_drained(cur ^ 1);                            // G2
  g_epoch.fetch_add(1, std::memory_order_seq_cst);  // G3
  wait_drained(cur);                                // G4
  g_reclaiming.store(false, std::memory_order_release);  // G5
  while (list != nullptr) {
    for (int i = 0; i < list->n; i++) list->items[i].destroy(list->items[i].p);
    Chunk* next = list->next;
    delete list;
    list = next;
  }
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
