// Semaphores and notify lists (Go's runtime/sema.go, Go 1.19).
//
// Glossary: a *word* is the caller's uint32_t counter; a *waiter* is a
// SemaWaiter record (Go's sudog) on the stack of a goroutine or thread
// blocked in semacquire or NotifyList::wait; a *root* is one of 251 wait
// queues, chosen by hashing the word's address, each with its own lock and
// a lock-free count of its waiters (`nwait`).
//
// ## Rejected alternatives
//
// - A futex per word: it blocks the OS thread, and the point is to park the
//   goroutine and let the M run another.
// - A wait-queue object per semaphore: every syncx type would grow by a
//   lock and two pointers and need construction; Go's API is a bare word,
//   and syncx's zero-valued types rely on that.
// - One flat list of waiters per root: releasing word A scans past every
//   waiter of every other word on A's root. With 1M goroutines parked on a
//   few words that is quadratic (Go's issue 17953, which is why Go moved to
//   the design below).
// - A hash map from address to queue: allocates on the wait path.
//
// ## The approach (Go's)
//
// Each root holds a treap (a binary search tree by address, kept balanced
// by heap order on a random priority) with one node per distinct waiting
// address; that node, the *head*, carries the list of every other waiter on
// the same address (`next`, with `tail` on the head). Queueing at the tail
// and dequeueing the head are O(1) once the address is found, and finding
// it is O(log distinct addresses on the root). `lifo` queues a waiter in
// front of the current head: it takes over the head's place in the tree and
// the old head becomes first in its list.
//
// Waiter records live on the waiters' stacks, so a wait allocates nothing.
// The rule that keeps that safe: a waiter cannot return before it is woken
// (a parked G runs only after ready(); a thread's note only fires in
// wakeup()), and a waker reads everything it needs from the record (the G,
// the next record in a list) *before* waking it, and never touches it after.
//
// ## Acquire and release (the lost-wakeup argument)
//
// semacquire(addr):
//   A1. Try to decrement the word (CAS, seq_cst) if it is > 0: done.
//   A2. Lock the root; nwait += 1 (seq_cst RMW).
//   A3. Try the word again (seq_cst). If that succeeds: nwait -= 1,
//       unlock, done.
//   A4. Queue the record, then park and let g0 unlock the root (park's
//       protocol: the unlock comes after the G is off its stack), or, on a
//       plain thread, unlock and sleep on the record's note.
//   A5. Woken: if the releaser handed the count over (ticket == 1), done;
//       else try the word; if that fails too (a third party took the count
//       first), go to A2.
// semrelease(addr, handoff):
//   R1. Word += 1 (seq_cst RMW).
//   R2. Load nwait (seq_cst). Zero: return; no lock taken.
//   R3. Lock the root; if nwait is now zero, unlock and return; dequeue the
//       head waiter of addr (if any), nwait -= 1, unlock. (The decrements
//       need no fence: a stale, larger nwait only costs a lock round trip.)
//   R4. With handoff, take the count on the waiter's behalf (ticket = 1).
//       Wake the waiter. With handoff on a goroutine, yield: ready() put the
//       waiter in this P's runnext, and yield puts the releaser on the local
//       queue behind it (Go's goyield), so the waiter runs next.
// Why no waiter sleeps through a release: A2's increment and A3's read
// against R1's increment and R2's read are four seq_cst operations, so in
// their single total order either A3 comes after R1 (the waiter sees the
// count and does not sleep) or R2 comes after A2 (the releaser sees
// nwait > 0 and takes the lock, which it gets only once the waiter is
// queued and parked, so R3 finds it). Each release wakes at most one
// waiter, each waiter consumes at most one count; a woken waiter that
// finds the count taken queues again, as in Go.
//
// ## Notify lists
//
// Go's ticket scheme for sync.Cond: add() takes a ticket while the Cond's
// user still holds its lock; wait(t) queues unless t is already below the
// next ticket to notify; notify_one advances `notify` by one and wakes the
// waiter holding that ticket if it has queued (if not, its wait will see
// the advanced counter and return at once); notify_all sets notify to the
// next ticket to be handed out and wakes the whole list.
#include "sched/sema.h"

