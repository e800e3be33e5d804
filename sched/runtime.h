// sched/runtime.h: the scheduler's internal state: M, P and the global
// scheduler (Go's runtime2.go m, p and schedt). Private to //sched.
//
//   PStatus  Go's P states and numbers
//   Rng      the per-P random generator (one seed fixes every choice)
//   P        a processor: the right to run goroutines, and its caches
//   M        a machine: an OS thread, its g0 context and its note
//   Sched    the global scheduler: idle lists, the global run queue, allp
//
// Thread safety: fields say what protects them. `sched().lock` is the big
// scheduler lock (Go's sched.lock); a P's own fields belong to the M that
// holds the P; atomics say their order where they are declared.
#ifndef GORT_SCHED_RUNTIME_H_
#define GORT_SCHED_RUNTIME_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "mem/mem.h"
#include "sched/g.h"
#include "sched/runq.h"
#include "sched/stack.h"
#include "sys/context.h"
#include "sys/mutex.h"
#include "sys/note.h"
#include "timer/heap.h"

namespace gort::sched {

// Fields that one thread owns but others (sysmon, schedtrace, the dump) read
// as hints without a lock: p->m, m->curg, g->m, p->schedtick. The owner
// writes them with relaxed_store and the others read with relaxed_load, so
// the races are benign and visible as such to TSan; the owner's own plain
// reads race with nothing.
template <typename T>
inline T relaxed_load(const T& field) {
  return __atomic_load_n(&field, __ATOMIC_RELAXED);
}
template <typename T>
inline void relaxed_store(T& field, T value) {
  __atomic_store_n(&field, value, __ATOMIC_RELAXED);
}

enum class PStatus : uint32_t {
  kIdle = 0,     // on the idle P list, no M; owned by sched.lock
  kRunning = 1,  // held by an M running Go code or the scheduler
  kSyscall = 2,  // its M is in a syscall; sysmon may retake it by CAS
  kGCStop = 3,   // stopped for stop-the-world; owned by the stopper
  kDead = 4,     // beyond GOMAXPROCS; owns nothing
};

// wyrand: small, fast, good enough for victim order and select's shuffle.
struct Rng {
  uint64_t state = 0;
  uint64_t next() {
    state += 0xa0761d6478bd642fULL;
    __uint128_t t = static_cast<__uint128_t>(state) * (state ^ 0xe7037ed1a0b428dbULL);
    return static_cast<uint64_t>(t >> 64) ^ static_cast<uint64_t>(t);
  }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift).
  uint32_t below(uint32_t n) {
    return static_cast<uint32_t>((static_cast<uint64_t>(static_cast<uint32_t>(next())) * n) >> 32);
  }
};

// P `id`'s first Rng state for the runtime's seed (GODEBUG=gortseed=N, or
// the clock): one seed fixes every P's sequence of choices.
inline uint64_t rng_seed_for_p(uint64_t seed, int32_t id) {
  return seed + 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(id + 1);
}

// Where a round of work stealing starts among `procs` Ps (steal_work); the
// one place its random victim order comes from. REQUIRES: procs > 0.
inline uint32_t steal_start(Rng& rng, int32_t procs) {
  return rng.below(static_cast<uint32_t>(procs));
}

struct P {
  int32_t id = 0;
  std::atomic<PStatus> status{PStatus::kIdle};  // CAS acq_rel (sysmon vs exitsyscall)
  M* m = nullptr;           // the M holding it (written by that M / under lock)
  P* link = nullptr;        // idle P list, under sched.lock
  RunQueue<G> runq;         // see runq.h for its ordering
  uint32_t schedtick = 0;   // owner; incremented at every schedule
  std::atomic<uint32_t> syscalltick{0};  // owner writes, sysmon reads
  Rng rng;                  // owner

  // Dead Gs with their stacks, for go (Go's gFree), owner only.
  G* gfree = nullptr;
  int32_t gfree_count = 0;
  // goids handed out in batches (Go's goidcache), owner only.
  int64_t goid_next = 0;
  int64_t goid_end = 0;

