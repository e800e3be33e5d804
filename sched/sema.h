// sched/sema.h: Go's runtime semaphores (runtime/sema.go, Go 1.19), the
// sleep/wakeup primitive under syncx's Mutex, RWMutex, WaitGroup and Cond.
//
//   semacquire / semrelease  a counting semaphore on any uint32_t word:
//                            acquire waits until the word is > 0 and
//                            decrements it; release increments it and wakes
//                            one waiter
//   NotifyList               the ticket-based wait list under sync.Cond
//                            (Go's notifyList)
//   SemaWaiter               one waiting goroutine or thread (Go's sudog for
//                            semaphores), a record on the waiter's own stack
//
// As in Go, "don't think of these as semaphores": they are a sleep and a
// wakeup such that every sleep is paired with one wakeup even when the
// wakeup comes first. The word belongs to the caller (a field of its Mutex,
// say); the wait queues live in a fixed table of 251 roots hashed by the
// word's address, so a semaphore costs no memory beyond its word and no
// setup. Waiting costs no allocation: the waiter's record is a local of
// semacquire / NotifyList::wait.
//
// Waiters may be goroutines (they park) or plain threads (they sleep on a
// sys::Note in their record); releasers may be either. The two kinds may
// wait on the same word.
//
// Thread safety: every function may be called from any goroutine or thread,
// concurrently, on any words. The word must stay alive, and must be touched
// only through these functions (or atomically), while anyone may be inside
// them for it.
//
// Memory ordering: everything a releaser wrote before semrelease(addr)
// happens-before whatever the acquirer that consumed that count does after
// semacquire(addr) returns: the count moves through seq_cst RMWs on the
// word, and a woken waiter is handed over through the root's lock and
// ready() (or the note). The lock-free fast path of semrelease is a Dekker
// pair with semacquire's slow path: the releaser increments the word, then
// loads the root's waiter count; the waiter increments the waiter count,
// then re-reads the word; all four are seq_cst, so at least one side sees
// the other (see sema.cc). NotifyList: everything a notifier wrote before
// notify_one/notify_all happens-before what a waiter it released does after
// wait returns.
#ifndef GORT_SCHED_SEMA_H_
#define GORT_SCHED_SEMA_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "sched/g.h"
#include "sys/mutex.h"

namespace gort::sched {

struct SemaWaiter;

// Waits until *addr > 0, then decrements it (Go's semacquire1). `lifo`
// puts this waiter at the head of addr's queue instead of its tail (what
// sync.Mutex asks for a waiter that has already waited once). `reason` is
// what the goroutine dump shows while it waits. On a goroutine the
// goroutine parks; on a plain thread the thread blocks in the kernel.
// Never fails.
void semacquire(uint32_t* addr, bool lifo,
                WaitReason reason = WaitReason::kSemacquire);

// Increments *addr and wakes one waiter of addr, if any (Go's semrelease1).
// With no waiter anywhere on addr's root it takes no lock: one atomic add
// and one atomic load. `handoff`: the count goes straight to the woken
// waiter (no third party can take it first) and, when called on a
// goroutine, the caller yields so that the waiter runs at once on this P
// (Go's starving sync.Mutex). From a plain thread handoff still hands the
// count over but cannot yield.
void semrelease(uint32_t* addr, bool handoff);

// Go's notifyList (sema.go): waiters take a ticket with add(), drop their
// lock, then wait(ticket); notify_one releases the oldest ticket not yet
// notified, notify_all every ticket taken so far. A notification that
// reaches a ticket before its holder waits makes that wait return at once,
// so no notification is lost between add and wait.
//
// Thread safety: all methods from any goroutine or thread, concurrently.
// Zero-initialised state is ready to use (it may be a member of a
// constinit object).
class NotifyList {
 public:
  constexpr NotifyList() = default;
  NotifyList(const NotifyList&) = delete;
  NotifyList& operator=(const NotifyList&) = delete;

  // Takes the next ticket (Go's notifyListAdd). Lock-free.
  uint32_t add();
  // Waits until `ticket` is notified; returns at once if it already was.
  // REQUIRES: ticket came from add() on this list, and is waited on once.
  void wait(uint32_t ticket);
  // Releases the oldest ticket not yet notified, if any ticket is
  // outstanding. Lock-free when none is.
  void notify_one();
  // Releases every ticket taken so far. Lock-free when none is outstanding.
  void notify_all();

 private:
  // Tickets: wait_ is the next to hand out (RMW seq_cst in add); notify_ is
  // the next to notify (stored under lock_, read lock-free by the fast
  // paths). Both wrap; compared with a signed difference as Go does.
  std::atomic<uint32_t> wait_{0};
  std::atomic<uint32_t> notify_{0};
  sys::Mutex lock_;
  SemaWaiter* head_ ABSL_GUARDED_BY(lock_) = nullptr;  // waiters, in the
  SemaWaiter* tail_ ABSL_GUARDED_BY(lock_) = nullptr;  // order they queued
};

// ---- introspection, for tests and workloads ---------------------------------

// The number of wait-queue roots (Go's semTabSize: a prime, so that address
// patterns do not all fall on a few roots).
inline constexpr size_t kSemaRoots = 251;

// Which root addr's waiters queue on (Go's (addr >> 3) % 251).
size_t sema_root_index(const uint32_t* addr);

// How many waiters are queued on addr now. Takes addr's root lock.
int64_t sema_waiters(const uint32_t* addr);

// Walks every root under its lock and checks its invariants (the address
// tree is ordered by address and heap-ordered by priority, parent links
// agree, every queued waiter is on its own root, the lock-free waiter count
// equals the queued waiters). A violation is a fatal error naming it.
void sema_check_invariants();

}  // namespace gort::sched

#endif  // GORT_SCHED_SEMA_H_
