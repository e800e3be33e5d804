// The runtime glue of the poller (Go's runtime_poll* in runtime/netpoll.go):
// parking on a PollDesc, deadlines on the per-P timer heaps, and the
// scheduler's hooks.
//
// Waiting. wait() runs poller.h's protocol (P1 block_prepare, P2
// block_commit, P4 block_finish). A goroutine commits inside park's
// unlockf, once it is off its stack, so that an unblock after P2 may ready
// it at once; a plain thread commits a token naming its thread-local note
// (low bit set) and sleeps on the note. Whoever takes a token out (poll,
// evict, a deadline) wakes it: ready(g) or note.wakeup().
//
// Errors are flags (closing, rd/wd = -1) written under pd->lock before the
// unblock that wakes the waiter, and checked by the waiter after every
// wake-up (Go's netpollcheckerr); a wake-up with no event and no error (a
// deadline that was extended after it fired) just waits again.
//
// Deadlines. Each direction has a timer::Timer in the PollDesc, armed on
// the caller's P's heap. Changing a deadline resets or stops the timer
// under pd->lock, which changes the timer's sequence number; the timer's
// function takes pd->lock and acts only if the sequence it fired with is
// still current (Go compares pd.rseq/wseq). A timer that fires after the
// PollDesc was closed and reused is stale by the same test: close stopped
// it (a new seq), and PollDescs are never freed (poller.cc), so the late
// function still reads valid memory.
//
// Hooks. The first open() creates the epoll instance and registers
// poll_network (non-blocking in findRunnable and sysmon; blocking for the
// idle M that waits for timers, sched/proc.cc), break_poll (an earlier
// timer) and has_waiters (deadlock detection: a goroutine in IO wait may
// still be woken).

#include "netpoll/netpoll.h"

#include <errno.h>

#include <mutex>

#include "netpoll/poller.h"
#include "sched/g.h"
#include "sched/internal.h"
#include "sched/trace.h"
#include "sys/clock.h"
#include "sys/fatal.h"
#include "sys/mutex.h"
#include "sys/note.h"

namespace gort::netpoll {
namespace {

bool is_note(Token t) { return (t & 1) != 0; }
sys::Note* note_of(Token t) { return reinterpret_cast<sys::Note*>(t & ~Token{1}); }
sched::G* g_of(Token t) { return reinterpret_cast<sched::G*>(t); }

// Wakes the waiter behind t (any thread, no lock held).
void wake(Token t) {
  if (t == 0) return;
  if (is_note(t)) {
    note_of(t)->wakeup();
  } else {
    sched::ready(g_of(t));
  }
}

// poll()'s callback: notes are woken at once, Gs are collected for the
// scheduler (linked by sched_link).
void collect(Token t, void* ctx) {
  if (is_note(t)) {
    note_of(t)->wakeup();
    return;
  }
  auto** head = static_cast<sched::G**>(ctx);
  sched::G* g = g_of(t);
  g->sched_link = *head;
  *head = g;
}

// One trace event per poll that readied goroutines, with their count.
[[gnu::cold, gnu::noinline]] void trace_readied(sched::G* head) {
  uint32_t n = 0;
  for (sched::G* g = head; g != nullptr; g = g->sched_link) n++;
  if (n > 0) sched::trace::netpoll(n);
}

sched::G* hook_poll_network(bool block, int64_t until_ns) {
  sched::G* head = nullptr;
  poll(block ? until_ns : 0, collect, &head);
  if (sched::trace::on()) [[unlikely]] trace_readied(head);
  return head;
}
void hook_break_poll() { netpoll::wake(); }
bool hook_has_waiters() { return waiter_count() > 0; }

std::atomic<int64_t>& deadline_of(PollDesc* pd, bool read) {
  return read ? pd->rd : pd->wd;
}
std::atomic<uintptr_t>* sema_of(PollDesc* pd, bool read) {
  return read ? &pd->rg : &pd->wg;
}

// A deadline timer fired (Go's netpolldeadlineimpl).
void deadline_fired(PollDesc* pd, bool read, uint64_t seq) {
  Token t;
  {
    sys::MutexLock l(pd->lock);
    timer::Timer& tm = read ? pd->rt : pd->wt;
    if (tm.seq() != seq) return;  // reset or stopped since: stale
    deadline_of(pd, read).store(-1, std::memory_order_relaxed);
    t = unblock(sema_of(pd, read), false);
  }
  wake(t);
}
void on_read_deadline(void* arg, uint64_t seq, int64_t) {
  deadline_fired(static_cast<PollDesc*>(arg), true, seq);
}
void on_write_deadline(void* arg, uint64_t seq, int64_t) {
  deadline_fired(static_cast<PollDesc*>(arg), false, seq);
}

void init_once() {
  sched::schedinit();  // the hooks and netpoll_started need the scheduler
  init();
  sched::Hooks h = sched::hooks();
  h.poll_network = hook_poll_network;
  h.break_poll = hook_break_poll;
  h.has_waiters = hook_has_waiters;
  sched::set_hooks(h);
  sched::netpoll_started();
}

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, init_once);
}

// Go's netpollcheckerr.
PollError checkerr(PollDesc* pd, bool read) {
  if (pd->closing.load(std::memory_order_acquire)) return PollError::kClosing;
  if (deadline_of(pd, read).load(std::memory_order_relaxed) < 0) {
    return PollError::kTimeout;
  }
  return PollError::kNone;
}

bool commit_g(sched::G* g, void* arg) {
  return block_commit(static_cast<std::atomic<uintptr_t>*>(arg),
                      reinterpret_cast<Token>(g));
}

