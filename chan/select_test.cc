// Tests of select (chan/select.h): uniform choice among ready cases, the
// same channel in several cases, every way a blocked select is woken, the
// race between wakers on different channels, a sequential model checked
// against random selects, and a concurrent conservation stress.
#include "chan/select.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chan/chan.h"
#include "chan/test_util.h"
#include "sched/panic.h"
#include "sched/sched.h"

namespace gort {
namespace {

using chan_testing::ChanTest;
using chan_testing::queued_receivers;
using chan_testing::queued_senders;
using chan_testing::scaled;
using chan_testing::wait_until;
using chan_testing::Watchdog;

using chan_testing::ScopedProcs;

// Pearson's statistic of counts against the uniform distribution.
double chi_square(const std::vector<int64_t>& counts) {
  double n = 0;
  for (int64_t c : counts) n += static_cast<double>(c);
  const double e = n / static_cast<double>(counts.size());
  double x = 0;
  for (int64_t c : counts)
    x += (static_cast<double>(c) - e) * (static_cast<double>(c) - e) / e;
  return x;
}
// The statistic's critical values at p = 0.001 (1 and 3 degrees of freedom).
constexpr double kChi2Df1 = 10.828;
constexpr double kChi2Df3 = 16.266;

// 100k selects over 4 receive cases that are always ready (each channel is
// refilled after it is chosen). Invariant: each case is chosen with
// probability 1/4 (chi-square, p > 0.001).
std::vector<int64_t> recv_choices(int64_t n) {
  std::array<Chan<int>, 4> c;
  for (auto& x : c) {
    x = make_chan<int>(1);
    x.send(0);
  }
  std::vector<int64_t> counts(4);
  for (int64_t i = 0; i < n; ++i) {
    int at = select(on_recv(c[0]), on_recv(c[1]), on_recv(c[2]), on_recv(c[3]));
    counts[at]++;
    c[at].send(0);
  }
  return counts;
}

TEST_F(ChanTest, SelectIsFairAmongReadyReceives) {
  std::vector<int64_t> counts;
  run([&] { counts = recv_choices(100'000); });
  EXPECT_LT(chi_square(counts), kChi2Df3)
      << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
  // From a plain thread (its own generator).
  counts = recv_choices(100'000);
  EXPECT_LT(chi_square(counts), kChi2Df3)
      << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
}

// The same for 4 send cases that always have room.
TEST_F(ChanTest, SelectIsFairAmongReadySends) {
  std::vector<int64_t> counts(4);
  run([&] {
    std::array<Chan<int>, 4> c;
    for (auto& x : c) x = make_chan<int>(1);
    for (int i = 0; i < 100'000; ++i) {
      int at = select(on_send(c[0], 0), on_send(c[1], 1), on_send(c[2], 2),
                      on_send(c[3], 3));
      counts[at]++;
      EXPECT_EQ(c[at].recv(), at);
    }
  });
  EXPECT_LT(chi_square(counts), kChi2Df3)
      << counts[0] << " " << counts[1] << " " << counts[2] << " " << counts[3];
}

// Invariant: the returned index is the argument position of the case that
// ran, the default included; the default runs only when nothing is ready.
TEST_F(ChanTest, SelectReturnsTheCaseThatRan) {
  auto ready = make_chan<int>(1);
  auto idle = make_chan<int>(1);
  ready.send(5);
  int got = 0;
  bool defaulted = false;
  EXPECT_EQ(select(on_default([&] { defaulted = true; }), on_recv(idle),
                   on_recv(ready, [&](int v) { got = v; })),
            2);
  EXPECT_EQ(got, 5);
  EXPECT_FALSE(defaulted);
  EXPECT_EQ(select(on_recv(idle), on_default([&] { defaulted = true; }),
                   on_recv(ready)),
            1);
  EXPECT_TRUE(defaulted);
  EXPECT_EQ(select(on_default([] {})), 0);
}

// ---- the same channel in several cases --------------------------------------

// Invariant: two ready cases on one channel are each chosen half the time
// (the channel is locked once; chi-square, p > 0.001).
TEST_F(ChanTest, SelectSameChannelTwiceIsFair) {
  auto c = make_chan<int>(1);
  std::vector<int64_t> counts(2);
  for (int i = 0; i < 20'000; ++i) {
    c.send(i);
    int at = select(on_recv(c, [&](int v) { EXPECT_EQ(v, i); }),
                    on_recv(c, [&](int v) { EXPECT_EQ(v, i); }));
    counts[at]++;
  }
  EXPECT_LT(chi_square(counts), kChi2Df1) << counts[0] << " " << counts[1];
}

// Invariant: a select blocked with two cases on one channel fires exactly
// one of them, and leaves no sudog behind: afterwards the unbuffered
// channel has no receiver queued (try_send fails) and the other channel
// in the select has none either.
TEST_F(ChanTest, BlockedSelectSameChannelTwiceFiresOnce) {
  Watchdog wd("BlockedSelectSameChannelTwiceFiresOnce", 60);
  run([] {
    for (int round = 0; round < 50; ++round) {
      auto c = make_chan<int>();
      auto other = make_chan<int>();
      auto fired = make_chan<int>(3);
      go([=] {
        select(on_recv(c, [=](int v) { fired.send(v); }),
               on_recv(other, [=](int v) { fired.send(-v); }),
               on_recv(c, [=](int v) { fired.send(v); }));
      });
      wait_until([&] {
        return queued_receivers(c) == 2 && queued_receivers(other) == 1;
      });
      c.send(round);
      EXPECT_EQ(fired.recv(), round);
      EXPECT_FALSE(c.try_send(1)) << "a stale select sudog took a value";
      EXPECT_FALSE(other.try_send(1)) << "a stale select sudog took a value";
      EXPECT_EQ(fired.len(), 0);
    }
  });
}

// Two goroutines each select {send on c; receive on c} on one unbuffered
// channel: they can only complete by pairing with each other. Invariant:
// every select completes, sends and receives pair up one to one, and each
// value received is one that was sent.
TEST_F(ChanTest, SelectSendAndRecvOnOneChannel) {
  Watchdog wd("SelectSendAndRecvOnOneChannel", 60);
  const int rounds = static_cast<int>(scaled(5000, 2000, 500));
  run([&] {
    auto c = make_chan<int>();
    auto results = make_chan<std::array<int64_t, 4>>(2);
    for (int id = 1; id <= 2; ++id) {
      go([=] {
        int64_t sends = 0, recvs = 0, recv_sum = 0;
        for (int i = 0; i < rounds; ++i) {
          select(on_send(c, id, [&] { ++sends; }), on_recv(c, [&](int v) {
                   ++recvs;
                   recv_sum += v;
                 }));
        }
        results.send({id, sends, recvs, recv_sum});
      });
    }
    auto a = results.recv();
    auto b = results.recv();
    if (a[0] == 2) std::swap(a, b);  // a: goroutine 1, b: goroutine 2
    EXPECT_EQ(a[1] + a[2], rounds);
    EXPECT_EQ(b[1] + b[2], rounds);
    EXPECT_EQ(a[1], b[2]);  // a's sends are b's receives
    EXPECT_EQ(a[2], b[1]);
    EXPECT_EQ(a[3], 2 * a[2]);  // each receives the other's id
    EXPECT_EQ(b[3], 1 * b[2]);
  });
}

// ---- waking a blocked select ------------------------------------------------

// Invariant: a blocked select is woken by each kind of counterpart with
// Go's outcome (a value; room taken by a receiver; (T{}, false) on close;
// a panic for a send case whose channel closes), and afterwards no sudog
// of it is left on any of its channels.
TEST_F(ChanTest, BlockedSelectWakeups) {
  Watchdog wd("BlockedSelectWakeups", 60);
  run([] {
    enum { kSendToRecvCase, kRecvFromSendCase, kCloseRecvCase, kCloseSendCase };
    for (int how :
         {kSendToRecvCase, kRecvFromSendCase, kCloseRecvCase, kCloseSendCase}) {
      auto r = make_chan<int>();
      auto s = make_chan<int>();
      auto quiet = make_chan<int>();
      auto outcome = make_chan<std::string>(1);
      go([=] {
        std::string what;
        try {
          select(on_recv(r,
                         [&](int v, bool ok) {
                           what = "recv " + std::to_string(v) +
                                  (ok ? " true" : " false");
                         }),
                 on_send(s, 9, [&] { what = "sent"; }), on_recv(quiet));
        } catch (const Panic& p) {
          what = std::string("panic: ") + p.what();
        }
        outcome.send(what);
      });
      // Parked: one sudog on each of its three channels.
      wait_until([&] {
        return queued_receivers(r) == 1 && queued_senders(s) == 1 &&
               queued_receivers(quiet) == 1;
      });
      switch (how) {
        case kSendToRecvCase:
          r.send(3);
          EXPECT_EQ(outcome.recv(), "recv 3 true");
          break;
        case kRecvFromSendCase:
          EXPECT_EQ(s.recv(), 9);
          EXPECT_EQ(outcome.recv(), "sent");
          break;
        case kCloseRecvCase:
          r.close();
          EXPECT_EQ(outcome.recv(), "recv 0 false");
          break;
        case kCloseSendCase:
          s.close();
          EXPECT_EQ(outcome.recv(), "panic: send on closed channel");
          break;
      }
      EXPECT_FALSE(quiet.try_send(1)) << "stale receive sudog on quiet";
      if (how != kCloseRecvCase) {
        EXPECT_FALSE(r.try_send(1)) << "stale receive sudog";
      }
      if (how != kCloseSendCase) {
        EXPECT_FALSE(s.try_recv().has_value()) << "stale send sudog";
      }
    }
  });
}

// Wakers on different channels race to claim one select. Invariant: each
// select takes exactly one value; every value sent is received exactly
// once; nobody is left blocked. Repeated with 1..4 Ps.
TEST_F(ChanTest, WakersRaceForOneSelect) {
  Watchdog wd("WakersRaceForOneSelect", 120);
  const int64_t n = scaled(20000, 5000, 1000);
  for (int procs : {1, 2, 4}) {
    ScopedProcs sp(procs);
    int64_t sum = 0, count = 0;
    run([&] {
      constexpr int kSenders = 3;
      std::array<Chan<int64_t>, kSenders> c;
      for (auto& x : c) x = make_chan<int64_t>();
      for (int k = 0; k < kSenders; ++k) {
        go([ch = c[k], k, n] {
          for (int64_t i = 0; i < n; ++i) ch.send(k * n + i);
        });
      }
      for (int64_t i = 0; i < kSenders * n; ++i) {
        auto take = [&](int64_t v) {
          sum += v;
          ++count;
        };
        select(on_recv(c[0], take), on_recv(c[1], take), on_recv(c[2], take));
      }
      for (auto& x : c) EXPECT_FALSE(x.try_recv().has_value());
    });
    const int64_t total = 3 * n;
    EXPECT_EQ(count, total) << "procs=" << procs;
    EXPECT_EQ(sum, total * (total - 1) / 2) << "procs=" << procs;
  }
}

// ---- select against a sequential model --------------------------------------

// One goroutine makes random selects with 4 receive and 4 send slots over a
// pool of channels (unbuffered, cap 1, cap 3; any slot may be nil), with or
// without a default, closing and replacing channels now and then. A model
// tracks each channel's contents. Invariants: the case chosen is one the
// model says is ready (the default only when none is); a receive gets the
// model's head value (or (0, false) once closed and drained); a panic comes
// only when a send case on a closed channel was ready; len() matches the
// model after every select.
TEST_F(ChanTest, SelectMatchesSequentialModel) {
  Watchdog wd("SelectMatchesSequentialModel", 120);
  const int iterations = static_cast<int>(scaled(50000, 20000, 5000));
  run([&] {
    constexpr int kChans = 3;
    const int caps[kChans] = {0, 1, 3};
    std::array<Chan<int>, kChans> ch;
    std::array<std::deque<int>, kChans> model;
    std::array<bool, kChans> closed{};
    for (int k = 0; k < kChans; ++k) ch[k] = make_chan<int>(caps[k]);
    std::mt19937 rng(12345);
    int next_value = 1;
    int64_t chosen_recv = 0, chosen_send = 0, chosen_default = 0, panics = 0;
    for (int it = 0; it < iterations; ++it) {
      if (rng() % 400 == 0) {
        int k = rng() % kChans;
        if (!closed[k]) {
          ch[k].close();
          closed[k] = true;
        } else {
          ch[k] = make_chan<int>(caps[k]);
          model[k].clear();
          closed[k] = false;
        }
      }
      // Slots: -1 is a nil channel.
      std::array<int, 4> rk, sk, sv;
      for (int i = 0; i < 4; ++i) {
        rk[i] = static_cast<int>(rng() % (kChans + 1)) - 1;
        sk[i] = static_cast<int>(rng() % (kChans + 1)) - 1;
        sv[i] = next_value++;
      }
      auto recv_ready = [&](int k) {
        return k >= 0 && (!model[k].empty() || closed[k]);
      };
      auto send_ready = [&](int k) {
        return k >= 0 &&
               (closed[k] || static_cast<int>(model[k].size()) < caps[k]);
      };
      bool any_ready = false, closed_send_ready = false;
      for (int i = 0; i < 4; ++i) {
        any_ready |= recv_ready(rk[i]) || send_ready(sk[i]);
        closed_send_ready |= sk[i] >= 0 && closed[sk[i]];
      }
      const bool with_default = !any_ready || rng() % 4 != 0;
      auto chan_of = [&](int k) { return k >= 0 ? ch[k] : Chan<int>(); };
      std::array<Chan<int>, 4> r, s;
      for (int i = 0; i < 4; ++i) {
        r[i] = chan_of(rk[i]);
        s[i] = chan_of(sk[i]);
      }
      int got_v = -1;
      bool got_ok = false;
      auto rv = [&](int v, bool ok) {
        got_v = v;
        got_ok = ok;
      };
      int at = -1;
      try {
        if (with_default) {
          at = select(
              on_recv(r[0], rv), on_send(s[0], sv[0]), on_recv(r[1], rv),
              on_send(s[1], sv[1]), on_recv(r[2], rv), on_send(s[2], sv[2]),
              on_recv(r[3], rv), on_send(s[3], sv[3]), on_default([] {}));
        } else {
          at = select(on_recv(r[0], rv), on_send(s[0], sv[0]),
                      on_recv(r[1], rv), on_send(s[1], sv[1]),
                      on_recv(r[2], rv), on_send(s[2], sv[2]),
                      on_recv(r[3], rv), on_send(s[3], sv[3]));
        }
      } catch (const Panic& p) {
        ASSERT_STREQ(p.what(), "send on closed channel");
        ASSERT_TRUE(closed_send_ready)
            << "panic without a send case on a closed channel";
        ++panics;
        continue;
      }
      if (at == 8) {
        ASSERT_FALSE(any_ready)
            << "default ran while a case was ready (it " << it << ")";
        ++chosen_default;
      } else if (at % 2 == 0) {
        const int k = rk[at / 2];
        ASSERT_TRUE(recv_ready(k))
            << "chose a receive that was not ready (it " << it << ")";
        if (!model[k].empty()) {
          ASSERT_EQ(got_v, model[k].front());
          ASSERT_TRUE(got_ok);
          model[k].pop_front();
        } else {
          ASSERT_EQ(got_v, 0);
          ASSERT_FALSE(got_ok);
        }
        ++chosen_recv;
      } else {
        const int k = sk[at / 2];
        ASSERT_TRUE(send_ready(k) && !closed[k])
            << "chose a send that was not ready";
        model[k].push_back(sv[at / 2]);
        ++chosen_send;
      }
      for (int k = 0; k < kChans; ++k) {
        ASSERT_EQ(ch[k].len(), static_cast<int64_t>(model[k].size()))
            << "chan " << k;
      }
    }
    // The random walk visits every outcome.
    EXPECT_GT(chosen_recv, 0);
    EXPECT_GT(chosen_send, 0);
    EXPECT_GT(chosen_default, 0);
    EXPECT_GT(panics, 0);
  });
}

// ---- concurrent stress ------------------------------------------------------

// Producers select-send to random subsets of 4 channels (caps 0, 1, 2, 8);
// consumers select-receive from every channel still open (a closed one is
// dropped as in Go: set to nil), some blocking, some polling with a
// default. The channels are closed once every producer is done.
// Invariant: every value is received exactly once; every goroutine exits.
TEST_F(ChanTest, SelectStressConservesValues) {
  Watchdog wd("SelectStressConservesValues", 180);
  const int64_t per_producer = scaled(20000, 4000, 1000);
  for (int procs : {1, 2, 4}) {
    ScopedProcs sp(procs);
    constexpr int kProducers = 4, kConsumers = 3;
    const int64_t total = kProducers * per_producer;
    std::vector<std::atomic<uint8_t>> seen(total);
    run([&] {
      std::array<Chan<int64_t>, 4> c = {
          make_chan<int64_t>(0), make_chan<int64_t>(1), make_chan<int64_t>(2),
          make_chan<int64_t>(8)};
      auto done = make_chan<int>(kProducers + kConsumers);
      for (int p = 0; p < kProducers; ++p) {
        go([=] {
          std::minstd_rand rng(p + 1);
          for (int64_t i = 0; i < per_producer; ++i) {
            unsigned mask = 1 + rng() % 15;
            auto pick = [&](int k) {
              return (mask >> k) & 1 ? c[k] : Chan<int64_t>();
            };
            const int64_t v = p * per_producer + i;
            select(on_send(pick(0), v), on_send(pick(1), v),
                   on_send(pick(2), v), on_send(pick(3), v));
          }
          done.send(0);
        });
      }
      for (int k = 0; k < kConsumers; ++k) {
        go([&seen, c, done, k] {
          std::array<Chan<int64_t>, 4> open = c;
          int left = 4;
          auto take = [&](int i) {
            return [&, i](int64_t v, bool ok) {
              if (!ok) {
                open[i] = nullptr;
                --left;
                return;
              }
              seen[v].fetch_add(1, std::memory_order_relaxed);
            };
          };
          while (left > 0) {
            if (k == 0) {  // the poller
              int at =
                  select(on_recv(open[0], take(0)), on_recv(open[1], take(1)),
                         on_recv(open[2], take(2)), on_recv(open[3], take(3)),
                         on_default([] {}));
              if (at == 4) yield();
            } else {
              select(on_recv(open[0], take(0)), on_recv(open[1], take(1)),
                     on_recv(open[2], take(2)), on_recv(open[3], take(3)));
            }
          }
          done.send(1);
        });
      }
      for (int p = 0; p < kProducers; ++p) EXPECT_EQ(done.recv(), 0);
      for (auto& x : c) x.close();
      for (int k = 0; k < kConsumers; ++k) EXPECT_EQ(done.recv(), 1);
    });
    int64_t wrong = 0;
    for (auto& x : seen) wrong += x.load() != 1;
    EXPECT_EQ(wrong, 0) << "procs=" << procs
                        << ": values not received exactly once";
  }
}

}  // namespace
}  // namespace gort
