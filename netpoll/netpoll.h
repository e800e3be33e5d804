// The runtime side of the network poller: what internal/poll's FD (our
// netpoll/fd.h) calls to wait for an fd, as Go's runtime_poll* functions.
//
//   PollDesc         one registered fd (Go's pollDesc), owned by its FD
//   open(fd)         registers fd with epoll (edge-triggered, read and write)
//   close(pd)        unregisters and recycles; after evict, with no waiter
//   evict(pd)        Go's pollUnblock: marks closing, wakes every waiter
//   reset(pd, mode)  before an I/O attempt: the error a wait would give now
//   wait(pd, mode)   parks the goroutine (or blocks the plain thread) until
//                    the fd is ready in `mode`, the deadline passes or the
//                    fd is evicted
//   set_deadline     arms the read/write deadline (absolute nanotime)
//
// Errors are Go's pollNoError, pollErrClosing, pollErrTimeout and
// pollErrNotPollable (runtime/netpoll.go), as the PollError enum.
//
// Thread safety: one reader and one writer may wait on a PollDesc at a time
// (the FD layer serialises each direction, as Go's fdMutex does); evict,
// set_deadline and the poller may run concurrently with them. Every call
// works from a goroutine and from a plain thread.

#ifndef GORT_NETPOLL_NETPOLL_H_
#define GORT_NETPOLL_NETPOLL_H_

#include <cstdint>

namespace gort::netpoll {

struct PollDesc;

enum class Mode : uint8_t { kRead, kWrite, kReadWrite };

enum class PollError : uint8_t {
  kNone = 0,
  kClosing = 1,      // evicted: the fd is being closed
  kTimeout = 2,      // the deadline of this direction has passed
  kNotPollable = 3,  // epoll refused the fd (a regular file: EPERM)
};

// Registers fd, which must be non-blocking, for edge-triggered read and
// write events. Returns nullptr and sets *err to the errno of epoll_ctl
// (EPERM for regular files and directories) on failure.
PollDesc* open(int fd, int* err);

// Unregisters pd's fd from epoll (the caller closes the fd afterwards) and
// recycles pd. REQUIRES: evict(pd) was called and no goroutine or thread
// waits on pd any more.
void close(PollDesc* pd);

// Marks pd closing and wakes its readers and writers, which return
// kClosing; cancels its deadlines. Later waits fail with kClosing at once.
void evict(PollDesc* pd);

// Readies pd for an I/O attempt in `mode` (Go's pollReset): returns the
// error a wait would return now (closing, deadline passed) and otherwise
// clears a stale readiness notification.
PollError reset(PollDesc* pd, Mode mode);

// Waits until pd is ready in `mode` (kRead or kWrite), its deadline for
// `mode` passes or it is evicted. Returns at once if an event arrived since
// the last reset. A goroutine parks (`IO wait` in the dump); a plain thread
// sleeps on a note.
PollError wait(PollDesc* pd, Mode mode);

// Sets the deadline for `mode` (kReadWrite: both) to `deadline_ns`, an
// absolute sys::nanotime(): 0 means none, a time in the past (or < 0)
// expires waiters at once (they return kTimeout). A waiter already parked
// sees the new deadline.
void set_deadline(PollDesc* pd, int64_t deadline_ns, Mode mode);

// Goroutines and plain threads currently waiting on any PollDesc (deadlock
// detection, tests).
int32_t waiters();

}  // namespace gort::netpoll

#endif  // GORT_NETPOLL_NETPOLL_H_
