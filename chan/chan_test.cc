// Tests of Chan<T> (chan/chan.h): Go's semantics operation by operation on
// every kind of channel, the direct-handoff paths, element types (move-only,
// non-trivial, empty), plain threads, and concurrent invariants (a prime
// sieve, fan-in/fan-out with 1..8 Ps, close racing with blocked parties).
#include "chan/chan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

template <typename F>
std::string or_panic(F&& f) {
  try {
    return f();
  } catch (const Panic& p) {
    return std::string("panic: ") + p.what();
  }
}

// ---- the operation table ----------------------------------------------------

enum class State {
  kNil,
  kUnbuffered,
  kEmpty,  // cap 2, no values
  kHalf,   // cap 2, holding 7
  kFull,   // cap 2, holding 7, 8
  kClosedUnbuffered,
  kClosedEmpty,      // cap 2
  kClosedWithValue,  // cap 2, holding 7, then closed
};

const char* state_name(State s) {
  switch (s) {
    case State::kNil:
      return "nil";
    case State::kUnbuffered:
      return "unbuffered";
    case State::kEmpty:
      return "buffered empty";
    case State::kHalf:
      return "buffered half";
    case State::kFull:
      return "buffered full";
    case State::kClosedUnbuffered:
      return "closed unbuffered";
    case State::kClosedEmpty:
      return "closed buffered empty";
    case State::kClosedWithValue:
      return "closed buffered with value";
  }
  return "?";
}

Chan<int> make_in(State s) {
  Chan<int> c;
  switch (s) {
    case State::kNil:
      break;
    case State::kUnbuffered:
    case State::kClosedUnbuffered:
      c = make_chan<int>(0);
      break;
    default:
      c = make_chan<int>(2);
  }
  if (s == State::kHalf || s == State::kFull || s == State::kClosedWithValue)
    c.send(7);
  if (s == State::kFull) c.send(8);
  if (s == State::kClosedUnbuffered || s == State::kClosedEmpty ||
      s == State::kClosedWithValue) {
    c.close();
  }
  return c;
}

enum class Op {
  kSend,
  kRecv,
  kRecvOk,
  kTrySend,
  kTryRecv,
  kClose,
  kLenCap,
  kSelectRecvDefault,     // one case + default (Go's selectnbrecv form)
  kSelectSendDefault,     // one case + default (selectnbsend form)
  kSelectRecvNilDefault,  // the case, a nil-channel case and default (selectgo)
  kSelectSendNilDefault,
};

const char* op_name(Op op) {
  switch (op) {
    case Op::kSend:
      return "send(1)";
    case Op::kRecv:
      return "recv()";
    case Op::kRecvOk:
      return "recv_ok()";
    case Op::kTrySend:
      return "try_send(1)";
    case Op::kTryRecv:
      return "try_recv()";
    case Op::kClose:
      return "close()";
    case Op::kLenCap:
      return "len(),cap()";
    case Op::kSelectRecvDefault:
      return "select{recv; default}";
    case Op::kSelectSendDefault:
      return "select{send; default}";
    case Op::kSelectRecvNilDefault:
      return "select{recv; recv nil; default}";
    case Op::kSelectSendNilDefault:
      return "select{send; send nil; default}";
  }
  return "?";
}

std::string pair_str(int v, bool ok) {
  return std::to_string(v) + (ok ? ",true" : ",false");
}

// Runs op on c and describes what it did.
std::string apply(Op op, const Chan<int>& c) {
  Chan<int> nil;
  return or_panic([&]() -> std::string {
    switch (op) {
      case Op::kSend:
        c.send(1);
        return "ok";
      case Op::kRecv:
        return std::to_string(c.recv());
      case Op::kRecvOk: {
        auto [v, ok] = c.recv_ok();
        return pair_str(v, ok);
      }
      case Op::kTrySend:
        return c.try_send(1) ? "true" : "false";
      case Op::kTryRecv: {
        auto r = c.try_recv();
        return r ? pair_str(r->first, r->second) : "none";
      }
      case Op::kClose:
        c.close();
        return "ok";
      case Op::kLenCap:
        return std::to_string(c.len()) + "," + std::to_string(c.cap());
      case Op::kSelectRecvDefault:
      case Op::kSelectRecvNilDefault: {
        std::string what;
        auto on_value = [&](int v, bool ok) {
          what = "recv " + pair_str(v, ok);
        };
        auto on_none = [&] { what = "default"; };
        if (op == Op::kSelectRecvDefault) {
          select(on_recv(c, on_value), on_default(on_none));
        } else {
          select(on_recv(c, on_value), on_recv(nil, on_value),
                 on_default(on_none));
        }
        return what;
      }
      case Op::kSelectSendDefault:
      case Op::kSelectSendNilDefault: {
        std::string what;
        auto on_sent = [&] { what = "send"; };
        auto on_none = [&] { what = "default"; };
        if (op == Op::kSelectSendDefault) {
          select(on_send(c, 1, on_sent), on_default(on_none));
        } else {
          select(on_send(c, 1, on_sent), on_send(nil, 1, on_sent),
                 on_default(on_none));
        }
        return what;
      }
    }
    return "?";
  });
}

