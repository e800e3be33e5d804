// The poller: epoll plus Go's pollDesc semaphores.
//
// Design
//
// Every fd is registered once, edge-triggered, for both directions
// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET), and never modified afterwards: an
// edge is remembered in the PollDesc, not in epoll, so a goroutine that
// waits after the edge still sees it. This is Go's design
// (runtime/netpoll_epoll.go): it costs one epoll_ctl per fd lifetime,
// where level-triggered or one-shot registration would cost one per wait.
//
// Each direction of a PollDesc has a one-word semaphore, rg for reads and
// wg for writes (runtime/netpoll.go), with values
//
//   nil     nothing happened, nobody waits
//   Ready   an event (or a wake-up) arrived since the last reset
//   Wait    a waiter is about to sleep (between prepare and commit)
//   token   a waiter sleeps: a parked G or a plain thread's note
//
// and these transitions, each one CAS or exchange:
//
//   P1. block_prepare: Ready -> nil (return: no need to wait) or
//       nil -> Wait. Anything else is a second waiter in the same
//       direction, a fatal error (the FD layer serialises each direction).
//   P2. block_commit (run by park once the G is off its stack, or by the
//       plain thread before sleeping): Wait -> token. If it fails an
//       unblock came in between P1 and P2 and the waiter does not sleep.
//   P3. unblock (an event: ioready; a deadline or evict: !ioready):
//       token or Wait -> Ready (ioready) or nil (!ioready), returning the
//       token to wake; nil -> Ready for an event nobody waits for; Ready
//       stays Ready.
//   P4. block_finish (after waking or a failed commit): exchange with nil;
//       the old value tells whether an event (Ready) woke the waiter.
//
// No wake-up is lost: an unblock either precedes P2 (then P2's CAS fails
// and the waiter runs on) or follows it (then it takes the token and wakes
// the waiter). Errors (closing, deadline passed) are flags read after
// every wake-up by netpoll.cc, which writes the flag before it unblocks.
//
// Stale events. PollDescs are recycled and never freed. The epoll tag is
// the PollDesc's address with its fdseq in the top 16 bits (user addresses
// fit in 47); free_desc bumps fdseq under the lock, so an event that an
// epoll_wait collected for the fd's previous user, and delivers after the
// PollDesc was reused, no longer matches and is dropped. Stale deadline
// timers are caught by the timer's own sequence number (netpoll.cc).
//
// The wake-up eventfd is registered level-triggered for reading with tag 0.
// wake() writes it at most once until a blocking poll() consumes it (the
// wake_sig flag, Go's netpollWakeSig): a storm of timer arms costs one
// write. A non-blocking poll leaves it for the blocking one, as Go does.
//
// Timeouts use epoll_pwait2 (nanoseconds) so that an idle M in the poller
// wakes for a timer with the precision of the timed note it replaces;
// kernels before 5.11 get epoll_wait with the delay rounded up to a
// millisecond (never early).

#include "netpoll/poller.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include <algorithm>
#include <mutex>

#include "sys/clock.h"
#include "sys/fatal.h"
#include "sys/syscall.h"

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace gort::netpoll {
namespace {

// The kernel hands a PollDesc from the thread that registers its fd to the
// thread whose epoll_wait returns the event; TSan cannot see that edge, so
// it is annotated on the PollDesc (release at EPOLL_CTL_ADD, acquire when an
// event names it). Without TSan these are no-ops.
void tsan_release(void* p) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(p);
#else
  (void)p;
#endif
}
void tsan_acquire(void* p) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(p);
#else
  (void)p;
#endif
}

constexpr int kMaxEvents = 128;
constexpr uint64_t kPtrMask = (uint64_t{1} << 48) - 1;

int g_epfd = -1;
int g_eventfd = -1;
std::atomic<bool> g_wake_sig{false};
std::atomic<int32_t> g_waiters{0};
std::atomic<bool> g_have_pwait2{true};

// The PollDesc cache: a free list under a mutex (allocations are per
// connection, not per I/O).
sys::Mutex g_cache_mu;
PollDesc* g_free ABSL_GUARDED_BY(g_cache_mu) = nullptr;

