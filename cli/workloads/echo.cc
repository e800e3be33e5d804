// The `echo` workload: 100 TCP connections over loopback, each a client
// goroutine and a server goroutine playing ping-pong with a 64-byte message
// for 3 s; messages (round trips) per second. The Go twin is
// bench/go/echo/main.go, the same program on Go's net package.
//
// A message is one round trip: the client writes 64 bytes, the server reads
// all 64 and writes them back, the client reads all 64. Every client is
// connected before the clock starts; the clients stop at the first round
// trip that begins after the main goroutine's sleep ends, then close, and
// the servers see EOF and exit. What it measures is the poller and the
// scheduler under many small parks: every read that finds nothing parks its
// goroutine in IO wait and every write readies the peer's through epoll.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "cli/workloads/net_util.h"
#include "fmt/format.h"
#include "netpoll/net.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_echo(const WorkloadArgs& args, std::FILE* out) {
  const int64_t conns = args.get("conns");
  const size_t size = static_cast<size_t>(args.get("size"));
  const int64_t ms = args.get("ms");
  absl::Status failure;
  std::atomic<int64_t> total{0};
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    FirstError err;
    auto ln = net::listen("tcp", "127.0.0.1:0");
    if (!ln.ok()) {
      failure = ln.status();
      return;
    }
    Join servers;
    Join acceptor;
    acceptor.add();
    gort::go([&] {
      for (;;) {
        auto c = ln->accept();
        if (!c.ok()) break;  // closed
        servers.add();
        gort::go([&, c = std::move(*c)]() mutable {
          std::vector<char> buf(size);
          for (;;) {
            if (!read_full(c, buf.data(), size).ok()) break;  // EOF: done
            if (!c.write(buf.data(), size).ok()) break;
          }
          (void)c.close();
          servers.done();
        });
      }
      acceptor.done();
    });
    std::vector<net::Conn> cs;
    cs.reserve(static_cast<size_t>(conns));
    for (int64_t i = 0; i < conns; ++i) {
      auto c = net::dial("tcp", ln->addr().string());
      if (!c.ok()) {
        err.set(c.status());
        break;
      }
      cs.push_back(std::move(*c));
    }
    std::atomic<bool> stop{false};
    Join clients;
    int64_t start = sys::nanotime();
    for (net::Conn& c : cs) {
      clients.add();
      gort::go([&] {
        std::vector<char> msg(size), buf(size);
        for (size_t i = 0; i < size; ++i) msg[i] = static_cast<char>(i);
        int64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          if (auto w = c.write(msg.data(), size); !w.ok()) {
            err.set(w.status());
            break;
          }
          if (auto r = read_full(c, buf.data(), size); !r.ok()) {
            err.set(r);
            break;
          }
          ++n;
        }
        total.fetch_add(n, std::memory_order_relaxed);
        (void)c.close();
        clients.done();
      });
    }
    if (!cs.empty()) gort::time::sleep(std::chrono::milliseconds(ms));
    stop.store(true, std::memory_order_relaxed);
    clients.wait();
    nanos = sys::nanotime() - start;
    (void)ln->close();
    acceptor.wait();
    servers.wait();
    failure = err.get();
  });
  if (!failure.ok()) return failure;
  double secs = static_cast<double>(nanos) / 1e9;
  int64_t n = total.load();
  fmt::print(out,
             "echo: {} connections x {}-byte ping-pong over loopback: {} "
             "round trips in {:.3f} s (GOMAXPROCS={})\n",
             conns, size, n, secs, procs);
  return Result{static_cast<double>(n) / secs, "msgs/s"};
}

const Registrar registrar(Workload{
    .name = "echo",
    .description = "100 loopback TCP connections ping-pong 64-byte messages "
                   "for 3 s; round trips per second",
    .options = {{.name = "conns",
                 .help = "connections, each a client and a server goroutine",
                 .default_value = 100,
                 .min_value = 1,
                 .max_value = 5000},
                {.name = "size",
                 .help = "message bytes",
                 .default_value = 64,
                 .min_value = 1,
                 .max_value = 1 << 20},
                {.name = "ms",
                 .help = "how long the clients send, in ms",
                 .default_value = 3000,
                 .min_value = 1}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_echo,
});

}  // namespace
}  // namespace gort::cli
