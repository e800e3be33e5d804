// Tests of the scheduler's public API (sched/sched.h): run, go, yield,
// num_goroutine, work stealing, go from plain threads, and C++ exceptions
// across goroutine switches and migrations.
#include "sched/sched.h"

#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sched/test_util.h"
#include "sys/clock.h"

namespace gort {
namespace {

using sched::testing::gettid_now;
using sched::testing::Latch;
using sched::testing::scaled;
using sched::testing::SchedTest;
using sched::testing::ScopedProcs;
using sched::testing::Sem;
using sched::testing::Watchdog;

using RunTest = SchedTest;

// run() returns the main goroutine's int result, 0 for a void function, and
// the main goroutine's effects are visible to the caller afterwards.
TEST_F(RunTest, ReturnsValue) {
  EXPECT_EQ(run([] { return 7; }), 7);
  EXPECT_EQ(run([] { return -3; }), -3);
  int x = 0;
  EXPECT_EQ(run([&] { x = 3; }), 0);
  EXPECT_EQ(x, 3);
  // A value computed by another goroutine and handed back through a wait.
  EXPECT_EQ(run([] {
              Sem done;
              int v = 0;
              go([&] {
                v = 41;
                done.post();
              });
              done.wait();
              return v + 1;
            }),
            42);
}

// run() may be called again and again on one runtime (the runtime stays up
// between calls); each call's main goroutine runs to completion and its
// result is its own, also when the Ps change in between.
TEST_F(RunTest, CalledRepeatedly) {
  Watchdog dog("RunTest.CalledRepeatedly", 60);
  ScopedProcs restore(gomaxprocs(0));
  for (int i = 0; i < 200; i++) {
    if (i % 50 == 0) gomaxprocs(1 + (i / 50) % 3);
    int got = run([i] {
      std::atomic<int> sum{0};
      Latch latch(4);
      for (int k = 0; k < 4; k++) {
        go([&sum, &latch, i] {
          sum.fetch_add(i, std::memory_order_relaxed);
          latch.done();
        });
      }
      latch.wait();
      return sum.load(std::memory_order_relaxed) / 4;
    });
    ASSERT_EQ(got, i) << "run #" << i;
  }
}

// num_goroutine() counts live goroutines: the main goroutine, plus the ones
// it started while they are alive.
TEST_F(RunTest, NumGoroutineCountsLiveGoroutines) {
  int64_t before = num_goroutine();
  run([before] {
    EXPECT_EQ(num_goroutine(), before + 1);  // main
    Latch parked(10);
    Latch exited(10);
    std::vector<std::unique_ptr<Sem>> gates;
    for (int i = 0; i < 10; i++) {
      gates.push_back(std::make_unique<Sem>());
      Sem* gate = gates.back().get();
      go([&, gate] {
        parked.done();
        gate->wait();
        exited.done();
      });
    }
    parked.wait();
    EXPECT_EQ(num_goroutine(), before + 11);
    for (auto& gate : gates) gate->post();
    exited.wait();
  });
}

// Spawning and joining 1M goroutines: every goroutine runs exactly once, the
// join (an atomic count plus a park/ready wait) sees all of them, and the
// runtime does not lose one on the way (a lost goroutine hangs the join: the
// watchdog fails the test with a dump). Full scale spawns all of them at
// once from the main goroutine; under TSan (fibers are expensive and
// limited) it spawns in batches of at most 1000 live goroutines.
TEST_F(RunTest, SpawnAndJoinOneMillion) {
  const int64_t total = scaled(1'000'000, 1'000'000, 50'000);
  const int64_t batch = scaled(total, total, 1'000);
  // 2 Ps: one spawns, the other runs and frees Gs meanwhile, so their
  // stacks are reused (on 1 P all 1M would be live at once: 4 GiB of stack
  // pages).
  ScopedProcs procs(2);
  Watchdog dog("RunTest.SpawnAndJoinOneMillion", 120);
  std::vector<std::atomic<uint8_t>> ran(total);
  std::atomic<int64_t> count{0};
  int64_t t0 = sys::nanotime();
  run([&] {
    for (int64_t start = 0; start < total; start += batch) {
      int64_t n = std::min(batch, total - start);
      Latch latch(n);
      for (int64_t i = start; i < start + n; i++) {
        go([&, i] {
          ran[i].fetch_add(1, std::memory_order_relaxed);
          count.fetch_add(1, std::memory_order_relaxed);
          latch.done();
        });
      }
      latch.wait();
    }
  });
  int64_t ns = sys::nanotime() - t0;
  EXPECT_EQ(count.load(), total);
  int64_t bad = 0;
  for (int64_t i = 0; i < total; i++) bad += ran[i].load(std::memory_order_relaxed) != 1;
  EXPECT_EQ(bad, 0) << "goroutines that did not run exactly once";
  printf("spawned and joined %lld goroutines in %.1f ms (%.0f ns each)\n",
         static_cast<long long>(total), ns / 1e6, static_cast<double>(ns) / total);
}

// On one P, two goroutines that yield in a loop alternate strictly: yield
// puts the caller at the tail of the run queue, behind the other one.
TEST_F(RunTest, YieldAlternatesOnOneP) {
  ScopedProcs procs(1);
  constexpr int kRounds = 1000;
  std::vector<char> log;
  log.reserve(2 * kRounds);
  run([&] {
    Latch latch(2);
    for (char who : {'a', 'b'}) {
      go([&, who] {
        for (int i = 0; i < kRounds; i++) {
          log.push_back(who);  // one P: the goroutines never run at once
          yield();
        }
        latch.done();
      });
    }
    latch.wait();
  });
  ASSERT_EQ(log.size(), 2u * kRounds);
  int repeats = 0;
  for (size_t i = 1; i < log.size(); i++) repeats += log[i] == log[i - 1];
  EXPECT_EQ(repeats, 0) << "log: " << std::string(log.begin(), log.begin() + 40) << "...";
}

// go() works from a plain std::thread while a run() is active: the
// goroutines it starts run on the runtime's Ms and the main goroutine can
// join them. (The main goroutine waits for the thread inside blocking(), so
// its M stays busy, as a goroutine blocked in a syscall should.)
TEST_F(RunTest, GoFromPlainThread) {
  constexpr int kN = 2000;
  Watchdog dog("RunTest.GoFromPlainThread", 60);
  std::atomic<int> ran{0};
  std::atomic<int> on_goroutine{0};
  run([&] {
    Latch latch(kN);
    std::thread t([&] {
      EXPECT_EQ(sched::current_g(), nullptr);
      for (int i = 0; i < kN; i++) {
        go([&] {
          ran.fetch_add(1, std::memory_order_relaxed);
          if (sched::current_g() != nullptr) on_goroutine.fetch_add(1);
          latch.done();
        });
        if (i % 100 == 0) std::this_thread::yield();
      }
    });
    blocking([&] { t.join(); });
    latch.wait();
  });
  EXPECT_EQ(ran.load(), kN);
  EXPECT_EQ(on_goroutine.load(), kN);
}

// Work stealing: one goroutine floods its own P's run queue (batches of
// goroutines, each below the ring's capacity so that nothing overflows to
// the global queue); every P runs some of them, and the others get theirs
// by stealing (the per-P counters goroutines_run and stolen grow).
TEST_F(RunTest, IdlePsStealFromABusyOne) {
  constexpr int kProcs = 4;
  ScopedProcs procs(kProcs);
  const int kBatches = scaled(50, 50, 20);
  constexpr int kBatch = 200;  // < RunQueue capacity (256)
  Watchdog dog("RunTest.IdlePsStealFromABusyOne", 60);
  sched::Sched& s = sched::sched();
  uint64_t run0[kProcs], stolen0[kProcs];
  for (int i = 0; i < kProcs; i++) {
    run0[i] = s.allp[i]->goroutines_run.load();
    stolen0[i] = s.allp[i]->stolen.load();
  }
  std::atomic<int> ran{0};
  run([&] {
    for (int b = 0; b < kBatches; b++) {
      Latch latch(kBatch);
      for (int i = 0; i < kBatch; i++) {
        go([&] {
          int64_t until = sys::nanotime() + 20'000;  // 20 µs of work
          while (sys::nanotime() < until) {
          }
          ran.fetch_add(1, std::memory_order_relaxed);
          latch.done();
        });
      }
      latch.wait();
    }
  });
  EXPECT_EQ(ran.load(), kBatches * kBatch);
  uint64_t total_stolen = 0;
  for (int i = 0; i < kProcs; i++) {
    uint64_t r = s.allp[i]->goroutines_run.load() - run0[i];
    uint64_t st = s.allp[i]->stolen.load() - stolen0[i];
    total_stolen += st;
    EXPECT_GT(r, 0u) << "P" << i << " ran nothing";
    printf("P%d: ran %llu stole %llu\n", i, static_cast<unsigned long long>(r),
           static_cast<unsigned long long>(st));
  }
  EXPECT_GT(total_stolen, 0u);
}

struct Marker : std::exception {
  explicit Marker(int v) : value(v) {}
  const char* what() const noexcept override { return "marker"; }
  int value;
};

// A goroutine parked inside a catch block may resume on another M (another
// thread, with its own C++ exception globals) and `throw;` there: the
// rethrown exception is the one it caught (same object), and the outer
// catch sees it. Checks that the switch carries __cxa_eh_globals with the G.
TEST_F(RunTest, RethrowAfterMigration) {
  ScopedProcs procs(2);
  Watchdog dog("RunTest.RethrowAfterMigration", 60);
  bool migrated = false;
  const Marker* inner = nullptr;
  const Marker* outer = nullptr;
  int outer_value = 0;
  int polls = 0;
  run([&] {
    Sem wake;
    std::atomic<bool> stop{false};
    Latch helper_done(1);
    // Readies the thrower from wherever the helper runs, with a little work
    // in between, so that the thrower lands on the helper's P/M or is
    // stolen by the other.
    go([&] {
      while (!stop.load(std::memory_order_acquire)) {
        wake.post();
        int64_t until = sys::nanotime() + 50'000;
        while (sys::nanotime() < until) {
        }
        yield();
      }
      helper_done.done();
    });
    try {
      try {
        throw Marker(42);
      } catch (const Marker& m) {
        inner = &m;
        int32_t tid0 = gettid_now();
        int64_t deadline = sys::nanotime() + 10'000'000'000;
        while (sys::nanotime() < deadline) {
          wake.wait();
          polls++;
          if (gettid_now() != tid0) {
            migrated = true;
            break;
          }
        }
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        EXPECT_TRUE(std::current_exception() != nullptr);
        throw;
      }
    } catch (const Marker& m) {
      outer = &m;
      outer_value = m.value;
    }
    stop.store(true, std::memory_order_release);
    helper_done.wait();
    while (wake.count() > 0) wake.wait();  // drain banked tokens
  });
  EXPECT_TRUE(migrated) << "never ran on another M after " << polls << " wakeups";
  EXPECT_EQ(outer, inner);
  EXPECT_EQ(outer_value, 42);
}

// On one P, goroutines interleave inside catch blocks and inside
// destructors run by unwinding: each one's std::current_exception() and
// std::uncaught_exceptions() stay its own across yields, and `throw;`
// rethrows its own exception, not the one another goroutine caught last on
// the same thread.
TEST_F(RunTest, ExceptionStateIsPerGoroutine) {
  ScopedProcs procs(1);
  constexpr int kG = 4;
  int rethrown[kG] = {};
  int uncaught_in_dtor[kG] = {};
  int uncaught_after_yield[kG] = {};
  run([&] {
    Latch latch(kG);
    for (int id = 0; id < kG; id++) {
      go([&, id] {
        struct YieldingDtor {
          int id;
          int* before;
          int* after;
          ~YieldingDtor() {
            *before = std::uncaught_exceptions();
            for (int i = 0; i < 5; i++) yield();  // others throw meanwhile
            *after = std::uncaught_exceptions();
          }
        };
        try {
          try {
            YieldingDtor d{id, &uncaught_in_dtor[id], &uncaught_after_yield[id]};
            throw Marker(100 + id);
          } catch (const Marker&) {
            for (int i = 0; i < 5; i++) yield();
            throw;
          }
        } catch (const Marker& m) {
          rethrown[id] = m.value;
        }
        latch.done();
      });
    }
    latch.wait();
  });
  for (int id = 0; id < kG; id++) {
    EXPECT_EQ(rethrown[id], 100 + id) << "goroutine " << id;
    EXPECT_EQ(uncaught_in_dtor[id], 1) << "goroutine " << id;
    EXPECT_EQ(uncaught_after_yield[id], 1) << "goroutine " << id;
  }
}

}  // namespace
}  // namespace gort
