// sys/mutex.cc: the runtime's internal lock, after Go 1.19's
// runtime/lock_futex.go (lock2, unlock2).
//
// States of the one word key_:
//   kUnlocked  nobody holds the lock.
//   kLocked    a thread holds it; no thread has gone to sleep on it since
//              it was last unlocked, so unlock() need not enter the kernel.
//   kSleeping  a thread holds it, and there may be threads asleep in the
//              futex on it: unlock() must wake one.
// Spinning threads are not recorded anywhere; they coexist with every state.
//
// Why spin, then yield, then sleep. Runtime critical sections are short
// (a run-queue push, a span list splice): on a multi-core machine the
// holder usually lets go within a few hundred nanoseconds, far less than
// the microseconds a futex sleep and wakeup cost both sides. So a contender
// first spins, re-checking the word between bursts of PAUSE (4 rounds of
// 30, Go's active_spin and active_spin_cnt); PAUSE eases the pipeline and
// the sibling hyperthread while polling. If the holder is still inside, it
// may have been preempted, and spinning only burns the core it needs: the
// contender yields the CPU once (sched_yield, passive_spin) and looks again.
// Only then does it pay for the futex. On one CPU spinning cannot help
// (the holder is not running while we spin), so the spin is skipped.
//
// Rejected: a ticket or queue lock (fair, but every handoff then waits for a
// possibly descheduled next-in-line; the runtime prefers throughput);
// std::mutex (works, but its slow path is not visible to our syscall
// accounting, and Go's three-state word is what the traces should show).
//
// The protocol, as numbered steps (v = the value an exchange returned):
//   L1. lock(): exchange key_ to kLocked. If v was kUnlocked, we hold it.
//   L2. Otherwise remember wait = v. If v was kSleeping we have just erased
//       the mark that sleepers exist, so whatever we write when we take the
//       lock must be `wait` (kSleeping) again, never kLocked.
//   L3. Spin: while key_ reads kUnlocked, CAS it kUnlocked -> wait; success
//       means we hold it. Then PAUSE, up to 4 rounds.
//   L4. Yield: the same check and CAS once more around one sched_yield.
//   L5. Exchange key_ to kSleeping. If v was kUnlocked we hold the lock
//       (with the mark set, which at worst costs one needless wakeup).
//   L6. Otherwise wait = kSleeping, futex_sleep(key_, kSleeping), and on
//       return (woken or spurious) go back to L3.
//   U1. unlock(): exchange key_ to kUnlocked. v kUnlocked: fatal.
//   U2. If v was kSleeping, futex_wakeup(key_, 1).
//
// Why no wakeup is lost. A thread sleeps in L6 only after its own L5
// exchange stored kSleeping while the lock was held; the kernel puts it to
// sleep only if key_ still reads kSleeping under the futex bucket lock. Any
// unlock after L5 sees kSleeping in U1 (nobody stores kLocked over it except
// L1, and a thread that did so restores `wait` = kSleeping in L3/L5 before it
// holds or sleeps, per L2) and so wakes someone in U2. If that unlock's U1
// came before the kernel's compare, the compare fails and L6 returns at
// once; if after, the sleeper is queued and U2 finds it. A woken thread
// sets wait = kSleeping, so it too leaves the mark in place for the others.
//
// Memory orders: the exchanges and CAS that can take the lock (L1, L3, L4,
// L5, try_lock) are acquire; U1 is release; the spin loads are relaxed
// (a relaxed read only decides whether to try the acquire CAS). All RMWs
// on key_ are totally ordered by its modification order, which is what the
// argument above relies on; the futex syscalls are full barriers anyway.
#include "sys/mutex.h"

#include <sched.h>

#include "sys/fatal.h"
#include "sys/futex.h"
#include "sys/syscall.h"

namespace gort::sys {
namespace {

constexpr int kActiveSpin = 4;      // Go's active_spin
constexpr int kActiveSpinCnt = 30;  // Go's active_spin_cnt
constexpr int kPassiveSpin = 1;     // Go's passive_spin

// Go's procyield: n CPU pause hints.
inline void procyield(int n) {
  for (int i = 0; i < n; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }
}

// CPUs this process may run on (Go's getproccount, via sched_getaffinity),
// read once; 0 until read. Relaxed: racing readers compute the same value.
std::atomic<int> g_ncpu{0};

int ncpu() {
  int n = g_ncpu.load(std::memory_order_relaxed);
  if (n != 0) return n;
  cpu_set_t set;
  long r = syscall6(SYS_sched_getaffinity, 0, sizeof(set),
                    reinterpret_cast<long>(&set));
  // On success r is the number of bytes of mask the kernel wrote.
  n = is_error(r) ? 1 : CPU_COUNT(&set);
  if (n < 1) n = 1;
  g_ncpu.store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace

void Mutex::lock_slow(uint32_t v) {
  uint32_t wait = v;  // L2
  const int spin = ncpu() > 1 ? kActiveSpin : 0;
  // Takes the lock, leaving `wait` in the word, if it is seen free.
  auto grab_if_free = [&] {
    while (key_.load(std::memory_order_relaxed) == kUnlocked) {
      uint32_t expected = kUnlocked;
      if (key_.compare_exchange_weak(expected, wait,
                                     std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  };
  for (;;) {
    // L3: active spin.
    for (int i = 0; i < spin; ++i) {
      if (grab_if_free()) return;
      procyield(kActiveSpinCnt);
    }
    // L4: passive spin.
    for (int i = 0; i < kPassiveSpin; ++i) {
      if (grab_if_free()) return;
      sys::sched_yield();  // the accounted wrapper, not libc's
    }
    // L5: announce a sleeper; we may find the lock free after all.
    if (key_.exchange(kSleeping, std::memory_order_acquire) == kUnlocked) {
      return;
    }
    // L6.
    wait = kSleeping;
    futex_sleep(key_, kSleeping, -1);
  }
}

void Mutex::unlock_slow(uint32_t v) {
  if (v == kUnlocked) fatal("unlock of unlocked lock");  // U1
  futex_wakeup(key_, 1);                                 // U2: v == kSleeping
}

}  // namespace gort::sys
