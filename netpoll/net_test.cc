// Tests of gort::net (netpoll/net.h) and the FD under it (netpoll/fd.h):
// echo with checksums over concurrent connections, 10k connections open at
// once (the server in a child process: the fd limit is 20000 for both ends),
// read/write/accept deadlines, close waking a blocked reader or acceptor,
// half-close, connection refused, use after close, accept under EMFILE,
// random partial reads and writes losing no byte, unix sockets, bad
// addresses, plain threads, and the fdMutex's lock handover. Every test
// ends by checking that it leaked no fd (/proc/self/fd), no goroutine and
// no poller waiter.
#include "netpoll/net.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "netpoll/fd.h"
#include "netpoll/netpoll.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "timer/time.h"

extern char** environ;

namespace gort::net {
namespace {

using namespace std::chrono_literals;
using sched::testing::kAsan;
using sched::testing::kTsan;
using sched::testing::Latch;
using sched::testing::scaled;
using sched::testing::Watchdog;

// ---- helpers -------------------------------------------------------------------

int count_fds() {
  DIR* d = opendir("/proc/self/fd");
  GORT_CHECK(d != nullptr);
  int n = 0;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

// Invariants after every test: the fds it opened are closed, the goroutines
// it started have exited, nobody waits in the poller.
class NetTest : public sched::testing::SchedTest {
 protected:
  void SetUp() override {
    SchedTest::SetUp();
    fds_before_ = count_fds();
  }
  void TearDown() override {
    SchedTest::TearDown();
    EXPECT_EQ(netpoll::waiters(), 0) << "a goroutine or thread still waits in the poller";
    EXPECT_EQ(count_fds(), fds_before_) << "fds leaked by the test";
  }

 private:
  int fds_before_ = 0;
};

// Order-sensitive checksum of a byte stream (FNV-1a, 64 bits).
struct Checksum {
  uint64_t h = 1469598103934665603ULL;
  uint64_t bytes = 0;
  void add(const void* p, size_t n) {
    auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    bytes += n;
  }
};

// Reads exactly n bytes, or returns the error that stopped it.
absl::Status read_full(Conn& c, void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    absl::StatusOr<size_t> r = c.read(p, n);
    if (!r.ok()) return r.status();
    p += *r;
    n -= *r;
  }
  return absl::OkStatus();
}

// Reads until EOF; the bytes into *out. Returns the error if it was not EOF.
absl::Status read_all(Conn& c, std::string* out) {
  char buf[4096];
  for (;;) {
    absl::StatusOr<size_t> r = c.read(buf, sizeof(buf));
    if (!r.ok()) return is_eof(r.status()) ? absl::OkStatus() : r.status();
    out->append(buf, *r);
  }
}

// Echoes until EOF, then closes. Returns the first non-EOF error.
absl::Status echo(Conn& c) {
  std::vector<char> buf(16 << 10);
  for (;;) {
    absl::StatusOr<size_t> r = c.read(buf.data(), buf.size());
    if (!r.ok()) {
      (void)c.close();
      return is_eof(r.status()) ? absl::OkStatus() : r.status();
    }
    absl::StatusOr<size_t> w = c.write(buf.data(), *r);
    if (!w.ok()) {
      (void)c.close();
      return w.status();
    }
  }
}

// A connected TCP pair over loopback, and the listener that made it.
struct Pair {
  Listener ln;
  Conn client;
  Conn server;
};

Pair make_pair() {
  Pair p;
  auto ln = listen("tcp", "127.0.0.1:0");
  GORT_CHECK(ln.ok());
  p.ln = std::move(*ln);
  auto c = dial("tcp", p.ln.addr().string());
  GORT_CHECK(c.ok());
  p.client = std::move(*c);
  auto s = p.ln.accept();  // the kernel completed the handshake already
  GORT_CHECK(s.ok());
  p.server = std::move(*s);
  return p;
}

// Yields until pred() (on a goroutine) or sleeps (on a thread); gives up
// after 20 s so that a broken wake-up fails instead of hanging.
template <typename Pred>
bool wait_until(Pred pred, bool on_goroutine = true) {
  int64_t deadline = sys::nanotime() + 20'000'000'000;
  while (!pred()) {
    if (sys::nanotime() > deadline) return false;
    if (on_goroutine) {
      yield();
    } else {
      std::this_thread::sleep_for(100us);
    }
  }
  return true;
}

// ---- echo ----------------------------------------------------------------------

// Invariant: over several connections at once, every byte a client sends
// comes back, in order (same length and order-sensitive checksum), and the
// echo server sees EOF after the client's close_write.
TEST_F(NetTest, EchoWithChecksumsOverConcurrentConnections) {
  Watchdog dog("EchoWithChecksums", 60);
  const int kConns = static_cast<int>(scaled(16, 8, 4));
  const size_t kBytes = static_cast<size_t>(scaled(1 << 20, 256 << 10, 64 << 10));
  std::atomic<int> failures{0};
  run([&] {
    auto ln = listen("tcp", "127.0.0.1:0");
    ASSERT_TRUE(ln.ok()) << ln.status();
    Latch served(kConns);
    go([&] {
      for (int i = 0; i < kConns; i++) {
        auto c = ln->accept();
        if (!c.ok()) {
          ADD_FAILURE() << c.status();
          failures++;
          served.done();
          continue;
        }
        go([&, c = std::move(*c)]() mutable {
          absl::Status s = echo(c);
          if (!s.ok()) {
            ADD_FAILURE() << s;
            failures++;
          }
          served.done();
        });
      }
    });
    Latch clients(kConns);
    for (int i = 0; i < kConns; i++) {
      go([&, i] {
        auto c = dial("tcp", ln->addr().string());
        if (!c.ok()) {
          ADD_FAILURE() << c.status();
          failures++;
          clients.done();
          return;
        }
        Checksum sent, got;
        Latch reader_done(1);
        // The reader runs beside the writer: with both in one goroutine, a
        // large write would fill both socket buffers and never return.
        go([&] {
          std::string back;
          absl::Status s = read_all(*c, &back);
          if (!s.ok()) {
            ADD_FAILURE() << s;
            failures++;
          }
          got.add(back.data(), back.size());
          reader_done.done();
        });
        std::mt19937_64 rng(i);
        std::string data(kBytes, '\0');
        for (auto& ch : data) ch = static_cast<char>(rng());
        sent.add(data.data(), data.size());
        absl::StatusOr<size_t> w = c->write(data);
        if (!w.ok() || *w != data.size()) {
          ADD_FAILURE() << w.status();
          failures++;
        }
        absl::Status cw = c->close_write();
        if (!cw.ok()) {
          ADD_FAILURE() << cw;
          failures++;
        }
        reader_done.wait();
        EXPECT_EQ(got.bytes, sent.bytes) << "conn " << i;
        EXPECT_EQ(got.h, sent.h) << "conn " << i;
        clients.done();
      });
    }
    clients.wait();
    served.wait();
  });
  EXPECT_EQ(failures.load(), 0);
}

// ---- 10k connections -----------------------------------------------------------

// The child's side of TenThousandConnections: listens on 127.0.0.1:0,
// prints the port on stdout, accepts `n` connections and echoes each until
// EOF. Exits 0 if every connection was accepted and echoed without error.
int echo_child_main(int n) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  std::atomic<int> errors{0};
  run([&] {
    auto ln = listen("tcp", "127.0.0.1:0");
    if (!ln.ok()) {
      fprintf(stderr, "child: %s\n", std::string(ln.status().message()).c_str());
      errors++;
      return;
    }
    printf("%d\n", ln->addr().port);
    fflush(stdout);
    Latch done(n);
    for (int i = 0; i < n; i++) {
      auto c = ln->accept();
      if (!c.ok()) {
        fprintf(stderr, "child: %s\n", std::string(c.status().message()).c_str());
        errors++;
        done.done();
        continue;
      }
      go([&, c = std::move(*c)]() mutable {
        if (!echo(c).ok()) errors++;
        done.done();
      });
    }
    done.wait();
  });
  return errors.load() == 0 ? 0 : 1;
}

// Invariant: N connections (10k in the default build; 3000 under ASan,
// where 10k take ~90 s on this 2-core machine; 1000 under TSan, whose
// goroutine creation costs ~1 ms and whose fiber limit is ~8000) are dialled concurrently, all stay open at the same time, and
// each still echoes its own bytes once all are open. The server is a child
// process running this binary: both ends in one process would need 20000+
// fds, over the hard limit here.
TEST_F(NetTest, TenThousandConcurrentConnections) {
  Watchdog dog("TenThousandConnections", 240);
  const int kConns = static_cast<int>(scaled(10'000, 3'000, 1'000));
  struct rlimit old_rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old_rl), 0);
  struct rlimit rl = old_rl;
  rl.rlim_cur = rl.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  ASSERT_GT(rl.rlim_cur, static_cast<rlim_t>(kConns + 100)) << "fd limit too low for the test";

  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  std::string n_arg = std::to_string(kConns);
  char self[] = "/proc/self/exe";
  char mode[] = "--net-echo-child";
  char* argv[] = {self, mode, n_arg.data(), nullptr};
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  char line[32] = {};
  size_t got = 0;
  while (got < sizeof(line) - 1) {
    ssize_t r = ::read(out[0], line + got, 1);
    if (r <= 0 || line[got] == '\n') break;
    got++;
  }
  close(out[0]);
  const int port = atoi(line);
  ASSERT_GT(port, 0) << "the child did not report its port";
  const std::string addr = "127.0.0.1:" + std::to_string(port);

  std::atomic<int> failures{0};
  run([&] {
    std::vector<Conn> conns(kConns);
    Latch dialed(kConns);
    for (int i = 0; i < kConns; i++) {
      go([&, i] {
        auto c = dial("tcp", addr);
        uint32_t id = static_cast<uint32_t>(i), back = 0;
        if (!c.ok() || !c->write(&id, sizeof(id)).ok() ||
            !read_full(*c, &back, sizeof(back)).ok() || back != id) {
          if (failures.fetch_add(1) < 5) ADD_FAILURE() << "conn " << i << " failed: " << c.status();
        } else {
          conns[i] = std::move(*c);
        }
        dialed.done();
      });
    }
    dialed.wait();
    // Every connection is open now: the second round proves each works
    // while all the others are open too.
    int open = 0;
    for (int i = 0; i < kConns; i++) {
      if (conns[i].fd() < 0) continue;
      open++;
      char b = static_cast<char>(i), r = 0;
      if (!conns[i].write(&b, 1).ok() || !read_full(conns[i], &r, 1).ok() || r != b) {
        failures++;
      }
    }
    EXPECT_EQ(open, kConns);
    for (auto& c : conns) (void)c.close();
  });
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_EQ(failures.load(), 0);
  setrlimit(RLIMIT_NOFILE, &old_rl);
}

// ---- deadlines -----------------------------------------------------------------

// Invariant: a read blocked past its deadline fails with "i/o timeout"
// (DeadlineExceeded), not before the deadline; a deadline in the past fails
// at once; clearing it (TimePoint{}) makes reads work again.
TEST_F(NetTest, ReadDeadline) {
  Watchdog dog("ReadDeadline", 30);
  run([&] {
    Pair p = make_pair();
    char buf[8];
    auto start = time::now();
    ASSERT_TRUE(p.client.set_read_deadline(start + 50ms).ok());
    auto r = p.client.read(buf, sizeof(buf));
    auto elapsed = time::now() - start;
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(is_timeout(r.status())) << r.status();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_NE(r.status().message().find("read tcp 127.0.0.1:"), absl::string_view::npos)
        << r.status();
    EXPECT_GE(elapsed, 50ms);
    // Past deadline: fails without waiting even with data available.
    ASSERT_TRUE(p.server.write("x").ok());
    ASSERT_TRUE(p.client.set_read_deadline(time::now() - 1s).ok());
    r = p.client.read(buf, sizeof(buf));
    EXPECT_TRUE(!r.ok() && is_timeout(r.status())) << r.status();
    // Cleared: the byte is there.
    ASSERT_TRUE(p.client.set_read_deadline(TimePoint{}).ok());
    r = p.client.read(buf, sizeof(buf));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, 1u);
    // A deadline set while the reader is parked wakes it.
    go([&] {
      wait_until([] { return netpoll::waiters() >= 1; });
      (void)p.client.set_deadline(time::now() + 10ms);
    });
    r = p.client.read(buf, sizeof(buf));
    EXPECT_TRUE(!r.ok() && is_timeout(r.status())) << r.status();
  });
}