uint64_t tag_of(PollDesc* pd, uint16_t seq) {
  uint64_t p = reinterpret_cast<uint64_t>(pd);
  GORT_CHECK((p & ~kPtrMask) == 0);
  return p | (uint64_t{seq} << 48);
}

void init_once() {
  long ep = sys::syscall6(SYS_epoll_create1, EPOLL_CLOEXEC);
  if (sys::is_error(ep)) sys::fatalf("runtime: netpollinit failed with %ld", -ep);
  long ev = sys::syscall6(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (sys::is_error(ev)) sys::fatalf("runtime: netpollinit failed to create eventfd (%ld)", -ev);
  struct epoll_event e = {};
  e.events = EPOLLIN;
  e.data.u64 = 0;
  long r = sys::syscall6(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, ev,
                         reinterpret_cast<long>(&e));
  if (sys::is_error(r)) sys::fatalf("runtime: netpollinit failed to register eventfd (%ld)", -r);
  g_epfd = static_cast<int>(ep);
  g_eventfd = static_cast<int>(ev);
}

long epoll_wait_until(struct epoll_event* events, int64_t until_ns) {
  if (until_ns < 0) {
    return sys::syscall6(SYS_epoll_wait, g_epfd, reinterpret_cast<long>(events),
                         kMaxEvents, -1);
  }
  int64_t delay = until_ns == 0 ? 0 : std::max<int64_t>(until_ns - sys::nanotime(), 0);
  if (delay == 0) {
    return sys::syscall6(SYS_epoll_wait, g_epfd, reinterpret_cast<long>(events),
                         kMaxEvents, 0);
  }
  if (g_have_pwait2.load(std::memory_order_relaxed)) {
    struct timespec ts;
    ts.tv_sec = delay / 1000000000;
    ts.tv_nsec = delay % 1000000000;
    long r = sys::syscall6(SYS_epoll_pwait2, g_epfd, reinterpret_cast<long>(events),
                           kMaxEvents, reinterpret_cast<long>(&ts), 0, 0);
    if (r != -ENOSYS) return r;
    g_have_pwait2.store(false, std::memory_order_relaxed);
  }
  // Milliseconds, rounded up (never early); capped as Go caps its delay.
  int64_t ms = std::min<int64_t>((delay + 999999) / 1000000, 1000000000);
  return sys::syscall6(SYS_epoll_wait, g_epfd, reinterpret_cast<long>(events),
                       kMaxEvents, static_cast<long>(ms));
}

}  // namespace

PollDesc* alloc_desc(timer::Timer::Func on_read_deadline,
                     timer::Timer::Func on_write_deadline) {
  {
    sys::MutexLock l(g_cache_mu);
    if (PollDesc* pd = g_free) {
      g_free = pd->link;
      pd->link = nullptr;
      return pd;
    }
  }
  // Never deleted (see "Stale events").
  return new PollDesc(on_read_deadline, on_write_deadline);
}

void free_desc(PollDesc* pd) {
  {
    sys::MutexLock l(pd->lock);
    pd->fd = -1;
    // Release: poll()'s acquire load of a newer fdseq sees the PollDesc as
    // freed.
    pd->fdseq.store(static_cast<uint16_t>(pd->fdseq.load(std::memory_order_relaxed) + 1),
                    std::memory_order_release);
  }
  sys::MutexLock l(g_cache_mu);
  pd->link = g_free;
  g_free = pd;
}

void init() {
  static std::once_flag once;
  std::call_once(once, init_once);
}

int ctl_add(PollDesc* pd, int fd) {
  struct epoll_event e = {};
  e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  e.data.u64 = tag_of(pd, pd->fdseq.load(std::memory_order_relaxed));
  tsan_release(pd);
  long r = sys::syscall6(SYS_epoll_ctl, g_epfd, EPOLL_CTL_ADD, fd,
                         reinterpret_cast<long>(&e));
  return sys::is_error(r) ? static_cast<int>(-r) : 0;
}

int ctl_del(int fd) {
  struct epoll_event e = {};  // kernels before 2.6.9 wanted non-null
  long r = sys::syscall6(SYS_epoll_ctl, g_epfd, EPOLL_CTL_DEL, fd,
                         reinterpret_cast<long>(&e));
  return sys::is_error(r) ? static_cast<int>(-r) : 0;
}