  // sysmon's view (sysmon thread only).
  uint32_t sysmon_schedtick = 0;
  int64_t sysmon_schedwhen = 0;
  uint32_t sysmon_syscalltick = 0;
  int64_t sysmon_syscallwhen = 0;

  // Per-P statistics for reports (sched/stats.h): the owner alone writes
  // them, with a relaxed load and store (no RMW); readers load relaxed.
  std::atomic<uint64_t> goroutines_run{0};  // every execute()
  std::atomic<uint64_t> stolen{0};          // Gs taken by steal_work

  // Its timers (Go's p.timers). Any M may run or add to them (the heap has
  // its own lock); timers of a P destroyed by gomaxprocs move to another.
  timer::Heap timers;

  // Its allocation cache (Go's p.mcache), made at the first allocation on
  // the P (p_cache) and returned to the heap when the P is destroyed.
  // Owner only.
  mem::MCache* mcache = nullptr;
};

// sched.timer_sleep_until when no M waits for timers.
inline constexpr int64_t kNoTimerWaiter = INT64_MIN;

// What a G asks its M's g0 to do after switching to it (Go's mcall target).
enum class MOp : uint8_t {
  kNone,
  kPark,     // park_m: status waiting, then unlockf
  kYield,    // gosched: back on a run queue
  kPreempt,  // preempted: on the global run queue
  kExit,     // goexit: dead, to the free list
  kExitSyscall,  // exitsyscall found no P: g0 queues the G and sleeps
};

struct M {
  int64_t id = 0;
  sys::Context g0;        // the thread's own context; the scheduler runs here
  G* curg = nullptr;      // the G it runs, or nullptr on g0
  P* p = nullptr;         // the P it holds, or nullptr
  P* next_p = nullptr;    // a P handed to it by startm before wakeup
  bool spinning = false;  // looking for work (counted in nmspinning)
  sys::Note park;         // idle Ms sleep here
  M* link = nullptr;      // idle M list, under sched.lock
  M* all_link = nullptr;  // allm
  int32_t tid = 0;
  // This thread's libstdc++ __cxa_eh_globals, looked up once at mstart
  // (the lookup is a TLS call); execute swaps goroutines' state through it.
  void* eh_globals = nullptr;
  // > 0: inside the runtime; no async preemption (Go's m.locks).
  std::atomic<int32_t> locks{0};
  G* locked_g = nullptr;  // lock_os_thread: the G wired to it (Go's lockedg)
  uint32_t locked_ext = 0;  // lock_os_thread nesting (Go's lockedExt)
  bool exiting = false;   // its locked G exited: the thread ends (mexit)
  bool blocked = false;   // sleeping on park
  P* oldp = nullptr;      // the P it held when its G entered a syscall
  int64_t syscall_since = 0;

  // The request of the G that just switched to g0 (owned by this M).
  MOp op = MOp::kNone;
  bool (*unlockf)(G*, void*) = nullptr;
  void* unlock_arg = nullptr;
};

// The most Ps gomaxprocs may set (Go has no hard limit; 256 is far beyond
// this project's machines and keeps allp a fixed array).
inline constexpr int32_t kMaxProcs = 256;

struct Sched {
  sys::Mutex lock;

  // Global run queue (Go's sched.runq), under lock.
  G* runq_head ABSL_GUARDED_BY(lock) = nullptr;
  G* runq_tail ABSL_GUARDED_BY(lock) = nullptr;
  // Written under lock; read without it as a hint (relaxed).
  std::atomic<int32_t> runq_size{0};

  // Idle Ms and Ps.
  M* midle ABSL_GUARDED_BY(lock) = nullptr;
  int32_t nmidle ABSL_GUARDED_BY(lock) = 0;
  int32_t nmidlelocked ABSL_GUARDED_BY(lock) = 0;
  int32_t mcount ABSL_GUARDED_BY(lock) = 0;
  // Live gort::ForeignThread objects: threads that count as running Ms for
  // checkdead (run.cc).
  int32_t nforeign ABSL_GUARDED_BY(lock) = 0;
  int64_t mnext ABSL_GUARDED_BY(lock) = 0;
  P* pidle ABSL_GUARDED_BY(lock) = nullptr;
  std::atomic<int32_t> npidle{0};       // written under lock; read as a hint
  std::atomic<int32_t> nmspinning{0};   // see the spinning protocol in proc.cc