constexpr const char* kBlocksForever = "blocks forever";  // nil: death tests
constexpr const char* kSendPanic = "panic: send on closed channel";
constexpr const char* kCloseClosed = "panic: close of closed channel";

struct Row {
  State state;
  Op op;
  const char* want;  // what apply() returns, then " len=N" after the op;
                     // "blocks; close -> X": blocks until closed, then X
};

// Go's semantics (the spec and chan.go), one row per (channel, operation).
const Row kTable[] = {
    {State::kNil, Op::kSend, kBlocksForever},
    {State::kNil, Op::kRecv, kBlocksForever},
    {State::kNil, Op::kRecvOk, kBlocksForever},
    {State::kNil, Op::kTrySend, "false len=0"},
    {State::kNil, Op::kTryRecv, "none len=0"},
    {State::kNil, Op::kClose, "panic: close of nil channel len=0"},
    {State::kNil, Op::kLenCap, "0,0 len=0"},
    {State::kNil, Op::kSelectRecvDefault, "default len=0"},
    {State::kNil, Op::kSelectSendDefault, "default len=0"},
    {State::kNil, Op::kSelectRecvNilDefault, "default len=0"},
    {State::kNil, Op::kSelectSendNilDefault, "default len=0"},

    {State::kUnbuffered, Op::kSend,
     "blocks; close -> panic: send on closed channel"},
    {State::kUnbuffered, Op::kRecv, "blocks; close -> 0"},
    {State::kUnbuffered, Op::kRecvOk, "blocks; close -> 0,false"},
    {State::kUnbuffered, Op::kTrySend, "false len=0"},
    {State::kUnbuffered, Op::kTryRecv, "none len=0"},
    {State::kUnbuffered, Op::kClose, "ok len=0"},
    {State::kUnbuffered, Op::kLenCap, "0,0 len=0"},
    {State::kUnbuffered, Op::kSelectRecvDefault, "default len=0"},
    {State::kUnbuffered, Op::kSelectSendDefault, "default len=0"},
    {State::kUnbuffered, Op::kSelectRecvNilDefault, "default len=0"},
    {State::kUnbuffered, Op::kSelectSendNilDefault, "default len=0"},

    {State::kEmpty, Op::kSend, "ok len=1"},
    {State::kEmpty, Op::kRecv, "blocks; close -> 0"},
    {State::kEmpty, Op::kRecvOk, "blocks; close -> 0,false"},
    {State::kEmpty, Op::kTrySend, "true len=1"},
    {State::kEmpty, Op::kTryRecv, "none len=0"},
    {State::kEmpty, Op::kClose, "ok len=0"},
    {State::kEmpty, Op::kLenCap, "0,2 len=0"},
    {State::kEmpty, Op::kSelectRecvDefault, "default len=0"},
    {State::kEmpty, Op::kSelectSendDefault, "send len=1"},
    {State::kEmpty, Op::kSelectRecvNilDefault, "default len=0"},
    {State::kEmpty, Op::kSelectSendNilDefault, "send len=1"},

    {State::kHalf, Op::kSend, "ok len=2"},
    {State::kHalf, Op::kRecv, "7 len=0"},
    {State::kHalf, Op::kRecvOk, "7,true len=0"},
    {State::kHalf, Op::kTrySend, "true len=2"},
    {State::kHalf, Op::kTryRecv, "7,true len=0"},
    {State::kHalf, Op::kClose, "ok len=1"},
    {State::kHalf, Op::kLenCap, "1,2 len=1"},
    {State::kHalf, Op::kSelectRecvDefault, "recv 7,true len=0"},
    {State::kHalf, Op::kSelectSendDefault, "send len=2"},
    {State::kHalf, Op::kSelectRecvNilDefault, "recv 7,true len=0"},
    {State::kHalf, Op::kSelectSendNilDefault, "send len=2"},

    {State::kFull, Op::kSend, "blocks; close -> panic: send on closed channel"},
    {State::kFull, Op::kRecv, "7 len=1"},
    {State::kFull, Op::kRecvOk, "7,true len=1"},
    {State::kFull, Op::kTrySend, "false len=2"},
    {State::kFull, Op::kTryRecv, "7,true len=1"},
    {State::kFull, Op::kClose, "ok len=2"},
    {State::kFull, Op::kLenCap, "2,2 len=2"},
    {State::kFull, Op::kSelectRecvDefault, "recv 7,true len=1"},
    {State::kFull, Op::kSelectSendDefault, "default len=2"},
    {State::kFull, Op::kSelectRecvNilDefault, "recv 7,true len=1"},
    {State::kFull, Op::kSelectSendNilDefault, "default len=2"},

    {State::kClosedUnbuffered, Op::kSend,
     "panic: send on closed channel len=0"},
    {State::kClosedUnbuffered, Op::kRecv, "0 len=0"},
    {State::kClosedUnbuffered, Op::kRecvOk, "0,false len=0"},
    {State::kClosedUnbuffered, Op::kTrySend,
     "panic: send on closed channel len=0"},
    {State::kClosedUnbuffered, Op::kTryRecv, "0,false len=0"},
    {State::kClosedUnbuffered, Op::kClose,
     "panic: close of closed channel len=0"},
    {State::kClosedUnbuffered, Op::kLenCap, "0,0 len=0"},
    {State::kClosedUnbuffered, Op::kSelectRecvDefault, "recv 0,false len=0"},
    {State::kClosedUnbuffered, Op::kSelectSendDefault,
     "panic: send on closed channel len=0"},
    {State::kClosedUnbuffered, Op::kSelectRecvNilDefault, "recv 0,false len=0"},
    {State::kClosedUnbuffered, Op::kSelectSendNilDefault,
     "panic: send on closed channel len=0"},

    {State::kClosedEmpty, Op::kSend, "panic: send on closed channel len=0"},
    {State::kClosedEmpty, Op::kRecv, "0 len=0"},
    {State::kClosedEmpty, Op::kRecvOk, "0,false len=0"},
    {State::kClosedEmpty, Op::kTrySend, "panic: send on closed channel len=0"},
    {State::kClosedEmpty, Op::kTryRecv, "0,false len=0"},
    {State::kClosedEmpty, Op::kClose, "panic: close of closed channel len=0"},
    {State::kClosedEmpty, Op::kLenCap, "0,2 len=0"},
    {State::kClosedEmpty, Op::kSelectRecvDefault, "recv 0,false len=0"},
    {State::kClosedEmpty, Op::kSelectSendDefault,
     "panic: send on closed channel len=0"},
    {State::kClosedEmpty, Op::kSelectRecvNilDefault, "recv 0,false len=0"},
    {State::kClosedEmpty, Op::kSelectSendNilDefault,
     "panic: send on closed channel len=0"},

    {State::kClosedWithValue, Op::kSend, "panic: send on closed channel len=1"},
    {State::kClosedWithValue, Op::kRecv, "7 len=0"},
    {State::kClosedWithValue, Op::kRecvOk, "7,true len=0"},
    {State::kClosedWithValue, Op::kTrySend,
     "panic: send on closed channel len=1"},
    {State::kClosedWithValue, Op::kTryRecv, "7,true len=0"},
    {State::kClosedWithValue, Op::kClose,
     "panic: close of closed channel len=1"},
    {State::kClosedWithValue, Op::kLenCap, "1,2 len=1"},
    {State::kClosedWithValue, Op::kSelectRecvDefault, "recv 7,true len=0"},
    {State::kClosedWithValue, Op::kSelectSendDefault,
     "panic: send on closed channel len=1"},
    {State::kClosedWithValue, Op::kSelectRecvNilDefault, "recv 7,true len=0"},
    {State::kClosedWithValue, Op::kSelectSendNilDefault,
     "panic: send on closed channel len=1"},
};

