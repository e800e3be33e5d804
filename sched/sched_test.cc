#include "sched/sched.h"

#include <gtest/gtest.h>

#include <atomic>

namespace gort {
namespace {

TEST(SchedTest, RunReturnsValue) {
  EXPECT_EQ(run([] { return 7; }), 7);
  int x = 0;
  EXPECT_EQ(run([&] { x = 3; }), 0);
  EXPECT_EQ(x, 3);
}

TEST(SchedTest, GoAndYield) {
  std::atomic<int> n{0};
  run([&] {
    for (int i = 0; i < 100; i++) go([&] { n.fetch_add(1); });
    while (n.load() < 100) yield();
  });
  EXPECT_EQ(n.load(), 100);
}

}  // namespace
}  // namespace gort