#include <atomic>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/sched.h"
#include "sys/fatal.h"
#include "sys/note.h"

namespace gort::sched {

// A goroutine or thread waiting on a word or a notify list (Go's sudog, for
// semaphores). Owned by the waiter's stack frame; while queued, its fields
// are under the root's (or list's) lock.
struct SemaWaiter {
  G* g = nullptr;   // the parked goroutine; nullptr: a thread sleeping on note
  sys::Note note;   // a thread waiter's wakeup
  const uint32_t* addr = nullptr;  // the word (semaphores only)
  // Semaphores: 1 when the releaser handed the count over. Notify lists:
  // the waiter's ticket.
  uint32_t ticket = 0;
  uint32_t priority = 0;  // heap order of the address treap (heads only)
  SemaWaiter* parent = nullptr;  // the treap links (heads only)
  SemaWaiter* left = nullptr;
  SemaWaiter* right = nullptr;
  SemaWaiter* next = nullptr;  // the next waiter on the same address / list
  SemaWaiter* tail = nullptr;  // heads only: the last of their list, or null
};

namespace {

// One wait queue (Go's semaRoot), a cache line each so that roots do not
// share lines (Go pads them the same way).
struct alignas(64) SemaRoot {
  sys::Mutex lock;
  // Waiters queued on this root, read without the lock by semrelease's
  // fast path (R2). Written only under lock: A2's increment is a seq_cst
  // RMW (the Dekker half of the lost-wakeup argument); the decrements (A3's
  // cancel, R3) are plain stores, since a reader that sees the old, larger
  // value only takes the lock for nothing.
  std::atomic<uint32_t> nwait{0};
  SemaWaiter* tree ABSL_GUARDED_BY(lock) = nullptr;
  uint32_t rng ABSL_GUARDED_BY(lock) = 0x9e3779b9u;  // treap priorities
};

constinit SemaRoot g_roots[kSemaRoots];

SemaRoot& root_for(const uint32_t* addr) {
  return g_roots[sema_root_index(addr)];
}

// nwait -= 1 (see SemaRoot::nwait: under the lock a plain store will do).
void drop_waiter(SemaRoot& root) ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  root.nwait.store(root.nwait.load(std::memory_order_relaxed) - 1,
                   std::memory_order_relaxed);
}

// Go's cansemacquire: decrement the word if it is positive. seq_cst: A1,
// A3 and A5 read the word in the total order the lost-wakeup argument uses,
// and a successful CAS acquires what the releaser published with R1.
bool can_acquire(uint32_t* addr) {
  std::atomic_ref<uint32_t> word(*addr);
  uint32_t v = word.load(std::memory_order_seq_cst);
  while (v != 0) {
    if (word.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst,
                                   std::memory_order_seq_cst)) {
      return true;
    }
  }
  return false;
}

// Wakes a dequeued waiter. Reads the record before waking it: afterwards
// the record's frame may be gone.
void wake(SemaWaiter* w) {
  G* g = w->g;
  if (g != nullptr) {
    ready(g);
  } else {
    w->note.wakeup();
  }
}

// Blocks the caller, queued as `w`, releasing `mu` once it is safe to be
// found (see the park protocol in internal.h).
void block(SemaWaiter* w, sys::Mutex* mu, WaitReason reason)
    ABSL_UNLOCK_FUNCTION(mu) {
  if (w->g != nullptr) {
    park_unlock(mu, reason);
  } else {
    mu->unlock();
    w->note.sleep();
  }
}

// The calling goroutine, or nullptr on a plain thread. On an M's own stack
// (g0) there is nothing to park: that is a runtime bug (Go throws too).
G* waiter_g() {
  M* m = getm();
  if (m == nullptr) return nullptr;
  if (m->curg == nullptr) sys::fatal("semacquire not on the G stack");
  return m->curg;
}

// ---- the address treap (root lock held) -------------------------------------

