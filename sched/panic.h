// sched/panic.h: Go's recoverable panics as C++ exceptions.
//
//   Panic  what the runtime throws where Go panics (`send on closed
//          channel`, `negative WaitGroup counter`); what() is Go's message
//
// A Panic that nobody catches leaves its goroutine, and the scheduler then
// prints `panic: <what()>` and the goroutine dump and exits 2, as Go does
// for an unrecovered panic; catching it is Go's recover(). Go's fatal
// errors (deadlock, unlock of unlocked mutex) are not Panics: they print
// and exit through sys/fatal.h and cannot be caught.
//
// Thread safety: an exception object, owned by whoever holds it.
#ifndef GORT_SCHED_PANIC_H_
#define GORT_SCHED_PANIC_H_

#include <stdexcept>
#include <string>

namespace gort {

class Panic : public std::runtime_error {
 public:
  explicit Panic(const char* message) : std::runtime_error(message) {}
  explicit Panic(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace gort

#endif  // GORT_SCHED_PANIC_H_
