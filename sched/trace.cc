// The scheduler's event recorder (sched/trace.h): per-thread rings that
// `gort run --trace-out` drains into Chrome trace-event JSON.
//
// ## What Go does, and what is kept
//
// Go's runtime/trace (trace.go) buffers events per P, in 64 KiB buffers
// taken from a global pool, flushed to a reader goroutine while the program
// runs, and encodes them compactly with stack traces. gort keeps the idea of
// buffers that only their owner writes, and leaves out the rest: the events
// are read once, after the workload, so a fixed ring per thread that keeps
// the newest events is enough, and needs no reader, no pool and no lock.
//
// ## Rejected alternatives
//
// - Per-P buffers (Go's): a goroutine in a syscall has no P but still
//   records (its exit), and sysmon has none at all; per-thread rings need
//   no hand-off when a P changes hands.
// - One global buffer with an atomic index: every event would be a
//   contended RMW between Ms, and the cost of tracing would depend on P
//   count.
// - A check of the ring pointer alone as the "off" test: it would cost a
//   TLS load at every site. The off test is one global bool.
//
// ## Cost when off
//
// Every site is `if (trace::on()) [[unlikely]] trace::x(...)`: a relaxed
// load of a global (a plain load from a line no one writes while the
// runtime runs) and a never-taken branch; the calls are out of line and
// their arguments are computed only on the taken side.
//
// ## Recording (owner thread only)
//
// 1. Load g_session (acquire); 0 means off: record nothing. This load
//    pairs with enable()'s release store, so g_start_ns is the session's.
// 2. If this thread has no ring, or its ring belongs to an older session,
//    attach: allocate the ring once (2 MiB, pushed on the ring list with a
//    release CAS) and empty it, then publish its session (release).
// 3. i = next++ (owner-only); head = i + 1 (relaxed); the event's four
//    words with release stores into slot i % kRingEvents; tail = i + 1
//    (release).
//
// ## Draining (the controlling thread, after disable)
//
// For each ring of the drained session: t = tail (acquire); copy the
// words of indices [max(0, t - N), t) with acquire loads; then h = head
// (relaxed). A writer that overwrote slot j's words stored head >= j + N + 1
// before its first word (release), so if any copied word is new, h shows
// it, and every index below h - N is discarded as possibly torn. What is
// kept is exact; overwritten, torn and in-flight events are counted as
// dropped.
#include "sched/trace.h"

#include <algorithm>
#include <bit>
#include <memory>

#include "sched/internal.h"
#include "sched/runtime.h"
#include "sys/clock.h"
#include "sys/fatal.h"