uint32_t next_priority(SemaRoot& root) ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  uint32_t x = root.rng;  // xorshift32
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  root.rng = x;
  return x;
}

bool addr_less(const uint32_t* a, const uint32_t* b) {
  return reinterpret_cast<uintptr_t>(a) < reinterpret_cast<uintptr_t>(b);
}

// Makes `now` the child of `parent` where `old` was (the tree's root when
// parent is null).
void set_child(SemaRoot& root, SemaWaiter* parent, SemaWaiter* old,
               SemaWaiter* now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  if (parent == nullptr) {
    GORT_CHECK(root.tree == old);
    root.tree = now;
  } else if (parent->left == old) {
    parent->left = now;
  } else {
    GORT_CHECK(parent->right == old);
    parent->right = now;
  }
}

// Rotates x above its parent, keeping the search order.
void rotate_up(SemaRoot& root, SemaWaiter* x)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  SemaWaiter* p = x->parent;
  SemaWaiter* gp = p->parent;
  if (p->left == x) {
    p->left = x->right;
    if (x->right != nullptr) x->right->parent = p;
    x->right = p;
  } else {
    p->right = x->left;
    if (x->left != nullptr) x->left->parent = p;
    x->left = p;
  }
  p->parent = x;
  x->parent = gp;
  set_child(root, gp, p, x);
}

// `now` takes `old`'s place in the tree (links and priority).
void replace_node(SemaRoot& root, SemaWaiter* old, SemaWaiter* now)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  now->parent = old->parent;
  now->left = old->left;
  now->right = old->right;
  now->priority = old->priority;
  if (now->left != nullptr) now->left->parent = now;
  if (now->right != nullptr) now->right->parent = now;
  set_child(root, old->parent, old, now);
  old->parent = old->left = old->right = nullptr;
}

SemaWaiter* find_head(SemaRoot& root, const uint32_t* addr)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  SemaWaiter* t = root.tree;
  while (t != nullptr && t->addr != addr) {
    t = addr_less(addr, t->addr) ? t->left : t->right;
  }
  return t;
}

// Queues w on addr: at the tail of addr's list, or with `lifo` at its head.
void enqueue(SemaRoot& root, uint32_t* addr, SemaWaiter* w, bool lifo)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  w->addr = addr;
  w->next = w->tail = nullptr;
  w->parent = w->left = w->right = nullptr;
  SemaWaiter* parent = nullptr;
  SemaWaiter** link = &root.tree;
  for (SemaWaiter* t = *link; t != nullptr; t = *link) {
    if (t->addr == addr) {
      if (lifo) {
        // w becomes the head; the old head leads w's list.
        replace_node(root, t, w);
        w->next = t;
        w->tail = t->tail != nullptr ? t->tail : t;
        t->tail = nullptr;
      } else {
        (t->tail != nullptr ? t->tail : t)->next = w;
        t->tail = w;
      }
      return;
    }
    parent = t;
    link = addr_less(addr, t->addr) ? &t->left : &t->right;
  }
  // A new address: a leaf, rotated up until the heap order holds (the
  // smallest priority at the top).
  w->priority = next_priority(root);
  w->parent = parent;
  *link = w;
  while (w->parent != nullptr && w->parent->priority > w->priority) {
    rotate_up(root, w);
  }
}

// Takes the first waiter of addr off the root, or returns nullptr.
SemaWaiter* dequeue(SemaRoot& root, const uint32_t* addr)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(root.lock) {
  SemaWaiter* s = find_head(root, addr);
  if (s == nullptr) return nullptr;
  if (SemaWaiter* t = s->next) {
    // The next waiter becomes the head in s's place.
    replace_node(root, s, t);
    t->tail = s->tail == t ? nullptr : s->tail;
  } else {
    // The last waiter of addr: rotate it down to a leaf, always lifting the
    // child of smaller priority so that the heap order holds, then cut it.
    while (s->left != nullptr || s->right != nullptr) {
      SemaWaiter* c = s->left;
      if (c == nullptr ||
          (s->right != nullptr && s->right->priority < c->priority)) {
        c = s->right;
      }
      rotate_up(root, c);
    }
    set_child(root, s->parent, s, nullptr);
    s->parent = nullptr;
  }
  s->next = s->tail = nullptr;
  return s;
}

