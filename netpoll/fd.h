// netpoll/fd.h: a file descriptor driven by the network poller (Go's
// internal/poll.FD), the layer under gort::net and, for pipes and ttys,
// gort::os.
//
//   FdMutex  Go's fdMutex: a reference count, a closed bit, and one lock per
//            direction, so that reads are serialised with reads and writes
//            with writes while close waits for both to drain
//   FD       one non-blocking fd registered with the poller: read, write,
//            accept, connect, shutdown, deadlines, close
//   FdKind   whether a closed FD says "use of closed network connection"
//            (sockets) or "use of closed file" (pipes, ttys)
//
// Errors are absl::Status in Go's words, without the net layer's operation
// prefix (gort::net adds `read tcp a->b: `):
//   closed      FailedPrecondition "use of closed network connection"
//   deadline    DeadlineExceeded   "i/o timeout"
//   EOF         OutOfRange         "EOF" (read only; net::is_eof)
//   syscall     absl::ErrnoToStatusCode(errno), "<call>: <strerror>" with
//               the first letter lower-cased, as Go's os.SyscallError
//               prints it ("connect: connection refused")
//
// Thread safety: every method may be called from any goroutine or plain
// thread, concurrently with every other method, as in Go: concurrent reads
// queue behind each other (so do writes), close wakes them all. The FD
// object itself must outlive every call into it: destroy it only when no
// other goroutine or thread is inside a method (close() does not free it).
//
// Memory ordering: FdMutex's state word moves by seq_cst CAS; the
// per-direction semaphores (sched/sema.h) hand the lock over with the
// semaphore's happens-before. Everything a reader did under the read lock
// happens-before the next reader's critical section; everything any user
// did happens-before close() returns (the last user releases csema_ after
// its final decrement).
#ifndef GORT_NETPOLL_FD_H_
#define GORT_NETPOLL_FD_H_

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netpoll/netpoll.h"

namespace gort::netpoll {

// Go's fdMutex (internal/poll/fd_mutex.go): one 64-bit word, laid out as
//   bit 0         closed: every later lock fails
//   bit 1         the read lock is held
//   bit 2         the write lock is held
//   bits 3..22    references (read + write + misc + close)
//   bits 23..42   goroutines waiting for the read lock
//   bits 43..62   goroutines waiting for the write lock
// and two semaphore words on which the waiters of each direction sleep.
class FdMutex {
 public:
  // Adds a reference (misc operations: setsockopt, deadlines, shutdown).
  // False if closed.
  bool incref();
  // Marks closed, adds the closer's reference and wakes every lock waiter
  // (they then fail). False if it was already closed.
  bool incref_and_close();
  // Drops a reference. True if it was the last one and the mutex is closed:
  // the caller must then destroy the fd.
  bool decref();
  // Adds a reference and takes the read (`read`) or write lock, waiting
  // behind the current holder. False if closed (before or while waiting).
  bool rwlock(bool read);
  // Releases the lock and its reference; wakes one waiter of the direction.
  // True if it was the last reference of a closed mutex (destroy the fd).
  bool rwunlock(bool read);

  // The state word (tests).
  uint64_t state() const { return state_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> state_{0};  // seq_cst CAS (see the layout above)
  uint32_t rsema_ = 0;              // sched::semacquire/semrelease only
  uint32_t wsema_ = 0;
};

enum class FdKind : uint8_t {
  kSocket,  // "use of closed network connection"
  kFile,    // "use of closed file"
};

// The Status a closed FD of `kind` returns (FailedPrecondition).
absl::Status closed_error(FdKind kind);
// DeadlineExceeded "i/o timeout".
absl::Status timeout_error();
// OutOfRange "EOF".
absl::Status eof_error();
// errno as Go's os.SyscallError: "<call>: <message>" with the code of
// absl::ErrnoToStatusCode. `call` may be null: then just the message.
absl::Status errno_error(const char* call, int err);

class FD {
 public:
  // Registers `sysfd`, which must be non-blocking, with the poller and takes
  // ownership of it. On failure sysfd is closed and the error is returned
  // (a regular file: EPERM from epoll, "not pollable").
  static absl::StatusOr<std::unique_ptr<FD>> open(int sysfd, FdKind kind);

