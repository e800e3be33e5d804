// select (Go's runtime/select.go selectgo, Go 1.19). The design, the lock
// order argument, the fast path and the wakeup race are in hchan.cc's
// essay; this file follows its steps: the fast path (one lock at a time),
// pass 1 (something ready now, every lock held), pass 2 (queue on every
// channel and park), pass 3 (woken: remove the other sudogs).
#include <algorithm>
#include <cstdint>
#include <new>

#include "chan/hchan.h"
#include "chan/ops.h"
#include "sched/internal.h"
#include "sched/panic.h"
#include "sched/runtime.h"
#include "sys/clock.h"
#include "sys/fatal.h"

namespace gort::chan_internal {
namespace {

// The random source of the poll order: the running P's generator (its
// owner is this M, and the runtime's code is not preempted between here
// and the use), or on a plain thread a generator of its own.
sched::Rng& select_rng() {
  sched::M* m = sched::getm();
  if (m != nullptr && m->curg != nullptr && m->p != nullptr) return m->p->rng;
  thread_local sched::Rng t_rng{static_cast<uint64_t>(sys::nanotime()) ^
                                reinterpret_cast<uintptr_t>(&t_rng)};
  return t_rng;
}

// Locks the channels of cases[lockorder[0..n)], each once (Go's sellock).
// REQUIRES: lockorder sorted by channel address.
void sellock(const SelectCase* cases, const uint16_t* lockorder, int n) {
  HChan* last = nullptr;
  for (int i = 0; i < n; ++i) {
    HChan* c = cases[lockorder[i]].c;
    if (c != last) {
      LockedOps::lock(c).lock();
      last = c;
    }
  }
}

// Unlocks them, highest address first (Go's selunlock). Touches the
// arrays only before each unlock: after the last one the selecting
// goroutine may already be running again elsewhere (see selparkcommit).
void selunlock(const SelectCase* cases, const uint16_t* lockorder, int n) {
  for (int i = n - 1; i >= 0; --i) {
    HChan* c = cases[lockorder[i]].c;
    if (i > 0 && c == cases[lockorder[i - 1]].c) continue;  // unlocked later
    LockedOps::lock(c).unlock();
  }
}

struct LockSet {
  const SelectCase* cases;
  const uint16_t* lockorder;
  int n;
};

// The park's unlock function (Go's selparkcommit): runs on g0 once the
// goroutine is off its stack. The LockSet and arrays live on that stack;
// they stay valid until the last unlock, because the goroutine, once
// readied, must take every one of these locks again (pass 3) before it can
// leave selectgo, and the lowest-addressed lock, which it takes first, is
// the last released here.
bool selparkcommit(sched::G*, void* arg) {
  const LockSet* set = static_cast<const LockSet*>(arg);
  selunlock(set->cases, set->lockorder, set->n);
  return true;
}

}  // namespace

namespace {

// What trying one case on its locked channel did.
enum class Outcome {
  kNotReady,    // nothing to do now
  kDone,        // completed; *wakee (if not null) must be woken after unlock
  kClosedSend,  // a send on a closed channel: panic after unlock
};

// Pass 1's step for one case (Go's order of checks). REQUIRES: cs.c locked.
Outcome try_case(const SelectCase& cs, bool* received, Waiter** wakee) {
  HChan* c = cs.c;
  *wakee = nullptr;
  if (!cs.is_send) {
    if (Sudog* sg = LockedOps::sendq(c).dequeue()) {
      *wakee = LockedOps::recv_from_sender(c, sg, cs.elem);
      *received = true;
      return Outcome::kDone;
    }
    if (LockedOps::qcount(c) > 0) {
      LockedOps::buffer_recv(c, cs.elem);
      *received = true;
      return Outcome::kDone;
    }
    if (LockedOps::closed(c)) {
      *received = false;
      return Outcome::kDone;
    }
    return Outcome::kNotReady;
  }
  if (LockedOps::closed(c)) return Outcome::kClosedSend;
  if (Sudog* sg = LockedOps::recvq(c).dequeue()) {
    *wakee = LockedOps::send_to_receiver(c, sg, cs.elem);
    *received = false;
    return Outcome::kDone;
  }
  if (LockedOps::qcount(c) < LockedOps::cap(c)) {
    LockedOps::buffer_send(c, cs.elem);
    *received = false;
    return Outcome::kDone;
  }
  return Outcome::kNotReady;
}

// Whether a case looks ready without its lock (the fast path's filter; a
// stale answer only costs a lock round trip or a trip to the slow path).
bool looks_ready(const SelectCase& cs) {
  if (cs.is_send) return cs.c->closed_hint() || !cs.c->full_hint();
  return !cs.c->empty_hint() || cs.c->closed_hint();
}

}  // namespace

SelectResult selectgo(SelectCase* cases, SudogStorage* sudogs, uint16_t* order,
                      int n, bool block) {
  GORT_CHECK(n >= 0 && n <= 65535);
  uint16_t* pollorder = order;
  uint16_t* lockorder = order + n;

  // The poll order: a uniform random permutation of the cases with a
  // channel (an inside-out Fisher-Yates shuffle), nil channels left out.
  int norder = 0;
  if (n > 0) {
    sched::Rng& rng = select_rng();
    for (int i = 0; i < n; ++i) {
      if (cases[i].c == nullptr) continue;
      uint32_t j = rng.below(static_cast<uint32_t>(norder + 1));
      pollorder[norder] = pollorder[j];
      pollorder[j] = static_cast<uint16_t>(i);
      ++norder;
    }
  }
  if (norder == 0) {
    if (!block) return {-1, false};
    // `select {}` waits with Go's "select (no cases)"; cases that are all
    // nil channels with Go's "select".
    block_forever(n == 0 ? sched::WaitReason::kSelectNoCases
                         : sched::WaitReason::kSelect);
  }

  // The fast path (gort's, not Go's; see "select's fast path" in hchan.cc):
  // in poll order, a case that looks ready is tried under its own channel's
  // lock alone. The first that completes is the select's choice.
  bool received = false;
  Waiter* wakee = nullptr;
  for (int k = 0; k < norder; ++k) {
    const int i = pollorder[k];
    const SelectCase& cs = cases[i];
    if (!looks_ready(cs)) continue;
    sys::Mutex& lock = LockedOps::lock(cs.c);
    lock.lock();
    Outcome o = try_case(cs, &received, &wakee);
    lock.unlock();
    if (o == Outcome::kClosedSend) throw Panic("send on closed channel");
    if (o == Outcome::kDone) {
      if (wakee != nullptr) wake(wakee);
      return {i, received};
    }
  }

  // The lock order: the cases by channel address, sorted from argument
  // order, which is the same every time a given select runs, so that the
  // sort's branches are predictable. (Go sorts the poll order instead, to
  // randomise the order of cases on one channel; here pass 2 queues in poll
  // order, which does that.) Insertion sort for the usual few cases (no
  // allocation); std::sort beyond that.
  int nlock = 0;
  for (int i = 0; i < n; ++i) {
    if (cases[i].c != nullptr) lockorder[nlock++] = static_cast<uint16_t>(i);
  }
  auto addr_less = [cases](uint16_t a, uint16_t b) {
    return reinterpret_cast<uintptr_t>(cases[a].c) <
           reinterpret_cast<uintptr_t>(cases[b].c);
  };
  if (nlock <= 16) {
    for (int i = 1; i < nlock; ++i) {
      uint16_t x = lockorder[i];
      int j = i;
      for (; j > 0 && addr_less(x, lockorder[j - 1]); --j)
        lockorder[j] = lockorder[j - 1];
      lockorder[j] = x;
    }
  } else {
    std::sort(lockorder, lockorder + nlock, addr_less);
  }

  sellock(cases, lockorder, nlock);

  // Pass 1: the first case in poll order that can proceed now, with every
  // lock held (so that "none can" is true of one moment).
  for (int k = 0; k < norder; ++k) {
    const int i = pollorder[k];
    Outcome o = try_case(cases[i], &received, &wakee);
    if (o == Outcome::kNotReady) continue;
    selunlock(cases, lockorder, nlock);
    if (o == Outcome::kClosedSend) throw Panic("send on closed channel");
    if (wakee != nullptr) wake(wakee);
    return {i, received};
  }
  if (!block) {
    selunlock(cases, lockorder, nlock);
    return {-1, false};
  }

  // Pass 2: one sudog per case, all for one waiter, queued in poll order
  // (so that among cases on one channel, which is matched first is random).
  Waiter w;
  w.g = sched::current_g();
  for (int k = 0; k < norder; ++k) {
    const int i = pollorder[k];
    const SelectCase& cs = cases[i];
    Sudog* sg = ::new (sudogs[i].bytes) Sudog{};
    sg->waiter = &w;
    sg->c = cs.c;
    sg->elem = cs.elem;
    sg->is_select = true;
    if (cs.is_send) {
      LockedOps::sendq(cs.c).enqueue(sg);
    } else {
      LockedOps::recvq(cs.c).enqueue(sg);
    }
  }
  if (w.g != nullptr) {
    LockSet set{cases, lockorder, nlock};
    sched::park(selparkcommit, &set, sched::WaitReason::kSelect);
  } else {
    selunlock(cases, lockorder, nlock);
    w.note.sleep();
  }

  // Pass 3: woken by the claimant of one case (w.fired). Take every lock
  // again and remove the other sudogs, which may still be queued.
  sellock(cases, lockorder, nlock);
  Sudog* fired = w.fired;
  int chosen = -1;
  for (int k = 0; k < norder; ++k) {
    const int i = pollorder[k];
    Sudog* sg = std::launder(reinterpret_cast<Sudog*>(sudogs[i].bytes));
    if (sg == fired) {
      chosen = i;
    } else if (cases[i].is_send) {
      LockedOps::sendq(cases[i].c).remove(sg);
    } else {
      LockedOps::recvq(cases[i].c).remove(sg);
    }
  }
  selunlock(cases, lockorder, nlock);
  if (chosen < 0) sys::fatal("selectgo: bad wakeup");
  if (cases[chosen].is_send) {
    if (!fired->success) throw Panic("send on closed channel");
    return {chosen, false};
  }
  return {chosen, fired->success};
}

}  // namespace gort::chan_internal
