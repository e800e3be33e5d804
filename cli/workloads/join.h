// cli/workloads/join.h: what the scheduler workloads share.
//
//   Join             a WaitGroup for goroutines started one by one: add()
//                    before each go, done() in each, wait() once at the end
//   rss_bytes        the process's resident set, from /proc/self/statm
//
// Join stands in for syncx::WaitGroup until syncx lands, and costs what Go's
// WaitGroup costs on these paths: one atomic add per add() and done(), a
// semaphore release by the last done() and a semaphore acquire in wait().
//
// Thread safety: add, done and wait from any goroutine or thread; wait once.
//
// Memory ordering: the counter is an acq_rel RMW, so the done() that brings
// it to zero has seen every other done()'s writes, and the semaphore
// (sched/sema.h) hands them to wait().
#ifndef GORT_CLI_WORKLOADS_JOIN_H_
#define GORT_CLI_WORKLOADS_JOIN_H_

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "cli/memstats.h"
#include "sched/sema.h"

namespace gort::cli {

class Join {
 public:
  // One more goroutine to wait for. REQUIRES: before wait().
  void add() { count_.fetch_add(1, std::memory_order_relaxed); }
  // That goroutine finished.
  void done() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      sched::semrelease(&sema_, false);
    }
  }
  // Blocks until every add() has its done(). The count starts at one, the
  // waiter's own, which wait() drops: so it cannot reach zero early while
  // goroutines are still being added (Go's WaitGroup counts waiters for the
  // same reason).
  void wait() {
    done();
    sched::semacquire(&sema_, false);
  }

 private:
  std::atomic<int64_t> count_{1};
  uint32_t sema_ = 0;
};

// Resident bytes now, or -1 (cli/memstats.h).
inline int64_t rss_bytes() { return resident_bytes(); }

}  // namespace gort::cli

#endif  // GORT_CLI_WORKLOADS_JOIN_H_
