// Go's time package (sleep, After, Timer, Ticker, AfterFunc) on the per-P
// timer heaps (timer/heap.h) and the scheduler.
//
// ## sleep
//
// Go 1.19 keeps one timer per G for time.Sleep. Here the timer lives on the
// sleeping goroutine's own stack: sleep() parks, and park's unlock function
// (running on the M's g0, with the goroutine already waiting) inserts the
// timer into the P's heap. When it fires, its function readies the
// goroutine; the heap never touches a one-shot timer after calling its
// function, so the frame may vanish at once. One heap insert, no channel,
// no allocation.
//
// ## Channel timers: Go 1.23's "no stale value" guarantee
//
// Go 1.23 made timer channels synchronous: after Stop or Reset returns, no
// value the timer produced before is received. Go does it with a per-timer
// send lock, a sequence number and a drain of the channel's one-slot
// buffer; so does this file:
//
//   1. Every stop/reset of the heap timer bumps its seq (timer/heap.h), and
//      the firing passes the seq it fired with to send_time.
//   2. send_time takes the TimerState's send_mu, compares the seq with the
//      current one and sends (try_send into a buffer of one; a full buffer
//      means a Ticker's receiver is behind: the tick is dropped, as Go's
//      sendTime does) only if they match.
//   3. stop/reset take send_mu, bump the seq (1.), and drain the buffer.
//
// A firing that comes before 3 has sent under send_mu and 3 drains its
// value; one that comes after sees a new seq in 2 and sends nothing. So once
// stop/reset has released send_mu, no value from before it can be received.
// The drained value counts as "the timer was pending" (Go 1.23's Stop
// returns true then: the receiver never saw the timer fire).
//
// ## Lifetime
//
// A TimerState is a reference-counted heap timer (timer/heap.h): the handles
// together hold one reference (their own count, handles, decides when to
// drop it, and stops a Ticker then), the heap one while the timer is in it,
// a firing one while its function runs, an after_func goroutine one until f
// returns.
//
// ## TimerState memory
//
// The `timers` workload makes a million TimerStates on one goroutine's
// thread and frees most of them on others (where the after_func goroutine
// ran, or a stealer dropped a stopped timer's entry): with glibc's malloc
// the cross-thread frees cost ~11% of its profile (arena locks, chunk
// consolidation). Go allocates timers from per-P caches (mcache). Here each
// thread keeps a free list of TimerStates (at most kCacheMax) and trades
// batches of kBatch with a global list under a lock, as a magazine
// allocator does: an allocation or a free is a pop or a push, plus one
// lock per kBatch of them.
//
// Per thread rather than per P: the list is used only inside one runtime
// function (namespace gort: never preempted asynchronously; nothing there
// yields), so the thread cannot change under it, and plain threads need no
// special case. The memory is never returned to malloc (kept for the next
// burst, as Go keeps its spans); a thread's list goes to the global one
// when the thread exits. Under ASan every TimerState is a plain new/delete,
// so a use after free is still caught.
#include "timer/time.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

#include "chan/chan.h"
#include "sched/internal.h"
#include "sched/panic.h"
#include "sched/preempt.h"
#include "sched/sched.h"
#include "sys/clock.h"
#include "sys/fatal.h"
#include "sys/mutex.h"
#include "sys/syscall.h"
#include "timer/heap.h"

