// timer/time.h: Go's time package on gort's scheduler (the public API of
// //timer:time).
//
//   Duration, TimePoint    std::chrono nanoseconds on the monotonic clock
//   now()                  the current TimePoint (Go's time.Now, monotonic)
//   sleep(d)               parks the goroutine for at least d
//   after(d)               a channel that receives now() once, after d
//   Timer                  a one-shot timer: chan(), stop(), reset(d)
//   after_func(d, f)       a Timer that runs f in its own goroutine
//   Ticker                 a channel that receives now() every d: chan(),
//                          stop(), reset(d)
//
// Semantics are Go 1.23's: a Timer's or Ticker's channel behaves as if
// unbuffered, so after stop() or reset() returns no value sent before the
// call is ever received (stop() and reset() report true also when they
// discard such a value: the receiver never saw it). A Ticker drops ticks
// its receiver is not ready for. Zero or negative durations fire at once;
// Ticker(d) and Ticker::reset(d) with d <= 0 panic (gort::Panic
// "non-positive interval for NewTicker" / "... for Ticker.Reset"). A
// goroutine in sleep() shows `[sleep]` in the goroutine dump, one receiving
// from a timer channel `[chan receive]`; pending timers keep deadlock
// detection quiet, as in Go.
//
// Unlike Go, there is no garbage collector to drop unreachable timers:
// Timer and Ticker are reference-counted handles (copies share the timer).
// When the last handle goes, a Ticker is stopped; a Timer is left to fire
// (its channel, or its function's goroutine, may still be waited on).
// From a thread that is not a goroutine, sleep() sleeps the thread and the
// rest works unchanged (timers go to P0's heap).
//
// Thread safety: every function and method may be called concurrently from
// any goroutine or thread, on the same Timer too (as Go's Stop and Reset).
// A handle object itself must not be assigned while in use (as Chan).
//
// Memory ordering: a value sent on a timer channel is a channel send (see
// chan/chan.h). after_func's f runs in a goroutine started after the timer
// fired; whatever happened before the arming reset()/after_func call
// happens-before f starts.
#ifndef GORT_TIMER_TIME_H_
#define GORT_TIMER_TIME_H_

#include <chrono>
#include <cstdint>
#include <functional>

#include "chan/chan.h"

namespace gort::time {

using Duration = std::chrono::nanoseconds;
using TimePoint =
    std::chrono::time_point<std::chrono::steady_clock, std::chrono::nanoseconds>;

namespace internal {
struct TimerState;
}  // namespace internal

TimePoint now();

// Parks the calling goroutine until at least d has passed (never early);
// d <= 0 returns at once. One heap insert, no channel.
void sleep(Duration d);

// A channel on which now() arrives once, at least d from now (Go's
// time.After).
Chan<TimePoint> after(Duration d);

class Timer {
 public:
  // A stopped Timer with no channel and no function; reset() does nothing
  // useful until one is assigned (Go's zero Timer).
  Timer() = default;
  // A timer whose channel receives now() at least d from now (Go's
  // time.NewTimer).
  explicit Timer(Duration d);
  Timer(const Timer& other);
  Timer(Timer&& other) noexcept;
  Timer& operator=(Timer other) noexcept;
  ~Timer();

  // The channel (nil for after_func timers).
  const Chan<TimePoint>& chan() const;

  // Prevents the timer from firing. True if it was pending, or (channel
  // timers) if it had fired but its value was not yet received, which stop
  // discards. For after_func: false means f has been or is being started.
  bool stop();

  // Re-arms the timer to fire d from now (d <= 0: at once). Returns what
  // stop() would have. Discards an unreceived value, as stop().
  bool reset(Duration d);

 private:
  friend Timer after_func(Duration d, std::function<void()> f);
  explicit Timer(internal::TimerState* s) : s_(s) {}
  internal::TimerState* s_ = nullptr;
};

// Runs f in its own goroutine at least d from now; the Timer stops or
// re-arms it (Go's time.AfterFunc).
Timer after_func(Duration d, std::function<void()> f);

class Ticker {
 public:
  // A ticker whose channel receives now() every d, dropping ticks the
  // receiver is not ready for. Throws Panic("non-positive interval for
  // NewTicker") if d <= 0.
  explicit Ticker(Duration d);
  Ticker(const Ticker& other);
  Ticker(Ticker&& other) noexcept;
  Ticker& operator=(Ticker other) noexcept;
  // The last handle stops the ticker.
  ~Ticker();

  const Chan<TimePoint>& chan() const;
  // Stops the ticks; no tick sent before is received after stop returns.
  void stop();
  // Ticks every d from now on. Throws Panic("non-positive interval for
  // Ticker.Reset") if d <= 0.
  void reset(Duration d);

 private:
  internal::TimerState* s_ = nullptr;
};

}  // namespace gort::time

#endif  // GORT_TIMER_TIME_H_
