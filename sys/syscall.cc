// sys/syscall.cc: the syscall instruction, the typed wrappers, and the
// per-thread accounting behind `gort run --strace`.
//
// Design
// ------
// Every system call the runtime makes goes through syscall6. With
// accounting off (the default) syscall6 is one relaxed load of the mode, one
// predictable branch and the `syscall` instruction. With kSummary the common
// call (untimed, see below) adds a dozen instructions inline; everything
// else lives in a cold, out-of-line function.
//
// Glossary.
//   block     a thread's ThreadCounters: one Counter per syscall number.
//   retired   the process-wide block that exited threads fold into.
//   pool      a (calls, ticks) pair of a Counter: `sampled` (1-in-16 timing),
//             `timed` (every call timed), `full` (kFull's clock_gettime ns).
//   cheap     a thread's verdict on a syscall number: its recent timed calls
//             average under ~1 us, so its untimed calls take the inline path.
//
// Why per-thread counters. A shared table of atomic counters would make
// every accounted call an atomic read-modify-write on a cache line that all
// threads write: ~20 ns uncontended, hundreds when Ms fight over it, which
// is more than the 3% of a ~175 ns getpid that the accounting may cost. So
// each thread owns a block; the only writer of a block is its thread, which
// updates it with a relaxed load and a relaxed store (a plain mov each on
// x86-64, no lock prefix). A block is allocated on the thread's first
// accounted call and linked into a global list under a small spinlock; a
// thread_local destructor folds it into the retired block when the thread
// exits, so exited threads still count. Rejected: one global table with
// fetch_add (the contention above); thread-local plain integers read by the
// snapshot (a data race; TSan is right to object).
//
// Why sampled timing. Timing a call needs two clock reads. clock_gettime
// through the vDSO costs ~30 ns here and rdtsc ~12 ns, so timing every
// getpid would cost 14-35% of it. Instead:
//   1. calls and errors are counted exactly, every call;
//   2. a call is timed with rdtsc when it is the thread's first of that
//      syscall number, or every 16th after that (calls & 15 == 0): the
//      `sampled` pool;
//   3. a syscall whose recent timed calls average more than ~1 us (futex
//      waits, nanosleep, epoll_wait, reads that block) is timed on every call,
//      since two rdtscs are then < 3% of it: the `timed` pool. The average is
//      a per-thread exponentially weighted mean of the timed calls;
//   4. the reported time is timed_ticks + sampled_ticks * (calls not in the
//      timed or full pools) / sampled_calls, per thread, converted to ns.
// So `seconds` is an estimate and `calls`/`errors` are exact. The estimate
// is the mean of a systematic 1-in-16 sample, scaled; for a syscall with n
// untimed calls whose durations have coefficient of variation v, its
// relative standard error is about v / sqrt(n / 16): ~4% for 10,000 getpids
// with v = 1, but a single outlier (a call descheduled for a millisecond)
// that lands in the sample is multiplied by 16, so short runs can
// overstate cheap syscalls. Expensive syscalls are not sampled (step 3). kFull
// times every call with clock_gettime (it writes a line per call anyway) and
// its pool is exact.
//
// Cost. On this machine (AMD EPYC guest, Linux 6.18) any work between the
// return of one syscall and the entry of the next is dearer than its
// instruction count says: a taken branch, a call or a jump there cost a few
// ns, presumably in front-end resteers after the kernel round trip, and a
// first version that jumped to an out-of-line accounted function cost ~5%
// even with the accounting itself stubbed out. So the untimed kSummary path
// is inline in syscall6, falls through its not-taken branches, counts the
// call *before* the instruction, and after it only tests for an error
// (counted out of line, the number kept in a thread_local so that nothing
// but the result is live across the instruction). What remains is ~1.5%;
// BM_GetpidAccountingOverhead in syscall_benchmark.cc measures it.
//
// TSC ticks become nanoseconds through a rate calibrated against
// CLOCK_MONOTONIC: 2 ms of spinning at the first enable, then refined by
// every snapshot taken at least 200 ms after that enable, from the two
// clocks read at enable and at the snapshot. Without an invariant TSC
// (CPUID 0x80000007 EDX bit 8) the `ticks` are CLOCK_MONOTONIC ns instead.
//
// What is counted. Every call through syscall6 and the typed wrappers.
// Not counted: raw_syscall6 (the fatal path, the accounting's own trace
// output and allocation); libc's own syscalls (pthread_create's clone and
// mmap, malloc's brk/mmap, stdio's writes); and clock_gettime, which the vDSO
// serves without a syscall. `gort run --strace=ptrace` counts those too: it
// traces the process from outside as `strace -c -f` does.
//
// Memory ordering. Each Counter field is a std::atomic<uint64_t> written only
// by its block's thread (relaxed load, relaxed store) and read by snapshots
// with relaxed loads. Relaxed atomics cannot tear, so a snapshot taken while
// threads run sees, per field, some value the field held (counts are at most
// a few calls stale). For a snapshot taken after joining the counted
// threads the counts are exact: a thread's last store is sequenced before
// its exit, its exit synchronizes-with the join, the join is sequenced
// before the snapshot, so every store happens-before the snapshot's loads
// and read-read/write-read coherence makes those loads see the final value.
// A thread that exits folds its block into `retired` under the registry
// spinlock (acquire on lock, release on unlock); the snapshot takes the same
// lock, so it sees either the live block or the folded one, never neither or
// both. Calls a thread makes after its destructor ran (later TLS
// destructors) are recorded straight into `retired` under the lock.
//
// Signal handlers. A handler that makes accounted calls on a thread
// interrupted inside an accounted call of the same syscall number can lose
// one count (the interrupted load+store overwrites the handler's), and one
// interrupted between the inline path's two stores and its error test can
// have an error charged to the handler's syscall number. The runtime's
// handlers make few syscalls (tgkill, write on the fatal path, which is raw),
// so the counts stay exact in practice; they are exact in any program whose
// handlers make no accounted calls.
#include "sys/syscall.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "sys/clock.h"