namespace gort::time {
namespace internal {

struct TimerState : timer::Timer {
  explicit TimerState(timer::Timer::Func f) : timer::Timer(f, this) {}
  // From and to the free lists ("TimerState memory" above).
  static void* operator new(size_t size);
  static void operator delete(void* p);
  sys::Mutex send_mu;     // Go 1.23's sendLock: steps 2 and 3 above
  Chan<TimePoint> ch;     // nil for after_func; a buffer of one
  std::function<void()> fn;  // after_func's
  bool ticker = false;
  std::atomic<int32_t> handles{1};  // Timer/Ticker handles; acq_rel RMWs
};

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kRecycle = false;
#else
constexpr bool kRecycle = true;
#endif
constexpr int32_t kBatch = 128;
constexpr int32_t kCacheMax = 2 * kBatch;

// A free TimerState's first bytes.
struct FreeNode {
  FreeNode* next;        // within a list
  FreeNode* next_batch;  // a batch's head, on the global list
  int32_t count;         // a batch's head: nodes in the batch
};
static_assert(sizeof(FreeNode) <= sizeof(TimerState));

// This thread's list. Trivially destructible, so usable at any time; its
// Flusher (below) hands it to the global list when the thread exits and
// marks it dead, after which frees go to the global list directly.
struct FreeCache {
  FreeNode* head;
  int32_t n;
  bool registered;  // the Flusher exists
  bool dead;        // the thread is exiting
};
constinit thread_local FreeCache t_cache = {nullptr, 0, false, false};

constinit sys::Mutex g_free_mu;
constinit FreeNode* g_free_batches = nullptr;  // under g_free_mu

void put_batch(FreeNode* head, int32_t count) {
  head->count = count;
  sys::MutexLock l(g_free_mu);
  head->next_batch = g_free_batches;
  g_free_batches = head;
}

struct Flusher {
  ~Flusher() {
    if (t_cache.n > 0) put_batch(t_cache.head, t_cache.n);
    t_cache = {nullptr, 0, true, true};
  }
};

// Once per thread. The registration of the destructor calls the C++
// runtime (__cxa_thread_atexit), outside gort's names: not preemptible, or
// it could finish on another thread.
void register_flusher() {
  sched::NoAsyncPreempt no_preempt;
  static thread_local Flusher flusher;
  (void)&flusher;  // constructs it (and schedules its destructor)
  t_cache.registered = true;
}

}  // namespace

void* TimerState::operator new(size_t size) {
  GORT_CHECK(size == sizeof(TimerState));
  if (!kRecycle) return ::operator new(size);
  FreeCache& c = t_cache;
  if (c.head == nullptr && !c.dead) {
    if (!c.registered) register_flusher();
    sys::MutexLock l(g_free_mu);
    if (FreeNode* b = g_free_batches) {
      g_free_batches = b->next_batch;
      c.head = b;
      c.n = b->count;
    }
  }
  if (FreeNode* node = c.head) {
    c.head = node->next;
    c.n--;
    // The next allocation's memory was freed on another thread, most
    // likely: fetch it now, for writing (prefetch never faults).
    if (c.head != nullptr) {
      const char* next = reinterpret_cast<const char*>(c.head);
      for (size_t off = 0; off < sizeof(TimerState); off += 64) {
        __builtin_prefetch(next + off, 1, 3);
      }
    }
    return node;
  }
  return ::operator new(size);
}

void TimerState::operator delete(void* p) {
  if (!kRecycle) {
    ::operator delete(p);
    return;
  }
  FreeNode* node = static_cast<FreeNode*>(p);
  FreeCache& c = t_cache;
  if (c.dead) {
    node->next = nullptr;
    put_batch(node, 1);
    return;
  }
  if (!c.registered) register_flusher();  // the list must not leak
  node->next = c.head;
  c.head = node;
  if (++c.n <= kCacheMax) return;
  // Full: the first kBatch nodes go to the global list.
  FreeNode* last = node;
  for (int32_t i = 1; i < kBatch; i++) last = last->next;
  c.head = last->next;
  c.n -= kBatch;
  last->next = nullptr;
  put_batch(node, kBatch);
}

}  // namespace internal

