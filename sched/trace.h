// sched/trace.h: the scheduler's event recorder (Go's runtime/trace, much
// reduced), read by `gort run --trace-out` (cli/trace_json.h).
//
//   on             the one test every recording site makes: is tracing on?
//   enable         starts recording (clears what an earlier session left)
//   disable        stops recording
//   drain          the events recorded since enable, per thread, oldest first
//   EventKind      what happened: a goroutine started or stopped running on
//                  an M, a syscall began or ended, a steal, a poll that
//                  readied goroutines, a batch of timers fired
//   StopReason     why a goroutine left its M (park, yield, preempt, exit,
//                  no P after a syscall)
//   Event          one event with its time and P, M and goroutine ids
//   ThreadEvents   one thread's (M's) events and how many were lost
//   go_start ... timers_fired   the recording calls (scheduler, netpoll)
//
// Each thread records into its own ring (fixed size, allocated at its
// first event): only that thread writes it, with plain stores in effect;
// when the ring is full the oldest events are overwritten and counted as
// dropped. With tracing off a recording site costs one relaxed load of a
// global bool and a branch that is always predicted: every call is written
// `if (trace::on()) [[unlikely]] trace::go_start(...)`, and the calls are
// out of line.
//
// Thread safety: on() from anywhere. The recording calls from any thread;
// each writes its calling thread's ring. enable, disable and drain from one
// controlling thread, in that order (drain after disable; the next enable
// after drain returns). drain may run while a thread that passed on()
// before disable still writes its last event: that event is lost (counted
// as dropped), never torn.
//
// Memory ordering: on() is relaxed: a site that misses enable() by a few
// nanoseconds records nothing, one that misses disable() records one more
// event. A ring is a seqlock with one writer: the owner stores `head` (the
// index it is about to write), then the event's words with release stores,
// then `tail` with a release store; drain loads `tail` (acquire), the
// words (acquire), then `head`, and keeps only indices the owner cannot
// have begun to overwrite (trace.cc, "Draining"). On x86 every one of these
// is a plain mov.
#ifndef GORT_SCHED_TRACE_H_
#define GORT_SCHED_TRACE_H_

#include <atomic>
#include <cstdint>
#include <source_location>
#include <vector>

#include "sched/g.h"

namespace gort::sched::trace {

namespace internal {
// The switch behind on(): written by enable/disable only.
extern constinit std::atomic<bool> g_on;
}  // namespace internal

inline bool on() { return internal::g_on.load(std::memory_order_relaxed); }

// Events a thread's ring holds before it overwrites its oldest.
inline constexpr uint32_t kRingEvents = 1u << 16;

// Starts a session: rings are emptied (each by its owner, at its next
// event) and timestamps count from now.
void enable();
void disable();

enum class EventKind : uint8_t {
  kGoStart,       // goid (created at `site`) starts running on this M and p
  kGoStop,        // goid leaves this M: `reason`, and `wait` for kPark
  kSyscallEnter,  // goid enters blocking(): its P (p) is released
  kSyscallExit,   // goid returns from it; p is the P it got, -1 if none
  kSteal,         // this M's P (p) stole goid from P `other_p`
  kNetpoll,       // a poll readied `count` goroutines (count >= 1)
  kTimers,        // `count` timers of P `other_p`'s heap fired (count >= 1)
};

enum class StopReason : uint8_t {
  kPark,     // parked (WaitReason in `wait`)
  kYield,    // yield(): back on its P's run queue
  kPreempt,  // preempted, or yielded to the global queue
  kExit,     // finished
  kNoP,      // returned from a syscall to find no P; queued globally
};

// Go's words for a stop reason ("park", "yield", ...).
const char* stop_reason_string(StopReason reason);

struct Event {
  int64_t ts_ns = 0;  // nanotime minus enable()'s nanotime
  EventKind kind = EventKind::kGoStart;
  int32_t p = -1;        // the P the recording M held, -1 if none
  int32_t other_p = -1;  // kSteal: the victim; kTimers: the heap's P
  int64_t goid = 0;      // G events and kSteal
  StopReason reason = StopReason::kPark;   // kGoStop
  WaitReason wait = WaitReason::kZero;     // kGoStop with kPark
  uint32_t count = 0;                      // kNetpoll, kTimers
  std::source_location site;               // kGoStart: where go() was called
};

struct ThreadEvents {
  int64_t m = -1;        // the M's id; -1: a thread that is no M (sysmon)
  uint64_t dropped = 0;  // events overwritten or torn by a late writer
  std::vector<Event> events;  // oldest first
};

// The events of the session that disable() ended, one entry per thread that
// recorded any. REQUIRES: disable() was called.
std::vector<ThreadEvents> drain();

// ---- recording (REQUIRES: on() was true just before the call) ----------------

void go_start(int32_t p, int64_t goid, std::source_location site);
void go_stop(int32_t p, int64_t goid, StopReason reason, WaitReason wait);
void syscall_enter(int32_t p, int64_t goid);
void syscall_exit(int32_t p, int64_t goid);
void steal(int32_t p, int32_t victim, int64_t goid);
// The calling M's P, if any, is looked up (the poller does not know it).
void netpoll(uint32_t count);
void timers_fired(int32_t p, int32_t heap_p, uint32_t count);

}  // namespace gort::sched::trace

#endif  // GORT_SCHED_TRACE_H_