// Invariant: a write that cannot finish (nobody reads, the socket buffers
// fill) fails with "i/o timeout" at its deadline, and reports how much went
// out: more than nothing, less than everything.
TEST_F(NetTest, WriteDeadlineWithFullSocketBuffer) {
  Watchdog dog("WriteDeadline", 30);
  run([&] {
    Pair p = make_pair();
    std::string big(64 << 20, 'w');  // far beyond both socket buffers
    ASSERT_TRUE(p.client.set_write_deadline(time::now() + 100ms).ok());
    size_t written = 0;
    auto w = p.client.write(big, &written);
    ASSERT_FALSE(w.ok());
    EXPECT_TRUE(is_timeout(w.status())) << w.status();
    EXPECT_NE(w.status().message().find("write tcp "), absl::string_view::npos) << w.status();
    EXPECT_GT(written, 0u);
    EXPECT_LT(written, big.size());
  });
}

// Invariant: accept with nothing to accept fails with "i/o timeout" at the
// listener's deadline.
TEST_F(NetTest, AcceptDeadline) {
  Watchdog dog("AcceptDeadline", 30);
  run([&] {
    auto ln = listen("tcp", "127.0.0.1:0");
    ASSERT_TRUE(ln.ok()) << ln.status();
    auto start = time::now();
    ASSERT_TRUE(ln->set_deadline(start + 50ms).ok());
    auto c = ln->accept();
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(is_timeout(c.status())) << c.status();
    EXPECT_GE(time::now() - start, 50ms);
  });
}

