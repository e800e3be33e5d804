// The `accept` workload: 4 client goroutines dial a loopback TCP listener
// and close each connection at once, 10000 connections in all, while one
// server goroutine accepts and closes each; connections per second. The Go
// twin is bench/go/accept/main.go, the same program on Go's net package.
//
// Each connection is a socket, a non-blocking connect (EINPROGRESS, a wait
// for writability, SO_ERROR), an accept4 (parking in IO wait when the
// backlog is empty), and two closes: the connection setup and teardown
// path of the poller (register, evict, unregister, pollDesc reuse), not its
// data path. The clock runs from the first dial to the last accept.
#include <cstdint>

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

absl::StatusOr<Result> run_accept(const WorkloadArgs& args, std::FILE* out) {
  const int64_t conns = args.get("conns");
  const int64_t dialers = args.get("dialers");
  absl::Status failure;
  int64_t accepted = 0;
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
    const std::string addr = ln->addr().string();
    int64_t start = sys::nanotime();
    Join server;
    server.add();
    gort::go([&] {
      while (accepted < conns) {
        auto c = ln->accept();
        if (!c.ok()) {
          err.set(c.status());  // closed by main after a dial failed
          break;
        }
        (void)c->close();
        ++accepted;
      }
      server.done();
    });
    Join clients;
    for (int64_t d = 0; d < dialers; ++d) {
      int64_t share = conns / dialers + (d < conns % dialers ? 1 : 0);
      clients.add();
      gort::go([&, share] {
        for (int64_t i = 0; i < share; ++i) {
          auto c = net::dial("tcp", addr);
          if (!c.ok()) {
            err.set(c.status());
            break;
          }
          (void)c->close();
        }
        clients.done();
      });
    }
    clients.wait();
    // A dial failed: fewer connections come than the server waits for.
    if (err.claimed()) (void)ln->close();
    server.wait();
    nanos = sys::nanotime() - start;
    (void)ln->close();
    failure = err.get();
  });
  if (!failure.ok()) return failure;
  double secs = static_cast<double>(nanos) / 1e9;
  fmt::print(out,
             "accept: {} connections dialled by {} goroutines, accepted and "
             "closed in {:.3f} s (GOMAXPROCS={})\n",
             accepted, dialers, secs, procs);
  return Result{static_cast<double>(accepted) / secs, "conns/s"};
}

const Registrar registrar(Workload{
    .name = "accept",
    .description = "4 goroutines dial and close 10000 loopback TCP "
                   "connections that one goroutine accepts and closes; "
                   "connections per second",
    .options = {{.name = "conns",
                 .help = "connections to make and accept",
                 .default_value = 10000,
                 .min_value = 1},
                {.name = "dialers",
                 .help = "client goroutines dialling at once",
                 .default_value = 4,
                 .min_value = 1,
                 .max_value = 1000}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_accept,
});

}  // namespace
}  // namespace gort::cli
