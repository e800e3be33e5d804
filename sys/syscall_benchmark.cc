// Benchmarks for sys/syscall.h: what accounting costs on the cheapest real
// syscall, getpid (~175 ns here, no vDSO shortcut).
//
// The bar: accounting on (kSummary) at most 3% slower than off.
// Machines here are noisy, so the headline is BM_GetpidAccountingOverhead,
// which alternates off and on batches inside one run and reports their
// ratio (`ratio` counter); the separate benchmarks are context.
#include <fcntl.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "sys/clock.h"
#include "sys/syscall.h"

namespace gort::sys {
namespace {

void BM_GetpidRaw(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(raw_syscall6(SYS_getpid));
}
BENCHMARK(BM_GetpidRaw);

void BM_GetpidAccountingOff(benchmark::State& state) {
  set_accounting(AccountingMode::kOff);
  for (auto _ : state) benchmark::DoNotOptimize(getpid());
}
BENCHMARK(BM_GetpidAccountingOff);

void BM_GetpidAccountingSummary(benchmark::State& state) {
  set_accounting(AccountingMode::kSummary);
  for (auto _ : state) benchmark::DoNotOptimize(getpid());
  set_accounting(AccountingMode::kOff);
  reset_syscall_stats();
}
BENCHMARK(BM_GetpidAccountingSummary);

void BM_GetpidAccountingFull(benchmark::State& state) {
  long fd = raw_syscall6(SYS_openat, AT_FDCWD,
                         reinterpret_cast<long>("/dev/null"), O_WRONLY);
  if (is_error(fd)) {
    state.SkipWithError("cannot open /dev/null");
    return;
  }
  set_trace_fd(static_cast<int>(fd));
  set_accounting(AccountingMode::kFull);
  for (auto _ : state) benchmark::DoNotOptimize(getpid());
  set_accounting(AccountingMode::kOff);
  set_trace_fd(2);
  raw_syscall6(SYS_close, fd);
  reset_syscall_stats();
}
BENCHMARK(BM_GetpidAccountingFull);

// One iteration = one batch of kBatch getpids with accounting off and one
// with kSummary, in alternating order. `ratio` is the median over
// iterations of on-time / off-time (robust to the machine's bursts of
// noise); `ratio_of_sums` the plain total on / total off; `off_ns` and
// `on_ns` the per-call means. Target: ratio <= 1.03.
void BM_GetpidAccountingOverhead(benchmark::State& state) {
  constexpr int kBatch = 1000;
  std::vector<double> ratios;
  ratios.reserve(1 << 16);
  int64_t off_nanos = 0, on_nanos = 0;
  auto batch = [](AccountingMode mode) {
    set_accounting(mode);
    int64_t t0 = nanotime();
    for (int i = 0; i < kBatch; ++i) benchmark::DoNotOptimize(getpid());
    return nanotime() - t0;
  };
  for (auto _ : state) {
    int64_t off, on;
    if (ratios.size() % 2 == 0) {
      off = batch(AccountingMode::kOff);
      on = batch(AccountingMode::kSummary);
    } else {
      on = batch(AccountingMode::kSummary);
      off = batch(AccountingMode::kOff);
    }
    off_nanos += off;
    on_nanos += on;
    ratios.push_back(static_cast<double>(on) /
                     static_cast<double>(std::max<int64_t>(off, 1)));
  }
  set_accounting(AccountingMode::kOff);
  reset_syscall_stats();
  if (ratios.empty() || off_nanos == 0) return;
  const double calls = static_cast<double>(ratios.size()) * kBatch;
  std::nth_element(ratios.begin(), ratios.begin() + ratios.size() / 2,
                   ratios.end());
  state.counters["ratio"] = ratios[ratios.size() / 2];
  state.counters["ratio_of_sums"] =
      static_cast<double>(on_nanos) / static_cast<double>(off_nanos);
  state.counters["off_ns"] = static_cast<double>(off_nanos) / calls;
  state.counters["on_ns"] = static_cast<double>(on_nanos) / calls;
  state.SetItemsProcessed(static_cast<int64_t>(2 * calls));
}
BENCHMARK(BM_GetpidAccountingOverhead)->MinTime(2.0);

}  // namespace
}  // namespace gort::sys