// ---- close ---------------------------------------------------------------------

// Invariant: close() wakes a reader parked in read with "use of closed
// network connection" (FailedPrecondition), and returns only once the fd
// is closed; a second close says the same error.
TEST_F(NetTest, CloseWhileReadingWakesReader) {
  Watchdog dog("CloseWhileReading", 30);
  run([&] {
    Pair p = make_pair();
    Latch done(1);
    absl::Status got;
    go([&] {
      char buf[8];
      got = p.client.read(buf, sizeof(buf)).status();
      done.done();
    });
    ASSERT_TRUE(wait_until([] { return netpoll::waiters() >= 1; }));
    const int fd = p.client.fd();
    ASSERT_TRUE(p.client.close().ok());
    done.wait();
    EXPECT_TRUE(is_closed(got)) << got;
    EXPECT_EQ(got.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "fd still open after close returned";
    EXPECT_EQ(p.client.fd(), -1);
    absl::Status again = p.client.close();
    EXPECT_TRUE(is_closed(again)) << again;
  });
}

// Invariant: closing a listener wakes a goroutine parked in accept with the
// closed error, and accept after close fails the same way at once.
TEST_F(NetTest, AcceptAfterAndDuringClose) {
  Watchdog dog("AcceptAfterClose", 30);
  run([&] {
    auto ln = listen("tcp", "127.0.0.1:0");
    ASSERT_TRUE(ln.ok()) << ln.status();
    const std::string addr = ln->addr().string();
    Latch done(1);
    absl::Status got;
    go([&] {
      got = ln->accept().status();
      done.done();
    });
    ASSERT_TRUE(wait_until([] { return netpoll::waiters() >= 1; }));
    ASSERT_TRUE(ln->close().ok());
    done.wait();
    EXPECT_TRUE(is_closed(got)) << got;
    auto again = ln->accept();
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(is_closed(again.status())) << again.status();
    EXPECT_EQ(again.status().message(),
              "accept tcp " + addr + ": use of closed network connection");
  });
}

// Invariant: every operation on a closed Conn fails with the closed error
// (a default-constructed Conn is closed too), and nothing reaches the peer.
TEST_F(NetTest, UseAfterClose) {
  Watchdog dog("UseAfterClose", 30);
  run([&] {
    Pair p = make_pair();
    ASSERT_TRUE(p.client.close().ok());
    char buf[4];
    EXPECT_TRUE(is_closed(p.client.read(buf, 4).status()));
    size_t written = 99;
    EXPECT_TRUE(is_closed(p.client.write("abc", &written).status()));
    EXPECT_EQ(written, 0u);
    EXPECT_TRUE(is_closed(p.client.close_write()));
    EXPECT_TRUE(is_closed(p.client.set_deadline(time::now())));
    // The peer sees EOF, not data.
    auto r = p.server.read(buf, 4);
    EXPECT_TRUE(!r.ok() && is_eof(r.status())) << r.status();
    Conn none;
    EXPECT_TRUE(is_closed(none.read(buf, 4).status()));
    EXPECT_TRUE(is_closed(none.close()));
  });
}

// ---- half-close ----------------------------------------------------------------

// Invariant: after close_write the peer reads everything sent, then EOF,
// and can still write back to the half-closed side, which reads it.
TEST_F(NetTest, HalfClose) {
  Watchdog dog("HalfClose", 30);
  run([&] {
    Pair p = make_pair();
    ASSERT_TRUE(p.client.write("hello").ok());
    ASSERT_TRUE(p.client.close_write().ok());
    std::string got;
    ASSERT_TRUE(read_all(p.server, &got).ok());
    EXPECT_EQ(got, "hello");
    ASSERT_TRUE(p.server.write("world").ok());
    ASSERT_TRUE(p.server.close().ok());
    std::string back;
    ASSERT_TRUE(read_all(p.client, &back).ok());
    EXPECT_EQ(back, "world");
    // Writing after close_write fails (EPIPE, never SIGPIPE).
    auto w = p.client.write("x");
    EXPECT_FALSE(w.ok());
    EXPECT_NE(w.status().message().find("broken pipe"), absl::string_view::npos) << w.status();
  });
}

// ---- dial errors ---------------------------------------------------------------

// Invariant: dialling a port nobody listens on fails with Go's text and
// Unavailable; a dial to a listening port with a timeout works.
TEST_F(NetTest, ConnectionRefused) {
  Watchdog dog("ConnectionRefused", 30);
  run([&] {
    std::string addr;
    {
      auto ln = listen("tcp4", "127.0.0.1:0");
      ASSERT_TRUE(ln.ok()) << ln.status();
      addr = ln->addr().string();
    }  // closed: the port is free now
    auto c = dial("tcp", addr, 5s);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(c.status().message(), "dial tcp " + addr + ": connect: connection refused");
    // Errors name the network as the caller did, as Go's OpError does.
    c = dial("tcp4", addr);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().message(), "dial tcp4 " + addr + ": connect: connection refused");
  });
}

