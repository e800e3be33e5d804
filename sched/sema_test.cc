// Tests of sched/sema.h: semaphores (mutual exclusion, wake order, handoff,
// thread waiters, address collisions, random stress) and notify lists.
// Every test ends by checking the semaphore table's invariants and that no
// goroutine it started is left behind.
#include "sched/sema.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sched/sched.h"

namespace gort::sched {
namespace {

#if defined(__SANITIZE_THREAD__)
// GCC 12's TSan dies past ~8000 fibers and makes each one slowly (~1 ms).
constexpr int kScale = 4;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int kScale = 2;
#else
constexpr int kScale = 1;
#endif

// Yields (on a goroutine) or sleeps briefly (on a thread) until pred()
// holds; fails the test after 20 s instead of hanging.
template <typename Pred>
bool wait_until(Pred pred, bool on_goroutine = true) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "condition not reached in 20 s";
      return false;
    }
    if (on_goroutine) {
      yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return true;
}

// Counts finished goroutines; wait() blocks on a semaphore until all have.
class Latch {
 public:
  explicit Latch(int64_t n) : count_(n) {}
  void done() {
    // acq_rel: the last done() has seen every other done()'s writes, and
    // the semaphore hands them to wait().
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      semrelease(&sema_, false);
    }
  }
  void wait() { semacquire(&sema_, false); }

 private:
  std::atomic<int64_t> count_;
  uint32_t sema_ = 0;
};

// The deadlock detector (Go's checkdead) sees only goroutines: when every
// goroutine is parked it declares a deadlock, even if a plain thread is
// about to release one (Go has no such threads; see the report on the
// scheduler). Tests where goroutines wait for threads keep one goroutine
// runnable with this until the threads are done with them.
class KeepRunnable {
 public:
  KeepRunnable() {
    go([this] {
      while (!stop_.load(std::memory_order_relaxed)) yield();
      latch_.done();
    });
  }
  ~KeepRunnable() {
    stop_.store(true, std::memory_order_relaxed);
    latch_.wait();
  }

 private:
  std::atomic<bool> stop_{false};
  Latch latch_{1};
};

class SemaTest : public ::testing::Test {
 protected:
  void SetUp() override { baseline_ = num_goroutine(); }
  void TearDown() override {
    // Goroutines that called done() may still be on their way out.
    run([&] {
      wait_until([&] { return num_goroutine() <= baseline_ + 1; });
    });
    EXPECT_EQ(num_goroutine(), baseline_) << "goroutines leaked";
    sema_check_invariants();
  }
  int64_t baseline_ = 0;
};

class SemaProcsTest : public SemaTest,
                      public ::testing::WithParamInterface<int> {};

// Runs f as the main goroutine with GOMAXPROCS = procs, restoring it after.
template <typename F>
void run_with_procs(int procs, F f) {
  run([&] {
    int prev = gomaxprocs(procs);
    f();
    gomaxprocs(prev);
  });
}

// Invariant: a semaphore of value 1 used as a lock admits one holder at a
// time, and its release publishes the holder's plain writes to the next.
TEST_P(SemaProcsTest, BinarySemaphoreIsAMutex) {
  const int kGoroutines = 64 / kScale;
  const int kIters = 2000 / kScale;
  uint32_t mu = 1;
  int64_t counter = 0;  // plain: only the lock protects it
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  run_with_procs(GetParam(), [&] {
    Latch latch(kGoroutines);
    for (int g = 0; g < kGoroutines; g++) {
      go([&, g] {
        for (int i = 0; i < kIters; i++) {
          semacquire(&mu, (i & 1) != 0);
          if (inside.fetch_add(1, std::memory_order_relaxed) != 0) {
            overlaps.fetch_add(1, std::memory_order_relaxed);
          }
          counter++;
          if ((i + g) % 16 == 0) yield();  // contend: others park meanwhile
          inside.fetch_sub(1, std::memory_order_relaxed);
          semrelease(&mu, i % 4 == 0);
        }
        latch.done();
      });
    }
    latch.wait();
  });
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(counter, int64_t{kGoroutines} * kIters);
  EXPECT_EQ(mu, 1u);
  EXPECT_EQ(sema_waiters(&mu), 0);
}

