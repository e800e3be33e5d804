// Tests of timer/heap.h alone (no scheduler): order, lazy stop and reset,
// stale entries, compaction, migration, and a model check of random operations on 1, 2
// and 8 heaps run by as many threads.
#include "timer/heap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "sys/clock.h"

namespace gort::timer {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int64_t kScale = 20;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int64_t kScale = 5;
#else
constexpr int64_t kScale = 1;
#endif

// A timer that records the order and time it fired in.
struct Recorder {
  Timer t{&Recorder::fire, this};
  int id = 0;
  int64_t when = 0;
  std::vector<int>* order = nullptr;
  int fired = 0;
  static void fire(void* arg, uint64_t, int64_t now) {
    Recorder* r = static_cast<Recorder*>(arg);
    EXPECT_GE(now, r->when) << "fired before its deadline";
    r->fired++;
    r->order->push_back(r->id);
  }
};

// Invariant: one heap fires every timer exactly once, in deadline order,
// never before its deadline, and only once run at or after it.
TEST(HeapTest, FiresInDeadlineOrder) {
  Heap h;
  std::vector<int> order;
  std::vector<Recorder> rs(10000);
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < rs.size(); i++) {
    rs[i].id = static_cast<int>(i);
    rs[i].when = 1 + static_cast<int64_t>(rng() % 1'000'000);
    rs[i].order = &order;
    rs[i].t.reset(&h, rs[i].when, 0);
  }
  EXPECT_EQ(h.len(), 10000);
  EXPECT_EQ(h.run(0), 0);
  for (int64_t now = 0; now <= 1'000'000; now += 997) h.run(now);
  ASSERT_EQ(order.size(), rs.size());
  for (size_t i = 1; i < order.size(); i++) {
    EXPECT_LE(rs[order[i - 1]].when, rs[order[i]].when) << "at " << i;
  }
  for (auto& r : rs) EXPECT_EQ(r.fired, 1);
  EXPECT_EQ(h.len(), 0);
  EXPECT_EQ(h.next_when(), kNever);
}

