// The public header alone is enough for DESIGN.md's first example.
#include "gort.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
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

}  // namespace