// Queues goroutines 0..n-1 on `s` one after another (each queued before the
// next starts), lifo[i] choosing how goroutine i queues; then releases one
// count at a time and returns the order in which they woke.
std::vector<int> wake_order(const std::vector<bool>& lifo) {
  const int n = static_cast<int>(lifo.size());
  std::vector<int> order;
  run([&] {
    uint32_t s = 0;
    std::vector<std::atomic<int>> woke_at(n);
    for (auto& w : woke_at) w.store(-1);
    std::atomic<int> woken{0};
    Latch latch(n);
    for (int i = 0; i < n; i++) {
      go([&, i] {
        semacquire(&s, lifo[i]);
        woke_at[i].store(woken.fetch_add(1));
        latch.done();
      });
      wait_until([&] { return sema_waiters(&s) == i + 1; });
    }
    for (int k = 0; k < n; k++) {
      semrelease(&s, false);
      wait_until([&] { return woken.load() == k + 1; });
    }
    latch.wait();
    order.assign(n, -1);
    for (int i = 0; i < n; i++) {
      int at = woke_at[i].load();
      if (at >= 0 && at < n) order[at] = i;
    }
  });
  return order;
}

// Invariant: waiters that queue FIFO wake in the order they queued.
TEST_F(SemaTest, FifoWaitersWakeInQueueOrder) {
  EXPECT_EQ(wake_order(std::vector<bool>(6, false)),
            (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

// Invariant: a LIFO waiter goes to the front of its address's queue.
TEST_F(SemaTest, LifoWaitersWakeNewestFirst) {
  EXPECT_EQ(wake_order(std::vector<bool>(5, true)),
            (std::vector<int>{4, 3, 2, 1, 0}));
  // Mixed: 0, 1 queue at the back, 2 jumps the queue, 3 at the back,
  // 4 jumps again.
  EXPECT_EQ(wake_order({false, false, true, false, true}),
            (std::vector<int>{4, 2, 0, 1, 3}));
}

// Invariant (handoff): the count goes straight to the woken waiter, and the
// releasing goroutine yields to it, so on one P the waiter has run by the
// time semrelease returns and the word was never visible as 1.
TEST_F(SemaTest, HandoffRunsTheWaiterFirst) {
  run_with_procs(1, [&] {
    uint32_t s = 0;
    std::atomic<bool> ran{false};
    Latch latch(1);
    go([&] {
      semacquire(&s, false);
      ran.store(true);
      latch.done();
    });
    wait_until([&] { return sema_waiters(&s) == 1; });
    semrelease(&s, true);
    EXPECT_TRUE(ran.load()) << "the releaser did not yield to the waiter";
    EXPECT_EQ(std::atomic_ref<uint32_t>(s).load(), 0u);
    latch.wait();
  });
}

// Invariant (no handoff): the woken waiter must compete for the count; a
// barging acquirer can take it, and the waiter then queues again and is
// woken by the next release.
TEST_F(SemaTest, WithoutHandoffABargerWinsAndTheWaiterRequeues) {
  run_with_procs(1, [&] {
    uint32_t s = 0;
    std::atomic<bool> ran{false};
    Latch latch(1);
    go([&] {
      semacquire(&s, false);
      ran.store(true);
      latch.done();
    });
    wait_until([&] { return sema_waiters(&s) == 1; });
    semrelease(&s, false);
    EXPECT_FALSE(ran.load()) << "semrelease without handoff yielded";
    EXPECT_EQ(std::atomic_ref<uint32_t>(s).load(), 1u);
    semacquire(&s, false);  // barge: the count is still there
    // The woken waiter finds no count and queues again.
    wait_until([&] { return sema_waiters(&s) == 1; });
    EXPECT_FALSE(ran.load());
    semrelease(&s, false);
    latch.wait();
    EXPECT_TRUE(ran.load());
    EXPECT_EQ(std::atomic_ref<uint32_t>(s).load(), 0u);
  });
}

// Invariant: plain threads block in semacquire (not spin, not fail) and are
// woken by releases from goroutines; handoff from a goroutine to a thread
// hands the count over too.
TEST_F(SemaTest, ThreadWaitersWokenByGoroutines) {
  const int kThreads = 4;
  const int kEach = 50;
  uint32_t s = 0;
  std::atomic<int> acquired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; i++) {
        semacquire(&s, false);
        acquired.fetch_add(1);
      }
    });
  }
  run([&] {
    // Every thread is blocked in the kernel before the first release.
    wait_until([&] { return sema_waiters(&s) == kThreads; });
    EXPECT_EQ(acquired.load(), 0);
    for (int i = 0; i < kThreads * kEach; i++) {
      semrelease(&s, i % 2 == 0);
      if (i % 8 == 0) yield();
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(acquired.load(), kThreads * kEach);
  EXPECT_EQ(s, 0u);
  EXPECT_EQ(sema_waiters(&s), 0);
}

// Invariant: goroutines parked on a word are woken by releases from a plain
// thread, handoff or not (a thread cannot yield; the count is still handed).
TEST_F(SemaTest, GoroutineWaitersWokenByAThread) {
  const int kGoroutines = 32;
  uint32_t s = 0;
  std::thread releaser;
  run([&] {
    KeepRunnable keep;
    Latch latch(kGoroutines);
    for (int i = 0; i < kGoroutines; i++) {
      go([&] {
        semacquire(&s, false);
        latch.done();
      });
    }
    releaser = std::thread([&] {
      wait_until([&] { return sema_waiters(&s) == kGoroutines; }, false);
      for (int i = 0; i < kGoroutines; i++) semrelease(&s, i % 2 == 1);
    });
    latch.wait();
  });
  releaser.join();
  EXPECT_EQ(s, 0u);
}

// Invariant: the semaphores work between plain threads alone, with no
// goroutine involved (a thread's wait is its note).
TEST_F(SemaTest, ThreadsOnly) {
  uint32_t ping = 0, pong = 0;
  const int kRounds = 2000 / kScale;
  std::thread other([&] {
    for (int i = 0; i < kRounds; i++) {
      semacquire(&ping, false);
      semrelease(&pong, false);
    }
  });
  for (int i = 0; i < kRounds; i++) {
    semrelease(&ping, false);
    semacquire(&pong, false);
  }
  other.join();
  EXPECT_EQ(ping, 0u);
  EXPECT_EQ(pong, 0u);
}

// Invariant: many addresses on one root keep separate queues: a release of
// address A wakes A's next waiter (in A's own FIFO/LIFO order) and nobody
// else's, and the root's tree stays a valid treap throughout.
TEST_F(SemaTest, ManyAddressesOnOneRoot) {
  // (addr >> 3) % 251: words 251 * 8 bytes apart share a root.
  constexpr size_t kStride = kSemaRoots * 8 / sizeof(uint32_t);
  const int kAddrs = 48;
  const int kPerAddr = 4;
  std::vector<uint32_t> buf(kAddrs * kStride, 0);
  std::vector<uint32_t*> words;
  for (int a = 0; a < kAddrs; a++) words.push_back(&buf[a * kStride]);
  for (uint32_t* w : words) {
    ASSERT_EQ(sema_root_index(w), sema_root_index(words[0]));
  }

  struct Waiter {
    int addr;
    bool lifo;
  };
  std::mt19937 rng(7);
  std::vector<Waiter> plan;
  for (int a = 0; a < kAddrs; a++) {
    for (int k = 0; k < kPerAddr; k++) plan.push_back({a, rng() % 3 == 0});
  }
  std::shuffle(plan.begin(), plan.end(), rng);
  const int n = static_cast<int>(plan.size());

  run([&] {
    std::vector<std::deque<int>> expected(kAddrs);  // wake order per address
    std::vector<int> queued(kAddrs, 0);
    std::atomic<int> last_woken{-1};
    std::atomic<int> woken{0};
    Latch latch(n);
    for (int i = 0; i < n; i++) {
      const Waiter& w = plan[i];
      go([&, i] {
        semacquire(words[plan[i].addr], plan[i].lifo);
        last_woken.store(i);
        woken.fetch_add(1);
        latch.done();
      });
      queued[w.addr]++;
      wait_until([&] { return sema_waiters(words[w.addr]) == queued[w.addr]; });
      if (w.lifo) {
        expected[w.addr].push_front(i);
      } else {
        expected[w.addr].push_back(i);
      }
    }
    sema_check_invariants();  // the treap holds kAddrs heads
    for (int a = 0; a < kAddrs; a++) {
      EXPECT_EQ(sema_waiters(words[a]), kPerAddr);
    }
    std::vector<int> release;
    for (int a = 0; a < kAddrs; a++) {
      for (int k = 0; k < kPerAddr; k++) release.push_back(a);
    }
    std::shuffle(release.begin(), release.end(), rng);
    for (int k = 0; k < n; k++) {
      int a = release[k];
      semrelease(words[a], false);
      if (!wait_until([&] { return woken.load() == k + 1; })) break;
      EXPECT_EQ(last_woken.load(), expected[a].front()) << "address " << a;
      expected[a].pop_front();
      if (k % 16 == 0) sema_check_invariants();
    }
    latch.wait();
  });
  for (uint32_t* w : words) EXPECT_EQ(*w, 0u);
}

// Invariant: under random acquires and releases from goroutines (on 1, 2 or
// 8 Ps) and threads at once, a semaphore of capacity c never has more than c
// holders, every count comes back, and no waiter is left queued.
TEST_P(SemaProcsTest, RandomStress) {
  const int kSemas = 8;
  const int kGoroutines = 200 / kScale;
  const int kIters = 2000 / kScale;
  const int kThreads = 2;
  std::vector<uint32_t> words(kSemas);
  std::vector<uint32_t> cap(kSemas);
  std::vector<std::atomic<int>> holders(kSemas);
  for (int i = 0; i < kSemas; i++) {
    cap[i] = words[i] = 1 + i % 3;
    holders[i].store(0);
  }
  std::atomic<int> violations{0};
  auto body = [&](uint64_t seed, int iters, bool on_goroutine) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < iters; i++) {
      int k = static_cast<int>(rng() % kSemas);
      semacquire(&words[k], rng() % 4 == 0);
      if (holders[k].fetch_add(1) + 1 > static_cast<int>(cap[k])) {
        violations.fetch_add(1);
      }
      if (on_goroutine && rng() % 8 == 0) yield();
      holders[k].fetch_sub(1);
      semrelease(&words[k], rng() % 4 == 0);
    }
  };
  std::vector<std::thread> threads;
  run_with_procs(GetParam(), [&] {
    KeepRunnable keep;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] { body(1000 + t, kIters, false); });
    }
    Latch latch(kGoroutines);
    for (int g = 0; g < kGoroutines; g++) {
      go([&, g] {
        body(g, kIters, true);
        latch.done();
      });
    }
    latch.wait();
    for (auto& t : threads) t.join();  // the threads may hold counts still
  });
  EXPECT_EQ(violations.load(), 0);
  for (int i = 0; i < kSemas; i++) {
    EXPECT_EQ(words[i], cap[i]) << "semaphore " << i;
    EXPECT_EQ(sema_waiters(&words[i]), 0);
  }
}

