// The `http-client` workload: many goroutines make HTTP/1.1 requests to an
// in-process server over loopback, and some dial a closed port; requests
// per second. Under `--strace` the table looks like the one strace -c -f
// gives for a Go program doing the same (the seed's capture): futex and
// epoll_wait dominate the time, and connect shows an error for every call.
//
// The pieces, all on gort::net (netpoll/net.h):
//   server   a listener on 127.0.0.1:0 and one goroutine per connection: it
//            reads a request (request line and headers up to CRLFCRLF, and
//            a Content-Length body if there is one) and answers
//            `HTTP/1.1 200 OK` with a Content-Length body of --body bytes,
//            keeping the connection for the next request unless the client
//            sent `Connection: close`.
//   clients  --clients goroutines, each making --requests GETs: over one
//            kept-alive connection (--keepalive 1, what Go's http.Client
//            does), or each on a fresh connection with `Connection: close`
//            (--keepalive 0). Each checks the status line, Content-Length
//            and the body's size.
//   refused  --refused goroutines that each dial a port nobody listens on
//            (a listener opened and closed at start), expecting "connection
//            refused".
//
// The syscalls that make sockets are a function of the options, never of
// timing (so `--strace` can be compared with `strace -c -f` call for call):
// nothing retries a dial or reopens anything. With C client connections
// (C = clients, or clients x requests without keep-alive) and R refused:
//   socket   C + R + 2  (the listener and the closed port's listener)
//   connect  C + R, every one returning EINPROGRESS (a non-blocking connect
//            always does on TCP; the refusal of R of them comes later, from
//            getsockopt(SO_ERROR))
//   close    C + R + 2 sockets and the C accepted connections, plus the
//            runtime's own few, once per process (the somaxconn file the
//            first listen reads, and the like)
// (accept4, epoll_ctl, getsockopt and the reads and writes are not fixed:
// an accept4 or a read that finds nothing returns EAGAIN and parks, as
// often as timing makes it). The summary prints these three numbers.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "cli/workloads/net_util.h"
#include "fmt/format.h"
#include "netpoll/net.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

constexpr size_t kMaxHeader = 16 << 10;  // bytes of request or response head

// (Debian's Abseil has its own string_view, so the string helpers below are
// local rather than absl's.)
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  for (;;) {
    size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + sep.size());
  }
}

// The parts of a message head this workload uses.
struct Head {
  std::string first_line;   // request line or status line
  int64_t content_length = 0;
  bool close = false;       // `Connection: close`
};

// Reads from `c` into `*buf` until it holds a head (ending in CRLFCRLF);
// parses it and leaves in *buf what follows it. EOF before any byte comes
// back as is (is_eof), so a server sees a client that is done.
absl::StatusOr<Head> read_head(net::Conn& c, std::string* buf) {
  size_t end;
  while ((end = buf->find("\r\n\r\n")) == std::string::npos) {
    if (buf->size() > kMaxHeader) {
      return absl::InvalidArgumentError("http: header too long");
    }
    char chunk[4096];
    auto r = c.read(chunk, sizeof(chunk));
    if (!r.ok()) {
      if (!buf->empty() && net::is_eof(r.status())) {
        return absl::DataLossError("http: unexpected EOF in a header");
      }
      return r.status();
    }
    buf->append(chunk, *r);
  }
  Head h;
  std::vector<std::string_view> lines =
      split(std::string_view(*buf).substr(0, end), "\r\n");
  h.first_line = std::string(lines[0]);
  for (size_t i = 1; i < lines.size(); i++) {
    size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          fmt::format("http: malformed header line \"{}\"", lines[i]));
    }
    std::string_view name = lines[i].substr(0, colon);
    std::string_view value = strip(lines[i].substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(),
                                       h.content_length);
      if (ec != std::errc() || ptr != value.data() + value.size() ||
          h.content_length < 0) {
        return absl::InvalidArgumentError(
            fmt::format("http: bad Content-Length \"{}\"", value));
      }
    } else if (iequals(name, "Connection")) {
      h.close = iequals(value, "close");
    }
  }
  buf->erase(0, end + 4);
  return h;
}