// Invariant: a dial whose connection cannot complete (the listener's accept
// queue is full, so the kernel drops the SYN) fails with "dial tcp a: i/o
// timeout" at its timeout and not before; a timeout that has already
// passed fails before connecting. Neither leaves an fd behind.
TEST_F(NetTest, DialTimeout) {
  Watchdog dog("DialTimeout", 30);
  // A listener with backlog 0 (Linux queues one connection, drops the
  // next SYN), made by hand: gort's listen uses somaxconn.
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  socklen_t len = sizeof(sin);
  ASSERT_EQ(getsockname(lfd, reinterpret_cast<sockaddr*>(&sin), &len), 0);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
  run([&] {
    auto past = dial("tcp", addr, 1ns);
    ASSERT_FALSE(past.ok());
    EXPECT_TRUE(is_timeout(past.status())) << past.status();
    // Fill the accept queue (one connection, never accepted).
    std::vector<Conn> queued;
    absl::Status last;
    auto start = time::now();
    for (int i = 0; i < 8; i++) {
      auto c = dial("tcp", addr, 200ms);
      if (!c.ok()) {
        last = c.status();
        break;
      }
      queued.push_back(std::move(*c));
      start = time::now();
    }
    ASSERT_FALSE(last.ok()) << "every dial connected: the accept queue never filled";
    EXPECT_TRUE(is_timeout(last)) << last;
    EXPECT_EQ(last.message(), "dial tcp " + addr + ": i/o timeout");
    EXPECT_GE(time::now() - start, 200ms);
  });
  close(lfd);
}

