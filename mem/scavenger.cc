// mem/scavenger.cc: see scavenger.h for the pacing.
#include "mem/scavenger.h"

#include <atomic>
#include <cstdint>

#include "sys/clock.h"
#include "sys/env.h"
#include "sys/futex.h"
#include "sys/syscall.h"
#include "sys/thread.h"

namespace gort::mem {
namespace {

constexpr size_t kQuantum = 64 << 10;        // scavengeQuantum
constexpr int64_t kMinWorkNs = 1000 * 1000;  // minScavWorkTime
// Do not wake the scavenger for less than this over the goal.
constexpr size_t kWakeSlack = 1 << 20;

// 0: not started; 1: starting or running.
std::atomic<int> g_started{0};
// The futex word the scavenger parks on: 1 while parked. A waker that
// exchanges it to 0 wakes it (acq_rel exchange on both sides).
std::atomic<uint32_t> g_parked{0};

// Statistics, written by the scavenger thread only (relaxed load+store),
// read by scavenger_stats (relaxed: independent counters).
std::atomic<uint64_t> g_released{0}, g_work_ns{0}, g_sleep_ns{0}, g_wakeups{0};

void bump(std::atomic<uint64_t>& a, uint64_t d) {
  a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

size_t excess() {
  HeapCounters h = heap().counters();
  size_t retained = h.sys_bytes - h.released_bytes;
  size_t goal = retained_goal(h);
  return retained > goal ? retained - goal : 0;
}

// Set by the scavenger thread as its first act (see
// scavenger_ensure_started).
std::atomic<uint32_t> g_running{0};

void scavenger_main(void* arg) {
  g_running.store(1, std::memory_order_release);
  int32_t ncpu = static_cast<int32_t>(reinterpret_cast<intptr_t>(arg));
  // Sleep this many times the work: work / (work + sleep) = ncpu / 100.
  double sleep_ratio = ncpu >= 100 ? 0.0 : 100.0 / ncpu - 1.0;
  for (;;) {
    size_t over = excess();
    if (over < kQuantum) {
      // Park until a free pushes us over the goal. Store 1 first, then
      // re-check, so that a free between the check and the sleep is not
      // lost: the waker exchanges 1 -> 0 and wakes the futex.
      g_parked.store(1, std::memory_order_seq_cst);
      if (excess() < kQuantum) {
        while (g_parked.load(std::memory_order_acquire) == 1) {
          sys::futex_sleep(g_parked, 1, -1);
        }
        bump(g_wakeups, 1);
      } else {
        g_parked.store(0, std::memory_order_relaxed);
      }
      continue;
    }
    int64_t t0 = sys::nanotime();
    int64_t worked = 0;
    size_t released = 0;
    while (worked < kMinWorkNs && released < over) {
      size_t r = heap().release(kQuantum, kQuantum);
      if (r == 0) break;
      released += r;
      worked = sys::nanotime() - t0;
    }
    bump(g_released, released);
    bump(g_work_ns, static_cast<uint64_t>(worked));
    if (worked < kMinWorkNs) worked = kMinWorkNs;  // as Go: at least 1 ms
    int64_t sleep =
        static_cast<int64_t>(static_cast<double>(worked) * sleep_ratio);
    if (sleep > 0) {
      sys::nanosleep(sleep);
      bump(g_sleep_ns, static_cast<uint64_t>(sleep));
    }
  }
}

}  // namespace

size_t retained_goal(const HeapCounters& h) {
  return h.inuse_bytes + h.inuse_bytes / 10;  // retainExtraPercent = 10
}

void scavenger_ensure_started() {
  // Relaxed fast path: a stale 0 only sends us to the exchange below.
  if (g_started.load(std::memory_order_relaxed) != 0) return;
  if (g_started.exchange(1, std::memory_order_acq_rel) != 0) return;
  // The thread's start-up (naming itself, waking tid() callers, reading
  // the CPU count) happens here, before the caller goes on: so its
  // syscalls belong to this moment, not to whatever the program does next
  // (in-process --strace counts a time window; //cli:strace_compare_test
  // under --custom_malloc saw them land in one run's window and not the
  // other's). The CPU count is read here; the wait spins without a syscall
  // (a futex handshake would add a variable number of calls), once per
  // process, for at most 20 ms.
  const int32_t ncpu = sys::online_cpus();
  sys::Thread t(
      scavenger_main, reinterpret_cast<void*>(static_cast<intptr_t>(ncpu)),
      sys::ThreadOptions{.stack_size = 64 << 10, .name = "gort-scavenger"});
  t.detach();
  const int64_t deadline = sys::nanotime() + 20'000'000;
  while (g_running.load(std::memory_order_acquire) == 0 &&
         sys::nanotime() < deadline) {
    __builtin_ia32_pause();
  }
}

void scavenger_wake_if_needed() {
  // Cheap check first: nobody parked, nothing to do.
  if (g_parked.load(std::memory_order_relaxed) == 0) return;
  HeapCounters h = heap().counters();
  size_t retained = h.sys_bytes - h.released_bytes;
  if (retained <= retained_goal(h) + kWakeSlack) return;
  if (g_parked.exchange(0, std::memory_order_acq_rel) == 1) {
    sys::futex_wakeup(g_parked, 1);
  }
}

ScavengerStats scavenger_stats() {
  ScavengerStats s;
  s.released_bytes = g_released.load(std::memory_order_relaxed);
  s.work_ns = g_work_ns.load(std::memory_order_relaxed);
  s.sleep_ns = g_sleep_ns.load(std::memory_order_relaxed);
  s.wakeups = g_wakeups.load(std::memory_order_relaxed);
  return s;
}

}  // namespace gort::mem