// Invariant: every operation on every kind of channel does what Go does
// (result, panic message, resulting length); an operation Go blocks stays
// blocked until the channel is closed and then finishes as Go's does.
TEST_F(ChanTest, OperationTable) {
  Watchdog wd("OperationTable", 60);
  run([] {
    for (const Row& row : kTable) {
      // (No SCOPED_TRACE on a goroutine: gtest keeps traces per thread, and
      // a goroutine may resume on another one.)
      const std::string ctx =
          std::string(state_name(row.state)) + " " + op_name(row.op);
      std::string want = row.want;
      if (want == kBlocksForever) continue;  // NilChannel* death tests
      Chan<int> c = make_in(row.state);
      if (want.rfind("blocks", 0) == 0) {
        std::atomic<bool> done{false};
        std::string got;
        auto finished = make_chan<int>();
        go([&, c] {
          got = apply(row.op, c);
          done.store(true, std::memory_order_release);
          finished.send(0);
        });
        // Blocked means queued on the channel (or, if it wrongly did not
        // block, done).
        wait_until([&] {
          return done.load(std::memory_order_acquire) ||
                 queued_receivers(c) + queued_senders(c) == 1;
        });
        EXPECT_FALSE(done.load(std::memory_order_acquire))
            << ctx << ": did not block";
        c.close();
        finished.recv();
        EXPECT_EQ("blocks; close -> " + got, want) << ctx;
        continue;
      }
      std::string got = apply(row.op, c);
      got += " len=" + std::to_string(c.len());
      EXPECT_EQ(got, want) << ctx;
    }
  });
}