// Invariant: malformed addresses and networks fail with InvalidArgument
// naming the address (or network) in Go's words, before any socket exists.
TEST_F(NetTest, BadAddresses) {
  Watchdog dog("BadAddresses", 30);
  run([&] {
    struct Case {
      const char* network;
      const char* address;
      const char* want;
    } cases[] = {
        {"tcp", "foo", "dial tcp: address foo: missing port in address"},
        {"tcp", "1.2.3.4", "dial tcp: address 1.2.3.4: missing port in address"},
        {"tcp", "a:b:c", "dial tcp: address a:b:c: too many colons in address"},
        {"tcp", "[::1:80", "dial tcp: address [::1:80: missing ']' in address"},
        {"tcp", "127.0.0.1:99999", "dial tcp: address 127.0.0.1:99999: invalid port"},
        {"tcp", "127.0.0.1:http", "dial tcp: address 127.0.0.1:http: invalid port"},
        {"tcp4", "[::1]:80", "dial tcp4: address [::1]:80: no suitable address found"},
        {"tcp6", "127.0.0.1:80", "dial tcp6: address 127.0.0.1:80: no suitable address found"},
        {"udp", "127.0.0.1:80", "dial udp: unknown network udp"},
    };
    for (const Case& k : cases) {
      auto c = dial(k.network, k.address);
      ASSERT_FALSE(c.ok()) << k.address;
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << k.address;
      EXPECT_EQ(c.status().message(), k.want);
    }
    auto l = listen("tcp", "nope");
    ASSERT_FALSE(l.ok());
    EXPECT_EQ(l.status().message(), "listen tcp: address nope: missing port in address");
    std::string long_path(200, 'p');
    l = listen("unix", long_path);
    ASSERT_FALSE(l.ok());
    EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(l.status().message().find(long_path), absl::string_view::npos);
  });
}

