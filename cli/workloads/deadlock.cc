// The `deadlock` workload: the main goroutine blocks on a semaphore that
// nobody will ever release, with no other goroutine able to run (or with
// --others N more goroutines blocked the same way). The scheduler notices
// when its last M goes idle, as Go's checkdead does, and the process ends
// the way a Go program does:
//
//   fatal error: all goroutines are asleep - deadlock!
//
//   goroutine 1 [semacquire]:
//   ...
//
// with exit status 2. It prints no result line: not a benchmark.
//
// The Go twin (bench/go/deadlock/main.go) blocks its main goroutine in
// WaitGroup.Wait, which parks on Go's runtime semaphore, so both dumps say
// `[semacquire]` for the same reason. (The textbook Go deadlock, a receive
// from a channel nobody sends on, shows `[chan receive]`; gort's channels
// live above the scheduler, in //chan, and this workload stays on //sched.)
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sched/sema.h"

namespace gort::cli {
namespace {

absl::StatusOr<Result> run_deadlock(const WorkloadArgs& args,
                                    std::FILE* out) {
  const int64_t others = args.get("others");
  fmt::print(out,
             "deadlock: the main goroutine{} now wait{} on a semaphore that "
             "nobody releases\n",
             others > 0 ? fmt::format(" and {} more", others) : "",
             others > 0 ? "" : "s");
  std::fflush(out);  // the fatal error exits without flushing stdio
  static uint32_t never = 0;
  gort::run([&] {
    for (int64_t i = 0; i < others; ++i) {
      gort::go([] { sched::semacquire(&never, false); });
    }
    sched::semacquire(&never, false);
  });
  return absl::InternalError(
      "the deadlock was not detected: the main goroutine woke up");
}

const Registrar registrar(Workload{
    .name = "deadlock",
    .description = "every goroutine blocks forever: Go's fatal error \"all "
                   "goroutines are asleep - deadlock!\", exit 2",
    .options = {{.name = "others",
                 .help = "goroutines besides main that block forever too",
                 .default_value = 0,
                 .min_value = 0,
                 .max_value = 1000}},
    .benchmark = false,
    .has_go_twin = true,
    .run = run_deadlock,
});

}  // namespace
}  // namespace gort::cli