// ---- nil channels and deadlock ----------------------------------------------

class ChanDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

#define DEADLOCK_WITH(reason)                                                \
  "^fatal error: all goroutines are asleep - deadlock!\n\ngoroutine [0-9]+ " \
  "\\[" reason "\\]:"

// Invariant: an operation on a nil channel blocks forever, with Go's wait
// reason; with nothing else to run, that is Go's deadlock.
TEST_F(ChanDeathTest, NilChannelSendBlocksForever) {
  EXPECT_EXIT(run([] { Chan<int>().send(1); }), ::testing::ExitedWithCode(2),
              DEADLOCK_WITH("chan send \\(nil chan\\)"));
}

TEST_F(ChanDeathTest, NilChannelRecvBlocksForever) {
  EXPECT_EXIT(run([] { (void)Chan<int>().recv(); }),
              ::testing::ExitedWithCode(2),
              DEADLOCK_WITH("chan receive \\(nil chan\\)"));
  EXPECT_EXIT(run([] { (void)Chan<int>().recv_ok(); }),
              ::testing::ExitedWithCode(2),
              DEADLOCK_WITH("chan receive \\(nil chan\\)"));
  EXPECT_EXIT(run([] {
                for (int v : Chan<int>()) (void)v;
              }),
              ::testing::ExitedWithCode(2),
              DEADLOCK_WITH("chan receive \\(nil chan\\)"));
}

TEST_F(ChanDeathTest, EmptySelectBlocksForever) {
  EXPECT_EXIT(run([] { select(); }), ::testing::ExitedWithCode(2),
              DEADLOCK_WITH("select \\(no cases\\)"));
}

// A select whose cases are all nil channels waits as "select"; with one
// case it is a plain channel operation (Go's compiler rewrites it so).
TEST_F(ChanDeathTest, AllNilSelectBlocksForever) {
  EXPECT_EXIT(run([] {
                Chan<int> a, b;
                select(on_recv(a), on_send(b, 1));
              }),
              ::testing::ExitedWithCode(2), DEADLOCK_WITH("select"));
  EXPECT_EXIT(run([] { select(on_recv(Chan<int>())); }),
              ::testing::ExitedWithCode(2),
              DEADLOCK_WITH("chan receive \\(nil chan\\)"));
}

// Unbuffered send with no receiver, and receive with no sender: Go's
// deadlock, the main goroutine waiting as "chan send" / "chan receive".
TEST_F(ChanDeathTest, LoneUnbufferedOperationDeadlocks) {
  EXPECT_EXIT(run([] { make_chan<int>().send(1); }),
              ::testing::ExitedWithCode(2), DEADLOCK_WITH("chan send"));
  EXPECT_EXIT(run([] { (void)make_chan<int>(3).recv(); }),
              ::testing::ExitedWithCode(2), DEADLOCK_WITH("chan receive"));
}