// ---- EMFILE --------------------------------------------------------------------

// Invariant: accept when the process is out of fds returns the error at
// once (ResourceExhausted, "too many open files") instead of spinning or
// waiting; once fds are available again the same pending connection is
// accepted.
TEST_F(NetTest, AcceptUnderEmfileReturnsAtOnce) {
  Watchdog dog("AcceptUnderEmfile", 30);
  struct rlimit old_rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old_rl), 0);
  run([&] {
    Pair p = make_pair();
    auto c = dial("tcp", p.ln.addr().string());
    ASSERT_TRUE(c.ok());
    // The lowest free fd number: with the limit there, accept4 has none.
    int lowest = dup(0);
    ASSERT_GE(lowest, 0);
    close(lowest);
    struct rlimit rl = old_rl;
    rl.rlim_cur = static_cast<rlim_t>(lowest);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    auto a = p.ln.accept();
    setrlimit(RLIMIT_NOFILE, &old_rl);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), absl::StatusCode::kResourceExhausted) << a.status();
    EXPECT_NE(a.status().message().find("accept: too many open files"), absl::string_view::npos)
        << a.status();
    auto b = p.ln.accept();
    EXPECT_TRUE(b.ok()) << b.status();
  });
}

// ---- partial reads and writes ----------------------------------------------------

// Invariant: with random write sizes on one side and random read sizes on
// the other (and random yields on both), the bytes arrive complete and in
// order on several connections at once, both directions.
TEST_F(NetTest, RandomPartialReadsAndWritesLoseNoByte) {
  Watchdog dog("RandomPartial", 90);
  const int kConns = static_cast<int>(scaled(6, 4, 2));
  const size_t kBytes = static_cast<size_t>(scaled(4 << 20, 1 << 20, 256 << 10));
  const uint64_t seed = static_cast<uint64_t>(sys::nanotime());
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::atomic<int> failures{0};
  run([&] {
    Latch done(2 * kConns * 2);  // per conn: 2 directions x (writer, reader)
    std::vector<Pair> pairs;
    for (int i = 0; i < kConns; i++) pairs.push_back(make_pair());
    std::vector<Checksum> sent(2 * kConns), got(2 * kConns);
    for (int i = 0; i < 2 * kConns; i++) {
      Conn* from = i % 2 == 0 ? &pairs[i / 2].client : &pairs[i / 2].server;
      Conn* to = i % 2 == 0 ? &pairs[i / 2].server : &pairs[i / 2].client;
      go([&, i, from] {
        std::mt19937_64 rng(seed + 2 * i);
        std::vector<char> buf(96 << 10);
        size_t left = kBytes;
        while (left > 0) {
          size_t n = std::min<size_t>(left, 1 + rng() % buf.size());
          for (size_t k = 0; k < n; k++) buf[k] = static_cast<char>(rng());
          sent[i].add(buf.data(), n);
          if (!from->write(buf.data(), n).ok()) {
            failures++;
            break;
          }
          left -= n;
          if (rng() % 8 == 0) yield();
        }
        if (!from->close_write().ok()) failures++;
        done.done();
      });
      go([&, i, to] {
        std::mt19937_64 rng(seed + 2 * i + 1);
        std::vector<char> buf(80 << 10);
        for (;;) {
          size_t n = 1 + rng() % buf.size();
          auto r = to->read(buf.data(), n);
          if (!r.ok()) {
            if (!is_eof(r.status())) failures++;
            break;
          }
          if (*r > n) failures++;
          got[i].add(buf.data(), *r);
          if (rng() % 8 == 0) yield();
        }
        done.done();
      });
    }
    done.wait();
    for (int i = 0; i < 2 * kConns; i++) {
      EXPECT_EQ(got[i].bytes, kBytes) << "stream " << i;
      EXPECT_EQ(got[i].h, sent[i].h) << "stream " << i;
    }
  });
  EXPECT_EQ(failures.load(), 0);
}

// ---- the fdMutex -----------------------------------------------------------------