// Takes a body of `n` bytes: what *buf already holds, then reads the rest.
// Leaves in *buf whatever followed the body.
absl::Status read_body(net::Conn& c, std::string* buf, int64_t n) {
  size_t want = static_cast<size_t>(n);
  if (buf->size() >= want) {
    buf->erase(0, want);
    return absl::OkStatus();
  }
  std::string rest(want - buf->size(), '\0');
  buf->clear();
  return read_full(c, rest.data(), rest.size());
}

// Serves requests on `c` until the client closes or asks to.
void serve(net::Conn& c, const std::string& body, FirstError* err) {
  const std::string ok_head = fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
      "{}\r\n",
      body.size());
  std::string buf;
  for (;;) {
    auto req = read_head(c, &buf);
    if (!req.ok()) {
      if (!net::is_eof(req.status())) err->set(req.status());
      return;
    }
    // "METHOD TARGET HTTP/1.x"
    std::vector<std::string_view> parts = split(req->first_line, " ");
    if (parts.size() != 3 || !parts[2].starts_with("HTTP/1.")) {
      (void)c.write(std::string_view(
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: "
          "close\r\n\r\n"));
      err->set(absl::InvalidArgumentError(fmt::format(
          "http: malformed request line \"{}\"", req->first_line)));
      return;
    }
    if (absl::Status s = read_body(c, &buf, req->content_length); !s.ok()) {
      err->set(s);
      return;
    }
    std::string resp = ok_head;
    if (req->close) resp += "Connection: close\r\n";
    resp += "\r\n";
    resp += body;
    if (auto w = c.write(resp); !w.ok()) {
      err->set(w.status());
      return;
    }
    if (req->close) return;
  }
}

// One GET on `c`; OK if the answer is 200 with a body of `body_size` bytes.
absl::Status get(net::Conn& c, const std::string& host, int64_t i,
                 bool close, size_t body_size, std::string* buf) {
  std::string req = fmt::format(
      "GET /item/{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gort-http-client\r\n"
      "{}\r\n",
      i, host, close ? "Connection: close\r\n" : "");
  if (auto w = c.write(req); !w.ok()) return w.status();
  auto resp = read_head(c, buf);
  if (!resp.ok()) return resp.status();
  if (!resp->first_line.starts_with("HTTP/1.1 200 ")) {
    return absl::InternalError(
        fmt::format("http: got \"{}\", want 200 OK", resp->first_line));
  }
  if (resp->content_length != static_cast<int64_t>(body_size)) {
    return absl::InternalError(fmt::format(
        "http: Content-Length {}, want {}", resp->content_length, body_size));
  }
  return read_body(c, buf, resp->content_length);
}

