// MemStats' StackInuse and StackSys include the goroutine stacks: parking
// N goroutines raises StackInuse by at least N stacks (each holds one until
// it exits), StackSys covers StackInuse, and Sys covers StackSys.
#include <gtest/gtest.h>

#include "mem/mem.h"
#include "sched/sched.h"
#include "sched/sema.h"
#include "sched/stack.h"
#include "sched/test_util.h"

namespace gort::sched {
namespace {

TEST(StackMemStats, ParkedGoroutinesShowInStackInuse) {
  constexpr int kN = 500;
  gort::run([] {
    mem::MemStats before = mem::read_mem_stats();
    uint32_t release = 0;
    testing::Latch started(kN), exited(kN);
    for (int i = 0; i < kN; i++) {
      go([&] {
        started.done();
        semacquire(&release, false);
        exited.done();
      });
    }
    started.wait();
    mem::MemStats during = mem::read_mem_stats();
    EXPECT_GE(during.stack_inuse, before.stack_inuse + kN * kDefaultStackSize);
    EXPECT_GE(during.stack_sys, during.stack_inuse);
    EXPECT_GE(during.sys, during.stack_sys + during.heap_sys);
    for (int i = 0; i < kN; i++) semrelease(&release, false);
    exited.wait();
  });
}

}  // namespace
}  // namespace gort::sched
