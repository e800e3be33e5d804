// What syncx needs from the scheduler: Go's sync_runtime_canSpin/doSpin,
// procPin/procUnpin, and the pool-cleanup registration of mgc.go, here a
// small registry of GC-cycle cleanups (see sync_support.h).
//
// The cleanup registry. Go clears sync.Pools at the start of every GC cycle
// with the world stopped (mgc.go clearpools -> poolCleanup). Until gort's
// GC lands, sysmon's two-minute forced-GC tick runs the registry, and tests
// run it on demand. A cycle here:
//   1. takes the cycle semaphore (a goroutine parks, a thread blocks: one
//      cycle at a time, and no thread-blocking lock is held by a goroutine
//      across a stop-the-world, which would wait for that goroutine's P);
//   2. stops the world (when the runtime is up): every goroutine is at a
//      scheduling point, so none is inside a pinned section (proc_pin);
//   3. runs every with_world_stopped cleanup;
//   4. starts the world and runs every `after` (which may free memory and
//      run destructors, outside the stop);
//   5. releases the semaphore.
// Rejected: running cleanups without stopping the world and making every
// Pool operation take a lock or an epoch (Pool's fast path would pay for a
// rare cycle); a lock instead of the semaphore (step 1's reason).
#include "sched/sync_support.h"

#include <atomic>

#include "sched/internal.h"
#include "sched/preempt.h"
#include "sched/runtime.h"
#include "sched/sema.h"
#include "sys/env.h"
#include "sys/fatal.h"
#include "sys/mutex.h"

namespace gort::sched {

static_assert(kSyncMaxProcs == kMaxProcs, "syncx sizes per-P arrays by it");

namespace {

struct Cleanup {
  void (*with_world_stopped)() = nullptr;
  void (*after)() = nullptr;
};

// Slots are written under g_cleanup_lock, then published by a release store
// of g_cleanup_count; run_gc_cleanups reads the count with acquire.
constinit sys::Mutex g_cleanup_lock;
constinit Cleanup g_cleanups[kMaxGCCleanups];
constinit std::atomic<int> g_cleanup_count{0};
// The cycle semaphore (step 1): 1 when no cycle runs. Touched only through
// semacquire/semrelease and the initial value.
constinit uint32_t g_cycle_sema = 1;
constinit std::atomic<uint64_t> g_cycles{0};  // relaxed: a statistic

// This thread's M, cached (an M is its thread for life; plain threads
// cache nothing and ask getm each time). One %fs-relative load in a
// statically linked binary. Read only inside one call, never across a
// switch. (Not tls_model("initial-exec"): that miscompiled to a bad offset
// for an internal-linkage variable in the tests' shared libraries.)
constinit thread_local M* t_sync_m = nullptr;

inline M* this_m() {
  M* m = t_sync_m;
  if (m == nullptr) [[unlikely]] {
    m = getm();
    t_sync_m = m;
  }
  return m;
}

int32_t ncpu() {
  static const int32_t n = sys::online_cpus();
  return n;
}

}  // namespace

bool can_spin(int iter) {
  // Go's active_spin = 4.
  if (iter >= 4 || ncpu() <= 1) return false;
  M* m = this_m();
  if (m == nullptr || m->curg == nullptr) return true;  // plain thread
  Sched& s = sched();
  // Hints, relaxed: Go reads them without synchronization too.
  int32_t procs = s.gomaxprocs.load(std::memory_order_relaxed);
  int32_t idle = s.npidle.load(std::memory_order_relaxed) +
                 s.nmspinning.load(std::memory_order_relaxed);
  if (procs <= idle + 1) return false;
  P* p = m->p;
  return p != nullptr && p->runq.empty();
}

int32_t proc_pin() {
  M* m = this_m();
  if (m == nullptr || m->curg == nullptr) return -1;
  // As acquirem: only this thread writes m->locks; the preemption signal
  // handler that reads it runs on this thread.
  m->locks.store(m->locks.load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);
  return m->p->id;
}

ProcPin proc_pin_token() {
  M* m = this_m();
  if (m == nullptr || m->curg == nullptr) return ProcPin{nullptr, -1};
  m->locks.store(m->locks.load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);
  return ProcPin{&m->locks, m->p->id};
}

void proc_unpin() {
  M* m = this_m();
  if (m == nullptr || m->curg == nullptr) return;
  int32_t locks = m->locks.load(std::memory_order_relaxed);
  GORT_CHECK(locks > 0);
  m->locks.store(locks - 1, std::memory_order_relaxed);
}

int32_t current_p_hint() {
  M* m = this_m();
  if (m == nullptr || m->curg == nullptr) return -1;
  P* p = relaxed_load(m->p);
  return p != nullptr ? p->id : -1;
}

int32_t procs_now() {
  Sched* s = sched_or_null();
  return s == nullptr ? 0 : s->gomaxprocs.load(std::memory_order_relaxed);
}

bool add_gc_cleanup(void (*with_world_stopped)(), void (*after)()) {
  GORT_CHECK(with_world_stopped != nullptr);
  sys::MutexLock l(g_cleanup_lock);
  int n = g_cleanup_count.load(std::memory_order_relaxed);
  if (n == kMaxGCCleanups) return false;
  g_cleanups[n] = Cleanup{with_world_stopped, after};
  g_cleanup_count.store(n + 1, std::memory_order_release);
  return true;
}

uint64_t run_gc_cleanups() {
  semacquire(&g_cycle_sema, false);  // step 1
  int n = g_cleanup_count.load(std::memory_order_acquire);
  // Nothing registered: no reason to stop the world.
  bool up = n > 0 && sched_or_null() != nullptr;
  if (up) stop_the_world();  // step 2
  for (int i = 0; i < n; i++) g_cleanups[i].with_world_stopped();  // step 3
  if (up) start_the_world(0);
  for (int i = 0; i < n; i++) {  // step 4
    if (g_cleanups[i].after != nullptr) g_cleanups[i].after();
  }
  uint64_t cycles = g_cycles.fetch_add(1, std::memory_order_relaxed) + 1;
  semrelease(&g_cycle_sema, false);  // step 5
  return cycles;
}

}  // namespace gort::sched
