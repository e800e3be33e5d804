// Benchmarks of the poller under the net API, the same shapes as `gort run
// echo|accept|stream` and their Go twins in bench/go:
//
//   BM_EchoRoundTrip  one loopback TCP connection; a client goroutine
//                     writes 64 bytes, a server goroutine reads and writes
//                     them back; time per round trip (two parks, two
//                     epoll wake-ups)
//   BM_Accept         dial + accept + two closes per iteration, one dialler
//                     goroutine and one acceptor; time per connection
//   BM_Stream         64 KiB writes over one connection to a reader
//                     goroutine that drains it; bytes per second
//
// Each benchmark function calls gort::run once and iterates inside the main
// goroutine; the first argument is GOMAXPROCS.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "netpoll/net.h"
#include "sched/sched.h"
#include "sched/sema.h"

namespace gort::net {
namespace {

// Runs body() as the main goroutine with GOMAXPROCS = procs.
template <typename F>
void run_on(int procs, F body) {
  gort::run([&] {
    int prev = gort::gomaxprocs(procs);
    body();
    gort::gomaxprocs(prev);
  });
}

bool read_full(Conn& c, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    auto r = c.read(buf + got, n - got);
    if (!r.ok()) return false;
    got += *r;
  }
  return true;
}

// A listener on 127.0.0.1 and one connection to it: {client, server}.
bool connect_pair(Listener* ln, Conn* client, Conn* server,
                  benchmark::State& state) {
  auto l = listen("tcp", "127.0.0.1:0");
  if (!l.ok()) {
    state.SkipWithError(std::string(l.status().message()).c_str());
    return false;
  }
  auto c = dial("tcp", l->addr().string());
  auto s = l->accept();
  if (!c.ok() || !s.ok()) {
    state.SkipWithError("dial or accept failed");
    return false;
  }
  *ln = std::move(*l);
  *client = std::move(*c);
  *server = std::move(*s);
  return true;
}

void BM_EchoRoundTrip(benchmark::State& state) {
  constexpr size_t kSize = 64;
  run_on(static_cast<int>(state.range(0)), [&] {
    Listener ln;
    Conn client, server;
    if (!connect_pair(&ln, &client, &server, state)) return;
    uint32_t done = 0;
    gort::go([&] {
      char buf[kSize];
      while (read_full(server, buf, kSize)) {
        if (!server.write(buf, kSize).ok()) break;
      }
      sched::semrelease(&done, false);
    });
    char msg[kSize] = {1, 2, 3};
    char buf[kSize];
    for (auto _ : state) {
      if (!client.write(msg, kSize).ok() || !read_full(client, buf, kSize)) {
        state.SkipWithError("echo failed");
        break;
      }
    }
    (void)client.close();  // the server reads EOF and leaves
    sched::semacquire(&done, false);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EchoRoundTrip)->Arg(1)->Arg(2)->UseRealTime();

void BM_Accept(benchmark::State& state) {
  run_on(static_cast<int>(state.range(0)), [&] {
    auto ln = listen("tcp", "127.0.0.1:0");
    if (!ln.ok()) {
      state.SkipWithError("listen failed");
      return;
    }
    uint32_t done = 0;
    gort::go([&] {
      for (;;) {
        auto c = ln->accept();
        if (!c.ok()) break;  // closed
        (void)c->close();
      }
      sched::semrelease(&done, false);
    });
    const std::string addr = ln->addr().string();
    for (auto _ : state) {
      auto c = dial("tcp", addr);
      if (!c.ok()) {
        state.SkipWithError(std::string(c.status().message()).c_str());
        break;
      }
      (void)c->close();
    }
    (void)ln->close();
    sched::semacquire(&done, false);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Accept)->Arg(1)->Arg(2)->UseRealTime();

void BM_Stream(benchmark::State& state) {
  constexpr size_t kChunk = 64 << 10;
  run_on(static_cast<int>(state.range(0)), [&] {
    Listener ln;
    Conn client, server;
    if (!connect_pair(&ln, &client, &server, state)) return;
    uint32_t done = 0;
    gort::go([&] {
      std::vector<char> buf(kChunk);
      for (;;) {
        if (!server.read(buf.data(), buf.size()).ok()) break;  // EOF
      }
      sched::semrelease(&done, false);
    });
    std::vector<char> buf(kChunk, 'x');
    for (auto _ : state) {
      if (!client.write(buf.data(), buf.size()).ok()) {
        state.SkipWithError("write failed");
        break;
      }
    }
    (void)client.close_write();
    sched::semacquire(&done, false);
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kChunk));
}
BENCHMARK(BM_Stream)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace gort::net
