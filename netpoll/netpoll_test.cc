// Tests of the poller and its runtime glue (netpoll/netpoll.h) on pipes:
// readiness wakes a parked goroutine or a plain thread, an edge before the
// wait is not lost, evict wakes waiters with kClosing, deadlines (past,
// future, extended, cleared), reuse of a PollDesc does not inherit old
// readiness, a timer armed while an M blocks in the poller fires,
// and goroutines in IO wait keep deadlock detection quiet.
#include "netpoll/netpoll.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "netpoll/poller.h"
#include "sched/internal.h"
#include "sched/panic.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "timer/time.h"

namespace gort::netpoll {
namespace {

using sched::testing::SchedTest;
using sched::testing::Watchdog;

constexpr int64_t kMs = 1'000'000;

// A non-blocking pipe registered with the poller; closed at scope end.
struct Pipe {
  Pipe() {
    int fds[2];
    GORT_CHECK(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    r = fds[0];
    w = fds[1];
    int err = 0;
    pd = open(r, &err);
    GORT_CHECK(pd != nullptr);
  }
  ~Pipe() {
    if (pd != nullptr) {
      evict(pd);
      close(pd);
    }
    ::close(r);
    ::close(w);
  }
  void put(char c = 'x') { GORT_CHECK(::write(w, &c, 1) == 1); }
  // internal/poll's read loop: try, and wait on EAGAIN.
  PollError read_one(char* c) {
    if (PollError e = reset(pd, Mode::kRead); e != PollError::kNone) return e;
    for (;;) {
      ssize_t n = ::read(r, c, 1);
      if (n == 1) return PollError::kNone;
      GORT_CHECK(n < 0 && errno == EAGAIN);
      if (PollError e = wait(pd, Mode::kRead); e != PollError::kNone) return e;
    }
  }
  int r = -1, w = -1;
  PollDesc* pd = nullptr;
};

class NetpollTest : public SchedTest {};

// The first open() may come from a plain thread before anything started the
// scheduler (a listener made in main before gort::run): it starts the
// runtime it needs. Run in a fresh child process, where nothing has.
TEST(NetpollStart, OpenBeforeTheSchedulerStarts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Pipe p;
        p.put('s');
        char c = 0;
        bool ok = p.read_one(&c) == PollError::kNone && c == 's';
        std::fflush(stderr);
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(NetpollTest, ReadinessWakesParkedGoroutine) {
  Watchdog dog("ReadinessWakesParkedGoroutine", 30);
  gort::run([] {
    Pipe p;
    std::atomic<int> got{0};
    sched::testing::Latch done(1);
    go([&] {
      char c = 0;
      EXPECT_EQ(p.read_one(&c), PollError::kNone);
      got.store(c, std::memory_order_relaxed);
      done.done();
    });
    // The reader parks: it shows up as a waiter and has read nothing.
    while (waiters() == 0) yield();
    EXPECT_EQ(got.load(std::memory_order_relaxed), 0);
    p.put('a');
    done.wait();
    EXPECT_EQ(got.load(std::memory_order_relaxed), 'a');
    EXPECT_EQ(waiters(), 0);
  });
}

TEST_F(NetpollTest, EdgeBeforeWaitIsNotLost) {
  gort::run([] {
    Pipe p;
    // Make the fd readable and let a poll record the edge (then nobody
    // waits: the semaphore is left Ready).
    p.put();
    int64_t deadline = sys::nanotime() + 5000 * kMs;
    while (p.pd->rg.load() != kPdReady && sys::nanotime() < deadline) {
      poll(0, [](Token, void*) { ADD_FAILURE() << "nobody waits"; }, nullptr);
    }
    ASSERT_EQ(p.pd->rg.load(), kPdReady);
    // A wait without reset returns at once (the edge was remembered).
    EXPECT_EQ(wait(p.pd, Mode::kRead), PollError::kNone);
  });
}

TEST_F(NetpollTest, EvictWakesReaderAndWriterWithClosing) {
  Watchdog dog("EvictWakes", 30);
  gort::run([] {
    Pipe p;
    // Fill the pipe so that a writer waits too.
    char buf[4096] = {};
    while (::write(p.w, buf, sizeof buf) > 0) {
    }
    int err = 0;
    PollDesc* wpd = open(p.w, &err);
    ASSERT_NE(wpd, nullptr);
    Pipe q;  // its reader waits
    sched::testing::Latch done(2);
    std::atomic<int> closing{0};
    go([&] {
      char c;
      if (q.read_one(&c) == PollError::kClosing) closing.fetch_add(1);
      done.done();
    });
    go([&] {
      ASSERT_EQ(reset(wpd, Mode::kWrite), PollError::kNone);
      if (wait(wpd, Mode::kWrite) == PollError::kClosing) closing.fetch_add(1);
      done.done();
    });
    while (waiters() < 2) yield();
    evict(q.pd);
    evict(wpd);
    done.wait();
    EXPECT_EQ(closing.load(), 2);
    // Later waits fail at once.
    EXPECT_EQ(reset(q.pd, Mode::kRead), PollError::kClosing);
    EXPECT_EQ(wait(q.pd, Mode::kRead), PollError::kClosing);
    close(wpd);
    close(q.pd);
    q.pd = nullptr;
  });
}

TEST_F(NetpollTest, Deadlines) {
  Watchdog dog("Deadlines", 30);
  gort::run([] {
    Pipe p;
    char c;
    // A deadline in the past: kTimeout at once, before and after reset.
    set_deadline(p.pd, -1, Mode::kRead);
    EXPECT_EQ(reset(p.pd, Mode::kRead), PollError::kTimeout);
    EXPECT_EQ(p.read_one(&c), PollError::kTimeout);
    // Cleared: data is read again.
    set_deadline(p.pd, 0, Mode::kRead);
    p.put();
    EXPECT_EQ(p.read_one(&c), PollError::kNone);
    // A future deadline: the wait ends with kTimeout, never early.
    int64_t start = sys::nanotime();
    set_deadline(p.pd, start + 20 * kMs, Mode::kRead);
    EXPECT_EQ(p.read_one(&c), PollError::kTimeout);
    EXPECT_GE(sys::nanotime() - start, 20 * kMs);
    // The write deadline is separate: writing still works.
    set_deadline(p.pd, 0, Mode::kReadWrite);
    // A deadline extended while the reader is parked: it does not fire at
    // the first time.
    start = sys::nanotime();
    set_deadline(p.pd, start + 10 * kMs, Mode::kRead);
    sched::testing::Latch done(1);
    std::atomic<int64_t> ended{0};
    std::atomic<int> result{-1};
    go([&] {
      char d;
      result.store(static_cast<int>(p.read_one(&d)));
      ended.store(sys::nanotime());
      done.done();
    });
    while (waiters() == 0) yield();
    set_deadline(p.pd, start + 60 * kMs, Mode::kRead);
    done.wait();
    EXPECT_EQ(result.load(), static_cast<int>(PollError::kTimeout));
    EXPECT_GE(ended.load() - start, 60 * kMs);
  });
}

TEST_F(NetpollTest, DeadlineOnParkedReaderFiresAndDataAfterClearIsRead) {
  Watchdog dog("DeadlineThenData", 30);
  gort::run([] {
    Pipe p;
    char c;
    set_deadline(p.pd, sys::nanotime() + 5 * kMs, Mode::kRead);
    EXPECT_EQ(p.read_one(&c), PollError::kTimeout);
    set_deadline(p.pd, 0, Mode::kRead);
    sched::testing::Latch done(1);
    go([&] {
      char d = 0;
      EXPECT_EQ(p.read_one(&d), PollError::kNone);
      EXPECT_EQ(d, 'z');
      done.done();
    });
    while (waiters() == 0) yield();
    p.put('z');
    done.wait();
  });
}

TEST_F(NetpollTest, PlainThreadWaits) {
  Watchdog dog("PlainThreadWaits", 30);
  Pipe p;
  std::thread t([&] {
    char c = 0;
    EXPECT_EQ(p.read_one(&c), PollError::kNone);
    EXPECT_EQ(c, 'q');
  });
  int64_t deadline = sys::nanotime() + 5000 * kMs;
  while (waiters() == 0 && sys::nanotime() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(waiters(), 1);
  p.put('q');
  t.join();
  // And a plain thread's deadline.
  char c;
  int64_t start = sys::nanotime();
  set_deadline(p.pd, start + 15 * kMs, Mode::kRead);
  EXPECT_EQ(p.read_one(&c), PollError::kTimeout);
  EXPECT_GE(sys::nanotime() - start, 15 * kMs);
}

TEST_F(NetpollTest, ReusedDescDoesNotInheritReadiness) {
  gort::run([] {
    PollDesc* first;
    {
      Pipe a;
      a.put();
      int64_t deadline = sys::nanotime() + 5000 * kMs;
      while (a.pd->rg.load() != kPdReady && sys::nanotime() < deadline) {
        poll(0, [](Token, void*) {}, nullptr);
      }
      ASSERT_EQ(a.pd->rg.load(), kPdReady);
      first = a.pd;
    }  // evicted and closed with its semaphore Ready
    Pipe b;
    EXPECT_EQ(b.pd, first) << "the cache should hand back the freed PollDesc";
    // Not readable: a wait must time out, not return the old readiness.
    set_deadline(b.pd, sys::nanotime() + 10 * kMs, Mode::kRead);
    EXPECT_EQ(wait(b.pd, Mode::kRead), PollError::kTimeout);
  });
}

TEST_F(NetpollTest, TimerArmedWhileMBlocksInPollerFires) {
  Watchdog dog("TimerWhilePolling", 30);
  sched::testing::ScopedProcs procs(1);
  gort::run([] {
    Pipe p;
    sched::testing::Latch reader(1);
    go([&] {
      char c;
      EXPECT_EQ(p.read_one(&c), PollError::kNone);
      reader.done();
    });
    // From a plain thread, once every goroutine is parked (so the only P
    // is idle and its M waits in the poller with no timer: forever), start
    // a goroutine that sleeps 20 ms. Its timer must fire: timer_armed
    // breaks that poll (or, failing that, sysmon's overdue-timer check
    // starts an M), not wait for the pipe.
    std::atomic<int64_t> slept{0};
    std::thread t([&] {
      while (waiters() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      go([&] {
        int64_t start = sys::nanotime();
        time::sleep(std::chrono::milliseconds(20));
        slept.store(sys::nanotime() - start);
        p.put();
      });
    });
    reader.wait();
    t.join();
    EXPECT_GE(slept.load(), 20 * kMs);
    // Generous: the timer must not wait for the I/O (which only comes
    // after it); this is not a lateness target.
    EXPECT_LT(slept.load(), 2000 * kMs);
  });
}

TEST_F(NetpollTest, IOWaitKeepsDeadlockDetectionQuiet) {
  Watchdog dog("IOWaitNoDeadlock", 30);
  // The main goroutine is the only one, parked in IO wait; the Ms go idle.
  // checkdead must not call it a deadlock (the process would exit 2).
  Pipe p;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    p.put();
  });
  int rc = gort::run([&] {
    char c;
    return p.read_one(&c) == PollError::kNone ? 7 : 1;
  });
  t.join();
  EXPECT_EQ(rc, 7);
}

// A goroutine parked on an fd shows `[IO wait]` in the dump (here the one
// an uncaught panic prints; the child process exits 2).
TEST_F(NetpollTest, DumpShowsIOWait) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(gort::run([] {
                auto* p = new Pipe;  // the child exits with it parked
                go([p] {
                  char c;
                  p->read_one(&c);
                });
                while (waiters() == 0) yield();
                throw Panic("boom");
              }),
              ::testing::ExitedWithCode(2), "goroutine [0-9]+ \\[IO wait\\]:");
}

TEST_F(NetpollTest, ManyGoroutinesManyPipes) {
  Watchdog dog("ManyPipes", 60);
  const int n = static_cast<int>(sched::testing::scaled(500, 200, 50));
  gort::run([n] {
    std::vector<std::unique_ptr<Pipe>> pipes;
    for (int i = 0; i < n; i++) pipes.push_back(std::make_unique<Pipe>());
    sched::testing::Latch done(n);
    std::atomic<int64_t> sum{0};
    for (int i = 0; i < n; i++) {
      go([&, i] {
        for (int k = 0; k < 10; k++) {
          char c;
          EXPECT_EQ(pipes[i]->read_one(&c), PollError::kNone);
          sum.fetch_add(c);
        }
        done.done();
      });
    }
    for (int k = 0; k < 10; k++) {
      for (int i = 0; i < n; i++) pipes[i]->put(1);
      yield();
    }
    done.wait();
    EXPECT_EQ(sum.load(), 10 * n);
  });
}

}  // namespace
}  // namespace gort::netpoll