std::string procs_name(const ::testing::TestParamInfo<int>& p) {
  return "P" + std::to_string(p.param);
}

INSTANTIATE_TEST_SUITE_P(Procs, SemaProcsTest, ::testing::Values(1, 2, 8),
                         procs_name);

// ---- NotifyList ---------------------------------------------------------------

// Invariant: notify_one releases tickets in the order they were taken, one
// per call, and nobody else.
TEST_F(SemaTest, NotifyOneReleasesTicketsInOrder) {
  const int n = 8;
  run([&] {
    NotifyList list;
    std::vector<std::atomic<bool>> woke(n);
    std::atomic<int> woken{0};
    std::atomic<int> taken{0};
    Latch latch(n);
    for (int i = 0; i < n; i++) {
      go([&, i] {
        uint32_t t = list.add();
        EXPECT_EQ(t, static_cast<uint32_t>(i));
        taken.fetch_add(1);
        list.wait(t);
        woke[i].store(true);
        woken.fetch_add(1);
        latch.done();
      });
      wait_until([&] { return taken.load() == i + 1; });
    }
    for (int k = 0; k < n; k++) {
      list.notify_one();
      wait_until([&] { return woke[k].load(); });
      for (int y = 0; y < 20; y++) yield();  // room for a wrong wakeup
      EXPECT_EQ(woken.load(), k + 1) << "notify_one woke more than one";
    }
    latch.wait();
    list.notify_one();  // nothing outstanding: a no-op
  });
}