// A panic that leaves its goroutine prints Go's message and exits 2.
TEST_F(ChanDeathTest, UncaughtSendOnClosedChannel) {
  EXPECT_EXIT(run([] {
                auto c = make_chan<int>(1);
                c.close();
                c.send(1);
              }),
              ::testing::ExitedWithCode(2), "^panic: send on closed channel\n");
}

// ---- make_chan --------------------------------------------------------------

// Invariant: make_chan panics exactly when Go's makechan does.
TEST_F(ChanTest, MakeChanSizeOutOfRange) {
  auto msg = [](auto f) {
    return or_panic([&] {
      f();
      return std::string("ok");
    });
  };
  EXPECT_EQ(msg([] { make_chan<int>(-1); }),
            "panic: makechan: size out of range");
  EXPECT_EQ(msg([] { make_chan<int64_t>(INT64_MAX); }),
            "panic: makechan: size out of range");
  using Big = std::array<char, 1 << 20>;
  EXPECT_EQ(msg([] { make_chan<Big>(int64_t{1} << 28); }),  // 2^48 bytes
            "panic: makechan: size out of range");
  struct Empty {};
  // Zero-size elements need no buffer: any capacity is fine, as in Go.
  EXPECT_EQ(
      msg([] { EXPECT_EQ(make_chan<Empty>(INT64_MAX).cap(), INT64_MAX); }),
      "ok");
  EXPECT_EQ(msg([] { make_chan<int>(0); }), "ok");
}

// ---- the paths --------------------------------------------------------------

// Invariant: values come out in the order they went in, across the buffer
// wrapping around, and len() counts what is buffered.
TEST_F(ChanTest, BufferedFifoAcrossWrapAround) {
  auto c = make_chan<std::string>(3);
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 50; ++round) {
    int n = 1 + round % 3;
    for (int i = 0; i < n; ++i) c.send(std::to_string(next_in++));
    EXPECT_EQ(c.len(), n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(c.recv(), std::to_string(next_out++));
  }
  EXPECT_EQ(c.len(), 0);
}

// Invariant (S2): a send to a parked receiver hands the value over
// directly; the buffer is bypassed (len stays 0) and the receiver gets it.
TEST_F(ChanTest, SendToParkedReceiver) {
  Watchdog wd("SendToParkedReceiver", 60);
  run([] {
    for (int cap : {0, 4}) {
      auto c = make_chan<int>(cap);
      auto got = make_chan<int>(1);
      go([c, got] { got.send(c.recv()); });
      wait_until([&] { return queued_receivers(c) == 1; });
      c.send(42);
      EXPECT_EQ(got.recv(), 42);
      EXPECT_EQ(c.len(), 0);
    }
  });
}

// Invariant (R2): with senders parked on a full buffer, each receive takes
// the head and moves the first parked sender's value to the tail: FIFO
// holds across buffer and parked senders.
TEST_F(ChanTest, RecvFromFullBufferWithParkedSenders) {
  Watchdog wd("RecvFromFullBufferWithParkedSenders", 60);
  run([] {
    auto c = make_chan<int>(2);
    c.send(0);
    c.send(1);
    auto done = make_chan<int>(3);
    for (int v = 2; v < 5; ++v) {
      go([c, done, v] {
        c.send(v);
        done.send(v);
      });
      wait_until(
          [&] { return queued_senders(c) == v - 1; });  // parked in order
    }
    EXPECT_EQ(c.len(), 2);
    for (int want = 0; want < 5; ++want) EXPECT_EQ(c.recv(), want);
    for (int i = 0; i < 3; ++i) done.recv();
  });
}

// Invariant: an unbuffered send completes only when a receiver takes the
// value (the rendezvous), and the receive happens-before the send returns.
TEST_F(ChanTest, UnbufferedRendezvous) {
  Watchdog wd("UnbufferedRendezvous", 60);
  run([] {
    auto c = make_chan<int>();
    std::atomic<int> stage{0};
    auto done = make_chan<int>();
    go([&, c, done] {
      c.send(1);
      EXPECT_EQ(stage.load(), 1);  // the receiver was there first
      done.send(0);
    });
    wait_until([&] { return queued_senders(c) == 1; });
    stage.store(1);
    EXPECT_EQ(c.recv(), 1);
    done.recv();
  });
}

