// The `stream` workload: one goroutine writes 1 GiB over one loopback TCP
// connection in 64 KiB writes while another reads it in 64 KiB reads;
// MB/s (10^6 bytes per second). The Go twin is bench/go/stream/main.go,
// the same program on Go's net package.
//
// The clock runs from the first write until the reader has seen EOF (the
// writer shuts down its write side after the last byte) and reported its
// count, which must be every byte. Throughput is bounded by the kernel's
// copies; what the runtime adds is the cost of each write and read, of the
// parks when a socket buffer is full or empty, and of the wake-ups through
// epoll, so a slow poller shows here as lost MB/s.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "cli/workloads/join.h"
#include "fmt/format.h"
#include "netpoll/net.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_stream(const WorkloadArgs& args, std::FILE* out) {
  const int64_t mib = args.get("mib");
  const size_t chunk = static_cast<size_t>(args.get("chunk"));
  const int64_t total = mib << 20;
  absl::Status failure;
  int64_t received = 0;
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    auto ln = net::listen("tcp", "127.0.0.1:0");
    if (!ln.ok()) {
      failure = ln.status();
      return;
    }
    absl::Status read_error;
    Join reader;
    reader.add();
    gort::go([&] {
      auto c = ln->accept();
      if (!c.ok()) {
        read_error = c.status();
        reader.done();
        return;
      }
      std::vector<char> buf(chunk);
      for (;;) {
        auto n = c->read(buf.data(), buf.size());
        if (!n.ok()) {
          if (!net::is_eof(n.status())) read_error = n.status();
          break;
        }
        received += static_cast<int64_t>(*n);
      }
      (void)c->close();
      reader.done();
    });
    auto c = net::dial("tcp", ln->addr().string());
    if (!c.ok()) {
      failure = c.status();
      (void)ln->close();
      reader.wait();
      return;
    }
    std::vector<char> buf(chunk);
    for (size_t i = 0; i < chunk; ++i) buf[i] = static_cast<char>(i);
    int64_t start = sys::nanotime();
    for (int64_t sent = 0; sent < total;) {
      size_t w = static_cast<size_t>(std::min<int64_t>(chunk, total - sent));
      if (auto r = c->write(buf.data(), w); !r.ok()) {
        failure = r.status();
        break;
      }
      sent += static_cast<int64_t>(w);
    }
    (void)c->close_write();
    reader.wait();
    nanos = sys::nanotime() - start;
    (void)c->close();
    (void)ln->close();
    if (failure.ok()) failure = read_error;
  });
  if (!failure.ok()) return failure;
  if (received != total) {
    return absl::DataLossError(
        fmt::format("stream: received {} bytes of {}", received, total));
  }
  double secs = static_cast<double>(nanos) / 1e9;
  fmt::print(out,
             "stream: {} MiB over one loopback TCP connection in {}-byte "
             "writes in {:.3f} s (GOMAXPROCS={})\n",
             mib, chunk, secs, procs);
  return Result{static_cast<double>(received) / secs / 1e6, "MB/s"};
}

const Registrar registrar(Workload{
    .name = "stream",
    .description = "1 GiB over one loopback TCP connection in 64 KiB "
                   "writes and reads; MB/s",
    .options = {{.name = "mib",
                 .help = "MiB to send",
                 .default_value = 1024,
                 .min_value = 1,
                 .max_value = 1 << 20},
                {.name = "chunk",
                 .help = "bytes per write and per read",
                 .default_value = 65536,
                 .min_value = 1,
                 .max_value = 64 << 20}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_stream,
});

}  // namespace
}  // namespace gort::cli