// Go's netpollblock: true if an I/O event ended the wait.
bool block(PollDesc* pd, bool read) {
  std::atomic<uintptr_t>* gpp = sema_of(pd, read);
  if (block_prepare(gpp)) return true;
  // Recheck errors after P1: an evict or deadline that ran before P1 found
  // nothing to unblock and will not come again.
  if (checkerr(pd, read) == PollError::kNone) {
    if (sched::current_g() != nullptr) {
      sched::park(commit_g, gpp, sched::WaitReason::kIOWait);
    } else {
      static thread_local sys::Note note;
      note.clear();
      auto token = reinterpret_cast<Token>(&note) | 1;
      if (block_commit(gpp, token)) {
        // Make sure some M will poll for this thread (a goroutine's own M
        // does so when it goes idle): step A2 of proc.cc's protocol.
        sched::timer_armed(timer::kNever);
        note.sleep();
      }
    }
  }
  return block_finish(gpp);
}

}  // namespace

PollDesc* open(int fd, int* err) {
  ensure_init();
  PollDesc* pd = alloc_desc(on_read_deadline, on_write_deadline);
  {
    sys::MutexLock l(pd->lock);
    uintptr_t r = pd->rg.load(std::memory_order_relaxed);
    uintptr_t w = pd->wg.load(std::memory_order_relaxed);
    if (r != kPdNil && r != kPdReady) sys::fatal("runtime: blocked read on free polldesc");
    if (w != kPdNil && w != kPdReady) sys::fatal("runtime: blocked write on free polldesc");
    pd->fd = fd;
    pd->closing.store(false, std::memory_order_relaxed);
    pd->rg.store(kPdNil, std::memory_order_relaxed);
    pd->wg.store(kPdNil, std::memory_order_relaxed);
    pd->rd.store(0, std::memory_order_relaxed);
    pd->wd.store(0, std::memory_order_relaxed);
  }
  if (int e = ctl_add(pd, fd); e != 0) {
    free_desc(pd);
    *err = e;
    return nullptr;
  }
  return pd;
}

void close(PollDesc* pd) {
  int fd;
  {
    sys::MutexLock l(pd->lock);
    if (!pd->closing.load(std::memory_order_relaxed)) {
      sys::fatal("runtime: close polldesc w/o unblock");
    }
    uintptr_t r = pd->rg.load(std::memory_order_relaxed);
    uintptr_t w = pd->wg.load(std::memory_order_relaxed);
    if (r != kPdNil && r != kPdReady) sys::fatal("runtime: blocked read on closing polldesc");
    if (w != kPdNil && w != kPdReady) sys::fatal("runtime: blocked write on closing polldesc");
    fd = pd->fd;
  }
  ctl_del(fd);  // fails only if fd was closed already: nothing to undo
  free_desc(pd);
}

void evict(PollDesc* pd) {
  Token r, w;
  {
    sys::MutexLock l(pd->lock);
    if (pd->closing.load(std::memory_order_relaxed)) {
      sys::fatal("runtime: unblock on closing polldesc");
    }
    // Release: pairs with checkerr's acquire after the wake-up.
    pd->closing.store(true, std::memory_order_release);
    pd->rt.stop();
    pd->wt.stop();
    r = unblock(&pd->rg, false);
    w = unblock(&pd->wg, false);
  }
  wake(r);
  wake(w);
}

PollError reset(PollDesc* pd, Mode mode) {
  bool read = mode == Mode::kRead;
  if (PollError e = checkerr(pd, read); e != PollError::kNone) return e;
  sema_of(pd, read)->store(kPdNil, std::memory_order_seq_cst);
  return PollError::kNone;
}

PollError wait(PollDesc* pd, Mode mode) {
  GORT_CHECK(mode != Mode::kReadWrite);
  bool read = mode == Mode::kRead;
  if (PollError e = checkerr(pd, read); e != PollError::kNone) return e;
  while (!block(pd, read)) {
    // Woken without an event: an error, or a deadline that fired and was
    // moved later before this waiter ran (then wait again).
    if (PollError e = checkerr(pd, read); e != PollError::kNone) return e;
  }
  return PollError::kNone;
}

void set_deadline(PollDesc* pd, int64_t deadline_ns, Mode mode) {
  Token woken[2] = {0, 0};
  bool armed = false;
  {
    sys::MutexLock l(pd->lock);
    if (pd->closing.load(std::memory_order_relaxed)) return;
    int64_t now = deadline_ns > 0 ? sys::nanotime() : 0;
    for (int i = 0; i < 2; i++) {
      bool read = i == 0;
      if (read && mode == Mode::kWrite) continue;
      if (!read && mode == Mode::kRead) continue;
      timer::Timer& tm = read ? pd->rt : pd->wt;
      if (deadline_ns == 0) {
        tm.stop();
        deadline_of(pd, read).store(0, std::memory_order_relaxed);
      } else if (deadline_ns < 0 || deadline_ns <= now) {
        tm.stop();
        deadline_of(pd, read).store(-1, std::memory_order_relaxed);
        woken[i] = unblock(sema_of(pd, read), false);
      } else {
        deadline_of(pd, read).store(deadline_ns, std::memory_order_relaxed);
        tm.reset(sched::local_timer_heap(), deadline_ns, 0);
        armed = true;
      }
    }
  }
  if (armed) sched::timer_armed(deadline_ns);
  wake(woken[0]);
  wake(woken[1]);
}

int32_t waiters() { return waiter_count(); }

}  // namespace gort::netpoll