namespace gort::sched::trace {

namespace internal {
alignas(64) constinit std::atomic<bool> g_on{false};
}  // namespace internal

namespace {

static_assert(sizeof(std::source_location) == sizeof(uint64_t),
              "a call site is stored as one word");
static_assert((kRingEvents & (kRingEvents - 1)) == 0, "a power of two");

constexpr int kWords = 4;  // per event: time, kind and ids, goid, site/count

struct Ring {
  // The session whose events it holds; the owner stores it (release) after
  // emptying the ring, drain loads it (acquire).
  std::atomic<uint64_t> session{0};
  int64_t m = -1;     // the owner's M id (fixed at creation)
  Ring* link = nullptr;  // the ring list; written before the push
  uint64_t next = 0;  // owner only: the index of the next event
  std::atomic<uint64_t> head{0};  // index + 1 of the event being written
  std::atomic<uint64_t> tail{0};  // index + 1 of the last complete event
  std::atomic<uint64_t> words[kRingEvents * kWords] = {};
};

// The current session (0: off) and its start; see "Recording", step 1.
constinit std::atomic<uint64_t> g_session{0};
constinit std::atomic<uint64_t> g_last_session{0};  // controlling thread
constinit std::atomic<int64_t> g_start_ns{0};
// Every ring ever made (they are never freed), pushed with a release CAS.
constinit std::atomic<Ring*> g_rings{nullptr};

constinit thread_local Ring* t_ring = nullptr;

[[gnu::noinline]] Ring* attach(uint64_t session) {
  Ring* r = t_ring;
  if (r == nullptr) {
    r = new Ring;
    M* m = getm();
    r->m = m != nullptr ? m->id : -1;
    Ring* old = g_rings.load(std::memory_order_relaxed);
    do {
      r->link = old;
    } while (!g_rings.compare_exchange_weak(old, r, std::memory_order_release,
                                            std::memory_order_relaxed));
    t_ring = r;
  }
  r->next = 0;
  r->head.store(0, std::memory_order_relaxed);
  r->tail.store(0, std::memory_order_relaxed);
  r->session.store(session, std::memory_order_release);
  return r;
}

uint64_t pack_ids(EventKind kind, int32_t p, int32_t other_p,
                  StopReason reason, WaitReason wait) {
  return static_cast<uint64_t>(kind) |
         static_cast<uint64_t>(static_cast<uint16_t>(p + 1)) << 8 |
         static_cast<uint64_t>(static_cast<uint16_t>(other_p + 1)) << 24 |
         static_cast<uint64_t>(reason) << 40 |
         static_cast<uint64_t>(wait) << 48;
}

void put(uint64_t ids, int64_t goid, uint64_t last) {
  uint64_t session = g_session.load(std::memory_order_acquire);
  if (session == 0) return;  // disabled since the caller's on()
  int64_t ts = sys::nanotime() - g_start_ns.load(std::memory_order_relaxed);
  Ring* r = t_ring;
  if (r == nullptr || r->session.load(std::memory_order_relaxed) != session)
      [[unlikely]] {
    r = attach(session);
  }
  uint64_t i = r->next++;
  r->head.store(i + 1, std::memory_order_relaxed);
  std::atomic<uint64_t>* w = &r->words[(i & (kRingEvents - 1)) * kWords];
  w[0].store(static_cast<uint64_t>(ts), std::memory_order_release);
  w[1].store(ids, std::memory_order_release);
  w[2].store(static_cast<uint64_t>(goid), std::memory_order_release);
  w[3].store(last, std::memory_order_release);
  r->tail.store(i + 1, std::memory_order_release);
}

Event unpack(const uint64_t w[kWords]) {
  Event e;
  e.ts_ns = static_cast<int64_t>(w[0]);
  e.kind = static_cast<EventKind>(w[1] & 0xff);
  e.p = static_cast<int32_t>((w[1] >> 8) & 0xffff) - 1;
  e.other_p = static_cast<int32_t>((w[1] >> 24) & 0xffff) - 1;
  e.reason = static_cast<StopReason>((w[1] >> 40) & 0xff);
  e.wait = static_cast<WaitReason>((w[1] >> 48) & 0xff);
  e.goid = static_cast<int64_t>(w[2]);
  if (e.kind == EventKind::kGoStart) {
    e.site = std::bit_cast<std::source_location>(w[3]);
  } else {
    e.count = static_cast<uint32_t>(w[3]);
  }
  return e;
}

}  // namespace

const char* stop_reason_string(StopReason reason) {
  switch (reason) {
    case StopReason::kPark:
      return "park";
    case StopReason::kYield:
      return "yield";
    case StopReason::kPreempt:
      return "preempt";
    case StopReason::kExit:
      return "exit";
    case StopReason::kNoP:
      return "exitsyscall: no P";
  }
  return "?";
}

void enable() {
  GORT_CHECK(!internal::g_on.load(std::memory_order_relaxed));
  uint64_t session = g_last_session.load(std::memory_order_relaxed) + 1;
  g_last_session.store(session, std::memory_order_relaxed);
  g_start_ns.store(sys::nanotime(), std::memory_order_relaxed);
  g_session.store(session, std::memory_order_release);  // step 1 pairs here
  internal::g_on.store(true, std::memory_order_relaxed);
}

void disable() {
  internal::g_on.store(false, std::memory_order_relaxed);
  g_session.store(0, std::memory_order_relaxed);
}

std::vector<ThreadEvents> drain() {
  GORT_CHECK(!internal::g_on.load(std::memory_order_relaxed));
  const uint64_t session = g_last_session.load(std::memory_order_relaxed);
  std::vector<ThreadEvents> out;
  if (session == 0) return out;
  auto copy = std::make_unique<uint64_t[]>(kRingEvents * kWords);
  for (Ring* r = g_rings.load(std::memory_order_acquire); r != nullptr;
       r = r->link) {
    if (r->session.load(std::memory_order_acquire) != session) continue;
    const uint64_t t = r->tail.load(std::memory_order_acquire);
    const uint64_t first = t > kRingEvents ? t - kRingEvents : 0;
    for (uint64_t i = first; i < t; i++) {
      const size_t slot = (i & (kRingEvents - 1)) * kWords;
      for (int k = 0; k < kWords; k++) {
        copy[slot + k] = r->words[slot + k].load(std::memory_order_acquire);
      }
    }
    const uint64_t h = r->head.load(std::memory_order_relaxed);
    const uint64_t safe = h > kRingEvents ? h - kRingEvents : 0;
    const uint64_t keep_from = std::max(first, safe);
    ThreadEvents te;
    te.m = r->m;
    te.dropped = keep_from + (h > t ? h - t : 0);
    for (uint64_t i = keep_from; i < t; i++) {
      te.events.push_back(unpack(&copy[(i & (kRingEvents - 1)) * kWords]));
    }
    if (!te.events.empty() || te.dropped > 0) out.push_back(std::move(te));
  }
  return out;
}

// ---- recording --------------------------------------------------------------

void go_start(int32_t p, int64_t goid, std::source_location site) {
  put(pack_ids(EventKind::kGoStart, p, -1, StopReason::kPark, WaitReason::kZero),
      goid, std::bit_cast<uint64_t>(site));
}

void go_stop(int32_t p, int64_t goid, StopReason reason, WaitReason wait) {
  put(pack_ids(EventKind::kGoStop, p, -1, reason, wait), goid, 0);
}

void syscall_enter(int32_t p, int64_t goid) {
  put(pack_ids(EventKind::kSyscallEnter, p, -1, StopReason::kPark,
               WaitReason::kZero),
      goid, 0);
}

void syscall_exit(int32_t p, int64_t goid) {
  put(pack_ids(EventKind::kSyscallExit, p, -1, StopReason::kPark,
               WaitReason::kZero),
      goid, 0);
}

void steal(int32_t p, int32_t victim, int64_t goid) {
  put(pack_ids(EventKind::kSteal, p, victim, StopReason::kPark,
               WaitReason::kZero),
      goid, 0);
}

void netpoll(uint32_t count) {
  M* m = getm();
  int32_t p = m != nullptr && m->p != nullptr ? m->p->id : -1;
  put(pack_ids(EventKind::kNetpoll, p, -1, StopReason::kPark,
               WaitReason::kZero),
      0, count);
}

void timers_fired(int32_t p, int32_t heap_p, uint32_t count) {
  put(pack_ids(EventKind::kTimers, p, heap_p, StopReason::kPark,
               WaitReason::kZero),
      0, count);
}

}  // namespace gort::sched::trace
