// The `sieve` workload: Go's concurrent prime sieve (the Go tour's and
// doc/play/sieve.go's): a generator goroutine sends 2, 3, 4, ... on an
// unbuffered channel, and each prime found starts a goroutine that filters
// its multiples out of the stream before it reaches the next. Bounded here
// so that it ends: the generator stops at the primes-th prime and closes
// its channel, and each filter closes its output when its input closes.
// The primes received are checked against a sequential sieve; the result
// is the wall time. The Go twin is bench/go/sieve/main.go.
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "chan/chan.h"
#include "cli/registry.h"
#include "fmt/format.h"
#include "sched/sched.h"
#include "sys/clock.h"

namespace gort::cli {
namespace {

// The first n primes, by trial division (the reference, untimed).
std::vector<int64_t> first_primes(int64_t n) {
  std::vector<int64_t> primes;
  for (int64_t v = 2; static_cast<int64_t>(primes.size()) < n; ++v) {
    bool prime = true;
    for (int64_t p : primes) {
      if (p * p > v) break;
      if (v % p == 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes.push_back(v);
  }
  return primes;
}

absl::StatusOr<Result> run_sieve(const WorkloadArgs& args, std::FILE* out) {
  const int64_t n = args.get("primes");
  const std::vector<int64_t> want = first_primes(n);
  const int64_t limit = want.back();
  std::vector<int64_t> got;
  got.reserve(n);
  int64_t nanos = 0;
  int procs = 0;
  gort::run([&] {
    procs = gort::gomaxprocs(0);
    int64_t start = sys::nanotime();
    auto ch = make_chan<int64_t>();
    gort::go([ch, limit] {
      for (int64_t i = 2; i <= limit; ++i) ch.send(i);
      ch.close();
    });
    for (;;) {
      auto [p, ok] = ch.recv_ok();
      if (!ok) break;
      got.push_back(p);
      auto next = make_chan<int64_t>();
      gort::go([src = ch, dst = next, p] {
        for (int64_t v : src) {
          if (v % p != 0) dst.send(v);
        }
        dst.close();
      });
      ch = next;
    }
    nanos = sys::nanotime() - start;
  });
  if (got != want)
    return absl::InternalError(
        "sieve: the primes differ from a sequential sieve");
  fmt::print(
      out,
      "sieve: the first {} primes (up to {}) through a chain of {} filter "
      "goroutines in {:.3f} ms (GOMAXPROCS={})\n",
      n, limit, n, nanos / 1e6, procs);
  return Result{nanos / 1e6, "ms"};
}

const Registrar registrar(Workload{
    .name = "sieve",
    .description =
        "Go's concurrent prime sieve, a goroutine per prime; ms for the "
        "first 2000 primes",
    .options = {{.name = "primes",
                 .help = "primes to find (one filter goroutine each)",
                 .default_value = 2000,
                 .min_value = 1,
                 .max_value = 1'000'000}},
    .benchmark = true,
    .has_go_twin = true,
    .run = run_sieve,
});

}  // namespace
}  // namespace gort::cli