// Invariant (Go's fdMutex protocol): references and direction locks fail
// once closed; the last reference of a closed mutex, and only it, reports
// that the fd must be destroyed; a waiter queued for a lock is woken by
// close and fails.
TEST_F(NetTest, FdMutexProtocol) {
  Watchdog dog("FdMutexProtocol", 30);
  run([&] {
    netpoll::FdMutex mu;
    ASSERT_TRUE(mu.incref());
    ASSERT_TRUE(mu.rwlock(true));
    ASSERT_TRUE(mu.rwlock(false));  // the other direction is independent
    EXPECT_FALSE(mu.decref());      // not closed: never "destroy"
    Latch queued(1);
    bool second_reader_got = true;
    go([&] {
      second_reader_got = mu.rwlock(true);  // queues behind the holder
      queued.done();
    });
    ASSERT_TRUE(wait_until([&] { return (mu.state() >> 23) & ((1u << 20) - 1); }));
    ASSERT_TRUE(mu.incref_and_close());
    queued.wait();
    EXPECT_FALSE(second_reader_got) << "a queued reader must fail once closed";
    EXPECT_FALSE(mu.incref_and_close());
    EXPECT_FALSE(mu.incref());
    EXPECT_FALSE(mu.rwlock(false));
    EXPECT_FALSE(mu.rwunlock(true));  // references left: the writer, close
    EXPECT_FALSE(mu.rwunlock(false));
    EXPECT_TRUE(mu.decref());  // the closer's, the last: destroy now
  });
}

// Invariant: writes on one Conn are serialised and each writes everything:
// several goroutines writing 32 KiB records at once (each needing several
// partial send calls once the socket buffer fills) never interleave on the
// wire, and every record arrives.
TEST_F(NetTest, ConcurrentWritersNeverInterleave) {
  Watchdog dog("ConcurrentWriters", 60);
  constexpr int kWriters = 8;
  constexpr size_t kWords = (32 << 10) / 8;
  const int kRecords = static_cast<int>(scaled(64, 32, 16));
  std::atomic<int> failures{0};
  run([&] {
    Pair p = make_pair();
    Latch done(kWriters);
    for (int w = 0; w < kWriters; w++) {
      go([&, w] {
        std::vector<uint64_t> rec(kWords);
        for (int i = 0; i < kRecords; i++) {
          std::fill(rec.begin(), rec.end(), (uint64_t{static_cast<uint32_t>(w)} << 32) | i);
          if (!p.client.write(rec.data(), rec.size() * 8).ok()) failures++;
        }
        done.done();
      });
    }
    go([&] {
      done.wait();
      (void)p.client.close_write();
    });
    std::vector<int> next(kWriters, 0);
    std::vector<uint64_t> rec(kWords);
    int records = 0;
    for (;;) {
      absl::Status s = read_full(p.server, rec.data(), rec.size() * 8);
      if (!s.ok()) {
        EXPECT_TRUE(is_eof(s)) << s;
        break;
      }
      records++;
      const bool uniform = std::all_of(rec.begin(), rec.end(), [&](uint64_t v) { return v == rec[0]; });
      ASSERT_TRUE(uniform) << "record " << records << " interleaves two writers";
      const uint32_t w = static_cast<uint32_t>(rec[0] >> 32);
      ASSERT_LT(w, static_cast<uint32_t>(kWriters));
      EXPECT_EQ(static_cast<int>(rec[0] & 0xffffffff), next[w]++) << "writer " << w;
    }
    EXPECT_EQ(records, kWriters * kRecords);
  });
  EXPECT_EQ(failures.load(), 0);
}

// ---- unix sockets ------------------------------------------------------------------

// Invariant: a unix listener echoes like TCP, names its path as its
// address, and removes the socket file on close; the abstract namespace
// ("@name") works and leaves no file.
TEST_F(NetTest, UnixSockets) {
  Watchdog dog("UnixSockets", 30);
  // Not under TEST_TMPDIR: Bazel's sandbox paths exceed sun_path's 108 bytes.
  std::string path = "/tmp/gort-net-test-" + std::to_string(getpid()) + ".sock";
  std::string abstract = "@gort-net-test-" + std::to_string(getpid());
  run([&] {
    for (const std::string& a : {path, abstract}) {
      auto ln = listen("unix", a);
      ASSERT_TRUE(ln.ok()) << ln.status();
      EXPECT_EQ(ln->addr().network, "unix");
      EXPECT_EQ(ln->addr().string(), a);
      Latch done(1);
      go([&] {
        auto s = ln->accept();
        EXPECT_TRUE(s.ok()) << s.status();
        if (s.ok()) {
          EXPECT_TRUE(echo(*s).ok());
        }
        done.done();
      });
      auto c = dial("unix", a);
      ASSERT_TRUE(c.ok()) << c.status();
      EXPECT_EQ(c->remote_addr().string(), a);
      ASSERT_TRUE(c->write("over unix").ok());
      ASSERT_TRUE(c->close_write().ok());
      std::string back;
      ASSERT_TRUE(read_all(*c, &back).ok());
      EXPECT_EQ(back, "over unix");
      done.wait();
      // A second listener on a live path fails: the file is in use.
      if (a[0] != '@') {
        auto dup_ln = listen("unix", a);
        EXPECT_FALSE(dup_ln.ok());
      }
      ASSERT_TRUE(ln->close().ok());
      struct stat st;
      if (a[0] != '@') {
        EXPECT_NE(stat(a.c_str(), &st), 0) << "socket file not removed";
      }
    }
    auto c = dial("unix", path);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().message(),
              "dial unix " + path + ": connect: no such file or directory");
  });
}

