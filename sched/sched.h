// sched/sched.h: goroutines (the public API of //sched).
//
//   go(f)                starts a goroutine running f
//   run(f) -> int        runs f as the main goroutine; returns when it does
//   yield()              lets other goroutines run (Go's runtime.Gosched)
//   yield_point()        a cheap preemption check for hot loops
//   num_goroutine()      live goroutines (Go's runtime.NumGoroutine)
//   gomaxprocs(n)        sets the number of Ps; returns the previous one
//   blocking(f)          runs a blocking call, handing the P to another M
//   lock_os_thread()     wires the goroutine to its thread (LockOSThread)
//   unlock_os_thread()   undoes one lock_os_thread (UnlockOSThread)
//   ForeignThread        RAII: a plain thread that may wake goroutines, so
//                        deadlock detection waits for it
//
// Semantics are Go's. `run` may be called again after it returns (the
// runtime stays up between calls; goroutines left running by a finished
// main goroutine are abandoned, as in Go, and keep running). `go` works from
// threads that are not goroutines: the goroutine goes on the global queue.
// An exception that escapes a goroutine prints `panic: <what()>` and the
// goroutine dump and exits 2.
//
// What user code must not do on a goroutine: hold a std::mutex (or any
// thread-blocking lock) across a call that may park (chan, syncx, time,
// net), since the M blocks with it; rely on the address of a thread_local
// across such a call (the goroutine may resume on another thread); use more
// stack than the goroutine's reservation (64 KiB by default; overflow is
// `fatal error: stack overflow`).
//
// Thread safety: every function may be called from any goroutine; go,
// run, num_goroutine and gomaxprocs also from plain threads.
#ifndef GORT_SCHED_SCHED_H_
#define GORT_SCHED_SCHED_H_

#include <cstdint>
#include <new>
#include <source_location>
#include <type_traits>
#include <utility>

#include "sched/g.h"
#include "sched/preempt.h"

namespace gort {
namespace sched {

// Internals the templates below need. Not for users.
G* newproc_begin(std::source_location loc);  // a G ready for its closure
void newproc_end(G* g);                      // makes it runnable
void newproc_abort(G* g);                    // the closure's copy threw
int run_main(G* g);                          // runs g as the main goroutine
void* closure_heap_alloc(size_t size);
void closure_heap_free(void* p);
bool preempt_requested();                    // yield_point's check
void preempt_yield();

template <typename Fn>
void install_closure(G* g, Fn&& fn) {
  using F = std::decay_t<Fn>;
  if constexpr (sizeof(F) <= kInlineClosure && alignof(F) <= 16) {
    g->closure = new (g->closure_buf) F(std::forward<Fn>(fn));
    g->invoke = [](G* gp) {
      F* f = static_cast<F*>(gp->closure);
      struct Destroy {
        F* f;
        ~Destroy() { f->~F(); }
      } destroy{f};
      gort_user_call(*f);  // keeps f's code preemptible (sched/preempt.h)
    };
  } else {
    void* mem = closure_heap_alloc(sizeof(F));
    try {
      g->closure = new (mem) F(std::forward<Fn>(fn));
    } catch (...) {
      closure_heap_free(mem);
      throw;
    }
    g->invoke = [](G* gp) {
      F* f = static_cast<F*>(gp->closure);
      struct Destroy {
        F* f;
        ~Destroy() {
          f->~F();
          closure_heap_free(f);
        }
      } destroy{f};
      gort_user_call(*f);  // keeps f's code preemptible (sched/preempt.h)
    };
  }
}

}  // namespace sched

// Starts a goroutine running `f()` (a copy of f, moved if f is an rvalue).
// The new goroutine runs next on this P (Go's runnext), or soon on another.
template <typename F>
void go(F&& f, std::source_location loc = std::source_location::current()) {
  sched::G* g = sched::newproc_begin(loc);
  try {
    sched::install_closure(g, std::forward<F>(f));
  } catch (...) {
    sched::newproc_abort(g);
    throw;
  }
  sched::newproc_end(g);
}

// Runs `f` as the main goroutine and blocks the
// calling thread until it returns. Returns f's int result, or 0 if f returns
// void. REQUIRES: not called from a goroutine; one run at a time.
template <typename F>
int run(F&& f, std::source_location loc = std::source_location::current()) {
  int result = 0;
  auto body = [&f, &result] {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      f();
    } else {
      result = static_cast<int>(f());
    }
  };
  sched::G* g = sched::newproc_begin(loc);
  sched::install_closure(g, body);
  sched::run_main(g);
  return result;
}

void yield();
int64_t num_goroutine();
// Sets GOMAXPROCS to n (n >= 1) and returns the previous value; n < 1 only
// reports it. Stops the world while it changes.
int gomaxprocs(int n);

// Preemption check for hot loops without runtime calls: yields if sysmon
// asked this goroutine to (it has run for 10 ms). Such loops are also
// preempted by signal (sched/preempt.h) unless GODEBUG=asyncpreemptoff=1 or
// the build cannot (TSan); yield_point is the way that always works. Costs
// two loads and a branch (no call) when no preemption is asked.
inline void yield_point() {
  if (sched::preempt_flag_set()) [[unlikely]]
    sched::preempt_yield();
}

// Wires the calling goroutine to the thread it runs on (Go's
// runtime.LockOSThread): from now on it runs only on this thread, and no
// other goroutine runs there, until it has called unlock_os_thread as many
// times as lock_os_thread (calls nest, as since Go 1.10). When it blocks or
// yields, its thread hands the P to another thread and sleeps until the
// goroutine is runnable again. If the goroutine exits still locked, its
// thread exits too (as Go kills it: the goroutine may have changed per-thread
// state). Use it around code that depends on per-thread state (thread-local
// C libraries, setns, signal masks). On a plain thread it does nothing.
void lock_os_thread();
// Undoes one lock_os_thread; when the count drops to zero the goroutine is
// unwired and its thread may run other goroutines again. Without an active
// lock_os_thread it does nothing. Before the last unlock the caller must
// undo any per-thread change other goroutines must not see (else: stay
// locked and let the thread exit with the goroutine).
void unlock_os_thread();

// Declares, for its lifetime, that the calling plain thread (not a
// goroutine) may still wake goroutines: send on a channel, release a
// semaphore, unlock a Mutex, call go(). While one exists, deadlock detection
// does not report goroutines that only such a thread could wake, as Go
// counts a cgo thread's extra M as running. When the last one ends and no
// goroutine can run any more, the deadlock is reported then. A plain thread
// that wakes goroutines without one works too; only the deadlock check
// cannot know about it (Go without cgo has no such threads at all).
// REQUIRES: made and destroyed on the same plain thread.
class ForeignThread {
 public:
  ForeignThread();
  ~ForeignThread();
  ForeignThread(const ForeignThread&) = delete;
  ForeignThread& operator=(const ForeignThread&) = delete;
};

namespace sched {
void entersyscall();
void exitsyscall();
}  // namespace sched

// Runs f(), a call that may block its thread in the kernel, so that the P
// can run other goroutines meanwhile (Go's entersyscall/exitsyscall). From a
// plain thread it just calls f.
template <typename F>
decltype(auto) blocking(F&& f) {
  struct Exit {
    ~Exit() { sched::exitsyscall(); }
  };
  sched::entersyscall();
  Exit exit;
  return std::forward<F>(f)();
}

}  // namespace gort

#endif  // GORT_SCHED_SCHED_H_
