// gort.h: the whole runtime, one include. Each component is also usable
// alone through its own package (see README.md).
//
//   sched/sched.h   goroutines: go, run, yield, gomaxprocs, blocking, ...
//   chan/chan.h     Chan<T>, make_chan
//   chan/select.h   select, on_recv, on_send, on_default
//   sched/panic.h   gort::Panic, Go's recoverable panics
//   syncx/syncx.h   gort::syncx: Mutex, RWMutex, WaitGroup, Once, Cond, Pool,
//                   Map, ShardedMap
//   timer/time.h    gort::time: sleep, after, Timer, Ticker, after_func, now
//
// Components that have not landed yet (netpoll, mem, gc, container) join
// this header when they do.
#ifndef GORT_GORT_H_
#define GORT_GORT_H_

#include "chan/chan.h"
#include "chan/select.h"
#include "netpoll/net.h"
#include "os/file.h"
#include "sched/panic.h"
#include "sched/sched.h"
#include "syncx/syncx.h"
#include "timer/time.h"

#endif  // GORT_GORT_H_