// Invariant: notify_all releases every ticket taken before it, and none
// taken after it.
TEST_F(SemaTest, NotifyAllReleasesExactlyTheTicketsTaken) {
  const int n = 16;
  run([&] {
    NotifyList list;
    std::atomic<int> woken{0};
    std::atomic<int> taken{0};
    Latch first(n);
    for (int i = 0; i < n; i++) {
      go([&] {
        uint32_t t = list.add();
        taken.fetch_add(1);
        list.wait(t);
        woken.fetch_add(1);
        first.done();
      });
    }
    wait_until([&] { return taken.load() == n; });
    list.notify_all();
    first.wait();
    EXPECT_EQ(woken.load(), n);

    std::atomic<bool> late_woke{false};
    Latch second(1);
    go([&] {
      uint32_t t = list.add();
      taken.fetch_add(1);
      list.wait(t);
      late_woke.store(true);
      second.done();
    });
    wait_until([&] { return taken.load() == n + 1; });
    for (int y = 0; y < 50; y++) yield();
    EXPECT_FALSE(late_woke.load()) << "a ticket taken after notify_all woke";
    list.notify_one();
    second.wait();
    EXPECT_TRUE(late_woke.load());
  });
}

// Invariant: a ticket notified before its holder waits is not lost: the
// wait returns at once (here on a plain thread, which would otherwise
// block forever and time the test out).
TEST_F(SemaTest, NotifiedTicketWaitReturnsAtOnce) {
  NotifyList list;
  uint32_t a = list.add();
  uint32_t b = list.add();
  list.notify_one();
  list.wait(a);
  list.notify_all();
  list.wait(b);
  SUCCEED();
}