// ---- invariants ------------------------------------------------------------------

// Checks the subtree at t, whose addresses must lie in (lo, hi) (null: no
// bound); returns how many waiters it holds, lists included.
int64_t check_subtree(size_t index, const SemaWaiter* t, const uint32_t* lo,
                      const uint32_t* hi) {
  if (t == nullptr) return 0;
  if (sema_root_index(t->addr) != index) {
    sys::fatalf("sema: waiter for %p on root %zu", static_cast<const void*>(t->addr), index);
  }
  if ((lo != nullptr && !addr_less(lo, t->addr)) ||
      (hi != nullptr && !addr_less(t->addr, hi))) {
    sys::fatalf("sema: root %zu: tree out of address order", index);
  }
  int64_t n = 1;
  const SemaWaiter* last = t;
  for (const SemaWaiter* w = t->next; w != nullptr; w = w->next) {
    if (w->addr != t->addr) sys::fatalf("sema: root %zu: mixed list", index);
    if (w->tail != nullptr || w->left != nullptr || w->right != nullptr ||
        w->parent != nullptr) {
      sys::fatalf("sema: root %zu: list member with tree links", index);
    }
    last = w;
    n++;
  }
  if ((t->next == nullptr) != (t->tail == nullptr) ||
      (t->tail != nullptr && t->tail != last)) {
    sys::fatalf("sema: root %zu: wrong list tail", index);
  }
  for (const SemaWaiter* c : {t->left, t->right}) {
    if (c == nullptr) continue;
    if (c->parent != t) sys::fatalf("sema: root %zu: wrong parent link", index);
    if (c->priority < t->priority) {
      sys::fatalf("sema: root %zu: heap order broken", index);
    }
  }
  return n + check_subtree(index, t->left, lo, t->addr) +
         check_subtree(index, t->right, t->addr, hi);
}

}  // namespace

size_t sema_root_index(const uint32_t* addr) {
  return (reinterpret_cast<uintptr_t>(addr) >> 3) % kSemaRoots;
}

void semacquire(uint32_t* addr, bool lifo, WaitReason reason) {
  if (can_acquire(addr)) return;  // A1
  SemaRoot& root = root_for(addr);
  G* g = waiter_g();
  for (;;) {
    SemaWaiter w;
    w.g = g;
    root.lock.lock();
    root.nwait.fetch_add(1, std::memory_order_seq_cst);  // A2
    if (can_acquire(addr)) {                             // A3
      drop_waiter(root);
      root.lock.unlock();
      return;
    }
    enqueue(root, addr, &w, lifo);  // A4
    block(&w, &root.lock, reason);
    // A5. ticket was written by the releaser before it woke us; ready()
    // (through the run queue) or the note orders that write before here.
    if (w.ticket != 0 || can_acquire(addr)) return;
  }
}

void semrelease(uint32_t* addr, bool handoff) {
  SemaRoot& root = root_for(addr);
  std::atomic_ref<uint32_t>(*addr).fetch_add(1, std::memory_order_seq_cst);  // R1
  if (root.nwait.load(std::memory_order_seq_cst) == 0) return;              // R2
  SemaWaiter* w;
  {
    sys::MutexLock l(root.lock);  // R3
    if (root.nwait.load(std::memory_order_relaxed) == 0) return;
    w = dequeue(root, addr);
    if (w != nullptr) drop_waiter(root);
  }
  if (w == nullptr) return;
  // R4. Waking may be slow (a futex wake for a thread), so outside the lock.
  bool handed = handoff && can_acquire(addr);
  if (handed) w->ticket = 1;
  wake(w);  // w may be gone from here on
  if (handed) {
    M* m = getm();
    if (m != nullptr && m->curg != nullptr &&
        m->locks.load(std::memory_order_relaxed) == 0) {
      yield();
    }
  }
}

