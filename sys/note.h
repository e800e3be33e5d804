// sys/note.h: one-shot notifications between OS threads (Go's note).
//
//   Note  a word that goes 0 -> 1 once per clear; one thread sleeps until
//         it is 1, another sets it and wakes the sleeper
//
// The scheduler parks an idle M on its note (notesleep) and another M hands
// it work with notewakeup; sysmon and stop-the-world use timed sleeps.
//
// Thread safety: between two clear()s, at most one thread calls wakeup()
// and at most one thread calls sleep()/sleep_for() (they may be the same
// thread: a note woken before it sleeps returns at once). clear() must not
// race with either: the owner calls it while nobody else can touch the note.
// A second wakeup() before clear() is a fatal error, as in Go.
//
// Memory ordering: wakeup() is a release exchange of the word; every
// sleep() and sleep_for() returning true has observed the 1 with an acquire
// load that pairs with it, so whatever the waker wrote before wakeup()
// happens-before whatever the sleeper does after waking. clear() is a
// relaxed store: the clearer must already be synchronised with the previous
// sleeper and waker (usually it is the sleeper).
#ifndef GORT_SYS_NOTE_H_
#define GORT_SYS_NOTE_H_

#include <atomic>
#include <cstdint>

namespace gort::sys {

class Note {
 public:
  Note() = default;
  Note(const Note&) = delete;
  Note& operator=(const Note&) = delete;

  // Makes the note unsignalled. REQUIRES: no sleep or wakeup in flight.
  void clear() {
    key_.store(0, std::memory_order_relaxed);  // see Memory ordering above
  }

  // Signals the note and wakes its sleeper, if any.
  // REQUIRES: not yet woken since the last clear(); otherwise
  // `fatal error: notewakeup - double wakeup` and exit 2.
  void wakeup();

  // Blocks until the note is signalled. Returns at once if it already is.
  void sleep();

  // Blocks until the note is signalled or ns nanoseconds have passed
  // (ns < 0: no limit, as sleep()). Returns true if signalled (also when it
  // already was on entry), false on timeout. A false return means at least
  // ns nanoseconds passed on nanotime()'s clock: never early.
  bool sleep_for(int64_t ns);

  // True if signalled; for tests and assertions (acquire, as sleep()).
  bool signalled() const { return key_.load(std::memory_order_acquire) != 0; }

 private:
  // 0: unsignalled, 1: signalled. The futex word for the sleeper.
  // Written by wakeup() (release exchange) and clear() (relaxed store);
  // read by sleep()/sleep_for() (acquire loads pairing with wakeup()).
  std::atomic<uint32_t> key_{0};
};

}  // namespace gort::sys

#endif  // GORT_SYS_NOTE_H_