// Invariant: plain threads wait on a notify list and goroutines wake them.
TEST_F(SemaTest, NotifyListThreadWaiters) {
  NotifyList list;
  std::atomic<int> taken{0};
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; i++) {
    threads.emplace_back([&] {
      uint32_t t = list.add();
      taken.fetch_add(1);
      list.wait(t);
      woken.fetch_add(1);
    });
  }
  run([&] {
    wait_until([&] { return taken.load() == 3; });
    list.notify_one();
    wait_until([&] { return woken.load() == 1; });
    list.notify_all();
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(woken.load(), 3);
}

// Invariant: the Cond pattern (take a ticket under the lock, unlock, wait,
// relock, re-check) loses no wakeup: goroutines and a thread take turns in
// strict rotation, each waiting for its turn, until every round is done.
TEST_P(SemaProcsTest, CondTurnTaking) {
  const int kParties = 6;  // 5 goroutines and one thread
  const int kRounds = 300 / kScale;
  uint32_t mu = 1;
  NotifyList cond;
  int turn = 0;  // under mu
  auto party = [&](int id) {
    for (int r = 0; r < kRounds; r++) {
      semacquire(&mu, false);
      while (turn % kParties != id) {
        uint32_t t = cond.add();
        semrelease(&mu, false);
        cond.wait(t);
        semacquire(&mu, false);
      }
      turn++;
      cond.notify_all();
      semrelease(&mu, false);
    }
  };
  std::thread thread;
  run_with_procs(GetParam(), [&] {
    KeepRunnable keep;
    thread = std::thread([&] { party(kParties - 1); });
    Latch latch(kParties - 1);
    for (int id = 0; id < kParties - 1; id++) {
      go([&, id] {
        party(id);
        latch.done();
      });
    }
    latch.wait();
  });
  thread.join();
  EXPECT_EQ(turn, kParties * kRounds);
  EXPECT_EQ(mu, 1u);
}

}  // namespace
}  // namespace gort::sched