  // allp: every P that may ever exist, made at start and never freed, so
  // that stealers may read allp[0..gomaxprocs) without a lock (Ps beyond
  // GOMAXPROCS are kDead). gomaxprocs changes only with the world stopped.
  P* allp[kMaxProcs] = {};
  std::atomic<int32_t> gomaxprocs{0};

  // Stop-the-world (Go's gcwaiting, stopwait, stopnote), under lock except
  // gcwaiting, which running Ms poll (acquire; stored with release).
  std::atomic<bool> gcwaiting{false};
  int32_t stopwait ABSL_GUARDED_BY(lock) = 0;
  sys::Note stopnote;
  sys::Mutex stw_lock;  // one stop-the-world at a time (Go's worldsema)

  // The M sleeping until the next timer, off the idle M list (proc.cc's
  // "Waiting for timers"), under lock; and its deadline: kNever while it
  // scans, kNoTimerWaiter when there is none. Stored under lock (seq_cst
  // where the protocol says), loaded without it by timer_armed.
  M* timer_waiter ABSL_GUARDED_BY(lock) = nullptr;
  std::atomic<int64_t> timer_sleep_until{kNoTimerWaiter};
  // The timer waiter waits in the netpoller (hooks().poll_network) rather
  // than on its note; decided when it becomes the waiter.
  bool timer_waiter_polls ABSL_GUARDED_BY(lock) = false;
  // An M is inside a blocking poll_network (Go's sched.lastpoll == 0):
  // others skip their non-blocking polls. Relaxed: a stale value costs one
  // useless or one missed non-blocking poll.
  std::atomic<bool> netpoll_blocked{false};
  // Polls (the timer waiter's blocking one, sysmon's) whose readied Gs may
  // be in hand and in no queue yet: from before the poll until they are
  // queued. checkdead reads it after has_waiters (seq_cst both): a G the
  // poll took off the waiter count is then seen here (Go counts an M in
  // netpoll as running, which has the same effect).
  std::atomic<int32_t> netpolls_in_flight{0};
  // Wake-ups of idle Ms (stopm and the timer waiter), relaxed; for tests.
  std::atomic<uint64_t> idle_wakeups{0};

  // sysmon's state (Go's sysmonwait, sysmonnote), under lock.
  bool sysmonwait ABSL_GUARDED_BY(lock) = false;
  sys::Note sysmonnote;

  // Dead Gs beyond the per-P caches, under gfree_lock.
  sys::Mutex gfree_lock;
  G* gfree ABSL_GUARDED_BY(gfree_lock) = nullptr;
  int32_t gfree_count ABSL_GUARDED_BY(gfree_lock) = 0;
  // Dead Gs whose stacks sysmon returned to the OS (release_free_stacks).
  G* gfree_released ABSL_GUARDED_BY(gfree_lock) = nullptr;
  int32_t gfree_released_count ABSL_GUARDED_BY(gfree_lock) = 0;

  // Every G ever made (never freed) and every M, for the dump and the GC.
  // Prepended under allg_lock with a release store; readers that cannot
  // lock (the dump) walk it from an acquire load.
  sys::Mutex allg_lock;
  std::atomic<G*> allg{nullptr};
  std::atomic<int64_t> ngoroutines{0};  // live (not dead) Gs, relaxed
  M* allm ABSL_GUARDED_BY(lock) = nullptr;

  std::atomic<int64_t> goid_gen{0};  // batches of goids, relaxed RMW

  StackAllocator* stacks = nullptr;
  int64_t start_time = 0;
  // nanotime as of sysmon's last look (20 µs to 10 ms old; sysmon refreshes
  // it first thing when it wakes). For timestamps that only the dump reads
  // (wait_since): reading the clock costs about 60 ns on this machine's VM,
  // too much for every park. Relaxed: a stale value is the point.
  std::atomic<int64_t> coarse_now{0};
};

Sched& sched();
// Null before the runtime starts (for the fatal path).
Sched* sched_or_null();

}  // namespace gort::sched

#endif  // GORT_SCHED_RUNTIME_H_