// ---- addresses -----------------------------------------------------------------------

// Invariant: addresses print as Go prints them: a dual-stack "tcp"
// listener on ":0" is [::]:port and accepts IPv4 clients, whose addresses
// print as IPv4; localhost resolves to the loopback; IPv6 literals dial.
TEST_F(NetTest, AddressForms) {
  Watchdog dog("AddressForms", 30);
  run([&] {
    auto ln = listen("tcp", ":0");
    ASSERT_TRUE(ln.ok()) << ln.status();
    EXPECT_EQ(ln->addr().string(), "[::]:" + std::to_string(ln->addr().port));
    const std::string port = std::to_string(ln->addr().port);
    for (const std::string& a : {"127.0.0.1:" + port, "localhost:" + port, ":" + port,
                                 "[::1]:" + port}) {
      auto c = dial("tcp", a);
      ASSERT_TRUE(c.ok()) << a << ": " << c.status();
      auto s = ln->accept();
      ASSERT_TRUE(s.ok()) << s.status();
      EXPECT_EQ(s->remote_addr().string(), c->local_addr().string()) << a;
      EXPECT_EQ(c->remote_addr().string(), s->local_addr().string()) << a;
      EXPECT_EQ(c->remote_addr().port, ln->addr().port);
      if (a[0] != '[') {
        EXPECT_EQ(c->remote_addr().string(), "127.0.0.1:" + port);
      }
    }
  });
}

// ---- plain threads ---------------------------------------------------------------------

// Invariant: the API works from std::threads that are not goroutines: the
// calls block the thread, deadlines fire, and close from another thread
// wakes a thread blocked in read.
TEST_F(NetTest, FromPlainThreads) {
  Watchdog dog("FromPlainThreads", 30);
  auto ln = listen("tcp", "127.0.0.1:0");
  ASSERT_TRUE(ln.ok()) << ln.status();
  std::string server_got;
  Conn server_conn;
  std::thread server([&] {
    auto s = ln->accept();
    ASSERT_TRUE(s.ok()) << s.status();
    char buf[5];
    ASSERT_TRUE(read_full(*s, buf, 5).ok());
    server_got.assign(buf, 5);
    ASSERT_TRUE(s->write("pong!").ok());
    server_conn = std::move(*s);
  });
  auto c = dial("tcp", ln->addr().string());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->write("ping!").ok());
  char buf[5];
  ASSERT_TRUE(read_full(*c, buf, 5).ok());
  server.join();
  EXPECT_EQ(server_got, "ping!");
  EXPECT_EQ(std::string(buf, 5), "pong!");
  // A deadline on a thread.
  ASSERT_TRUE(c->set_read_deadline(time::now() + 20ms).ok());
  auto r = c->read(buf, 5);
  EXPECT_TRUE(!r.ok() && is_timeout(r.status())) << r.status();
  ASSERT_TRUE(c->set_read_deadline(TimePoint{}).ok());
  // Close from another thread wakes this one.
  std::thread closer([&] {
    ASSERT_TRUE(wait_until([] { return netpoll::waiters() >= 1; }, /*on_goroutine=*/false));
    EXPECT_TRUE(c->close().ok());
  });
  r = c->read(buf, 5);
  closer.join();
  EXPECT_TRUE(!r.ok() && is_closed(r.status())) << r.status();
  EXPECT_TRUE(server_conn.close().ok());
  EXPECT_TRUE(ln->close().ok());
}

}  // namespace
}  // namespace gort::net

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--net-echo-child") == 0) {
    return gort::net::echo_child_main(std::atoi(argv[2]));
  }
  ::testing::InitGoogleTest(&argc, argv);
  // The poller's own fds (epoll, eventfd) are made on first use; make them
  // now so that the per-test fd count sees only the test's.
  gort::run([] {
    auto ln = gort::net::listen("tcp", "127.0.0.1:0");
    GORT_CHECK(ln.ok());
  });
  return RUN_ALL_TESTS();
}