namespace {

using internal::TimerState;

// now + d without overflow, and never below 1 (heap deadlines are > 0).
int64_t deadline(int64_t now, int64_t d) {
  if (d <= 0) return std::max<int64_t>(now, 1);
  if (now > std::numeric_limits<int64_t>::max() - d) return timer::kNever - 1;
  return now + d;
}

void free_state(timer::Timer* t) { delete static_cast<TimerState*>(t); }

void send_time(void* arg, uint64_t seq, int64_t now) {
  TimerState* s = static_cast<TimerState*>(arg);
  sys::MutexLock l(s->send_mu);
  if (s->seq() != seq) return;  // stopped or reset since it fired (step 2)
  s->ch.try_send(TimePoint(Duration(now)));  // full: a Ticker drops the tick
}

void start_func(TimerState* s) {
  s->retain();  // the goroutine's reference
  gort::go([s] {
    struct Release {
      TimerState* s;
      ~Release() { s->release(); }
    } release{s};
    s->fn();
  });
}

void run_func(void* arg, uint64_t, int64_t) {
  TimerState* s = static_cast<TimerState*>(arg);
  // The goroutine reads fn and then frees s, most likely soon and on this
  // thread: fetch the state's cold lines now (Heap::run has the first).
  const char* p = reinterpret_cast<const char*>(s);
  for (size_t off = 64; off < sizeof(TimerState); off += 64) {
    __builtin_prefetch(p + off, 1, 3);
  }
  __builtin_prefetch(p + sizeof(TimerState) - 1, 1, 3);
  start_func(s);
}

// Empties a channel timer's buffer. REQUIRES: s->send_mu held.
bool drain(TimerState* s) {
  bool any = false;
  while (auto v = s->ch.try_recv()) {
    if (!v->second) break;
    any = true;
  }
  return any;
}

// Arms s for `when` (period > 0: a ticker) and tells the scheduler.
bool arm(TimerState* s, int64_t when, int64_t period) {
  bool was = s->reset(sched::local_timer_heap(), when, period);
  sched::timer_armed(when);
  return was;
}

// Stop and reset of a channel or function timer; d <= 0 (one-shot only)
// fires at once instead of arming.
bool reset_state(TimerState* s, Duration d, int64_t period) {
  int64_t now = sys::nanotime();
  int64_t when = deadline(now, d.count());
  if (s->ch == nullptr) {  // after_func: no channel, no stale values
    if (d.count() <= 0 && period == 0) {
      bool was = s->stop();
      start_func(s);
      return was;
    }
    return arm(s, when, period);
  }
  bool was;
  {
    sys::MutexLock l(s->send_mu);
    if (d.count() <= 0 && period == 0) {
      was = s->stop();
      if (drain(s)) was = true;
      s->ch.try_send(TimePoint(Duration(now)));
      return was;
    }
    was = s->reset(sched::local_timer_heap(), when, period);  // step 3
    if (drain(s)) was = true;
  }
  sched::timer_armed(when);
  return was;
}

bool stop_state(TimerState* s) {
  if (s->ch == nullptr) return s->stop();
  sys::MutexLock l(s->send_mu);
  bool was = s->stop();  // step 3
  if (drain(s)) was = true;
  return was;
}

TimerState* new_chan_state(bool ticker) {
  TimerState* s = new TimerState(send_time);
  s->set_release(free_state);
  s->ch = make_chan<TimePoint>(1);
  s->ticker = ticker;
  return s;
}

void drop_handle(TimerState* s) {
  if (s == nullptr) return;
  if (s->handles.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (s->ticker) stop_state(s);  // nobody can stop it any more
  s->release();                  // the handles' reference
}

TimerState* add_handle(TimerState* s) {
  if (s != nullptr) s->handles.fetch_add(1, std::memory_order_relaxed);
  return s;
}

const Chan<TimePoint>& nil_chan() {
  static const Chan<TimePoint> nil;
  return nil;
}

// ---- sleep ------------------------------------------------------------------

struct Sleeper {
  timer::Timer node;
  sched::G* g;
  int64_t when;
};

void wake_sleeper(void* arg, uint64_t, int64_t) {
  sched::ready(static_cast<Sleeper*>(arg)->g);
}

// park's unlock function, on g0 with the goroutine already waiting: from
// the reset on, the timer may fire on any M and the Sleeper's frame may be
// gone, so `when` is copied first.
bool arm_sleeper(sched::G*, void* arg) {
  Sleeper* sl = static_cast<Sleeper*>(arg);
  int64_t when = sl->when;
  sl->node.reset(sched::local_timer_heap(), when, 0);
  sched::timer_armed(when);
  return true;
}

}  // namespace

TimePoint now() { return TimePoint(Duration(sys::nanotime())); }

void sleep(Duration d) {
  if (d.count() <= 0) return;
  int64_t when = deadline(sys::nanotime(), d.count());
  sched::G* g = sched::current_g();
  if (g == nullptr) {  // a plain thread sleeps itself
    for (int64_t left; (left = when - sys::nanotime()) > 0;) sys::nanosleep(left);
    return;
  }
  Sleeper sl{timer::Timer(wake_sleeper, &sl), g, when};
  sched::park(arm_sleeper, &sl, sched::WaitReason::kSleep);
}

Chan<TimePoint> after(Duration d) { return Timer(d).chan(); }

Timer::Timer(Duration d) : s_(new_chan_state(false)) { reset_state(s_, d, 0); }
Timer::Timer(const Timer& other) : s_(add_handle(other.s_)) {}
Timer::Timer(Timer&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
Timer& Timer::operator=(Timer other) noexcept {
  std::swap(s_, other.s_);
  return *this;
}
Timer::~Timer() { drop_handle(s_); }

const Chan<TimePoint>& Timer::chan() const {
  return s_ != nullptr ? s_->ch : nil_chan();
}

bool Timer::stop() { return s_ != nullptr && stop_state(s_); }

bool Timer::reset(Duration d) {
  return s_ != nullptr && reset_state(s_, d, 0);
}

Timer after_func(Duration d, std::function<void()> f) {
  TimerState* s = new TimerState(run_func);
  s->set_release(free_state);
  s->fn = std::move(f);
  reset_state(s, d, 0);
  return Timer(s);
}

Ticker::Ticker(Duration d) {
  if (d.count() <= 0) throw Panic("non-positive interval for NewTicker");
  s_ = new_chan_state(true);
  reset_state(s_, d, d.count());
}
Ticker::Ticker(const Ticker& other) : s_(add_handle(other.s_)) {}
Ticker::Ticker(Ticker&& other) noexcept : s_(std::exchange(other.s_, nullptr)) {}
Ticker& Ticker::operator=(Ticker other) noexcept {
  std::swap(s_, other.s_);
  return *this;
}
Ticker::~Ticker() { drop_handle(s_); }

const Chan<TimePoint>& Ticker::chan() const {
  return s_ != nullptr ? s_->ch : nil_chan();
}

void Ticker::stop() {
  if (s_ != nullptr) stop_state(s_);
}

void Ticker::reset(Duration d) {
  if (d.count() <= 0) throw Panic("non-positive interval for Ticker.Reset");
  if (s_ != nullptr) reset_state(s_, d, d.count());
}

}  // namespace gort::time
