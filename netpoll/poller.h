// The epoll poller and Go's pollDesc state machine, below the scheduler and
// free of it (it knows waiters only as opaque tokens; netpoll.cc parks and
// readies the goroutines behind them).
//
//   Token            a waiter: a parked G, or a plain thread's note (tagged)
//   PollDesc         one fd's state: per-direction semaphore (rg/wg),
//                    closing flag, deadlines and their timers, epoll tag
//   alloc_desc/free_desc   the PollDesc cache (never returned to the OS)
//   init             creates the epoll instance and its wake-up eventfd
//   ctl_add/ctl_del  registers/unregisters an fd, edge-triggered r+w
//   poll(until)      waits for events, readies the waiters of ready fds
//   wake             breaks a blocking poll (deduplicated)
//   block_prepare, block_commit, block_finish, unblock
//                    Go's netpollblock/netpollblockcommit/netpollunblock
//                    split around the caller's park
//
// Thread safety: every function may be called from any thread. PollDesc's
// rg/wg are lock-free (the protocol in poller.cc); its deadlines, closing
// flag and timers change under pd->lock.
//
// Memory ordering: rg/wg transitions are seq_cst CASes/exchanges (Go's
// atomic.Casuintptr); a waiter's parked state is published by the CAS that
// commits it, and the CAS that takes the token back (unblock) acquires it.

#ifndef GORT_NETPOLL_POLLER_H_
#define GORT_NETPOLL_POLLER_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "netpoll/netpoll.h"
#include "sys/mutex.h"
#include "timer/heap.h"

namespace gort::netpoll {

// A waiter: the address of a parked G (aligned, low bit clear) or of a plain
// thread's sys::Note with the low bit set. 0 is "no waiter".
using Token = uintptr_t;

// rg/wg values besides tokens (Go's pdNil, pdReady, pdWait).
inline constexpr uintptr_t kPdNil = 0;
inline constexpr uintptr_t kPdReady = 1;
inline constexpr uintptr_t kPdWait = 2;

struct PollDesc {
  // `on_deadline` is the deadline timers' function (netpoll.cc), called
  // with this PollDesc as argument.
  explicit PollDesc(timer::Timer::Func on_read_deadline,
                    timer::Timer::Func on_write_deadline)
      : rt(on_read_deadline, this), wt(on_write_deadline, this) {}

  // Go's rg/wg: kPdNil, kPdReady (an event or wake-up arrived since the
  // last reset), kPdWait (a waiter is about to park) or a waiter's Token.
  std::atomic<uintptr_t> rg{kPdNil};
  std::atomic<uintptr_t> wg{kPdNil};

  // Read without the lock by checkerr (relaxed: a stale value only delays
  // an error until the wake-up that the writer of the value sends).
  std::atomic<bool> closing{false};
  // Deadlines: 0 none, -1 passed, else the absolute nanotime of the armed
  // timer. Written under lock.
  std::atomic<int64_t> rd{0};
  std::atomic<int64_t> wd{0};

  sys::Mutex lock;
  int fd ABSL_GUARDED_BY(lock) = -1;
  // Bumped each time the PollDesc is freed: the epoll tag carries it, so an
  // event collected for the fd's previous user is dropped (netpoll.go's
  // fdseq). Written under lock; read by poll() with acquire.
  std::atomic<uint16_t> fdseq{0};
  timer::Timer rt;  // read deadline
  timer::Timer wt;  // write deadline

  PollDesc* link = nullptr;  // the cache's free list
};

// The cache. A freed PollDesc stays valid memory forever, so that a late
// timer or event that still names it finds a PollDesc (and, by fdseq or the
// timer's seq, knows it is stale).
PollDesc* alloc_desc(timer::Timer::Func on_read_deadline,
                     timer::Timer::Func on_write_deadline);
void free_desc(PollDesc* pd);

// Creates the epoll instance and the eventfd (once; later calls return at
// once). Fatal if the kernel refuses.
void init();

// Registers pd->fd (edge-triggered EPOLLIN|EPOLLOUT|EPOLLRDHUP) with the
// tag (pd, pd->fdseq). Returns 0 or the errno.
int ctl_add(PollDesc* pd, int fd);
// Unregisters fd. Returns 0 or the errno.
int ctl_del(int fd);

// Waits for events until `until_ns` (absolute nanotime; -1 forever; 0 do
// not wait), then, for each ready direction of each event, unblocks the
// waiter (kPdReady if none) and calls on_ready(token, ctx) for each token
// taken. Returns the number of tokens. Consumes a pending wake() when it
// waited.
int poll(int64_t until_ns, void (*on_ready)(Token, void*), void* ctx);

// Makes a blocking poll() return soon (at most one eventfd write between
// two polls).
void wake();

// Go's netpollblock, before the park: moves *gpp from nil to kPdWait.
// Returns true if an event arrived (kPdReady consumed: no need to wait).
// Fatal if another waiter is there (a double wait).
bool block_prepare(std::atomic<uintptr_t>* gpp);
// Go's netpollblockcommit: kPdWait -> token. False if an unblock came in
// between (then the caller must not sleep). Counts the waiter.
bool block_commit(std::atomic<uintptr_t>* gpp, Token token);
// After the wake-up (or a failed commit): resets *gpp to nil; returns
// whether the wake-up was an I/O event (kPdReady).
bool block_finish(std::atomic<uintptr_t>* gpp);
// Go's netpollunblock: takes the waiter out of *gpp (returns its token, or
// 0), leaving kPdReady if `ioready` (an event), else nil. Uncounts the
// waiter it takes.
Token unblock(std::atomic<uintptr_t>* gpp, bool ioready);

// Waiters committed and not yet unblocked.
int32_t waiter_count();

}  // namespace gort::netpoll

#endif  // GORT_NETPOLL_POLLER_H_