#if !defined(__x86_64__)
#error "sys/syscall.cc: only x86-64 is implemented"
#endif

namespace gort::sys {
namespace {

// ---- the instruction -------------------------------------------------------

// x86-64 Linux syscall ABI: number in rax, arguments in rdi, rsi, rdx, r10,
// r8, r9; result in rax; the instruction clobbers rcx (return rip) and r11
// (rflags). "memory": the kernel may read or write any memory we pointed it
// at.
inline long do_syscall(long nr, long a0, long a1, long a2, long a3, long a4,
                       long a5) {
  long ret;
  register long r10 asm("r10") = a3;
  register long r8 asm("r8") = a4;
  register long r9 asm("r9") = a5;
  asm volatile("syscall"
               : "=a"(ret)
               : "0"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  return ret;
}

// ---- counters --------------------------------------------------------------

// Syscall numbers accounted; larger ones (none exist on x86-64 today) pass
// through unaccounted. Matches the name table in syscall_names.cc.
constexpr long kTableSize = 512;

// 1 in (kSampleMask + 1) calls is timed (step 2 of the essay).
constexpr uint64_t kSampleMask = 15;

// A syscall averaging more than this is timed on every call (step 3).
constexpr double kExpensiveNanos = 1000.0;

// One syscall number's counters in one block. One cache line, so that two
// numbers used by the same thread never share one with another block.
struct alignas(64) Counter {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> sampled_calls{0};
  std::atomic<uint64_t> sampled_ticks{0};
  std::atomic<uint64_t> timed_calls{0};
  std::atomic<uint64_t> timed_ticks{0};
  std::atomic<uint64_t> full_calls{0};
  std::atomic<uint64_t> full_nanos{0};
};
static_assert(sizeof(Counter) == 64);

// A thread's block. Counters: one writer (the owning thread, or whoever
// holds g_registry_lock for `retired`), any reader. The rest as commented.
struct ThreadCounters {
  Counter counters[kTableSize];
  // Owner only (for `retired`: holders of g_registry_lock). Not zeroed by
  // reset: they steer timing, they are not results.
  uint64_t recent_ticks[kTableSize];  // EWMA of timed calls, weight 1/4
  // True when the syscall is cheap for this thread (its recent timed calls
  // average under kExpensiveNanos): its untimed calls may take the inline
  // path. False until the first call has been timed, and always false in
  // g_retired, so those calls take the slow path.
  bool cheap[kTableSize];
  // Guarded by g_registry_lock.
  ThreadCounters* prev;
  ThreadCounters* next;
};

// A test-and-test-and-set lock. sys/mutex.h sits above this file (its futex
// calls are accounted), so the registry cannot use it. Held for a few
// hundred ns (link, unlink, fold) or one snapshot; waiters yield.
class SpinLock {
 public:
  void lock() {
    // acquire: pairs with unlock's release, so the holder sees the previous
    // holder's writes to the list and to `retired`.
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
        do_syscall(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
      }
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

struct SpinGuard {
  explicit SpinGuard(SpinLock& l) : lock(l) { lock.lock(); }
  ~SpinGuard() { lock.unlock(); }
  SpinLock& lock;
};

// The mode: relaxed. Its only job is to pick a path; the calibration it
// depends on is published separately (g_calibrated).
constinit std::atomic<int> g_mode{static_cast<int>(AccountingMode::kOff)};
constinit std::atomic<int> g_trace_fd{2};

constinit SpinLock g_registry_lock;
constinit ThreadCounters* g_live_head = nullptr;  // guarded by g_registry_lock
constinit ThreadCounters g_retired{};  // counters: writers hold the lock

// This thread's block, or &g_retired before its first accounted call and
// after its destructor ran (tls_exited tells which). Pointing at g_retired
// rather than nullptr saves the inline path a test: g_retired's `cheap` is
// all false. Constant-initialized, so reading it is one %fs-relative load
// with no TLS guard.
constinit thread_local ThreadCounters* tls_counters = &g_retired;
constinit thread_local bool tls_exited = false;

// ---- clocks ----------------------------------------------------------------

// Calibration. Written by set_accounting (never concurrently with itself);
// the values are published by g_calibrated's release store and read after
// an acquire load of it. Fields are atomics only so that a snapshot may read
// them while set_accounting runs.
constinit std::atomic<bool> g_calibrated{false};
constinit std::atomic<bool> g_use_tsc{false};
constinit std::atomic<double> g_ticks_per_ns{1.0};
constinit std::atomic<uint64_t> g_expensive_ticks{1000};
constinit std::atomic<uint64_t> g_anchor_ticks{0};
constinit std::atomic<int64_t> g_anchor_nanos{0};

bool has_invariant_tsc() {
  unsigned int eax, ebx, ecx, edx;
  if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) == 0 ||
      eax < 0x80000007) {
    return false;
  }
  __get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx);
  return (edx & (1u << 8)) != 0;
}

// REQUIRES: g_calibrated acquired.
[[gnu::always_inline]] inline uint64_t read_ticks() {
  if (g_use_tsc.load(std::memory_order_relaxed)) return __rdtsc();
  return static_cast<uint64_t>(nanotime());
}

void calibrate_once() {
  if (g_calibrated.load(std::memory_order_acquire)) return;
  bool tsc = has_invariant_tsc();
  double rate = 1.0;
  uint64_t t0 = 0;
  int64_t n0 = nanotime();
  if (tsc) {
    t0 = __rdtsc();
    n0 = nanotime();
    int64_t n1;
    uint64_t t1;
    do {
      t1 = __rdtsc();
      n1 = nanotime();
    } while (n1 - n0 < 2'000'000);
    rate = static_cast<double>(t1 - t0) / static_cast<double>(n1 - n0);
    if (!(rate > 0.01 && rate < 100.0)) tsc = false;  // not a usable clock
  }
  if (!tsc) {
    rate = 1.0;
    t0 = static_cast<uint64_t>(n0);
  }
  g_use_tsc.store(tsc, std::memory_order_relaxed);
  g_ticks_per_ns.store(rate, std::memory_order_relaxed);
  g_expensive_ticks.store(static_cast<uint64_t>(kExpensiveNanos * rate),
                          std::memory_order_relaxed);
  g_anchor_ticks.store(t0, std::memory_order_relaxed);
  g_anchor_nanos.store(n0, std::memory_order_relaxed);
  // release: pairs with the acquire loads in accounted_slow and
  // ticks_per_ns; publishes the stores above.
  g_calibrated.store(true, std::memory_order_release);
}

// The current best rate: the long-baseline one once 200 ms have passed
// since the anchor, else the 2 ms calibration.
double ticks_per_ns() {
  if (!g_calibrated.load(std::memory_order_acquire)) return 1.0;
  double rate = g_ticks_per_ns.load(std::memory_order_relaxed);
  if (!g_use_tsc.load(std::memory_order_relaxed)) return rate;
  uint64_t t1 = __rdtsc();
  int64_t n1 = nanotime();
  int64_t dn = n1 - g_anchor_nanos.load(std::memory_order_relaxed);
  uint64_t dt = t1 - g_anchor_ticks.load(std::memory_order_relaxed);
  if (dn >= 200'000'000) {
    double long_rate = static_cast<double>(dt) / static_cast<double>(dn);
    if (long_rate > 0.01 && long_rate < 100.0) rate = long_rate;
  }
  return rate;
}

// ---- recording
// ---------------------------------------------------------------

// One-writer increment: the caller is the only writer of `a` (see
// ThreadCounters), so load+store loses nothing and needs no lock prefix.
[[gnu::always_inline]] inline void bump(std::atomic<uint64_t>& a,
                                        uint64_t by = 1) {
  a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

enum class Timing { kNone, kSampled, kTimed, kFull };

// REQUIRES: tc != &g_retired (its `cheap` stays all false).
[[gnu::always_inline]] inline void note_duration(ThreadCounters* tc, long nr,
                                                 uint64_t ticks) {
  uint64_t& recent = tc->recent_ticks[nr];
  recent = recent - recent / 4 + ticks / 4;
  tc->cheap[nr] = recent <= g_expensive_ticks.load(std::memory_order_relaxed);
}

// REQUIRES: the caller is tc's writer (its thread, or the holder of
// g_registry_lock for g_retired).
[[gnu::always_inline]] inline void record(ThreadCounters* tc, long nr,
                                          Timing timing, long result,
                                          uint64_t duration) {
  Counter& c = tc->counters[nr];
  bump(c.calls);
  if (is_error(result)) bump(c.errors);
  switch (timing) {
    case Timing::kNone:
      break;
    case Timing::kSampled:
      bump(c.sampled_calls);
      bump(c.sampled_ticks, duration);
      if (tc != &g_retired) note_duration(tc, nr, duration);
      break;
    case Timing::kTimed:
      bump(c.timed_calls);
      bump(c.timed_ticks, duration);
      if (tc != &g_retired) note_duration(tc, nr, duration);
      break;
    case Timing::kFull:
      bump(c.full_calls);
      bump(c.full_nanos, duration);
      break;
  }
}

// Destroyed at thread exit: folds the thread's block into g_retired.
struct ThreadReaper {
  bool armed = false;
  ~ThreadReaper();
};
thread_local ThreadReaper tls_reaper;

[[gnu::cold, gnu::noinline]] ThreadCounters* attach_thread() {
  void* mem = reinterpret_cast<void*>(
      do_syscall(SYS_mmap, 0, sizeof(ThreadCounters), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (is_error(reinterpret_cast<long>(mem))) return nullptr;
  // Fresh anonymous pages are zero: every counter 0, no flags. The atomics
  // are still constructed properly for the language's sake.
  ThreadCounters* tc = new (mem) ThreadCounters();
  {
    SpinGuard g(g_registry_lock);
    tc->prev = nullptr;
    tc->next = g_live_head;
    if (g_live_head != nullptr) g_live_head->prev = tc;
    g_live_head = tc;
  }
  // Set before arming the reaper: registering a thread_local destructor may
  // malloc, and malloc may make accounted calls, which must find the block.
  tls_counters = tc;
  tls_reaper.armed = true;
  return tc;
}

// Estimated nanoseconds of one Counter (step 4 of the essay).
double estimate_nanos(uint64_t calls, uint64_t sampled_calls,
                      uint64_t sampled_ticks, uint64_t timed_calls,
                      uint64_t timed_ticks, uint64_t full_calls,
                      uint64_t full_nanos, double rate) {
  double untimed =
      static_cast<double>(calls - std::min(calls, timed_calls + full_calls));
  double ticks = static_cast<double>(timed_ticks);
  if (sampled_calls > 0) {
    ticks += static_cast<double>(sampled_ticks) * untimed /
             static_cast<double>(sampled_calls);
  } else if (timed_calls > 0) {
    ticks += static_cast<double>(timed_ticks) * untimed /
             static_cast<double>(timed_calls);
  }
  return static_cast<double>(full_nanos) + ticks / rate;
}

ThreadReaper::~ThreadReaper() {
  ThreadCounters* tc = tls_counters;
  if (!armed || tc == &g_retired) return;
  double rate = ticks_per_ns();
  {
    SpinGuard g(g_registry_lock);
    for (long nr = 0; nr < kTableSize; ++nr) {
      Counter& from = tc->counters[nr];
      uint64_t calls = from.calls.load(std::memory_order_relaxed);
      if (calls == 0) continue;
      Counter& to = g_retired.counters[nr];
      uint64_t full_calls = from.full_calls.load(std::memory_order_relaxed);
      uint64_t full_nanos = from.full_nanos.load(std::memory_order_relaxed);
      // Fold the thread's estimate, not its sample: every non-full call
      // moves to the `timed` pool with its estimated ticks, so that the
      // retired block's estimate is the sum of the threads' estimates.
      double est_nanos = estimate_nanos(
          calls, from.sampled_calls.load(std::memory_order_relaxed),
          from.sampled_ticks.load(std::memory_order_relaxed),
          from.timed_calls.load(std::memory_order_relaxed),
          from.timed_ticks.load(std::memory_order_relaxed), full_calls,
          full_nanos, rate);
      double est_ticks = (est_nanos - static_cast<double>(full_nanos)) * rate;
      bump(to.calls, calls);
      bump(to.errors, from.errors.load(std::memory_order_relaxed));
      bump(to.timed_calls, calls - full_calls);
      bump(to.timed_ticks,
           est_ticks > 0 ? static_cast<uint64_t>(est_ticks + 0.5) : 0);
      bump(to.full_calls, full_calls);
      bump(to.full_nanos, full_nanos);
    }
    if (tc->prev != nullptr) tc->prev->next = tc->next;
    if (tc->next != nullptr) tc->next->prev = tc->prev;
    if (g_live_head == tc) g_live_head = tc->next;
  }
  tls_exited = true;
  tls_counters = &g_retired;
  tc->~ThreadCounters();
  do_syscall(SYS_munmap, reinterpret_cast<long>(tc), sizeof(ThreadCounters), 0,
             0, 0, 0);
}

[[gnu::noinline]] void write_trace_line(long nr, const long args[6],
                                        long result, int64_t nanos) {
  char line[1024];
  long tid = do_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
  size_t n = format_strace_line(line, sizeof(line), tid, nr, args, result,
                                nanos, /*local_memory=*/true);
  int fd = g_trace_fd.load(std::memory_order_relaxed);
  // One write per line, so lines of different threads do not interleave
  // (pipes and O_APPEND files keep writes this small whole).
  size_t off = 0;
  while (off < n) {
    long w = do_syscall(SYS_write, fd, reinterpret_cast<long>(line + off),
                        static_cast<long>(n - off), 0, 0, 0);
    if (w == -EINTR) continue;
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
}

// The rare accounted calls: kFull (one line per call), a call racing with
// set_accounting, and calls after the thread's destructor ran.
[[gnu::cold, gnu::noinline]] long accounted_rare(int mode, ThreadCounters* tc,
                                                 long nr, long a0, long a1,
                                                 long a2, long a3, long a4,
                                                 long a5) {
  if (mode == static_cast<int>(AccountingMode::kFull)) {
    int64_t n0 = nanotime();
    long result = do_syscall(nr, a0, a1, a2, a3, a4, a5);
    int64_t n1 = nanotime();
    uint64_t duration = static_cast<uint64_t>(n1 - n0);
    if (tc == &g_retired) {
      SpinGuard g(g_registry_lock);
      record(tc, nr, Timing::kFull, result, duration);
    } else {
      record(tc, nr, Timing::kFull, result, duration);
    }
    const long args[6] = {a0, a1, a2, a3, a4, a5};
    write_trace_line(nr, args, result, static_cast<int64_t>(duration));
    return result;
  }
  if (mode != static_cast<int>(AccountingMode::kSummary)) {
    return do_syscall(nr, a0, a1, a2, a3, a4, a5);  // raced with kOff
  }
  // kSummary after this thread's destructor: timed, recorded into
  // g_retired under the lock (rare, so exact and simple).
  uint64_t t0 = read_ticks();
  long result = do_syscall(nr, a0, a1, a2, a3, a4, a5);
  uint64_t duration = read_ticks() - t0;
  SpinGuard g(g_registry_lock);
  record(tc, nr, Timing::kTimed, result, duration);
  return result;
}

// The accounted path's out-of-line part: kSummary's timed calls (the
// sampled 1 in 16 and every call of an expensive syscall) and a thread's
// first call; everything rarer goes on to accounted_rare. Reached by a tail
// call from syscall6. Not [[gnu::cold]]: the sampled call is frequent
// enough that GCC's size-optimised cold code (helpers called, not inlined)
// cost ~1% of getpid, so this is straight-line code with its helpers
// inlined, as little of it as possible after the instruction (see "Cost").
[[gnu::noinline]] long accounted_slow(long nr, long a0, long a1, long a2,
                                      long a3, long a4, long a5) {
  // Re-read: a call racing with set_accounting may see another mode here.
  const int mode = g_mode.load(std::memory_order_relaxed);
  // acquire: pairs with calibrate_once's release, so the clock choice and
  // thresholds read below are the calibrated ones.
  if (mode == static_cast<int>(AccountingMode::kOff) ||
      static_cast<unsigned long>(nr) >= kTableSize ||
      !g_calibrated.load(std::memory_order_acquire)) {
    return do_syscall(nr, a0, a1, a2, a3, a4, a5);
  }
  ThreadCounters* tc = tls_counters;
  if (__builtin_expect(tc == &g_retired, 0) && !tls_exited) {
    tc = attach_thread();
    if (tc == nullptr) return do_syscall(nr, a0, a1, a2, a3, a4, a5);
  }
  if (__builtin_expect(mode != static_cast<int>(AccountingMode::kSummary) ||
                           tc == &g_retired,
                       0)) {
    return accounted_rare(mode, tc, nr, a0, a1, a2, a3, a4, a5);
  }
  // The 1-in-16 sample, or an expensive syscall (or, rarely, a cheap one
  // whose inline check raced with set_accounting: timing it is harmless).
  const Timing timing =
      (tc->counters[nr].calls.load(std::memory_order_relaxed) & kSampleMask) ==
              0
          ? Timing::kSampled
          : Timing::kTimed;
  uint64_t t0 = read_ticks();
  long result = do_syscall(nr, a0, a1, a2, a3, a4, a5);
  uint64_t duration = read_ticks() - t0;
  record(tc, nr, timing, result, duration);
  return result;
}

// The syscall number of the inline path's call in flight, for count_error
// (so that nothing but the result is live across the instruction). Owner
// only.
constinit thread_local long tls_inflight_nr = 0;

// The inline path's error count, out of line: errors are rare.
[[gnu::cold, gnu::noinline]] void count_error() {
  bump(tls_counters->counters[tls_inflight_nr].errors);
}

// Adds one block's per-syscall totals into out[]. REQUIRES: registry lock.
struct Totals {
  uint64_t calls = 0;
  uint64_t errors = 0;
  double nanos = 0;
};

void add_block(const ThreadCounters& tc, double rate, Totals* out) {
  for (long nr = 0; nr < kTableSize; ++nr) {
    const Counter& c = tc.counters[nr];
    uint64_t calls = c.calls.load(std::memory_order_relaxed);
    if (calls == 0) continue;
    out[nr].calls += calls;
    out[nr].errors += c.errors.load(std::memory_order_relaxed);
    out[nr].nanos +=
        estimate_nanos(calls, c.sampled_calls.load(std::memory_order_relaxed),
                       c.sampled_ticks.load(std::memory_order_relaxed),
                       c.timed_calls.load(std::memory_order_relaxed),
                       c.timed_ticks.load(std::memory_order_relaxed),
                       c.full_calls.load(std::memory_order_relaxed),
                       c.full_nanos.load(std::memory_order_relaxed), rate);
  }
}

void zero_block(ThreadCounters& tc) {
  for (Counter& c : tc.counters) {
    for (std::atomic<uint64_t>* a :
         {&c.calls, &c.errors, &c.sampled_calls, &c.sampled_ticks,
          &c.timed_calls, &c.timed_ticks, &c.full_calls, &c.full_nanos}) {
      a->store(0, std::memory_order_relaxed);
    }
  }
}

}  // namespace

// ---- public
// ------------------------------------------------------------------

long raw_syscall6(long nr, long a0, long a1, long a2, long a3, long a4,
                  long a5) {
  return do_syscall(nr, a0, a1, a2, a3, a4, a5);
}

long syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5) {
  // relaxed: the mode only selects a path (see g_mode).
  const int mode = g_mode.load(std::memory_order_relaxed);
  if (__builtin_expect(mode == static_cast<int>(AccountingMode::kOff), 1)) {
    return do_syscall(nr, a0, a1, a2, a3, a4, a5);
  }
  // kSummary's common case, inline: an untimed call of a syscall that is
  // cheap for this attached thread. The call is counted before the
  // instruction and only the error test follows it (see "Cost").
  ThreadCounters* tc = tls_counters;
  if (mode == static_cast<int>(AccountingMode::kSummary) &&
      static_cast<unsigned long>(nr) < kTableSize && tc->cheap[nr]) {
    Counter& c = tc->counters[nr];
    uint64_t calls = c.calls.load(std::memory_order_relaxed);
    if ((calls & kSampleMask) != 0) {
      c.calls.store(calls + 1, std::memory_order_relaxed);
      tls_inflight_nr = nr;
      long result = do_syscall(nr, a0, a1, a2, a3, a4, a5);
      if (__builtin_expect(is_error(result), 0)) count_error();
      return result;
    }
  }
  return accounted_slow(nr, a0, a1, a2, a3, a4, a5);  // a tail call
}

long getpid() { return syscall6(SYS_getpid); }
long gettid() { return syscall6(SYS_gettid); }

long read(int fd, void* buf, size_t n) {
  return syscall6(SYS_read, fd, reinterpret_cast<long>(buf),
                  static_cast<long>(n));
}

long write(int fd, const void* buf, size_t n) {
  return syscall6(SYS_write, fd, reinterpret_cast<long>(buf),
                  static_cast<long>(n));
}

long openat(int dirfd, const char* path, int flags, int mode) {
  return syscall6(SYS_openat, dirfd, reinterpret_cast<long>(path), flags, mode);
}

long close(int fd) { return syscall6(SYS_close, fd); }

long nanosleep(long nanos) {
  if (nanos < 0) nanos = 0;
  struct timespec ts;
  ts.tv_sec = nanos / 1'000'000'000;
  ts.tv_nsec = nanos % 1'000'000'000;
  return syscall6(SYS_nanosleep, reinterpret_cast<long>(&ts), 0);
}

long sched_yield() { return syscall6(SYS_sched_yield); }

long mmap(void* addr, size_t len, int prot, int flags, int fd, long off) {
  return syscall6(SYS_mmap, reinterpret_cast<long>(addr),
                  static_cast<long>(len), prot, flags, fd, off);
}

long munmap(void* addr, size_t len) {
  return syscall6(SYS_munmap, reinterpret_cast<long>(addr),
                  static_cast<long>(len));
}

long madvise(void* addr, size_t len, int advice) {
  return syscall6(SYS_madvise, reinterpret_cast<long>(addr),
                  static_cast<long>(len), advice);
}

long mprotect(void* addr, size_t len, int prot) {
  return syscall6(SYS_mprotect, reinterpret_cast<long>(addr),
                  static_cast<long>(len), prot);
}

long futex(uint32_t* addr, int op, uint32_t val, const struct timespec* ts,
           uint32_t* addr2, uint32_t val3) {
  return syscall6(SYS_futex, reinterpret_cast<long>(addr), op, val,
                  reinterpret_cast<long>(ts), reinterpret_cast<long>(addr2),
                  val3);
}

long tgkill(int tgid, int tid, int sig) {
  return syscall6(SYS_tgkill, tgid, tid, sig);
}

void set_accounting(AccountingMode mode) {
  if (mode != AccountingMode::kOff) calibrate_once();
  g_mode.store(static_cast<int>(mode), std::memory_order_relaxed);
}

AccountingMode accounting() {
  return static_cast<AccountingMode>(g_mode.load(std::memory_order_relaxed));
}

void set_trace_fd(int fd) { g_trace_fd.store(fd, std::memory_order_relaxed); }

std::vector<SyscallStat> syscall_stats() {
  std::vector<Totals> totals(kTableSize);
  double rate = ticks_per_ns();
  {
    SpinGuard g(g_registry_lock);
    add_block(g_retired, rate, totals.data());
    for (ThreadCounters* tc = g_live_head; tc != nullptr; tc = tc->next) {
      add_block(*tc, rate, totals.data());
    }
  }
  std::vector<SyscallStat> out;
  for (long nr = 0; nr < kTableSize; ++nr) {
    if (totals[nr].calls == 0) continue;
    SyscallStat s;
    s.nr = nr;
    s.name = syscall_name(nr);
    s.calls = totals[nr].calls;
    s.errors = totals[nr].errors;
    s.nanos = totals[nr].nanos > 0
                  ? static_cast<uint64_t>(totals[nr].nanos + 0.5)
                  : 0;
    out.push_back(s);
  }
  return out;
}

void reset_syscall_stats() {
  SpinGuard g(g_registry_lock);
  zero_block(g_retired);
  for (ThreadCounters* tc = g_live_head; tc != nullptr; tc = tc->next) {
    zero_block(*tc);
  }
}

}  // namespace gort::sys
