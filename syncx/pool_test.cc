// Tests of syncx/pool.h: get/put on one P (private slot, then the shared
// chain), make when empty, plain threads, the victim cycle (an object
// survives one GC cycle, not two), and a stress run with cycles in the
// middle checking that no object is ever held by two users at once and
// that every object made is destroyed exactly once.
#include "syncx/pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "sched/sched.h"
#include "sched/sync_support.h"
#include "sched/test_util.h"
#include "syncx/test_util.h"
#include "syncx/waitgroup.h"

namespace gort::syncx {
namespace {

using sched::testing::ScopedProcs;
using sched::testing::scaled;
using sched::testing::SchedTest;
using sched::testing::Watchdog;
using testing::KeepRunnable;

std::atomic<int64_t> g_made{0};
std::atomic<int64_t> g_destroyed{0};

struct Obj {
  Obj() { g_made.fetch_add(1); }
  ~Obj() { g_destroyed.fetch_add(1); }
  std::atomic<bool> in_use{false};
  int64_t payload = 0;
};

class PoolTest : public SchedTest {
 protected:
  void SetUp() override {
    SchedTest::SetUp();
    made0_ = g_made.load();
    destroyed0_ = g_destroyed.load();
  }
  int64_t made() { return g_made.load() - made0_; }
  int64_t destroyed() { return g_destroyed.load() - destroyed0_; }