int poll(int64_t until_ns, void (*on_ready)(Token, void*), void* ctx) {
  if (g_epfd < 0) return 0;
  struct epoll_event events[kMaxEvents];
  long n = epoll_wait_until(events, until_ns);
  if (sys::is_error(n)) {
    if (n == -EINTR) return 0;  // the caller recomputes its delay
    sys::fatalf("runtime: netpoll failed with %ld", -n);
  }
  int tokens = 0;
  for (long i = 0; i < n; i++) {
    const struct epoll_event& e = events[i];
    if (e.data.u64 == 0) {  // the wake-up eventfd
      if (until_ns != 0) {
        uint64_t buf;
        sys::read(g_eventfd, &buf, sizeof buf);
        g_wake_sig.store(false, std::memory_order_release);
      }
      continue;
    }
    auto* pd = reinterpret_cast<PollDesc*>(e.data.u64 & kPtrMask);
    auto seq = static_cast<uint16_t>(e.data.u64 >> 48);
    tsan_acquire(pd);
    if (pd->fdseq.load(std::memory_order_acquire) != seq) continue;  // stale
    // Which directions are ready (netpoll_epoll.go's mapping): a hang-up or
    // error readies both, so that the waiter's syscall reports it.
    bool r = (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    bool w = (e.events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    if (r) {
      if (Token t = unblock(&pd->rg, true)) {
        on_ready(t, ctx);
        tokens++;
      }
    }
    if (w) {
      if (Token t = unblock(&pd->wg, true)) {
        on_ready(t, ctx);
        tokens++;
      }
    }
  }
  return tokens;
}

void wake() {
  if (g_eventfd < 0) return;
  bool expected = false;
  // acq_rel: pairs with poll()'s release store after it drained the fd.
  if (!g_wake_sig.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    return;  // a write is pending already
  }
  uint64_t one = 1;
  long r = sys::write(g_eventfd, &one, sizeof one);
  if (sys::is_error(r) && r != -EAGAIN) {
    sys::fatalf("runtime: netpollBreak write failed with %ld", -r);
  }
}

bool block_prepare(std::atomic<uintptr_t>* gpp) {
  for (;;) {
    uintptr_t old = kPdReady;
    if (gpp->compare_exchange_strong(old, kPdNil, std::memory_order_seq_cst)) {
      return true;
    }
    old = kPdNil;
    if (gpp->compare_exchange_strong(old, kPdWait, std::memory_order_seq_cst)) {
      return false;
    }
    uintptr_t v = gpp->load(std::memory_order_seq_cst);
    if (v != kPdReady && v != kPdNil) sys::fatal("runtime: double wait");
  }
}

bool block_commit(std::atomic<uintptr_t>* gpp, Token token) {
  uintptr_t old = kPdWait;
  if (!gpp->compare_exchange_strong(old, token, std::memory_order_seq_cst)) {
    return false;
  }
  g_waiters.fetch_add(1, std::memory_order_seq_cst);
  return true;
}

bool block_finish(std::atomic<uintptr_t>* gpp) {
  uintptr_t old = gpp->exchange(kPdNil, std::memory_order_seq_cst);
  if (old > kPdWait) sys::fatal("runtime: corrupted polldesc");
  return old == kPdReady;
}

Token unblock(std::atomic<uintptr_t>* gpp, bool ioready) {
  for (;;) {
    uintptr_t old = gpp->load(std::memory_order_seq_cst);
    if (old == kPdReady) return 0;
    if (old == kPdNil && !ioready) return 0;
    uintptr_t desired = ioready ? kPdReady : kPdNil;
    if (gpp->compare_exchange_weak(old, desired, std::memory_order_seq_cst)) {
      if (old == kPdNil || old == kPdWait) return 0;
      g_waiters.fetch_sub(1, std::memory_order_seq_cst);
      return old;
    }
  }
}

int32_t waiter_count() { return g_waiters.load(std::memory_order_seq_cst); }

}  // namespace gort::netpoll
