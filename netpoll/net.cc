// netpoll/net.cc: gort::net, Go's package net for stream sockets.
//
// Layers: Conn and Listener own a netpoll::FD (fd.h: Go's internal/poll.FD,
// where the waiting, the per-direction ordering and the close protocol
// live); this file parses addresses, makes sockets as Go's sock_posix.go
// does, and wraps FD errors in Go's net.OpError text.
//
// What a dial does (the syscalls Go makes, in its order):
//   socket(family, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC)  -> FD::open
//   connect() = -EINPROGRESS; park until writable; getsockopt(SO_ERROR)
//   setsockopt TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPINTVL, TCP_KEEPIDLE
//   getsockname (the local address)
// A listen: socket, SO_REUSEADDR (and IPV6_V6ONLY for a dual-stack or tcp6
// socket), bind, listen(somaxconn), getsockname.
//
// Facts from Go 1.19: net/ipsock.go (SplitHostPort and its messages),
// ipsock_posix.go (favoriteAddrFamily: a wildcard "tcp" listener is
// AF_INET6 with IPV6_V6ONLY off), sock_posix.go and sockopt_posix.go
// (SO_REUSEADDR on listeners, the order of the calls), sock_linux.go
// (maxListenerBacklog: /proc/sys/net/core/somaxconn, capped at 65535),
// tcpsock_posix.go and dial.go (TCP_NODELAY always, keep-alive 15 s by
// default), net.go (OpError's text), unixsock_posix.go (a unix listener
// unlinks its path on close unless it is abstract).
#include "netpoll/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <charconv>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "netpoll/fd.h"
#include "netpoll/netpoll.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::net {

namespace {

using netpoll::errno_error;
using netpoll::FD;
using netpoll::FdKind;

// Debian's Abseil is built without std::string_view as absl::string_view:
// StrCat needs the conversion spelled out.
absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

enum class Net : uint8_t { kTcp, kTcp4, kTcp6, kUnix };

// Go's default keep-alive period (net/dial.go defaultTCPKeepAlive).
constexpr int kKeepAliveSeconds = 15;

bool parse_network(std::string_view network, Net* out) {
  if (network == "tcp") *out = Net::kTcp;
  else if (network == "tcp4") *out = Net::kTcp4;
  else if (network == "tcp6") *out = Net::kTcp6;
  else if (network == "unix") *out = Net::kUnix;
  else return false;
  return true;
}

absl::Status unknown_network(const char* op, std::string_view network) {
  return absl::InvalidArgumentError(absl::StrCat(op, " ", av(network), ": unknown network ", av(network)));
}

// Go's AddrError: "address <addr>: <why>".
absl::Status addr_error(const char* op, std::string_view network, std::string_view addr,
                        std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(op, " ", av(network), ": address ", av(addr), ": ", av(why)));
}


// A resolved endpoint.
struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
};

// Go's SplitHostPort. On failure returns the reason (Go's words).
const char* split_host_port(std::string_view hp, std::string_view* host,
                            std::string_view* port) {
  constexpr const char* kMissingPort = "missing port in address";
  constexpr const char* kTooManyColons = "too many colons in address";
  size_t i = hp.rfind(':');
  if (i == std::string_view::npos) return kMissingPort;
  size_t j = 0, k = 0;
  if (!hp.empty() && hp[0] == '[') {
    size_t end = hp.find(']');
    if (end == std::string_view::npos) return "missing ']' in address";
    if (end + 1 == hp.size()) return kMissingPort;
    if (end + 1 != i) return hp[end + 1] == ':' ? kTooManyColons : kMissingPort;
    *host = hp.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    *host = hp.substr(0, i);
    if (host->find(':') != std::string_view::npos) return kTooManyColons;
  }
  if (hp.substr(j).find('[') != std::string_view::npos) return "unexpected '[' in address";
  if (hp.substr(k).find(']') != std::string_view::npos) return "unexpected ']' in address";
  *port = hp.substr(i + 1);
  return nullptr;
}

