#include "sched/g.h"

namespace gort::sched {

const char* wait_reason_string(WaitReason reason) {
  // Go 1.19's waitReasonStrings (runtime2.go), then gort's own.
  static constexpr const char* kStrings[] = {
      "",
      "GC assist marking",
      "IO wait",
      "chan receive (nil chan)",
      "chan send (nil chan)",
      "dumping heap",
      "garbage collection",
      "garbage collection scan",
      "panicwait",
      "select",
      "select (no cases)",
      "GC assist wait",
      "GC sweep wait",
      "GC scavenge wait",
      "chan receive",
      "chan send",
      "finalizer wait",
      "force gc (idle)",
      "semacquire",
      "sleep",
      "sync.Cond.Wait",
      "timer goroutine (idle)",
      "trace reader (blocked)",
      "wait for GC cycle",
      "GC worker (idle)",
      "preempted",
      "debug call",
      "sync.Mutex.Lock",
      "sync.RWMutex.RLock",
      "sync.RWMutex.Lock",
  };
  static_assert(sizeof(kStrings) / sizeof(kStrings[0]) ==
                static_cast<size_t>(WaitReason::kCount));
  auto i = static_cast<size_t>(reason);
  return i < static_cast<size_t>(WaitReason::kCount) ? kStrings[i] : "???";
}

const char* status_string(GStatus status) {
  // Go's gStatusStrings (traceback.go).
  switch (status) {
    case GStatus::kIdle:
      return "idle";
    case GStatus::kRunnable:
      return "runnable";
    case GStatus::kRunning:
      return "running";
    case GStatus::kSyscall:
      return "syscall";
    case GStatus::kWaiting:
      return "waiting";
    case GStatus::kDead:
      return "dead";
  }
  return "???";
}

}  // namespace gort::sched