int64_t sema_waiters(const uint32_t* addr) {
  SemaRoot& root = root_for(addr);
  sys::MutexLock l(root.lock);
  int64_t n = 0;
  for (SemaWaiter* w = find_head(root, addr); w != nullptr; w = w->next) n++;
  return n;
}

void sema_check_invariants() {
  for (size_t i = 0; i < kSemaRoots; i++) {
    SemaRoot& root = g_roots[i];
    sys::MutexLock l(root.lock);
    if (root.tree != nullptr && root.tree->parent != nullptr) {
      sys::fatalf("sema: root %zu: tree root has a parent", i);
    }
    int64_t n = check_subtree(i, root.tree, nullptr, nullptr);
    uint32_t nwait = root.nwait.load(std::memory_order_relaxed);
    if (n != static_cast<int64_t>(nwait)) {
      sys::fatalf("sema: root %zu: nwait %u but %lld waiters queued", i, nwait,
                  static_cast<long long>(n));
    }
  }
}

// ---- NotifyList ---------------------------------------------------------------------

namespace {
// a < b in ticket order, across wrap-around (Go's less).
bool ticket_less(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}
}  // namespace

uint32_t NotifyList::add() {
  // seq_cst: the notifiers' lock-free checks compare wait_ with notify_.
  return wait_.fetch_add(1, std::memory_order_seq_cst);
}

void NotifyList::wait(uint32_t ticket) {
  SemaWaiter w;
  w.g = waiter_g();
  w.ticket = ticket;
  lock_.lock();
  // notify_ is stored under lock_, so a relaxed load here sees the latest.
  if (ticket_less(ticket, notify_.load(std::memory_order_relaxed))) {
    lock_.unlock();  // already notified
    return;
  }
  if (tail_ == nullptr) {
    head_ = &w;
  } else {
    tail_->next = &w;
  }
  tail_ = &w;
  block(&w, &lock_, WaitReason::kSyncCondWait);
}

void NotifyList::notify_all() {
  // Fast path: no ticket outstanding. seq_cst pairs with add()'s RMW; a
  // ticket taken under the Cond user's lock that this notifier then holds
  // is visible here.
  if (wait_.load(std::memory_order_seq_cst) ==
      notify_.load(std::memory_order_seq_cst)) {
    return;
  }
  SemaWaiter* s;
  {
    sys::MutexLock l(lock_);
    s = head_;
    head_ = tail_ = nullptr;
    // Every ticket handed out so far is notified: its holder is on the list
    // taken above, or will see this value when it comes to wait.
    notify_.store(wait_.load(std::memory_order_seq_cst),
                  std::memory_order_seq_cst);
  }
  while (s != nullptr) {
    SemaWaiter* next = s->next;  // before waking: s may be gone after
    s->next = nullptr;
    wake(s);
    s = next;
  }
}

void NotifyList::notify_one() {
  if (wait_.load(std::memory_order_seq_cst) ==
      notify_.load(std::memory_order_seq_cst)) {
    return;
  }
  SemaWaiter* found = nullptr;
  {
    sys::MutexLock l(lock_);
    uint32_t t = notify_.load(std::memory_order_relaxed);
    if (t == wait_.load(std::memory_order_seq_cst)) return;
    notify_.store(t + 1, std::memory_order_seq_cst);
    // The holder of ticket t is usually at or near the head: waiters queue
    // in roughly ticket order. If it has not queued yet its wait will see
    // notify_ > t and return at once.
    SemaWaiter* prev = nullptr;
    for (SemaWaiter* s = head_; s != nullptr; prev = s, s = s->next) {
      if (s->ticket != t) continue;
      SemaWaiter* n = s->next;
      if (prev != nullptr) {
        prev->next = n;
      } else {
        head_ = n;
      }
      if (n == nullptr) tail_ = prev;
      s->next = nullptr;
      found = s;
      break;
    }
  }
  if (found != nullptr) wake(found);
}

}  // namespace gort::sched