 private:
  int64_t made0_ = 0;
  int64_t destroyed0_ = 0;
};

// On one P: what was put comes back (last in, first out through the
// private slot and the chain's head); an empty pool calls make, or returns
// nullptr without one.
TEST_F(PoolTest, GetReturnsWhatWasPut) {
  ScopedProcs p(1);
  run([&] {
    Pool<Obj> empty;
    EXPECT_EQ(empty.get(), nullptr);
    int makes = 0;
    Pool<Obj> pool([&] {
      makes++;
      return std::make_unique<Obj>();
    });
    std::vector<Obj*> raw;
    for (int i = 0; i < 100; i++) {  // private slot, then rings of 8, 16, ...
      auto o = std::make_unique<Obj>();
      raw.push_back(o.get());
      pool.put(std::move(o));
    }
    pool.put(nullptr);  // ignored, as Go ignores Put(nil)
    EXPECT_EQ(pool.core_for_testing().primary_size_for_testing(), 100);
    std::vector<bool> seen(100, false);
    for (int i = 0; i < 100; i++) {
      std::unique_ptr<Obj> o = pool.get();
      ASSERT_NE(o, nullptr);
      int at = -1;
      for (int j = 0; j < 100; j++) {
        if (raw[j] == o.get()) at = j;
      }
      ASSERT_GE(at, 0) << "an object that was never put";
      EXPECT_FALSE(seen[at]) << "returned twice";
      seen[at] = true;
      o.release();  // still owned through raw
    }
    EXPECT_EQ(makes, 0);
    std::unique_ptr<Obj> fresh = pool.get();
    EXPECT_NE(fresh, nullptr);
    EXPECT_EQ(makes, 1);
    for (Obj* o : raw) delete o;
  });
  EXPECT_EQ(made(), destroyed());
}

// Go's TestPool shape across GC cycles: an object put and left alone moves
// to the victim at the first cycle (get still finds it), and is dropped
// (destroyed) at the second.
TEST_F(PoolTest, VictimKeepsObjectsOneCycleNotTwo) {
  ScopedProcs p(1);
  run([&] {
    Pool<Obj> pool;
    auto a = std::make_unique<Obj>();
    Obj* a_raw = a.get();
    pool.put(std::move(a));
    sched::run_gc_cleanups();
    EXPECT_EQ(pool.core_for_testing().primary_size_for_testing(), 0);
    EXPECT_EQ(pool.core_for_testing().victim_size_for_testing(), 1);
    std::unique_ptr<Obj> back = pool.get();
    EXPECT_EQ(back.get(), a_raw) << "the victim should still have it";
    pool.put(std::move(back));
    // Ten objects through the chain, too.
    for (int i = 0; i < 10; i++) pool.put(std::make_unique<Obj>());
    int64_t destroyed_before = destroyed();
    sched::run_gc_cleanups();
    EXPECT_EQ(destroyed(), destroyed_before) << "one cycle must not drop";
    sched::run_gc_cleanups();
    EXPECT_EQ(destroyed(), destroyed_before + 11) << "two cycles must drop";
    EXPECT_EQ(pool.get(), nullptr);
  });
  EXPECT_EQ(made(), destroyed());
}

// Plain threads: a thread's put is found by a goroutine (stealing from the
// threads' Local), and a goroutine's shared objects by a thread.
TEST_F(PoolTest, PlainThreads) {
  ScopedProcs p(1);
  Pool<Obj> pool;
  std::thread([&] {
    pool.put(std::make_unique<Obj>());
    pool.put(std::make_unique<Obj>());
    EXPECT_NE(pool.get(), nullptr);  // its own private slot
    pool.put(std::make_unique<Obj>());
  }).join();
  run([&] {
    EXPECT_NE(pool.get(), nullptr);  // stolen from the threads' chain
    EXPECT_EQ(pool.get(), nullptr);  // the threads' private slot is theirs
    pool.put(std::make_unique<Obj>());  // private
    pool.put(std::make_unique<Obj>());  // shared
  });
  std::thread([&] {
    EXPECT_NE(pool.get(), nullptr);  // its private one
    EXPECT_NE(pool.get(), nullptr);  // stolen from P0's chain
    EXPECT_EQ(pool.get(), nullptr);
  }).join();
}

// Stress: 8 goroutines on 2 Ps and 2 threads get, use and put objects
// while another goroutine runs GC cycles. Invariants: an object is never
// handed to two users at once (in_use is claimed by exchange), and once the
// pool is gone every object made has been destroyed exactly once (ASan
// also checks for double frees and leaks).
TEST_F(PoolTest, StressWithCycles) {
  ScopedProcs p(2);
  Watchdog dog("pool stress", 120);
  const int64_t iters = scaled(20000, 5000, 1000);
  std::atomic<bool> bad{false};
  {
    Pool<Obj> pool([] { return std::make_unique<Obj>(); });
    auto body = [&](int64_t salt) {
      std::vector<std::unique_ptr<Obj>> held;
      for (int64_t i = 0; i < iters; i++) {
        std::unique_ptr<Obj> o = pool.get();
        if (o->in_use.exchange(true)) bad.store(true);
        o->payload = salt;
        held.push_back(std::move(o));
        if (held.size() > static_cast<size_t>(i % 7)) {
          for (auto& h : held) {
            if (h->payload != salt) bad.store(true);
            h->in_use.store(false);
            pool.put(std::move(h));
          }
          held.clear();
        }
      }
      for (auto& h : held) {
        h->in_use.store(false);
        pool.put(std::move(h));
      }
    };
    run([&] {
      KeepRunnable keep;
      WaitGroup wg;
      std::atomic<bool> stop{false};
      wg.add(11);
      for (int g = 0; g < 8; g++) {
        go([&, g] {
          body(g);
          wg.done();
        });
      }
      std::vector<std::thread> threads;
      for (int t = 0; t < 2; t++) {
        threads.emplace_back([&, t] {
          body(100 + t);
          wg.done();
        });
      }
      go([&] {
        for (int c = 0; c < 5 && !stop.load(); c++) {
          sched::run_gc_cleanups();
          yield();
        }
        wg.done();
      });
      wg.wait();
      for (auto& t : threads) t.join();
    });
  }
  EXPECT_FALSE(bad.load());
  EXPECT_GT(made(), 0);
  EXPECT_EQ(made(), destroyed());
}

}  // namespace
}  // namespace gort::syncx