bool parse_port(std::string_view s, int* port) {
  if (s.empty()) {  // Go: an empty port is 0
    *port = 0;
    return true;
  }
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0 || v > 65535) return false;
  *port = v;
  return true;
}

SockAddr make_v4(const in_addr& ip, int port) {
  SockAddr a;
  auto* sin = reinterpret_cast<sockaddr_in*>(&a.ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(static_cast<uint16_t>(port));
  sin->sin_addr = ip;
  a.len = sizeof(sockaddr_in);
  return a;
}

SockAddr make_v6(const in6_addr& ip, int port) {
  SockAddr a;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(static_cast<uint16_t>(port));
  sin6->sin6_addr = ip;
  a.len = sizeof(sockaddr_in6);
  return a;
}

// "1.2.3.4:80", "[::1]:80"; a v4-mapped IPv6 address prints as IPv4, as
// Go's IP.String does. Sets *port.
std::string format_inet(const sockaddr_storage& ss, int* port) {
  char buf[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    *port = ntohs(sin->sin_port);
    return absl::StrCat(buf, ":", *port);
  }
  auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  *port = ntohs(sin6->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
    inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, sizeof(buf));
    return absl::StrCat(buf, ":", *port);
  }
  inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
  return absl::StrCat("[", buf, "]:", *port);
}

Addr to_addr(const sockaddr_storage& ss, socklen_t len) {
  Addr a;
  if (ss.ss_family == AF_UNIX) {
    a.network = "unix";
    auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    if (n > 0 && sun->sun_path[0] == '\0') {  // abstract: "@name"
      a.address = absl::StrCat("@", absl::string_view(sun->sun_path + 1, n - 1));
    } else {
      a.address = std::string(sun->sun_path, strnlen(sun->sun_path, n));
    }
    return a;
  }
  a.network = "tcp";
  a.address = format_inet(ss, &a.port);
  return a;
}

// getsockname(2) as an Addr (empty on failure).
Addr local_addr_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  long r = sys::syscall6(SYS_getsockname, fd, reinterpret_cast<long>(&ss),
                         reinterpret_cast<long>(&len));
  if (sys::is_error(r)) return Addr{};
  return to_addr(ss, len);
}

long setsockopt_int(int fd, int level, int name, int value) {
  return sys::syscall6(SYS_setsockopt, fd, level, name, reinterpret_cast<long>(&value),
                       sizeof(value));
}

// TCP_NODELAY and keep-alive, as Go's newTCPConn and the dialer/listener.
absl::Status set_tcp_conn_options(int fd) {
  long r = setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  if (!sys::is_error(r)) r = setsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  if (!sys::is_error(r)) r = setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, kKeepAliveSeconds);
  if (!sys::is_error(r)) r = setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, kKeepAliveSeconds);
  if (sys::is_error(r)) return errno_error("setsockopt", static_cast<int>(-r));
  return absl::OkStatus();
}

// The listen backlog: /proc/sys/net/core/somaxconn, read once (Go's
// maxListenerBacklog); SOMAXCONN if unreadable.
int listen_backlog() {
  static const int backlog = [] {
    int fd = static_cast<int>(
        sys::openat(AT_FDCWD, "/proc/sys/net/core/somaxconn", O_RDONLY | O_CLOEXEC));
    if (fd < 0) return SOMAXCONN;
    char buf[32];
    long n = sys::read(fd, buf, sizeof(buf) - 1);
    sys::close(fd);
    if (n <= 0) return SOMAXCONN;
    int v = 0;
    for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
    if (v <= 0) return SOMAXCONN;
    return v > 65535 ? 65535 : v;
  }();
  return backlog;
}

// A non-blocking, close-on-exec stream socket registered with the poller.
absl::StatusOr<std::unique_ptr<FD>> new_socket(int family) {
  long r = sys::syscall6(SYS_socket, family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sys::is_error(r)) return errno_error("socket", static_cast<int>(-r));
  return FD::open(static_cast<int>(r), FdKind::kSocket);
}

