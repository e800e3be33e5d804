// sched/sync_support.h: what syncx needs from the scheduler (Go's
// sync_runtime_* linknames in runtime/proc.go and mgc.go).
//
//   kSyncMaxProcs     the most Ps there can be (sched's kMaxProcs): the size
//                     of per-P arrays in syncx
//   can_spin          Go's sync_runtime_canSpin: may a Mutex waiter spin?
//   do_spin           Go's sync_runtime_doSpin: one round of 30 pauses
//   proc_pin          Go's procPin: the current P's id, and the goroutine
//                     stays on that P until proc_unpin (-1 on a plain thread)
//   proc_unpin        Go's procUnpin
//   current_p_hint    the current P's id without pinning (-1 off goroutines);
//                     stale as soon as it returns, so only a hint
//   procs_now         GOMAXPROCS now (0 before the runtime starts)
//   add_gc_cleanup    registers a cleanup run at every GC cycle with the
//                     world stopped (Go's runtime_registerPoolCleanup), and
//                     optionally a second function run after the world
//                     restarts
//   run_gc_cleanups   runs them all now: sysmon's forced-GC tick calls it
//                     until the GC lands; tests call it
//
// Thread safety: all from any goroutine or thread. A pinned goroutine must
// not park, yield, enter blocking() or call code that may (it holds the P:
// stop-the-world waits for it, and async preemption is held off).
//
// Memory ordering: the cleanup table is published with a release store of
// its count, read with acquire. run_gc_cleanups stops the world first (when
// the runtime runs), and the scheduler's stop and start order everything
// goroutines did before the stop before the cleanups, and the cleanups
// before what goroutines do after the start.
#ifndef GORT_SCHED_SYNC_SUPPORT_H_
#define GORT_SCHED_SYNC_SUPPORT_H_

#include <atomic>
#include <cstdint>

namespace gort::sched {

inline constexpr int32_t kSyncMaxProcs = 256;

// True if a goroutine that has spun `iter` times on a contended Mutex may
// spin again: fewer than 4 rounds, more than one CPU, GOMAXPROCS > 1, at
// least one other P running (npidle + nmspinning + 1 < gomaxprocs), and the
// caller's P has an empty local run queue (Go's sync_runtime_canSpin). On a
// plain thread: fewer than 4 rounds and more than one CPU.
bool can_spin(int iter);

// 30 CPU pause hints (Go's procyield(active_spin_cnt)).
inline void do_spin() {
  for (int i = 0; i < 30; i++) __builtin_ia32_pause();
}

// Pins the calling goroutine to its P (no async preemption; the caller
// promises not to park or yield until proc_unpin) and returns the P's id,
// in [0, kSyncMaxProcs). On a plain thread returns -1 and pins nothing.
// Nests.
int32_t proc_pin();
// Undoes one proc_pin. REQUIRES: on the same goroutine, pinned (a plain
// thread's -1 pin needs no unpin, but calling it does nothing there).
void proc_unpin();

// proc_pin as a token whose unpin is inline (two loads and a store, no
// call): for fast paths. `p` is -1 and `locks` null on a plain thread.
struct ProcPin {
  std::atomic<int32_t>* locks;  // the M's no-preemption count
  int32_t p;
};
ProcPin proc_pin_token();
inline void proc_unpin(ProcPin pin) {
  // As proc_unpin: only this thread writes the count.
  if (pin.locks != nullptr) {
    pin.locks->store(pin.locks->load(std::memory_order_relaxed) - 1,
                     std::memory_order_relaxed);
  }
}

// The id of the P running the caller now, or -1 on a plain thread.
int32_t current_p_hint();

// GOMAXPROCS now; 0 before the runtime starts. Relaxed: a hint.
int32_t procs_now();

// The most cleanups add_gc_cleanup keeps.
inline constexpr int kMaxGCCleanups = 8;

// Registers `with_world_stopped` (REQUIRES: non-null) to run at every GC
// cycle while no goroutine runs, and `after` (may be null) to run after the
// world restarts (to free what the first detached, outside the stop). Both
// run on the thread that runs the cycle (sysmon, or a test's). Neither may
// park; `with_world_stopped` must not allocate from a lock a goroutine could
// hold, nor take a lock a stopped goroutine could hold (plain threads'
// locks are fine). Returns false when kMaxGCCleanups are registered.
bool add_gc_cleanup(void (*with_world_stopped)(), void (*after)() = nullptr);

// Runs every registered cleanup now: stops the world (if the runtime is
// up), runs each `with_world_stopped`, starts the world, runs each `after`.
// One run at a time (a second caller waits). REQUIRES: not holding a lock
// a cleanup takes; not pinned. Returns the number of runs so far.
uint64_t run_gc_cleanups();

}  // namespace gort::sched

#endif  // GORT_SCHED_SYNC_SUPPORT_H_
