// syncx/syncx.h: Go's sync package on gort's scheduler (the public header
// of //syncx; design essay: syncx/syncx.cc, docs/syncx.md).
//
//   Mutex, RWMutex, RLocker     syncx/mutex.h
//   WaitGroup, Once, Cond       syncx/waitgroup.h
//   Pool<T>                     syncx/pool.h
//   Map<K, V>, ShardedMap<K, V> syncx/map.h
//
// Every type works from goroutines (waiters park) and from plain threads
// (waiters block in the kernel), and the two may share one object.
//
// Thread safety: see each header; in short, everything may be used
// concurrently from any goroutine or thread.
#ifndef GORT_SYNCX_SYNCX_H_
#define GORT_SYNCX_SYNCX_H_

#include "syncx/map.h"
#include "syncx/mutex.h"
#include "syncx/pool.h"
#include "syncx/waitgroup.h"

#endif  // GORT_SYNCX_SYNCX_H_
