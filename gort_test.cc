// The public header alone is enough for DESIGN.md's first example.
#include "gort.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Invariant: a producer goroutine's values arrive in order through a
// buffered channel, range-for ends at close, and select picks the ready
// case over default.
TEST(GortTest, DesignExample) {
  std::vector<int> got;
  int picked = -1;
  int rc = gort::run([&] {
    auto c = gort::make_chan<int>(16);
    gort::go([c]() mutable {
      for (int i = 0; i < 3; ++i) c.send(i);
      c.close();
    });
    for (int v : c) got.push_back(v);
    auto d = gort::make_chan<int>(1);
    d.send(7);
    gort::select(gort::on_recv(d, [&](int v, bool ok) { picked = ok ? v : -2; }),
                 gort::on_default([&] { picked = -3; }));
    return 5;
  });
  EXPECT_EQ(rc, 5);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(picked, 7);
}

// Invariant: the whole API through the one header: goroutines joined by a
// WaitGroup, a Mutex-guarded sum, and a sleep that is not early.
TEST(GortTest, SyncxAndTimeThroughOneHeader) {
  int64_t sum = 0;
  std::chrono::nanoseconds slept{0};
  gort::run([&] {
    gort::syncx::WaitGroup wg;
    gort::syncx::Mutex mu;
    for (int i = 1; i <= 100; ++i) {
      wg.add(1);
      gort::go([&, i] {
        std::lock_guard<gort::syncx::Mutex> l(mu);
        sum += i;
        wg.done();
      });
    }
    wg.wait();
    auto t0 = std::chrono::steady_clock::now();
    gort::time::sleep(std::chrono::milliseconds(5));
    slept = std::chrono::steady_clock::now() - t0;
  });
  EXPECT_EQ(sum, 5050);
  EXPECT_GE(slept, std::chrono::milliseconds(5));
}

// The network and files through the same header: a loopback echo and a
// pipe, from goroutines.
TEST(GortTest, NetAndOsThroughOneHeader) {
  std::string echoed, piped;
  gort::run([&] {
    absl::StatusOr<gort::net::Listener> l = gort::net::listen("tcp", "127.0.0.1:0");
    ASSERT_TRUE(l.ok()) << l.status();
    gort::syncx::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      absl::StatusOr<gort::net::Conn> c = l->accept();
      ASSERT_TRUE(c.ok()) << c.status();
      char buf[5];
      ASSERT_TRUE(c->read(buf, 5).ok());
      ASSERT_TRUE(c->write(buf, 5).ok());
      wg.done();
    });
    absl::StatusOr<gort::net::Conn> c =
        gort::net::dial("tcp", l->addr().string(), std::chrono::seconds(5));
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->write(std::string_view("hello")).ok());
    char buf[5];
    size_t got = 0;
    while (got < 5) {
      absl::StatusOr<size_t> n = c->read(buf + got, 5 - got);
      ASSERT_TRUE(n.ok()) << n.status();
      got += *n;
    }
    echoed.assign(buf, 5);
    wg.wait();
    auto p = gort::os::pipe();
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_TRUE(p->second.write(std::string_view("pipe")).ok());
    char pb[4];
    absl::StatusOr<size_t> n = p->first.read(pb, 4);
    ASSERT_TRUE(n.ok()) << n.status();
    piped.assign(pb, *n);
  });
  EXPECT_EQ(echoed, "hello");
  EXPECT_EQ(piped, "pipe");
}

}  // namespace
