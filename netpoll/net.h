// netpoll/net.h: Go's package net for stream sockets, on gort's poller (the
// public API of //netpoll:net).
//
//   listen(network, address)   a Listener: "tcp", "tcp4", "tcp6", "unix"
//   dial(network, address, t)  a connected Conn, within timeout t (0: none)
//   Listener                   accept(), addr(), close()
//   Conn                       read, write, close, close_write, local_addr,
//                              remote_addr, set_deadline,
//                              set_read_deadline, set_write_deadline
//   Addr                       a network name and an address string
//   is_eof / is_timeout / is_closed   classify an error
//
// Blocking calls park the calling goroutine (`IO wait` in the dump) and
// never its thread; from a plain thread (std::thread) they block the thread.
//
// Addresses are Go's: "host:port", "[ipv6]:port", ":port" (every address
// when listening, the local host when dialling), a port 0 to listen on any
// free port; hosts are numeric IPs or "localhost" (127.0.0.1, or ::1 for
// tcp6); other names are resolved with getaddrinfo inside gort::blocking().
// "unix" takes a path ("@name": Linux's abstract namespace). A listener on
// ":port" for "tcp" is dual-stack ([::], IPV6_V6ONLY off), as Go's.
//
// Errors: absl::Status carrying Go's words, with Go's net.OpError prefix
// `op network [local->]remote: ` where Go prints one:
//   EOF             OutOfRange "EOF", bare, as io.EOF (is_eof)
//   deadline        DeadlineExceeded "read tcp a->b: i/o timeout"
//                   (is_timeout)
//   closed          FailedPrecondition "read tcp a->b: use of closed network
//                   connection" (is_closed), also for a call that was
//                   blocked when close() ran
//   refused         Unavailable "dial tcp 127.0.0.1:1: connect: connection
//                   refused"; other errno values map by
//                   absl::ErrnoToStatusCode with Go's "call: message" text
//   bad address     InvalidArgument "dial tcp: address foo: missing port in
//                   address" (the address is always named)
//   bad network     InvalidArgument "dial foo: unknown network foo"
//
// Accept under EMFILE/ENFILE (out of file descriptors) returns the error at
// once (ResourceExhausted "accept tcp [::]:80: accept: too many open
// files"); it does not spin or sleep. The caller decides; Go's http.Server
// is the pattern to copy: on such a temporary error sleep 5 ms, double the
// sleep on each consecutive failure up to 1 s, reset it after a success,
// and accept again:
//
//   Duration delay{0};
//   for (;;) {
//     auto c = ln.accept();
//     if (!c.ok()) {
//       if (is_closed(c.status())) break;
//       delay = delay == Duration{0} ? 5ms : std::min(2 * delay, Duration{1s});
//       gort::time::sleep(delay);
//       continue;
//     }
//     delay = Duration{0};
//     gort::go([c = std::move(*c)]() mutable { serve(c); });  // see Conn
//   }
//
// TCP connections get TCP_NODELAY and 15 s keep-alives, listeners
// SO_REUSEADDR and the kernel's somaxconn as backlog, all as Go does.
//
// Thread safety: a Conn or Listener may be used by many goroutines and
// threads at once, as in Go: reads queue behind reads and writes behind
// writes; close() (and a deadline) may come from anyone and wakes the
// blocked calls. Moving, assigning or destroying a Conn or Listener must
// not race with any other use of it (it is a C++ object): destroy it only
// after every call into it has returned.
#ifndef GORT_NETPOLL_NET_H_
#define GORT_NETPOLL_NET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "timer/time.h"

namespace gort::netpoll {
class FD;
}  // namespace gort::netpoll

namespace gort::net {

using Duration = gort::time::Duration;
using TimePoint = gort::time::TimePoint;

// An endpoint, as Go's net.Addr: Network() and String().
struct Addr {
  std::string network;  // "tcp" or "unix" (Go names the family by the conn)
  std::string address;  // "127.0.0.1:8080", "[::1]:8080", "/tmp/sock"
  int port = -1;        // the TCP port; -1 for unix