// Invariant: stop() is lazy (the entry stays, counted as a zombie, and never
// fires); reset() of a zombie revives it in place; a reset to an earlier
// deadline moves the heap's next_when at once, a later one is applied when
// the entry surfaces.
TEST(HeapTest, LazyStopAndReset) {
  Heap h;
  std::vector<int> order;
  Recorder a, b;
  a.id = 1, b.id = 2;
  a.order = b.order = &order;
  a.when = 100;
  b.when = 200;
  a.t.reset(&h, 100, 0);
  b.t.reset(&h, 200, 0);
  EXPECT_TRUE(a.t.stop());
  EXPECT_FALSE(a.t.stop());
  EXPECT_EQ(h.len(), 2);   // still there (lazy)
  EXPECT_EQ(h.live(), 1);  // but dead
  EXPECT_FALSE(a.t.reset(&h, 300, 0));  // was not pending
  a.when = 300;
  EXPECT_EQ(h.live(), 2);
  EXPECT_TRUE(b.t.reset(&h, 50, 0));  // earlier: moved up now
  b.when = 50;
  EXPECT_EQ(h.next_when(), 50);
  EXPECT_TRUE(b.t.reset(&h, 400, 0));  // later: lazy
  b.when = 400;
  EXPECT_EQ(h.next_when(), 50);
  EXPECT_EQ(h.run(299), 0);  // b's entry surfaces, is pushed down, nothing due
  EXPECT_EQ(h.next_when(), 300);
  EXPECT_EQ(h.run(1000), 2);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

// Live timers far out, so that a few stale entries stay under the
// compaction threshold (a quarter of the heap).
constexpr int32_t kPad = 20;
constexpr int64_t kFar = 1'000'000'000;

std::vector<Recorder> padded(Heap* h, std::vector<int>* order) {
  std::vector<Recorder> pad(kPad);
  for (auto& r : pad) {
    r.order = order;
    r.when = kFar;
    r.t.reset(h, kFar, 0);
  }
  return pad;
}

// Invariant (stale entries, heap.cc): a reset to an earlier deadline adds
// an entry and leaves the old one stale (counted in len, not in live); the
// stale entry never fires and is dropped when it surfaces; two entries of
// one timer at the same deadline fire it once.
TEST(HeapTest, EarlierResetLeavesAStaleEntry) {
  std::vector<int> order;
  Heap h;
  std::vector<Recorder> pad = padded(&h, &order);  // Recorders do not move
  Recorder a;
  a.order = &order;
  a.t.reset(&h, 200, 0);
  EXPECT_TRUE(a.t.reset(&h, 100, 0));  // earlier: a second entry
  EXPECT_EQ(h.len(), kPad + 2);
  EXPECT_EQ(h.live(), kPad + 1);
  EXPECT_EQ(h.next_when(), 100);
  EXPECT_TRUE(a.t.reset(&h, 300, 0));  // later: lazy
  a.when = 300;
  EXPECT_EQ(h.len(), kPad + 2);
  EXPECT_EQ(h.run(250), 0);  // 100 pushed down to 300, stale 200 dropped
  EXPECT_EQ(h.len(), kPad + 1);
  EXPECT_EQ(h.live(), kPad + 1);
  EXPECT_EQ(h.run(300), 1);
  EXPECT_EQ(a.fired, 1);
  EXPECT_EQ(h.len(), kPad);

  // Stop, re-arm earlier (the zombie gets a new entry), re-arm at the old
  // deadline: both entries then carry 100.
  Recorder b;
  b.order = &order;
  b.t.reset(&h, 100, 0);
  EXPECT_TRUE(b.t.stop());
  EXPECT_EQ(h.live(), kPad);
  EXPECT_FALSE(b.t.reset(&h, 50, 0));
  EXPECT_EQ(h.len(), kPad + 2);
  EXPECT_EQ(h.live(), kPad + 1);
  EXPECT_TRUE(b.t.reset(&h, 100, 0));
  b.when = 100;
  EXPECT_EQ(h.run(60), 0);  // 50 pushed down to 100
  EXPECT_EQ(h.len(), kPad + 2);
  EXPECT_EQ(h.run(100), 1);  // fires once, the twin is dropped
  EXPECT_EQ(b.fired, 1);
  EXPECT_EQ(h.len(), kPad);
  EXPECT_EQ(h.live(), kPad);
  for (auto& r : pad) r.t.stop();
  EXPECT_EQ(h.run(kFar), 0);  // drops them before they go out of scope
  EXPECT_EQ(h.len(), 0);
}

// Invariant: a counted timer with a stale entry left after it fired stays
// alive (the heap's reference) until that entry is dropped, then is freed
// once; move_all_to moves a timer with stale entries as one live entry.
TEST(HeapTest, StaleEntriesKeepCountedTimerAndMove) {
  static std::atomic<int> freed{0};
  static std::atomic<int> fired{0};
  freed = 0;
  fired = 0;
  struct Counted : Timer {
    Counted() : Timer([](void*, uint64_t, int64_t) { fired++; }, nullptr) {}
  };
  auto release = [](Timer* t) {
    delete static_cast<Counted*>(t);
    freed++;
  };
  std::vector<int> order;
  Heap h, from, to;
  std::vector<Recorder> pad = padded(&h, &order);
  std::vector<Recorder> pad2 = padded(&from, &order);
  Counted* c = new Counted;
  c->set_release(release);
  c->reset(&h, 100, 0);
  c->reset(&h, 50, 0);  // entries at 50 (live) and 100 (stale)
  c->release();         // the creator's reference
  EXPECT_EQ(h.run(60), 1);
  EXPECT_EQ(freed.load(), 0);  // the stale entry still holds it
  EXPECT_EQ(h.len(), kPad + 1);
  EXPECT_EQ(h.live(), kPad);
  EXPECT_EQ(h.run(100), 0);
  EXPECT_EQ(freed.load(), 1);
  EXPECT_EQ(h.len(), kPad);

  Counted* d = new Counted;
  d->set_release(release);
  d->reset(&from, 300, 0);
  d->reset(&from, 200, 0);
  d->reset(&from, 100, 0);  // three entries, one live
  EXPECT_EQ(from.len(), kPad + 3);
  EXPECT_EQ(from.live(), kPad + 1);
  from.move_all_to(&to);
  EXPECT_EQ(from.len(), 0);
  EXPECT_EQ(from.live(), 0);
  EXPECT_EQ(to.len(), kPad + 1);
  EXPECT_EQ(to.live(), kPad + 1);
  d->release();
  EXPECT_EQ(to.run(1000), 1);
  EXPECT_EQ(fired.load(), 2);
  EXPECT_EQ(freed.load(), 2);
  for (auto& r : pad) r.t.stop();
  for (auto& r : pad2) r.t.stop();
  EXPECT_EQ(h.run(kFar), 0);
  EXPECT_EQ(to.run(kFar), 0);
  EXPECT_EQ(h.len() + to.len(), 0);
}

// Invariant: once more than a quarter of a heap is stopped, it drops the
// stopped entries (so a heap of n live timers never carries more than
// about n/3 dead ones past a run or an insert), and the rest still fire.
TEST(HeapTest, CompactsWhenAQuarterIsStopped) {
  Heap h;
  std::vector<int> order;
  std::vector<Recorder> rs(1000);
  for (size_t i = 0; i < rs.size(); i++) {
    rs[i].id = static_cast<int>(i);
    rs[i].when = 1000 + static_cast<int64_t>(i);
    rs[i].order = &order;
    rs[i].t.reset(&h, rs[i].when, 0);
  }
  for (size_t i = 0; i < rs.size(); i += 2) EXPECT_TRUE(rs[i].t.stop());
  EXPECT_EQ(h.len(), 1000);
  EXPECT_EQ(h.live(), 500);
  Recorder extra;
  extra.order = &order;
  extra.id = -1;
  extra.when = 5000;
  extra.t.reset(&h, 5000, 0);  // an insert compacts
  EXPECT_EQ(h.len(), 501);
  EXPECT_EQ(h.live(), 501);
  EXPECT_EQ(h.run(10000), 501);
  for (size_t i = 0; i < rs.size(); i++) EXPECT_EQ(rs[i].fired, i % 2);
}

// Invariant: a periodic timer fires once per run at or past its deadline
// and its next deadline stays on the period's grid (no catch-up burst).
TEST(HeapTest, PeriodicStaysOnGrid) {
  Heap h;
  std::vector<int> order;
  Recorder r;
  r.order = &order;
  r.when = 10;
  r.t.reset(&h, 10, 10);
  EXPECT_EQ(h.run(10), 1);
  EXPECT_EQ(h.next_when(), 20);
  r.when = 20;
  EXPECT_EQ(h.run(55), 1);  // late: one tick, next on the grid
  EXPECT_EQ(h.next_when(), 60);
  EXPECT_TRUE(r.t.stop());
  EXPECT_EQ(h.run(1000), 0);
  EXPECT_EQ(h.len(), 0);
}

// Invariant: move_all_to moves every live timer (they fire from the new
// heap, stop and reset still work on them) and drops the stopped ones.
TEST(HeapTest, MoveAllTo) {
  Heap from, to;
  std::vector<int> order;
  std::vector<Recorder> rs(100);
  for (size_t i = 0; i < rs.size(); i++) {
    rs[i].id = static_cast<int>(i);
    rs[i].when = 100 + static_cast<int64_t>(i);
    rs[i].order = &order;
    rs[i].t.reset(&from, rs[i].when, 0);
  }
  for (size_t i = 0; i < 10; i++) rs[i].t.stop();
  from.move_all_to(&to);
  EXPECT_EQ(from.len(), 0);
  EXPECT_EQ(to.len(), 90);
  EXPECT_TRUE(rs[10].t.reset(&from, 1, 0));  // still in `to`: moved up there
  rs[10].when = 1;
  EXPECT_EQ(to.next_when(), 1);
  EXPECT_EQ(from.len(), 0);
  EXPECT_EQ(to.run(1000), 90);
  for (size_t i = 0; i < rs.size(); i++) EXPECT_EQ(rs[i].fired, i >= 10 ? 1 : 0);
}

// Reference counting: the heap keeps a stopped, counted timer alive until
// it drops the entry, then the last release frees it.
TEST(HeapTest, CountedTimerReleasedWhenDropped) {
  static std::atomic<int> freed{0};
  freed = 0;
  struct Counted : Timer {
    Counted() : Timer([](void*, uint64_t, int64_t) {}, nullptr) {}
  };
  Heap h;
  Counted* c = new Counted;
  c->set_release([](Timer* t) {
    delete static_cast<Counted*>(t);
    freed++;
  });
  c->reset(&h, 10, 0);
  c->stop();
  c->release();  // the creator's reference: the heap's remains
  EXPECT_EQ(freed.load(), 0);
  h.run(100);  // drops the zombie, releasing the last reference
  EXPECT_EQ(freed.load(), 1);
}

// ---- the model check ----------------------------------------------------------

// Each thread owns some timers and one heap (its "P"). It arms (reset),
// stops and runs at random; now and then it runs another thread's heap (a
// stealer). Every arm gets a distinct seq. The model, per arm:
//   reset/stop returned true for it   -> it must never fire ("stopped");
//   otherwise, once it was replaced    -> it must have fired exactly once
//   (reset/stop returning false means the firing had begun);
//   still armed at the end             -> it fires exactly once when the
//                                         heaps are drained.
// So: nothing fires twice, nothing stopped fires, nothing is lost.
struct ModelTimer;
struct FireLog {
  std::mutex mu;
  std::vector<std::pair<ModelTimer*, uint64_t>> fired;
};

struct ModelTimer {
  Timer t{&ModelTimer::fire, this};
  FireLog* log = nullptr;
  // The owner's view: seq of each arm and whether it was stopped.
  std::vector<std::pair<uint64_t, bool>> arms;  // (seq, cancelled)
  static void fire(void* arg, uint64_t seq, int64_t) {
    ModelTimer* m = static_cast<ModelTimer*>(arg);
    std::lock_guard<std::mutex> l(m->log->mu);
    m->log->fired.emplace_back(m, seq);
  }
};

void model_check(int procs, int64_t ops) {
  std::vector<Heap> heaps(procs);
  FireLog log;
  constexpr int kTimersPerThread = 64;
  std::vector<std::vector<ModelTimer>> timers(procs);
  for (auto& v : timers) {
    v = std::vector<ModelTimer>(kTimersPerThread);
    for (auto& m : v) m.log = &log;
  }
  std::vector<std::thread> threads;
  for (int p = 0; p < procs; p++) {
    threads.emplace_back([&, p] {
      std::mt19937_64 rng(1234 + p);
      auto& mine = timers[p];
      for (int64_t i = 0; i < ops / procs; i++) {
        uint64_t r = rng();
        ModelTimer& m = mine[r % kTimersPerThread];
        switch ((r >> 8) % 8) {
          case 0:
          case 1:
          case 2: {  // arm 0-200 µs from now
            int64_t when = sys::nanotime() + static_cast<int64_t>((r >> 16) % 200'000);
            bool was = m.t.reset(&heaps[p], when, 0);
            if (!m.arms.empty() && was) m.arms.back().second = true;
            m.arms.emplace_back(m.t.seq(), false);
            break;
          }
          case 3:
          case 4: {
            bool was = m.t.stop();
            if (!m.arms.empty() && was) m.arms.back().second = true;
            break;
          }
          case 5:
          case 6:
            heaps[p].run(sys::nanotime());
            break;
          case 7:
            heaps[(r >> 16) % procs].run(sys::nanotime());
            break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // Gather the timers (with their stale entries) into one heap, as
  // gomaxprocs shrinking to 1 would, then drain.
  for (int p = 1; p < procs; p++) heaps[p].move_all_to(&heaps[0]);
  for (auto& h : heaps) h.run(kNever - 1);
  std::vector<std::pair<ModelTimer*, uint64_t>> fired = log.fired;
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(std::adjacent_find(fired.begin(), fired.end()), fired.end())
      << "a timer fired twice for one arm";
  int64_t arms = 0;
  for (auto& v : timers) {
    for (auto& m : v) {
      for (auto [seq, cancelled] : m.arms) {
        arms++;
        bool did = std::binary_search(fired.begin(), fired.end(),
                                      std::make_pair(&m, seq));
        if (cancelled) {
          EXPECT_FALSE(did) << "a stopped timer fired (seq " << seq << ")";
        } else {
          EXPECT_TRUE(did) << "an arm never fired (seq " << seq << ")";
        }
      }
    }
  }
  EXPECT_EQ(static_cast<int64_t>(fired.size()) <= arms, true);
  for (auto& h : heaps) EXPECT_EQ(h.len(), 0);
}

TEST(HeapModelTest, OneP) { model_check(1, 1'000'000 / kScale); }
TEST(HeapModelTest, TwoPs) { model_check(2, 1'000'000 / kScale); }
TEST(HeapModelTest, EightPs) { model_check(8, 1'000'000 / kScale); }

}  // namespace
}  // namespace gort::timer