// The op error text for "op net: address foo: ..." style failures before a
// socket exists: Go's OpError with Addr unknown.
absl::Status wrap(absl::Status err, std::string_view prefix) {
  return absl::Status(err.code(), absl::StrCat(av(prefix), ": ", err.message()));
}

bool is_wildcard(const SockAddr& a) {
  if (a.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_addr);
}

// Resolves "host:port" for `net` into candidate endpoints, in the order to
// try them. `listening`: an empty host is the wildcard (else the loopback).
// Errors name the address (InvalidArgument) or the host (NotFound).
absl::StatusOr<std::vector<SockAddr>> resolve(const char* op, std::string_view network, Net net,
                                              std::string_view address, bool listening) {
  std::string_view host, port_s;
  if (const char* why = split_host_port(address, &host, &port_s); why != nullptr) {
    return addr_error(op, network, address, why);
  }
  int port = 0;
  if (!parse_port(port_s, &port)) return addr_error(op, network, address, "invalid port");
  const bool want4 = net != Net::kTcp6;
  const bool want6 = net != Net::kTcp4;
  std::vector<SockAddr> out;
  if (host.empty()) {
    if (listening) {
      out.push_back(want6 ? make_v6(in6addr_any, port) : make_v4(in_addr{htonl(INADDR_ANY)}, port));
    } else {
      out.push_back(want4 ? make_v4(in_addr{htonl(INADDR_LOOPBACK)}, port)
                          : make_v6(in6addr_loopback, port));
    }
    return out;
  }
  if (host == "localhost") {
    out.push_back(want4 ? make_v4(in_addr{htonl(INADDR_LOOPBACK)}, port)
                        : make_v6(in6addr_loopback, port));
    return out;
  }
  std::string h(host);
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    if (!want4) return addr_error(op, network, address, "no suitable address found");
    out.push_back(make_v4(v4, port));
    return out;
  }
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (!want6) return addr_error(op, network, address, "no suitable address found");
    out.push_back(make_v6(v6, port));
    return out;
  }
  // A name: the system resolver may block (files, DNS), so outside the P.
  addrinfo hints{};
  hints.ai_family = net == Net::kTcp4 ? AF_INET : net == Net::kTcp6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = gort::blocking([&] { return getaddrinfo(h.c_str(), nullptr, &hints, &res); });
  if (rc != 0 || res == nullptr) {
    if (res != nullptr) freeaddrinfo(res);
    return absl::NotFoundError(
        absl::StrCat(op, " ", av(network), ": lookup ", av(host), ": no such host"));
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET && want4) {
      out.push_back(make_v4(reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, port));
    } else if (ai->ai_family == AF_INET6 && want6) {
      out.push_back(make_v6(reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, port));
    }
  }
  freeaddrinfo(res);
  if (out.empty()) return addr_error(op, network, address, "no suitable address found");
  return out;
}

// A unix socket address for `path` ("@name": abstract).
absl::StatusOr<SockAddr> unix_addr(const char* op, std::string_view address) {
  SockAddr a;
  auto* sun = reinterpret_cast<sockaddr_un*>(&a.ss);
  sun->sun_family = AF_UNIX;
  if (address.empty()) return addr_error(op, "unix", address, "missing address");
  if (address.size() >= sizeof(sun->sun_path)) {
    return addr_error(op, "unix", address, "invalid argument");
  }
  memcpy(sun->sun_path, address.data(), address.size());
  if (address[0] == '@') {
    sun->sun_path[0] = '\0';
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  } else {
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + 1);
  }
  return a;
}

}  // namespace

// ---- error classification --------------------------------------------------

bool is_eof(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange && s.message() == "EOF";
}

bool is_timeout(const absl::Status& s) {
  return s.code() == absl::StatusCode::kDeadlineExceeded && absl::EndsWith(s.message(), "i/o timeout");
}

bool is_closed(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition &&
         absl::EndsWith(s.message(), "use of closed network connection");
}

// ---- Conn ----------------------------------------------------------------------