// Invariant: close wakes every parked receiver with (T{}, false) and makes
// every parked sender panic with Go's message.
TEST_F(ChanTest, CloseWakesEveryone) {
  Watchdog wd("CloseWakesEveryone", 60);
  run([] {
    constexpr int kEach = 16;
    auto r = make_chan<int>();
    auto s = make_chan<int>(1);
    s.send(0);  // full: senders park
    auto results = make_chan<std::string>(2 * kEach);
    for (int i = 0; i < kEach; ++i) {
      go([r, results] {
        auto [v, ok] = r.recv_ok();
        results.send("recv " + pair_str(v, ok));
      });
      go([s, results] {
        results.send(or_panic([&] {
          s.send(1);
          return std::string("sent");
        }));
      });
    }
    wait_until([&] {
      return queued_receivers(r) == kEach && queued_senders(s) == kEach;
    });
    r.close();
    s.close();
    int recvs = 0, panics = 0;
    for (int i = 0; i < 2 * kEach; ++i) {
      std::string x = results.recv();
      if (x == "recv 0,false") {
        ++recvs;
      } else if (x == kSendPanic) {
        ++panics;
      } else {
        ADD_FAILURE() << x;
      }
    }
    EXPECT_EQ(recvs, kEach);
    EXPECT_EQ(panics, kEach);
    // The value buffered before close is still delivered, then the zero.
    EXPECT_EQ(s.recv_ok(), std::make_pair(0, true));
    EXPECT_EQ(s.recv_ok(), std::make_pair(0, false));
  });
}

// Invariant: range receives every value sent, in order, and stops at close.
TEST_F(ChanTest, RangeUntilClosed) {
  run([] {
    auto c = make_chan<int>(4);
    go([c] {
      for (int i = 0; i < 100; ++i) c.send(i);
      c.close();
    });
    int want = 0;
    for (int v : c) EXPECT_EQ(v, want++);
    EXPECT_EQ(want, 100);
  });
}

// Handles: copies share one channel; equality is identity; the nil channel
// equals nullptr.
TEST_F(ChanTest, HandlesShareTheChannel) {
  auto a = make_chan<int>(1);
  Chan<int> b = a;
  Chan<int> nil;
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == make_chan<int>(1));
  EXPECT_TRUE(nil == nullptr);
  EXPECT_FALSE(a == nullptr);
  b.send(5);
  EXPECT_EQ(a.len(), 1);
  Chan<int> moved = std::move(b);
  EXPECT_TRUE(b == nullptr);
  EXPECT_EQ(moved.recv(), 5);
}

// ---- element types ----------------------------------------------------------

// Counts live instances; move-only.
struct Counted {
  static std::atomic<int> live;
  std::unique_ptr<int> p;
  Counted() { live.fetch_add(1); }
  explicit Counted(int v) : p(std::make_unique<int>(v)) { live.fetch_add(1); }
  Counted(Counted&& o) noexcept : p(std::move(o.p)) { live.fetch_add(1); }
  Counted& operator=(Counted&& o) noexcept {
    p = std::move(o.p);
    return *this;
  }
  ~Counted() { live.fetch_sub(1); }
};
std::atomic<int> Counted::live{0};

// Invariant: move-only values pass through every path (buffer, direct
// handoff both ways, select, close's zero value) without loss or
// duplication, and values still buffered when the last handle goes are
// destroyed (no leak: the live count returns to zero).
TEST_F(ChanTest, MoveOnlyElements) {
  Watchdog wd("MoveOnlyElements", 60);
  Counted::live = 0;
  run([] {
    auto c = make_chan<Counted>(2);
    c.send(Counted(1));
    Counted two(2);
    c.send(std::move(two));
    EXPECT_EQ(*c.recv().p, 1);
    EXPECT_EQ(*c.recv_ok().first.p, 2);
    auto u = make_chan<std::unique_ptr<int>>();
    go([u] { u.send(std::make_unique<int>(3)); });
    EXPECT_EQ(*u.recv(), 3);  // from a parked or arriving sender
    go([u] { EXPECT_EQ(*u.recv(), 4); });
    wait_until([&] { return queued_receivers(u) == 1; });
    u.send(std::make_unique<int>(4));  // to a parked receiver
    auto v = std::make_unique<int>(5);
    EXPECT_FALSE(u.try_send(std::move(v)));  // nobody there: kept
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(*v, 5);
    int got = 0;
    c.send(Counted(6));
    select(on_recv(c, [&](Counted x, bool ok) { got = ok ? *x.p : -1; }),
           on_recv(u));
    EXPECT_EQ(got, 6);
    select(on_send(c, Counted(7)), on_default([] {}));
    EXPECT_EQ(c.len(), 1);
    c.send(Counted(8));
    c.close();  // two left buffered
    for (auto& x : c) EXPECT_TRUE(*x.p == 7 || *x.p == 8);
    EXPECT_EQ(c.recv().p, nullptr);  // closed: the zero value
    auto leftover = make_chan<Counted>(4);
    leftover.send(Counted(9));
    leftover.send(Counted(10));
  });
  EXPECT_EQ(Counted::live.load(), 0);
}

