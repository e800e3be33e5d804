// sched/g.h: the goroutine (G), its states and wait reasons.
//
//   GStatus     Go's G states, with Go's numbers (schedtrace prints them)
//   WaitReason  why a waiting G waits, with Go's words (the dump prints them)
//   G           one goroutine: context, stack, status, closure, call site
//
// Thread safety: `status` is atomic; the other fields are owned by whoever
// owns the G in its current state (see GStatus), and change hands only
// through the run queues, park/ready and the free lists, which order them.
#ifndef GORT_SCHED_G_H_
#define GORT_SCHED_G_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <source_location>

#include "sched/stack.h"
#include "sys/context.h"

namespace gort::sched {

struct M;
struct P;

// Go's numbering (runtime2.go), so that scheddetail prints what Go prints.
enum class GStatus : uint32_t {
  kIdle = 0,      // just allocated, not yet initialised; owned by its creator
  kRunnable = 1,  // on a run queue (local, runnext or global); owned by it
  kRunning = 2,   // running on an M, which owns it; it owns its stack
  kSyscall = 3,   // in blocking(f) on an M; may have lost its P
  kWaiting = 4,   // parked; owned by whatever will ready it (a wait queue)
  kDead = 6,      // finished; on a free list, its stack kept for reuse
};

// Go 1.19's wait reasons (runtime2.go waitReasonStrings), in Go's order.
enum class WaitReason : uint8_t {
  kZero,
  kGCAssistMarking,
  kIOWait,
  kChanReceiveNilChan,
  kChanSendNilChan,
  kDumpingHeap,
  kGarbageCollection,
  kGarbageCollectionScan,
  kPanicWait,
  kSelect,
  kSelectNoCases,
  kGCAssistWait,
  kGCSweepWait,
  kGCScavengeWait,
  kChanReceive,
  kChanSend,
  kFinalizerWait,
  kForceGCIdle,
  kSemacquire,
  kSleep,
  kSyncCondWait,
  kTimerGoroutineIdle,
  kTraceReaderBlocked,
  kWaitForGCCycle,
  kGCWorkerIdle,
  kPreempted,
  kDebugCall,
  // gort's own: a goroutine waiting in syncx (Go 1.19 says "semacquire").
  kSyncMutexLock,
  kSyncRWMutexRLock,
  kSyncRWMutexLock,
  kCount,
};

// The words Go prints for `reason` ("chan receive").
const char* wait_reason_string(WaitReason reason);
// The words Go prints for a status ("runnable"), as gStatusStrings.
const char* status_string(GStatus status);

// The saved C++ exception state of a goroutine (libstdc++'s per-thread
// __cxa_eh_globals), switched with the goroutine so that a G parked inside
// a catch block can rethrow on another M.
struct EhGlobals {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

// A goroutine's body: an inline buffer for small closures, the heap for
// large ones.
inline constexpr size_t kInlineClosure = 64;

struct G {
  // ---- switch state, touched on every switch ----
  sys::Context context;
  std::atomic<GStatus> status{GStatus::kIdle};
  WaitReason wait_reason = WaitReason::kZero;
  // Set by sysmon or stop-the-world: yield at the next safe point.
  std::atomic<bool> preempt{false};
  M* m = nullptr;  // the M running it, while kRunning or kSyscall
  EhGlobals eh;

  int64_t id = 0;           // goid; 1 is the main goroutine of run()
  Stack* stack = nullptr;
  G* sched_link = nullptr;  // global run queue and free lists
  M* locked_m = nullptr;    // lock_os_thread
  int64_t wait_since = 0;   // nanotime when it parked (for the dump)
  void* param = nullptr;    // handed over by ready (Go's gp.param)
  bool is_main = false;     // the goroutine of run()
  // Made by go but never run: its first frame is not written yet. execute
  // writes it on the M that runs the G first (proc.cc, newproc_end says why).
  bool fresh = false;

  // ---- the body ----
  void (*invoke)(G*) = nullptr;  // runs and destroys the closure
  void* closure = nullptr;       // &closure_buf or a heap copy
  alignas(16) unsigned char closure_buf[kInlineClosure];

  // ---- for the dump ----
  std::source_location created_at;
  int64_t parent_id = 0;
  G* all_link = nullptr;  // allgs, never unlinked (Gs are never freed)
};

}  // namespace gort::sched

#endif  // GORT_SCHED_G_H_