absl::StatusOr<Result> run_http_client(const WorkloadArgs& args,
                                       std::FILE* out) {
  const int64_t clients = args.get("clients");
  const int64_t requests = args.get("requests");
  const int64_t refused_dials = args.get("refused");
  const bool keepalive = args.get("keepalive") != 0;
  const std::string body(static_cast<size_t>(args.get("body")), 'x');
  absl::Status failure;
  std::atomic<int64_t> ok_requests{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> accepted{0};
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    // A port with no listener: open one, note its port, close it.
    std::string closed_addr;
    {
      auto probe = net::listen("tcp", "127.0.0.1:0");
      if (!probe.ok()) {
        failure = probe.status();
        return;
      }
      closed_addr = probe->addr().string();
      if (absl::Status s = probe->close(); !s.ok()) {
        failure = s;
        return;
      }
    }
    auto ln = net::listen("tcp", "127.0.0.1:0");
    if (!ln.ok()) {
      failure = ln.status();
      return;
    }
    const std::string addr = ln->addr().string();
    FirstError err;
    Join servers;
    Join acceptor;
    acceptor.add();
    gort::go([&] {
      for (;;) {
        auto c = ln->accept();
        if (!c.ok()) {
          if (!net::is_closed(c.status())) err.set(c.status());
          break;
        }
        accepted.fetch_add(1, std::memory_order_relaxed);
        servers.add();
        gort::go([&, c = std::move(*c)]() mutable {
          serve(c, body, &err);
          (void)c.close();
          servers.done();
        });
      }
      acceptor.done();
    });
    Join dialers;
    int64_t start = sys::nanotime();
    for (int64_t i = 0; i < refused_dials; i++) {
      dialers.add();
      gort::go([&] {
        auto c = net::dial("tcp", closed_addr);
        if (c.ok()) {
          err.set(absl::InternalError(fmt::format(
              "http-client: dial {} (closed) succeeded", closed_addr)));
        } else if (std::string(c.status().message()).find(
                       "connection refused") != std::string::npos) {
          refused.fetch_add(1, std::memory_order_relaxed);
        } else {
          err.set(c.status());
        }
        dialers.done();
      });
    }
    for (int64_t k = 0; k < clients; k++) {
      dialers.add();
      gort::go([&, k] {
        std::string buf;
        net::Conn c;
        for (int64_t r = 0; r < requests; r++) {
          if (!keepalive || r == 0) {
            auto d = net::dial("tcp", addr);
            if (!d.ok()) {
              err.set(d.status());
              break;
            }
            c = std::move(*d);
            buf.clear();
          }
          absl::Status s = get(c, addr, k * requests + r, !keepalive,
                               body.size(), &buf);
          if (!s.ok()) {
            err.set(s);
            break;
          }
          ok_requests.fetch_add(1, std::memory_order_relaxed);
          if (!keepalive) (void)c.close();
        }
        if (keepalive) (void)c.close();
        dialers.done();
      });
    }
    dialers.wait();
    nanos = sys::nanotime() - start;
    (void)ln->close();
    acceptor.wait();
    servers.wait();
    failure = err.get();
  });
  if (!failure.ok()) return failure;
  const int64_t conns = keepalive ? clients : clients * requests;
  const int64_t want = clients * requests;
  double secs = static_cast<double>(nanos) / 1e9;
  fmt::print(out,
             "http-client: {} clients x {} HTTP/1.1 GETs ({}) to a loopback "
             "server: {} of {} requests succeeded in {:.3f} s; {} of {} dials "
             "to a closed port refused (GOMAXPROCS={})\n",
             clients, requests,
             keepalive ? "one kept-alive connection each"
                       : "a connection per request",
             ok_requests.load(), want, secs, refused.load(), refused_dials,
             procs);
  fmt::print(out,
             "sockets: socket {} ({} client + {} refused + 2 listeners), "
             "connect {} (each EINPROGRESS), close {} of them and of the {} "
             "accepted\n",
             conns + refused_dials + 2, conns, refused_dials,
             conns + refused_dials, conns + refused_dials + 2 + accepted.load(),
             accepted.load());
  if (ok_requests.load() != want || refused.load() != refused_dials ||
      accepted.load() != conns) {
    return absl::InternalError(fmt::format(
        "http-client: {} of {} requests, {} of {} refusals, {} of {} "
        "connections accepted",
        ok_requests.load(), want, refused.load(), refused_dials,
        accepted.load(), conns));
  }
  return Result{want / secs, "requests/s"};
}

const Registrar registrar(Workload{
    .name = "http-client",
    .description = "100 goroutines x 10 HTTP/1.1 GETs to a loopback server, "
                   "10 dials to a closed port; requests per second",
    .options = {{.name = "clients",
                 .help = "client goroutines",
                 .default_value = 100,
                 .min_value = 1,
                 .max_value = 5000},
                {.name = "requests",
                 .help = "GETs per client",
                 .default_value = 10,
                 .min_value = 1,
                 .max_value = 1'000'000},
                {.name = "refused",
                 .help = "goroutines dialling a closed port (once each)",
                 .default_value = 10,
                 .min_value = 0,
                 .max_value = 5000},
                {.name = "keepalive",
                 .help = "1: one connection per client; 0: one per request "
                         "(Connection: close)",
                 .default_value = 1,
                 .min_value = 0,
                 .max_value = 1},
                {.name = "body",
                 .help = "response body bytes",
                 .default_value = 64,
                 .min_value = 0,
                 .max_value = 1 << 20}},
    .benchmark = true,
    .has_go_twin = false,
    .run = run_http_client,
});

}  // namespace
}  // namespace gort::cli