  const std::string& string() const { return address; }
};

// True for the EOF a read returns when the peer closed its write side.
bool is_eof(const absl::Status& s);
// True for an expired deadline ("i/o timeout", DeadlineExceeded).
bool is_timeout(const absl::Status& s);
// True for "use of closed network connection".
bool is_closed(const absl::Status& s);

class Conn {
 public:
  // A closed Conn: every call returns the closed error.
  Conn();
  Conn(Conn&& other) noexcept;
  Conn& operator=(Conn&& other) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  // Closes the connection if it is open.
  ~Conn();

  // Reads up to n bytes: returns how many (>= 1; 0 only for n == 0), EOF
  // once the peer has closed its write side and everything is read, or an
  // error (timeout, closed, reset).
  absl::StatusOr<size_t> read(void* buf, size_t n);

  // Writes all n bytes, parking while the socket buffer is full: returns n,
  // or the error that stopped it, and then the bytes that did go out are
  // *written (if given; set in both cases). Go's Write returns (n, err).
  absl::StatusOr<size_t> write(const void* buf, size_t n, size_t* written = nullptr);
  absl::StatusOr<size_t> write(std::string_view s, size_t* written = nullptr) {
    return write(s.data(), s.size(), written);
  }

  // Closes the connection: blocked reads and writes return the closed
  // error, and so do later calls. A second close returns the closed error.
  absl::Status close();

  // Shuts down the write side (shutdown(SHUT_WR), Go's CloseWrite): the
  // peer reads EOF once it has read what was sent; this side can still
  // read.
  absl::Status close_write();

  // Empty Addr{} for a closed-by-default Conn.
  const Addr& local_addr() const { return local_; }
  const Addr& remote_addr() const { return remote_; }

  // Deadlines as Go's: a read or write that is blocked when the deadline
  // passes, or starts after it, fails with "i/o timeout"; a later call to
  // set a deadline in the future makes I/O possible again. TimePoint{}
  // (zero) means none. A TimePoint is gort::time::now()'s clock.
  absl::Status set_deadline(TimePoint t);
  absl::Status set_read_deadline(TimePoint t);
  absl::Status set_write_deadline(TimePoint t);

  // The descriptor's number (tests and logging); -1 if closed.
  int fd() const;

 private:
  friend class Listener;
  friend absl::StatusOr<Conn> dial(std::string_view, std::string_view, Duration);
  Conn(std::unique_ptr<netpoll::FD> fd, std::string net, Addr local, Addr remote);
  absl::Status op_error(const char* op, const absl::Status& err) const;
  absl::Status set_deadline_mode(TimePoint t, int mode);

  std::unique_ptr<netpoll::FD> fd_;
  std::string net_;  // the network the user named ("tcp4"), for errors
  Addr local_;
  Addr remote_;
};

class Listener {
 public:
  // A closed Listener.
  Listener();
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  // Closes the listener if it is open.
  ~Listener();

  // Waits for and returns the next connection. After close() (also one that
  // happens while waiting) returns the closed error; EMFILE returns at once
  // (see the backoff pattern above).
  absl::StatusOr<Conn> accept();

  // The address it listens on, with the port chosen if it was 0.
  const Addr& addr() const { return addr_; }

  // Stops listening; a blocked accept returns the closed error. A unix
  // listener removes its socket file, as Go's does.
  absl::Status close();

  // Sets the deadline for accept (Go's TCPListener.SetDeadline).
  absl::Status set_deadline(TimePoint t);

  int fd() const;

 private:
  friend absl::StatusOr<Listener> listen(std::string_view, std::string_view);
  Listener(std::unique_ptr<netpoll::FD> fd, std::string net, Addr addr,
           std::string unlink_path);
  absl::Status op_error(const char* op, const absl::Status& err) const;

  std::unique_ptr<netpoll::FD> fd_;
  std::string net_;  // the network the user named ("tcp4"), for errors
  Addr addr_;
  std::string unlink_path_;  // unix: removed by close()
};

// Listens on `address` for `network` ("tcp", "tcp4", "tcp6", "unix").
absl::StatusOr<Listener> listen(std::string_view network, std::string_view address);

// Connects to `address` over `network`. `timeout` bounds the whole dial
// (resolution and connect; Duration{0}, the default, means no timeout);
// its expiry gives "dial tcp a: i/o timeout".
absl::StatusOr<Conn> dial(std::string_view network, std::string_view address,
                          Duration timeout = Duration{0});

}  // namespace gort::net

#endif  // GORT_NETPOLL_NET_H_