  // Closes the fd if close() was not called. REQUIRES: no call into this FD
  // is in progress on another goroutine or thread.
  ~FD();

  FD(const FD&) = delete;
  FD& operator=(const FD&) = delete;

  // Reads up to n bytes (at most 1 GiB per call, as Go's maxRW). Returns
  // the count (> 0), 0 only for n == 0, or an error: eof_error() when the
  // peer has closed its write side, timeout_error() when the read deadline
  // has passed, closed_error() when this FD is (or becomes) closed.
  absl::StatusOr<size_t> read(void* buf, size_t n);

  // Writes all n bytes, waiting for buffer space as needed (Go's FD.Write).
  // Returns n, or the error that stopped it; *written (if not null) gets the
  // count written either way. Sockets are written with MSG_NOSIGNAL, so a
  // peer that has gone away gives "write: broken pipe", never SIGPIPE.
  absl::StatusOr<size_t> write(const void* buf, size_t n,
                               size_t* written = nullptr);

  // Accepts a connection: returns its fd, non-blocking and close-on-exec
  // (accept4), and the peer's address in *sa / *salen (which the caller sets
  // to the size of *sa). Retries ECONNABORTED and EINTR; returns every other
  // error at once, EMFILE and ENFILE included (no spinning: the caller backs
  // off, see net.h).
  absl::StatusOr<int> accept(sockaddr_storage* sa, socklen_t* salen);

  // Connects the socket as Go's netFD.connect does: a non-blocking
  // connect(2); on EINPROGRESS, waits until the socket is writable and reads
  // SO_ERROR. `deadline_ns` (absolute sys::nanotime, 0 = none) bounds the
  // wait (timeout_error()); it is installed as the write deadline for the
  // wait and cleared after.
  absl::Status connect(const sockaddr* sa, socklen_t salen,
                       int64_t deadline_ns);

  // shutdown(2) (SHUT_RD, SHUT_WR, SHUT_RDWR) under a reference.
  absl::Status shutdown(int how);

  // Sets the deadline of `mode` to `deadline_ns` (absolute sys::nanotime;
  // 0 none; past: pending and later calls of that direction time out).
  absl::Status set_deadline(int64_t deadline_ns, Mode mode);

  // Closes the FD (Go's FD.Close): marks it closed so that new calls fail,
  // evicts it from the poller so that blocked readers and writers wake with
  // closed_error(), waits until the last of them has left, then unregisters
  // and closes the fd. Returns closed_error() if already closed.
  absl::Status close();

  // Runs f(sysfd) while holding a reference, so that a concurrent close
  // cannot close (and the kernel reuse) the fd under f. Returns f's result,
  // or closed_error() if closed. F returns absl::Status.
  template <typename F>
  absl::Status with_fd(F&& f) {
    if (!mu_.incref()) return closed_error(kind_);
    absl::Status s = f(sysfd_);
    decref();
    return s;
  }

  // The fd number, for logging and tests (-1 once closed). Not for I/O:
  // use with_fd.
  int sysfd() const { return sysfd_.load(std::memory_order_relaxed); }
  FdKind kind() const { return kind_; }
  const FdMutex& mutex() const { return mu_; }

 private:
  FD(int sysfd, PollDesc* pd, FdKind kind)
      : sysfd_(sysfd), pd_(pd), kind_(kind) {}

  // Go's prepareRead/prepareWrite and waitRead/waitWrite: the poller's
  // error as a Status (OK for kNone).
  absl::Status poll_status(PollError err) const;
  void decref();
  void read_unlock();
  void write_unlock();
  // Go's FD.destroy: unregisters and closes the fd, then releases csema_.
  // Called by whoever drops the last reference of a closed FD.
  void destroy();

  FdMutex mu_;
  // The fd. Set to -1 only by destroy (the last reference of a closed FD),
  // after which no I/O reads it: relaxed, the fdMutex orders every use.
  std::atomic<int> sysfd_;
  PollDesc* pd_;  // owned; recycled by destroy
  const FdKind kind_;
  uint32_t csema_ = 0;  // released by destroy; close() waits on it
};

}  // namespace gort::netpoll

#endif  // GORT_NETPOLL_FD_H_