Conn::Conn() = default;
Conn::Conn(Conn&& other) noexcept = default;
Conn::~Conn() = default;  // ~FD closes an open fd

Conn& Conn::operator=(Conn&& other) noexcept {
  if (this != &other) {
    fd_ = std::move(other.fd_);  // the old FD's destructor closes it
    net_ = std::move(other.net_);
    local_ = std::move(other.local_);
    remote_ = std::move(other.remote_);
  }
  return *this;
}

Conn::Conn(std::unique_ptr<netpoll::FD> fd, std::string net, Addr local, Addr remote)
    : fd_(std::move(fd)),
      net_(std::move(net)),
      local_(std::move(local)),
      remote_(std::move(remote)) {}

int Conn::fd() const { return fd_ == nullptr ? -1 : fd_->sysfd(); }

// Go's OpError: "op net local->remote: err"; EOF stays bare (io.EOF).
absl::Status Conn::op_error(const char* op, const absl::Status& err) const {
  if (is_eof(err)) return err;
  std::string prefix = absl::StrCat(op, " ", net_.empty() ? "tcp" : net_);
  if (!local_.address.empty()) absl::StrAppend(&prefix, " ", local_.address, "->");
  else absl::StrAppend(&prefix, " ");
  absl::StrAppend(&prefix, remote_.address);
  return wrap(err, prefix);
}

absl::StatusOr<size_t> Conn::read(void* buf, size_t n) {
  if (fd_ == nullptr) return op_error("read", netpoll::closed_error(FdKind::kSocket));
  absl::StatusOr<size_t> r = fd_->read(buf, n);
  if (!r.ok()) return op_error("read", r.status());
  return r;
}

absl::StatusOr<size_t> Conn::write(const void* buf, size_t n, size_t* written) {
  if (fd_ == nullptr) {
    if (written != nullptr) *written = 0;
    return op_error("write", netpoll::closed_error(FdKind::kSocket));
  }
  absl::StatusOr<size_t> r = fd_->write(buf, n, written);
  if (!r.ok()) return op_error("write", r.status());
  return r;
}

absl::Status Conn::close() {
  if (fd_ == nullptr) return op_error("close", netpoll::closed_error(FdKind::kSocket));
  absl::Status s = fd_->close();
  return s.ok() ? s : op_error("close", s);
}

absl::Status Conn::close_write() {
  if (fd_ == nullptr) return op_error("close", netpoll::closed_error(FdKind::kSocket));
  absl::Status s = fd_->shutdown(SHUT_WR);
  return s.ok() ? s : op_error("close", s);
}

absl::Status Conn::set_deadline_mode(TimePoint t, int mode) {
  if (fd_ == nullptr) return op_error("set", netpoll::closed_error(FdKind::kSocket));
  // TimePoint is steady_clock nanoseconds, which libstdc++ reads from
  // CLOCK_MONOTONIC, as sys::nanotime does (gort::time::now() is built on
  // it): the count is already an absolute nanotime. Zero stays zero ("no
  // deadline"); a count that is negative is in the past.
  int64_t ns = t.time_since_epoch().count();
  absl::Status s = fd_->set_deadline(ns, static_cast<netpoll::Mode>(mode));
  return s.ok() ? s : op_error("set", s);
}

absl::Status Conn::set_deadline(TimePoint t) {
  return set_deadline_mode(t, static_cast<int>(netpoll::Mode::kReadWrite));
}
absl::Status Conn::set_read_deadline(TimePoint t) {
  return set_deadline_mode(t, static_cast<int>(netpoll::Mode::kRead));
}
absl::Status Conn::set_write_deadline(TimePoint t) {
  return set_deadline_mode(t, static_cast<int>(netpoll::Mode::kWrite));
}

// ---- Listener ------------------------------------------------------------------

Listener::Listener() = default;
Listener::Listener(Listener&& other) noexcept = default;

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    (void)close();
    fd_ = std::move(other.fd_);
    net_ = std::move(other.net_);
    addr_ = std::move(other.addr_);
    unlink_path_ = std::move(other.unlink_path_);
  }
  return *this;
}

