// Tests of the scheduler's event recorder (sched/trace.h): what a ring
// keeps when it overflows, that nothing is recorded while tracing is off,
// and that the scheduler's events describe what ran where: every run of a
// goroutine on an M is a start and a stop of that goroutine, runs on one P
// never overlap, a steal is followed by the stolen goroutine starting on
// the thief's P, syscalls and timer batches are recorded.
#include "sched/trace.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sched/internal.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::sched {
namespace {

using testing::Latch;
using testing::scaled;
using testing::SchedTest;
using testing::ScopedProcs;
using testing::Watchdog;
using trace::Event;
using trace::EventKind;
using trace::ThreadEvents;

using TraceTest = SchedTest;

std::vector<ThreadEvents> record(const std::function<void()>& body) {
  trace::enable();
  body();
  trace::disable();
  return trace::drain();
}

int64_t count_kind(const std::vector<ThreadEvents>& threads, EventKind kind) {
  int64_t n = 0;
  for (const ThreadEvents& t : threads) {
    for (const Event& e : t.events) n += e.kind == kind;
  }
  return n;
}

// Spins for `ns` without parking (a goroutine that keeps its P busy).
void spin_for(int64_t ns) {
  int64_t end = sys::nanotime() + ns;
  while (sys::nanotime() < end) {
  }
}

// Invariant: a ring keeps its newest kRingEvents events, in order, and
// counts every older one as dropped. The test thread is no M, so its
// events land in a ring of its own (m == -1).
TEST(TraceRing, KeepsTheNewestAndCountsTheRest) {
  constexpr int64_t kExtra = 1000;
  const int64_t n = trace::kRingEvents + kExtra;
  std::vector<ThreadEvents> threads = record([&] {
    for (int64_t i = 0; i < n; i++) trace::steal(0, 1, i);
  });
  const ThreadEvents* mine = nullptr;
  for (const ThreadEvents& t : threads) {
    if (t.m == -1 && !t.events.empty() && t.events[0].kind == EventKind::kSteal) {
      mine = &t;
    }
  }
  ASSERT_NE(mine, nullptr);
  ASSERT_EQ(mine->events.size(), trace::kRingEvents);
  EXPECT_EQ(mine->dropped, static_cast<uint64_t>(kExtra));
  for (size_t i = 0; i < mine->events.size(); i++) {
    const Event& e = mine->events[i];
    ASSERT_EQ(e.goid, kExtra + static_cast<int64_t>(i));
    ASSERT_EQ(e.p, 0);
    ASSERT_EQ(e.other_p, 1);
    if (i > 0) {
      ASSERT_GE(e.ts_ns, mine->events[i - 1].ts_ns);
    }
  }
  // A second session starts empty: the ring was not drained twice.
  std::vector<ThreadEvents> again = record([] { trace::steal(2, 3, 7); });
  int64_t steals = 0;
  for (const ThreadEvents& t : again) {
    if (t.m != -1) continue;
    for (const Event& e : t.events) {
      if (e.kind == EventKind::kSteal) {
        steals++;
        EXPECT_EQ(e.goid, 7);
      }
    }
    EXPECT_EQ(t.dropped, 0u);
  }
  EXPECT_EQ(steals, 1);
}

// The goids of `n` goroutines spawned and joined inside run().
std::vector<int64_t> spawn_and_join(int n) {
  std::vector<int64_t> ids(n);
  run([&] {
    Latch latch(n);
    for (int i = 0; i < n; i++) {
      go([&, i] {
        ids[i] = current_g()->id;
        latch.done();
      });
    }
    latch.wait();
  });
  return ids;
}

// Invariant: goroutines that run while tracing is off leave no event; those
// that run while it is on each leave a start.
TEST_F(TraceTest, RecordsOnlyWhileOn) {
  std::vector<int64_t> before = spawn_and_join(10);
  std::vector<int64_t> during;
  trace::enable();
  during = spawn_and_join(10);
  trace::disable();
  std::vector<int64_t> after = spawn_and_join(10);
  std::vector<ThreadEvents> threads = trace::drain();
  std::set<int64_t> started;
  for (const ThreadEvents& t : threads) {
    for (const Event& e : t.events) {
      if (e.kind == EventKind::kGoStart) started.insert(e.goid);
    }
  }
  for (int64_t id : during) EXPECT_TRUE(started.contains(id)) << "G" << id;
  for (int64_t id : before) EXPECT_FALSE(started.contains(id)) << "G" << id;
  for (int64_t id : after) EXPECT_FALSE(started.contains(id)) << "G" << id;
}

// Invariants, on 2 Ps with goroutines that yield, enter syscalls and park:
// per thread, a goroutine's events between its start and its stop are its
// own (syscall entry and exit), and a start names where go() was called;
// the intervals in which a P ran goroutines (start or exitsyscall with a P,
// to stop or entersyscall) never overlap on one P; each goroutine's two
// blocking() calls are two entries and two exits; a
// goroutine that waits on a semaphore parks with Go's wait reason
// "semacquire".
TEST_F(TraceTest, RunsPairUpAndNeverOverlapOnAP) {
  Watchdog dog("RunsPairUpAndNeverOverlapOnAP", 60);
  ScopedProcs procs(2);
  const int n = static_cast<int>(scaled(200, 100, 40));
  std::vector<int64_t> ids(n);
  std::vector<ThreadEvents> threads = record([&] {
    run([&] {
      Latch latch(n + 1);
      // One goroutine surely parks: it is posted only once it waits.
      std::atomic<G*> waiter{nullptr};
      testing::Sem sem;
      go([&] {
        waiter.store(current_g());
        sem.wait();
        latch.done();
      });
      for (int i = 0; i < n; i++) {
        go([&, i] {
          ids[i] = current_g()->id;
          yield();
          blocking([] { spin_for(2000); });
          yield();
          blocking([] { spin_for(2000); });
          latch.done();
        });
      }
      G* w;
      while ((w = waiter.load()) == nullptr ||
             w->status.load() != GStatus::kWaiting) {
        yield();
      }
      sem.post();
      latch.wait();
    });
  });
  std::set<int64_t> ours(ids.begin(), ids.end());
  struct Slice {
    int64_t start, end, goid;
  };
  std::map<int32_t, std::vector<Slice>> by_p;
  std::map<int64_t, int> enters, exits, exits_ok;
  int64_t semacquire_parks = 0;
  for (const ThreadEvents& t : threads) {
    int64_t cur = -1;      // the goroutine running on this thread, if known
    int32_t p = -1;        // the P it runs on, -1 if none
    int64_t p_since = 0;
    for (const Event& e : t.events) {
      switch (e.kind) {
        case EventKind::kGoStart:
          ASSERT_EQ(cur, -1) << "G" << e.goid << " started on M" << t.m
                             << " while G" << cur << " ran there";
          ASSERT_GE(e.p, 0);
          cur = e.goid;
          p = e.p;
          p_since = e.ts_ns;
          if (ours.contains(e.goid)) {
            EXPECT_NE(std::string(e.site.file_name()).find("trace_test.cc"),
                      std::string::npos)
                << e.site.file_name();
          }
          break;
        case EventKind::kGoStop:
          if (cur == -1) break;  // the first event of a ring: start unseen
          ASSERT_EQ(e.goid, cur);
          if (p >= 0) by_p[p].push_back({p_since, e.ts_ns, cur});
          if (e.reason == trace::StopReason::kPark &&
              e.wait == WaitReason::kSemacquire) {
            semacquire_parks++;
          }
          cur = -1;
          p = -1;
          break;
        case EventKind::kSyscallEnter:
          if (cur == -1) break;
          ASSERT_EQ(e.goid, cur);
          ASSERT_EQ(e.p, p);
          by_p[p].push_back({p_since, e.ts_ns, cur});
          p = -1;
          enters[e.goid]++;
          break;
        case EventKind::kSyscallExit:
          if (cur == -1) break;
          ASSERT_EQ(e.goid, cur);
          exits[e.goid]++;
          if (e.p >= 0) {
            p = e.p;
            p_since = e.ts_ns;
            exits_ok[e.goid]++;
          }
          break;
        default:
          break;
      }
    }
  }
  for (auto& [pid, slices] : by_p) {
    std::sort(slices.begin(), slices.end(),
              [](const Slice& a, const Slice& b) { return a.start < b.start; });
    for (size_t i = 1; i < slices.size(); i++) {
      ASSERT_LE(slices[i - 1].end, slices[i].start)
          << "P" << pid << ": G" << slices[i - 1].goid << " ["
          << slices[i - 1].start << ", " << slices[i - 1].end << "] overlaps G"
          << slices[i].goid << " from " << slices[i].start;
    }
  }
  for (int64_t id : ids) {
    EXPECT_EQ(enters[id], 2) << "G" << id;
    EXPECT_EQ(exits[id], 2) << "G" << id;
  }
  EXPECT_GE(semacquire_parks, 1);
  EXPECT_GE(count_kind(threads, EventKind::kGoStart), n);
}

// Invariant: after a steal event on a thread, the next goroutine that
// thread starts is the stolen one, on the thief's P (steal_work's G goes
// straight to execute), and the victim is another P. Steals are likely but
// not certain in one attempt (the other P may find the global queue
// first), so up to 20 attempts, each a burst of spinning goroutines made
// on one P while the other idles.
TEST_F(TraceTest, AStealIsFollowedByTheStolenGoroutine) {
  Watchdog dog("AStealIsFollowedByTheStolenGoroutine", 120);
  ScopedProcs procs(2);
  const int n = static_cast<int>(scaled(64, 32, 16));
  int64_t verified = 0;
  for (int attempt = 0; attempt < 20 && verified == 0; attempt++) {
    std::vector<ThreadEvents> threads = record([&] {
      run([&] {
        Latch latch(n);
        for (int i = 0; i < n; i++) {
          go([&] {
            spin_for(50'000);
            latch.done();
          });
        }
        latch.wait();
      });
    });
    for (const ThreadEvents& t : threads) {
      for (size_t i = 0; i < t.events.size(); i++) {
        const Event& s = t.events[i];
        if (s.kind != EventKind::kSteal) continue;
        EXPECT_NE(s.p, s.other_p);
        auto next = std::find_if(t.events.begin() + i + 1, t.events.end(),
                                 [](const Event& e) {
                                   return e.kind == EventKind::kGoStart;
                                 });
        if (next == t.events.end()) continue;  // the trace ended first
        EXPECT_EQ(next->goid, s.goid);
        EXPECT_EQ(next->p, s.p);
        verified++;
      }
    }
  }
  EXPECT_GE(verified, 1) << "no steal in 20 bursts of " << n << " goroutines";
}

// Invariant: a goroutine woken by its sleep timer is preceded by a batch
// of fired timers (count >= 1) recorded by some M.
TEST_F(TraceTest, TimerBatchesAreRecorded) {
  std::vector<ThreadEvents> threads = record([] {
    run([] { gort::time::sleep(std::chrono::milliseconds(1)); });
  });
  int64_t fired = 0;
  for (const ThreadEvents& t : threads) {
    for (const Event& e : t.events) {
      if (e.kind != EventKind::kTimers) continue;
      EXPECT_GE(e.count, 1u);
      EXPECT_GE(e.other_p, 0);
      fired += e.count;
    }
  }
  EXPECT_GE(fired, 1);
}

}  // namespace
}  // namespace gort::sched