// Invariant: an empty element type takes no storage, and still counts,
// blocks and closes as Go's chan struct{}.
TEST_F(ChanTest, EmptyElements) {
  struct Empty {};
  static_assert(chan_internal::ElemOpsFor<Empty>::kOps.size == 0);
  run([] {
    auto c = make_chan<Empty>(1000);
    for (int i = 0; i < 1000; ++i) c.send(Empty{});
    EXPECT_EQ(c.len(), 1000);
    EXPECT_FALSE(c.try_send(Empty{}));
    for (int i = 0; i < 1000; ++i) c.recv();
    auto done = make_chan<Empty>();
    go([done] { done.close(); });
    EXPECT_FALSE(done.recv_ok().second);
    auto sig = make_chan<Empty>();
    go([sig] { sig.send({}); });
    EXPECT_TRUE(sig.recv_ok().second);
  });
}

// ---- plain threads ----------------------------------------------------------

// Invariant: a plain thread may send and receive on channels shared with
// goroutines (blocking the thread, not a P) and with other threads.
// (Go's deadlock check counts only goroutines: while the main goroutine
// waits for the thread, another goroutine is kept runnable.)
TEST_F(ChanTest, PlainThreads) {
  Watchdog wd("PlainThreads", 60);
  auto to_g = make_chan<int>();
  auto to_t = make_chan<int>();
  constexpr int kRounds = 2000;
  std::thread t([&] {
    for (int i = 0; i < kRounds; ++i) {
      to_g.send(i);
      EXPECT_EQ(to_t.recv(), i + 1);
    }
    to_g.close();
  });
  run([&] {
    chan_testing::KeepRunnable keep;  // see test_util.h
    for (int v : to_g) to_t.send(v + 1);
  });
  t.join();

  // Thread to thread, no goroutine involved; a thread blocked in select.
  auto a = make_chan<int>();
  auto b = make_chan<int>();
  std::thread t2([&] {
    int sum = 0;
    for (int i = 0; i < kRounds; ++i) {
      select(on_recv(a, [&](int v) { sum += v; }),
             on_recv(b, [&](int v) { sum -= v; }));
    }
    EXPECT_EQ(sum, kRounds / 2 * 3 - kRounds / 2 * 1);
  });
  for (int i = 0; i < kRounds; ++i) {
    if (i % 2 == 0) {
      a.send(3);
    } else {
      b.send(1);
    }
  }
  t2.join();
}

// ---- concurrent invariants --------------------------------------------------

// Go's concurrent prime sieve: a goroutine per prime, each filtering the
// stream from the one before. Invariant: it yields exactly the primes, in
// order (checked against a sequential sieve), the first 1000 of them (200
// under TSan); every goroutine exits when the generator closes its channel.
TEST_F(ChanTest, PrimeSieve) {
  Watchdog wd("PrimeSieve", 120);
  const int n_primes = static_cast<int>(scaled(1000, 1000, 200));
  // The sequential reference.
  std::vector<int> want;
  for (int v = 2; static_cast<int>(want.size()) < n_primes; ++v) {
    bool prime = true;
    for (int p : want) {
      if (p * p > v) break;
      if (v % p == 0) {
        prime = false;
        break;
      }
    }
    if (prime) want.push_back(v);
  }
  const int limit = want.back();
  std::vector<int> got;
  run([&] {
    auto ch = make_chan<int>();
    go([ch, limit] {
      for (int i = 2; i <= limit; ++i) ch.send(i);
      ch.close();
    });
    for (;;) {
      auto [p, ok] = ch.recv_ok();
      if (!ok) break;
      got.push_back(p);
      auto next = make_chan<int>();
      go([in = ch, out = next, p] {
        for (int v : in) {
          if (v % p != 0) out.send(v);
        }
        out.close();
      });
      ch = next;
    }
  });
  EXPECT_EQ(got, want);
}