Listener::~Listener() {
  if (fd_ != nullptr) (void)close();
}

Listener::Listener(std::unique_ptr<netpoll::FD> fd, std::string net, Addr addr,
                   std::string unlink_path)
    : fd_(std::move(fd)),
      net_(std::move(net)),
      addr_(std::move(addr)),
      unlink_path_(std::move(unlink_path)) {}

int Listener::fd() const { return fd_ == nullptr ? -1 : fd_->sysfd(); }

// Go: "accept tcp [::]:8080: ..." (Source nil, Addr the listener's).
absl::Status Listener::op_error(const char* op, const absl::Status& err) const {
  return wrap(err, absl::StrCat(op, " ", net_.empty() ? "tcp" : net_, " ", addr_.address));
}

absl::StatusOr<Conn> Listener::accept() {
  if (fd_ == nullptr) return op_error("accept", netpoll::closed_error(FdKind::kSocket));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  absl::StatusOr<int> nfd = fd_->accept(&ss, &len);
  if (!nfd.ok()) return op_error("accept", nfd.status());
  Addr remote = to_addr(ss, len);
  if (ss.ss_family != AF_UNIX) {
    absl::Status s = set_tcp_conn_options(*nfd);
    if (!s.ok()) {
      sys::close(*nfd);
      return op_error("accept", s);
    }
  } else {
    remote.network = "unix";
  }
  Addr local = local_addr_of(*nfd);
  if (local.network.empty()) local.network = addr_.network;
  auto fd = FD::open(*nfd, FdKind::kSocket);  // closes *nfd on failure
  if (!fd.ok()) return op_error("accept", fd.status());
  return Conn(std::move(*fd), net_, std::move(local), std::move(remote));
}

absl::Status Listener::close() {
  if (fd_ == nullptr) return op_error("close", netpoll::closed_error(FdKind::kSocket));
  absl::Status s = fd_->close();
  if (!s.ok()) return op_error("close", s);
  // Only the close that succeeded unlinks: until then the file is ours
  // (bind on an existing path fails), so no other listener's is removed.
  if (!unlink_path_.empty()) {
    sys::syscall6(SYS_unlinkat, AT_FDCWD, reinterpret_cast<long>(unlink_path_.c_str()), 0);
  }
  return absl::OkStatus();
}

absl::Status Listener::set_deadline(TimePoint t) {
  if (fd_ == nullptr) return op_error("set", netpoll::closed_error(FdKind::kSocket));
  absl::Status s = fd_->set_deadline(t.time_since_epoch().count(), netpoll::Mode::kRead);
  return s.ok() ? s : op_error("set", s);
}

// ---- listen and dial ------------------------------------------------------------

