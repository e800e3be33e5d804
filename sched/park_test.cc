// Tests of park/ready (sched/internal.h), the primitive every wait in the
// runtime is built on: no wakeup is ever lost, whoever readies whom, on any
// number of Ps, from goroutines and from plain threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "sched/internal.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace gort::sched {
namespace {

using testing::Latch;
using testing::scaled;
using testing::SchedTest;
using testing::ScopedProcs;
using testing::Sem;
using testing::Watchdog;

// splitmix64: the tests' own reproducible randomness.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class RandomParkReadyTest : public SchedTest, public ::testing::WithParamInterface<int> {};

// N goroutines each wait K times on their own semaphore (park) and post K
// times to others' (ready). In round r goroutine i posts to perm_r(i), a
// random bijection of [0, N) (an affine map i -> a*i + b mod N, a coprime to
// N), so every goroutine receives exactly K tokens in all, from random
// senders on random Ps, in random order relative to its own waits (a post
// may come before the wait, banked, or after it, a ready). Between steps a
// goroutine randomly yields, spins or goes straight on.
//
// Invariant: no wakeup is lost: every goroutine completes its K waits (a
// lost one hangs the test and the watchdog prints the dump), every token is
// consumed exactly once (no semaphore keeps a banked token), and a parked
// goroutine is never readied twice (ready() would fail with `bad
// g->status`). The scheme cannot deadlock by itself: a goroutine's round-r
// token comes from a goroutine that posts in round r before it waits.
TEST_P(RandomParkReadyTest, NoLostWakeup) {
  const int procs = GetParam();
  // 100k goroutines at every scale but TSan's. The 100 rounds each
  // take 20-29 s per P count here (about 2.4 µs a pair: 100k stacks do not
  // fit in any cache), so the suite runs 30 rounds to stay within a minute.
  const int64_t n = scaled(100'000, 100'000, 2'000);
  const int64_t k = scaled(30, 10, 20);
  ScopedProcs scoped(procs);
  Watchdog dog("RandomParkReadyTest.NoLostWakeup", 120);

  uint64_t seed = mix(static_cast<uint64_t>(sys::nanotime()));
  printf("procs=%d n=%lld k=%lld seed=%llu\n", procs, static_cast<long long>(n),
         static_cast<long long>(k), static_cast<unsigned long long>(seed));
  fflush(stdout);
  struct Round {
    uint64_t a, b;
  };
  std::vector<Round> rounds(k);
  for (int64_t r = 0; r < k; r++) {
    uint64_t a;
    uint64_t x = seed + 1000003 * static_cast<uint64_t>(r);
    do {
      x = mix(x);
      a = x % static_cast<uint64_t>(n);
    } while (a == 0 || std::gcd(a, static_cast<uint64_t>(n)) != 1);
    rounds[r] = {a, mix(x) % static_cast<uint64_t>(n)};
  }
  std::vector<Sem> sems(n);
  std::vector<int64_t> waits_done(n, 0);  // each written by its goroutine only
  std::atomic<int64_t> posts{0};

  int64_t t0 = sys::nanotime();
  run([&] {
    Latch latch(n);
    for (int64_t i = 0; i < n; i++) {
      go([&, i] {
        uint64_t rng = mix(seed ^ static_cast<uint64_t>(i));
        for (int64_t r = 0; r < k; r++) {
          uint64_t to = (rounds[r].a * static_cast<uint64_t>(i) + rounds[r].b) %
                        static_cast<uint64_t>(n);
          sems[to].post();
          posts.fetch_add(1, std::memory_order_relaxed);
          rng = mix(rng);
          switch (rng % 4) {
            case 0:
              yield();
              break;
            case 1:
              for (int s = 0; s < static_cast<int>(rng % 200); s++) {
                asm volatile("");  // a few ns of work the compiler keeps
              }
              break;
            default:
              break;
          }
          sems[i].wait();
          waits_done[i]++;
        }
        latch.done();
      });
    }
    latch.wait();
  });
  int64_t ns = sys::nanotime() - t0;
  printf("%lld park/ready pairs in %.0f ms\n", static_cast<long long>(n * k), ns / 1e6);

  EXPECT_EQ(posts.load(), n * k);
  int64_t short_waits = 0, banked = 0;
  for (int64_t i = 0; i < n; i++) {
    short_waits += waits_done[i] != k;
    banked += sems[i].count();
  }
  EXPECT_EQ(short_waits, 0);
  EXPECT_EQ(banked, 0) << "tokens posted but never consumed";
}

std::string procs_name(const ::testing::TestParamInfo<int>& param) {
  return std::to_string(param.param) + "P";
}

INSTANTIATE_TEST_SUITE_P(Procs, RandomParkReadyTest, ::testing::Values(1, 2, 8), procs_name);

class PlainThreadReadyTest : public SchedTest, public ::testing::WithParamInterface<int> {};

// A plain thread (no M, no P) readies a parked goroutine: the goroutine goes
// on the global run queue and wakep must get it run, also when the only P
// is just being given up by a spinning M (the race between a producer that
// sees the M still spinning and the M's last look at the queues). Ping-pong
// many times; a lost wakeup hangs (watchdog).
//
// The main goroutine waits for the thread inside blocking(), so that its M
// counts as running and deadlock detection stays quiet while the worker is
// parked waiting on a plain thread.
TEST_P(PlainThreadReadyTest, PingPong) {
  ScopedProcs scoped(GetParam());
  const int kRounds = static_cast<int>(scaled(100'000, 100'000, 10'000));
  Watchdog dog("PlainThreadReadyTest.PingPong", 60);
  Sem to_goroutine;
  std::binary_semaphore to_thread{0};
  int64_t got = 0;
  run([&] {
    Latch worker_done(1);
    go([&] {
      for (int i = 0; i < kRounds; i++) {
        to_goroutine.wait();
        got++;
        to_thread.release();
      }
      worker_done.done();
    });
    std::thread t([&] {
      for (int i = 0; i < kRounds; i++) {
        to_goroutine.post();
        to_thread.acquire();
      }
    });
    blocking([&] { t.join(); });
    worker_done.wait();
  });
  EXPECT_EQ(got, kRounds);
  EXPECT_EQ(to_goroutine.count(), 0);
}

INSTANTIATE_TEST_SUITE_P(Procs, PlainThreadReadyTest, ::testing::Values(1, 2, 4), procs_name);

using ParkTest = SchedTest;

// An unlock function that returns false cancels the park: the goroutine
// continues at once without anyone readying it, and it is running again
// (not waiting) when park returns.
TEST_F(ParkTest, UnlockfFalseCancelsPark) {
  int calls = 0;
  GStatus status_in_unlockf = GStatus::kIdle;
  G* self = nullptr;
  G* seen = nullptr;
  run([&] {
    self = current_g();
    struct Arg {
      int* calls;
      GStatus* status;
      G** seen;
    } arg{&calls, &status_in_unlockf, &seen};
    park(
        [](G* g, void* a) {
          Arg* out = static_cast<Arg*>(a);
          ++*out->calls;
          *out->status = g->status.load();
          *out->seen = g;
          return false;
        },
        &arg, WaitReason::kSleep);
    EXPECT_EQ(self->status.load(), GStatus::kRunning);
    EXPECT_EQ(current_g(), self);
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, self);
  // unlockf runs after the G is marked waiting (off its stack, on g0).
  EXPECT_EQ(status_in_unlockf, GStatus::kWaiting);
}

// unlockf runs on g0 after the goroutine is off its stack, so a waker that
// readies it the instant the lock is released may run it at once on another
// M. Many goroutines race a dedicated waker goroutine on another P that
// spins on the published G pointer and readies it immediately.
TEST_F(ParkTest, ReadyImmediatelyAfterUnlock) {
  ScopedProcs scoped(2);
  const int kRounds = static_cast<int>(scaled(200'000, 100'000, 20'000));
  Watchdog dog("ParkTest.ReadyImmediatelyAfterUnlock", 60);
  std::atomic<G*> slot{nullptr};
  std::atomic<bool> stop{false};
  int rounds_done = 0;
  run([&] {
    Latch waker_done(1);
    go([&] {
      while (!stop.load(std::memory_order_acquire)) {
        G* g = slot.exchange(nullptr, std::memory_order_acq_rel);
        if (g != nullptr) {
          ready(g);
        } else {
          yield();
        }
      }
      waker_done.done();
    });
    for (int i = 0; i < kRounds; i++) {
      // Publish ourselves only from unlockf, i.e. once kWaiting.
      park(
          [](G* g, void* s) {
            static_cast<std::atomic<G*>*>(s)->store(g, std::memory_order_release);
            return true;
          },
          &slot, WaitReason::kSleep);
      rounds_done++;
    }
    stop.store(true, std::memory_order_release);
    waker_done.wait();
  });
  EXPECT_EQ(rounds_done, kRounds);
}

// Invariant: a heap object that only a parked goroutine's stack points to
// is alive, not leaked. Under ASan, LeakSanitizer must see it too: it scans
// every goroutine stack as a root region (sched/stack.cc), so a leak check
// taken while the goroutine is parked finds nothing. In every build the
// goroutine finds its object intact when readied.
TEST_F(ParkTest, ParkedStackKeepsHeapObjectsReachable) {
  run([] {
    // One P: no M is being started while the leak check runs (a thread
    // between pthread_create and its first instruction holds its start
    // record only in the kernel's hands, which LeakSanitizer reports).
    ScopedProcs procs(1);
    Sem parked, resume, finished;
    bool intact = false;
    go([&] {
      // The only pointer to the block: a volatile local, so it stays in
      // this goroutine's frame (not a register, not the heap).
      int64_t* volatile block = new int64_t[64];
      std::iota(block, block + 64, int64_t{1});
      parked.post();
      resume.wait();
      intact = std::accumulate(block, block + 64, int64_t{0}) == 64 * 65 / 2;
      delete[] block;
      finished.post();
    });
    parked.wait();
#if defined(__SANITIZE_ADDRESS__)
    EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0)
        << "LeakSanitizer called a parked goroutine's object leaked";
#endif
    resume.post();
    finished.wait();
    EXPECT_TRUE(intact);
  });
}

}  // namespace
}  // namespace gort::sched
