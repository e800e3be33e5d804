// sys/thread.cc: OS threads over pthread_create, and the cached thread id.
//
// A Thread and the thread it started share a State: the function to run,
// the name to take, and the kernel thread id once the thread knows it. The
// State is reference-counted (shared_ptr), so neither side's lifetime
// constrains the other: a detached thread may outlive its Thread object,
// and a Thread may ask tid() after the thread has ended.
//
// Start-up, as numbered steps:
//   1. The creator fills the State and calls pthread_create with the stack
//      size; libc clones a thread on a fresh stack and calls trampoline().
//   2. The new thread reads its id (gettid, cached), takes its name
//      (prctl PR_SET_NAME, which names the calling thread only), then
//      stores the id into State::tid with release order and wakes any
//      tid() callers sleeping on that word.
//   3. It moves the function out of the State and runs it; the function's
//      captures die on this thread when it returns.
// tid() loads State::tid with acquire order and, while it reads 0, sleeps
// on it with futex_sleep(word, 0): step 2's store comes before its wakeup,
// so the sleeper either sees the id or is woken after it is stored.
#include "sys/thread.h"

#include <limits.h>  // PTHREAD_STACK_MIN, INT_MAX
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "sys/fatal.h"
#include "sys/futex.h"
#include "sys/syscall.h"

namespace gort::sys {

namespace thread_internal {

constinit thread_local int32_t cached_tid = 0;

int32_t load_tid() {
  cached_tid = static_cast<int32_t>(sys::gettid());
  return cached_tid;
}

namespace {
// A forked child is a new thread with a new id but a copy of the parent
// thread's TLS: forget the cached id. Registered once, at load time.
void reset_tid_after_fork() { cached_tid = 0; }
[[maybe_unused]] const int g_atfork_registered =
    pthread_atfork(nullptr, nullptr, reset_tid_after_fork);
}  // namespace

}  // namespace thread_internal

struct Thread::State {
  std::function<void()> fn;       // run if set
  void (*c_fn)(void*) = nullptr;  // else run c_fn(arg)
  void* arg = nullptr;
  char name[16] = {};  // "" = keep the inherited name
  // 0 until step 2; then the thread's id. Stored once (release) by the new
  // thread; loaded (acquire) by tid(). Also the futex word tid() sleeps on.
  std::atomic<uint32_t> tid{0};
};

Thread::Thread(std::function<void()> fn, Options options)
    : state_(std::make_shared<State>()) {
  state_->fn = std::move(fn);
  start(options);
}

Thread::Thread(void (*fn)(void*), void* arg, Options options)
    : state_(std::make_shared<State>()) {
  state_->c_fn = fn;
  state_->arg = arg;
  start(options);
}

void Thread::start(Options options) {
  if (options.name != nullptr) {
    strncpy(state_->name, options.name, sizeof(state_->name) - 1);
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (options.stack_size != 0) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t size = options.stack_size;
    if (size < static_cast<size_t>(PTHREAD_STACK_MIN)) size = PTHREAD_STACK_MIN;
    size = (size + page - 1) / page * page;
    if (pthread_attr_setstacksize(&attr, size) != 0) {
      fatal("thread: bad stack size");
    }
    stack_size_ = size;
  }
  // The new thread owns one reference to the State, handed over through a
  // heap-allocated shared_ptr (pthread passes a single void*).
  auto* ref = new std::shared_ptr<State>(state_);
  int err = pthread_create(&handle_, &attr, &Thread::trampoline, ref);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    delete ref;
    fatal("failed to create new OS thread");  // Go: newosproc
  }
  joinable_ = true;
}

void* Thread::trampoline(void* arg) noexcept {
  std::shared_ptr<State> state;
  {
    auto* ref = static_cast<std::shared_ptr<State>*>(arg);
    state = std::move(*ref);
    delete ref;
  }
  const int32_t tid = current_tid();  // step 2
  if (state->name[0] != '\0') {
    syscall6(SYS_prctl, PR_SET_NAME, reinterpret_cast<long>(state->name));
  }
  // Release pairs with the acquire load in tid().
  state->tid.store(static_cast<uint32_t>(tid), std::memory_order_release);
  futex_wakeup(state->tid, INT_MAX);
  if (state->c_fn != nullptr) {  // step 3
    state->c_fn(state->arg);
  } else {
    std::function<void()> fn = std::move(state->fn);
    fn();
  }
  return nullptr;
}

Thread::~Thread() {
  if (joinable_) fatal("thread: destroyed while joinable");
}

Thread::Thread(Thread&& other) noexcept
    : state_(std::move(other.state_)),
      handle_(other.handle_),
      joinable_(std::exchange(other.joinable_, false)),
      stack_size_(other.stack_size_) {}

Thread& Thread::operator=(Thread&& other) noexcept {
  if (joinable_) fatal("thread: assigned to while joinable");
  state_ = std::move(other.state_);
  handle_ = other.handle_;
  joinable_ = std::exchange(other.joinable_, false);
  stack_size_ = other.stack_size_;
  return *this;
}

void Thread::join() {
  if (!joinable_) fatal("thread: join of a thread that is not joinable");
  if (pthread_join(handle_, nullptr) != 0) fatal("thread: pthread_join");
  joinable_ = false;
}

void Thread::detach() {
  if (!joinable_) fatal("thread: detach of a thread that is not joinable");
  if (pthread_detach(handle_) != 0) fatal("thread: pthread_detach");
  joinable_ = false;
}

int32_t Thread::tid() const {
  if (state_ == nullptr) fatal("thread: tid of a thread never started");
  uint32_t tid;
  // Acquire pairs with the release store in trampoline().
  while ((tid = state_->tid.load(std::memory_order_acquire)) == 0) {
    futex_sleep(state_->tid, 0, -1);
  }
  return static_cast<int32_t>(tid);
}

}  // namespace gort::sys