absl::StatusOr<Listener> listen(std::string_view network, std::string_view address) {
  Net net;
  if (!parse_network(network, &net)) return unknown_network("listen", network);
  SockAddr sa;
  std::string unlink_path;
  if (net == Net::kUnix) {
    absl::StatusOr<SockAddr> u = unix_addr("listen", address);
    if (!u.ok()) return u.status();
    sa = *u;
    if (address[0] != '@') unlink_path = std::string(address);
  } else {
    auto cands = resolve("listen", network, net, address, /*listening=*/true);
    if (!cands.ok()) return cands.status();
    sa = cands->front();
    // Go's favoriteAddrFamily: "tcp" on a wildcard address listens on a
    // dual-stack AF_INET6 socket.
    if (net == Net::kTcp && sa.family() == AF_INET && is_wildcard(sa)) {
      sa = make_v6(in6addr_any, ntohs(reinterpret_cast<sockaddr_in*>(&sa.ss)->sin_port));
    }
  }
  const std::string prefix = absl::StrCat("listen ", av(network), " ", av(address));
  auto fd = new_socket(sa.family());
  if (!fd.ok() && net == Net::kTcp && sa.family() == AF_INET6 && is_wildcard(sa)) {
    // No IPv6 in this kernel: an IPv4 wildcard, as Go when !supportsIPv6.
    sa = make_v4(in_addr{htonl(INADDR_ANY)},
                 ntohs(reinterpret_cast<sockaddr_in6*>(&sa.ss)->sin6_port));
    fd = new_socket(AF_INET);
  }
  if (!fd.ok()) return wrap(fd.status(), prefix);
  absl::Status st = (*fd)->with_fd([&](int s) -> absl::Status {
    long r = 0;
    if (sa.family() != AF_UNIX) {
      r = setsockopt_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
      if (sys::is_error(r)) return errno_error("setsockopt", static_cast<int>(-r));
    }
    if (sa.family() == AF_INET6) {
      r = setsockopt_int(s, IPPROTO_IPV6, IPV6_V6ONLY, net == Net::kTcp6 ? 1 : 0);
      if (sys::is_error(r)) return errno_error("setsockopt", static_cast<int>(-r));
    }
    r = sys::syscall6(SYS_bind, s, reinterpret_cast<long>(&sa.ss), sa.len);
    if (sys::is_error(r)) return errno_error("bind", static_cast<int>(-r));
    r = sys::syscall6(SYS_listen, s, listen_backlog());
    if (sys::is_error(r)) return errno_error("listen", static_cast<int>(-r));
    return absl::OkStatus();
  });
  if (!st.ok()) {
    (void)(*fd)->close();  // the socket file (if bound) stays: not ours
    return wrap(st, prefix);
  }
  Addr addr = local_addr_of((*fd)->sysfd());
  if (net == Net::kUnix) {
    addr.network = "unix";
    addr.address = std::string(address);
  }
  return Listener(std::move(*fd), std::string(network), std::move(addr),
                  std::move(unlink_path));
}

absl::StatusOr<Conn> dial(std::string_view network, std::string_view address,
                          Duration timeout) {
  Net net;
  if (!parse_network(network, &net)) return unknown_network("dial", network);
  const int64_t deadline =
      timeout.count() > 0 ? sys::nanotime() + static_cast<int64_t>(timeout.count()) : 0;
  std::vector<SockAddr> cands;
  if (net == Net::kUnix) {
    absl::StatusOr<SockAddr> u = unix_addr("dial", address);
    if (!u.ok()) return u.status();
    cands.push_back(*u);
  } else {
    auto r = resolve("dial", network, net, address, /*listening=*/false);
    if (!r.ok()) return r.status();
    cands = std::move(*r);
  }
  // Go's dialSerial: try each address in turn, return the first error.
  absl::Status first_err;
  for (const SockAddr& sa : cands) {
    int port = 0;
    Addr remote;
    if (net == Net::kUnix) {
      remote.network = "unix";
      remote.address = std::string(address);
    } else {
      remote.network = "tcp";
      remote.address = format_inet(sa.ss, &port);
      remote.port = port;
    }
    const std::string prefix = absl::StrCat("dial ", av(network), " ", remote.address);
    if (deadline != 0 && sys::nanotime() >= deadline) {
      if (first_err.ok()) first_err = wrap(netpoll::timeout_error(), prefix);
      break;
    }
    auto fd = new_socket(sa.family());
    if (!fd.ok()) {
      if (first_err.ok()) first_err = wrap(fd.status(), prefix);
      continue;
    }
    absl::Status st =
        (*fd)->connect(reinterpret_cast<const sockaddr*>(&sa.ss), sa.len, deadline);
    if (st.ok() && net != Net::kUnix) {
      st = (*fd)->with_fd([](int s) { return set_tcp_conn_options(s); });
    }
    if (!st.ok()) {
      (void)(*fd)->close();
      if (first_err.ok()) first_err = wrap(st, prefix);
      continue;
    }
    Addr local = local_addr_of((*fd)->sysfd());
    if (net == Net::kUnix) local.network = "unix";
    return Conn(std::move(*fd), std::string(network), std::move(local), std::move(remote));
  }
  return first_err;
}

}  // namespace gort::net
