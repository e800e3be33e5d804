// syncx: Go's sync package on gort's scheduler. This file is the package's
// design essay; the code is in mutex.cc (Mutex, RWMutex), waitgroup.cc
// (WaitGroup, Cond; Once is inline), pool.cc (Pool), reclaim.cc (deferred
// freeing for Map) and map.h (Map, ShardedMap: templates). docs/syncx.md
// has the measurements and the open questions.
//
// ## Glossary
//
// - semaphore: sched/sema.h's semacquire/semrelease on a uint32_t word of
//   the object (Go's runtime_Semacquire*); the only way a syncx waiter
//   sleeps. A goroutine parks; a plain thread blocks on a note.
// - notify list: sched/sema.h's NotifyList, the ticket queue under Cond.
// - pin: sched::proc_pin, no preemption and no switch until proc_unpin, so
//   the goroutine owns its P's per-P data meanwhile (Go's procPin).
// - GC cycle: sched::run_gc_cleanups with the world stopped; until gort's
//   GC lands, sysmon's two-minute forced-GC tick runs it (and tests do).
// - section: reclaim.h's ReadSection, during which Map's lock-free reader
//   may hold pointers to shared snapshots and values.
//
// ## What is Go's, and what had to change
//
// Mutex, RWMutex, WaitGroup, Once and Cond are Go 1.19's algorithms on the
// same primitives (state words, semaphores with lifo and handoff, notify
// lists): Go's runtime semaphores were ported first for this reason. The
// differences: plain threads may wait too (the semaphore blocks them on a
// note); a spinning plain thread has no P to check (can_spin allows it
// four rounds when there are several CPUs); panics are gort::Panic and
// fatal errors sys::fatal, with Go's messages.
//
// Pool is Go's design (per-P private slot, per-P lock-free chain of rings,
// steal from the tail, victim cache rotated per GC cycle). What Go gets from
// its GC, gort does explicitly: an item dropped by the victim is destroyed
// (the Pool owns its items: std::unique_ptr<T>), and a ring a stealer
// unlinks stays allocated until its whole array is dropped with the world
// stopped (pool.cc). Plain threads have no P: they share one extra Local
// under a lock, which goroutines steal from like any other.
//
// Map is Go's sync.Map (read snapshot, dirty map under a Mutex, entries
// shared by both, expunged marks, promotion after len(dirty) misses), plus
// what Go's GC did for it: snapshots, entries and value boxes that a
// writer unlinks are retired and freed after a grace period of reclaim.cc's
// sleepable RCU (per-P counters, so a Load touches only its P's cache
// line). Values are returned by copy, since a reference into a box could
// outlive it. The amended flag lives in bit 0 of the snapshot pointer, so
// one atomic load gives the pair, as Go's readOnly struct does.
//
// ## Rejected alternatives
//
// - syncx::Mutex as a futex lock (as sys::Mutex): it would block the M, not
//   the goroutine, and the P with it.
// - Pool without stopping the world for its cycle (an epoch or a lock on
//   every get/put): the fast path would pay on every call for a cycle that
//   runs every two minutes.
// - Map with std::shared_ptr snapshots (atomic_load of a shared_ptr): a
//   lock or an RMW on a shared count per Load.
// - ShardedMap with RWMutex shards: a reader's RMW on the shard's reader
//   count costs as much as a Mutex's CAS, and writes are the case it is for.
//
// ## Invariants kept across the package
//
// 1. No syncx code holds a thread-blocking lock (sys::Mutex) while it may
//    park or call user code; user callbacks (Once's f, Pool's make, Map's
//    range f) run through gort_user_call, so they stay preemptible.
// 2. Pinned code never parks, yields or calls user code.
// 3. Nothing that a lock-free reader may hold is freed before a grace
//    period (Map) or a stop of the world (Pool) has passed.
#include "syncx/syncx.h"
