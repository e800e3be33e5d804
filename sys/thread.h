// sys/thread.h: OS threads with a chosen stack size (the runtime's Ms).
//
//   Thread        an OS thread running one function: start, join, detach, tid
//   ThreadOptions its stack size and name
//   current_tid   the calling thread's kernel thread id, cached per thread
//
// Threads are made by pthread_create, so libc does the clone(2), maps the
// stack (with its guard page) and sets up TLS; those few syscalls are libc's
// and are not counted by sys/syscall.h. Everything the new thread does
// afterwards goes through the accounted layer as usual. Go calls clone
// itself (newosproc) because it has no libc; we keep libc so that
// thread_local, C++ exceptions and the sanitizers' thread bookkeeping work.
//
// Thread safety: a Thread object is used by one thread at a time (like
// std::thread); tid() may be called from any thread that can see the
// object. current_tid() is safe anywhere, including in a forked child (the
// cache is reset by a pthread_atfork handler).
//
// Memory ordering: everything the starting thread did before the Thread
// constructor happens-before the function starts (pthread_create), and the
// function's effects happen-before join() returns (pthread_join). tid() reads
// an atomic the new thread stores with release order before running the
// function; tid() loads it with acquire order.
#ifndef GORT_SYS_THREAD_H_
#define GORT_SYS_THREAD_H_

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace gort::sys {

// The calling thread's kernel thread id (gettid(2)), one syscall the first
// time on each thread, a TLS load afterwards. Named current_tid because
// sys::gettid (sys/syscall.h) is the uncached syscall itself.
namespace thread_internal {
extern constinit thread_local int32_t cached_tid;  // 0: not yet read
int32_t load_tid();
}  // namespace thread_internal
inline int32_t current_tid() {
  int32_t tid = thread_internal::cached_tid;
  return tid != 0 ? tid : thread_internal::load_tid();
}

// How a Thread starts. (At namespace scope, not nested in Thread: GCC
// rejects a nested aggregate with member initializers as a default argument
// inside its enclosing class.)
struct ThreadOptions {
  // Bytes of stack, rounded up to a page and to libc's minimum
  // (PTHREAD_STACK_MIN). 0: libc's default (RLIMIT_STACK, usually 8 MiB).
  size_t stack_size = 0;
  // Thread name, as `ps -L` and /proc/<pid>/task/<tid>/comm show it; the
  // kernel keeps the first 15 bytes. nullptr: inherit the creator's.
  const char* name = nullptr;
};

class Thread {
 public:
  // How a thread starts (see ThreadOptions).
  using Options = ThreadOptions;

  // Not a thread: joinable() is false.
  Thread() = default;

  // Starts a thread that runs fn(). The function, and what it captured, is
  // destroyed on the new thread when it returns. An exception escaping fn
  // terminates the process (as with std::thread). Failure to create the
  // thread (EAGAIN: out of threads or memory) is a fatal error.
  explicit Thread(std::function<void()> fn, Options options = {});
  // The same for a C-style function and its argument; no allocation for
  // the function itself.
  Thread(void (*fn)(void*), void* arg, Options options = {});

  // REQUIRES: not joinable (joined or detached), else a fatal error.
  ~Thread();

  Thread(Thread&& other) noexcept;
  // REQUIRES: *this is not joinable, else a fatal error.
  Thread& operator=(Thread&& other) noexcept;

  // True from start until join() or detach().
  bool joinable() const { return joinable_; }

  // Waits for the thread to finish. REQUIRES: joinable().
  void join();

  // Lets the thread run on alone; its resources are freed when it ends.
  // REQUIRES: joinable().
  void detach();

  // The thread's kernel id. Waits (briefly) until the thread has started
  // far enough to know it. Valid after join() and detach() too.
  // REQUIRES: *this was started (not default-constructed, not moved from).
  int32_t tid() const;

  // The stack size asked of libc after rounding (0: libc's default).
  size_t stack_size() const { return stack_size_; }

 private:
  struct State;
  void start(Options options);
  static void* trampoline(void* arg) noexcept;

  std::shared_ptr<State> state_;  // shared with the running thread
  pthread_t handle_{};
  bool joinable_ = false;
  size_t stack_size_ = 0;
};

}  // namespace gort::sys

#endif  // GORT_SYS_THREAD_H_