// Fan-in/fan-out: P producers and C consumers over one channel, for
// GOMAXPROCS 1..8 and several capacities. Invariant: every value sent is
// received exactly once (per-value counts, total count and checksum).
TEST_F(ChanTest, FanInFanOut) {
  Watchdog wd("FanInFanOut", 240);
  const int64_t per_producer = scaled(20000, 5000, 1000);
  for (int procs : {1, 2, 4, 8}) {
    ScopedProcs sp(procs);
    for (int cap : {0, 1, 64}) {
      SCOPED_TRACE("procs=" + std::to_string(procs) +
                   " cap=" + std::to_string(cap));
      constexpr int kProducers = 4, kConsumers = 4;
      const int64_t total = kProducers * per_producer;
      std::vector<std::atomic<uint8_t>> seen(total);
      int64_t count = 0, sum = 0;
      run([&] {
        auto data = make_chan<int64_t>(cap);
        auto produced = make_chan<int>(kProducers);
        auto results = make_chan<std::pair<int64_t, int64_t>>(kConsumers);
        for (int p = 0; p < kProducers; ++p) {
          go([=] {
            for (int64_t i = 0; i < per_producer; ++i)
              data.send(p * per_producer + i);
            produced.send(p);
          });
        }
        go([=] {
          for (int p = 0; p < kProducers; ++p) produced.recv();
          data.close();
        });
        for (int k = 0; k < kConsumers; ++k) {
          go([&seen, data, results] {
            int64_t n = 0, s = 0;
            for (int64_t v : data) {
              seen[v].fetch_add(1, std::memory_order_relaxed);
              ++n;
              s += v;
            }
            results.send({n, s});
          });
        }
        for (int k = 0; k < kConsumers; ++k) {
          auto [n, s] = results.recv();
          count += n;
          sum += s;
        }
      });
      EXPECT_EQ(count, total);
      EXPECT_EQ(sum, total * (total - 1) / 2);
      int64_t wrong = 0;
      for (auto& x : seen) wrong += x.load() != 1;
      EXPECT_EQ(wrong, 0) << "values not received exactly once";
    }
  }
}

// close() racing with senders and receivers that are blocked or arriving.
// Invariants: each sender either completes or panics "send on closed
// channel"; the values received are exactly those of the senders that
// completed, each once; every receiver ends with (0, false).
TEST_F(ChanTest, CloseRacesWithBlockedParties) {
  Watchdog wd("CloseRacesWithBlockedParties", 120);
  const int rounds = static_cast<int>(scaled(300, 100, 30));
  constexpr int kSenders = 8, kReceivers = 4;
  int64_t total_completed = 0, total_panicked = 0;
  run([&] {
    for (int round = 0; round < rounds; ++round) {
      const int cap = round % 3 == 0 ? 0 : round % 3 == 1 ? 1 : 4;
      auto c = make_chan<int>(cap);
      auto sent = make_chan<int>(kSenders);  // value, or -1 for a panic
      auto received = make_chan<std::vector<int>>(kReceivers);
      for (int s = 0; s < kSenders; ++s) {
        go([c, sent, s] {
          try {
            c.send(s);
            sent.send(s);
          } catch (const Panic& p) {
            EXPECT_STREQ(p.what(), "send on closed channel");
            sent.send(-1);
          }
        });
      }
      for (int r = 0; r < kReceivers; ++r) {
        go([c, received] {
          std::vector<int> got;
          for (int v : c) got.push_back(v);
          EXPECT_EQ(c.recv_ok(), std::make_pair(0, false));
          received.send(std::move(got));
        });
      }
      for (int i = 0; i < round % 7; ++i) yield();
      c.close();
      std::multiset<int> completed, got;
      for (int s = 0; s < kSenders; ++s) {
        int v = sent.recv();
        if (v >= 0) {
          completed.insert(v);
          ++total_completed;
        } else {
          ++total_panicked;
        }
      }
      for (int r = 0; r < kReceivers; ++r) {
        for (int v : received.recv()) got.insert(v);
      }
      ASSERT_EQ(got, completed) << "round " << round;
    }
  });
  // The race went both ways: some senders beat the close, some did not.
  EXPECT_GT(total_completed, 0);
  EXPECT_GT(total_panicked, 0);
}

}  // namespace
}  // namespace gort
