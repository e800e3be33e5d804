// Tests for sys/syscall.h: exact counts, per-thread accounting surviving
// thread exit, error classification, the kFull line, and strace's formats.
#include "sys/syscall.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gort::sys {
namespace {

constexpr const char* kMissingPath = "/nonexistent/gort-syscall-test";

// The row for `nr` in a snapshot, or an all-zero row.
SyscallStat row(const std::vector<SyscallStat>& stats, long nr) {
  for (const SyscallStat& s : stats) {
    if (s.nr == nr) return s;
  }
  SyscallStat none;
  none.nr = nr;
  return none;
}

// Every test starts from a zeroed table with accounting off, and leaves
// accounting off (the table is process-wide).
class SyscallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_accounting(AccountingMode::kOff);
    reset_syscall_stats();
  }
  void TearDown() override {
    set_accounting(AccountingMode::kOff);
    set_trace_fd(2);
    reset_syscall_stats();
  }
};

// Invariant: is_error is exactly the kernel's [-4095, -1] range.
TEST(IsErrorTest, KernelErrorRange) {
  EXPECT_TRUE(is_error(-1));
  EXPECT_TRUE(is_error(-EAGAIN));
  EXPECT_TRUE(is_error(-4095));
  EXPECT_FALSE(is_error(-4096));
  EXPECT_FALSE(is_error(0));
  EXPECT_FALSE(is_error(1));
  EXPECT_FALSE(is_error(0x7f0000001000L));  // an mmap address
  EXPECT_FALSE(
      is_error(static_cast<long>(0xffff800000000000UL)));  // kernel half
}

// Invariant: the typed wrappers return the kernel's result.
TEST_F(SyscallTest, WrappersReturnKernelResults) {
  EXPECT_EQ(getpid(), ::getpid());
  EXPECT_EQ(gettid(), ::gettid());
  EXPECT_EQ(raw_syscall6(SYS_getpid), ::getpid());
  EXPECT_EQ(openat(AT_FDCWD, kMissingPath, O_RDONLY), -ENOENT);
  long fd = openat(AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(write(static_cast<int>(fd), "abc", 3), 3);
  EXPECT_EQ(close(static_cast<int>(fd)), 0);
  EXPECT_EQ(close(static_cast<int>(fd)), -EBADF);
  EXPECT_EQ(nanosleep(1000), 0);
  EXPECT_EQ(sched_yield(), 0);
  long p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_FALSE(is_error(p));
  void* addr = reinterpret_cast<void*>(p);
  static_cast<char*>(addr)[0] = 1;
  EXPECT_EQ(madvise(addr, 4096, MADV_DONTNEED), 0);
  EXPECT_EQ(static_cast<char*>(addr)[0], 0);  // DONTNEED zeroed the page
  EXPECT_EQ(mprotect(addr, 4096, PROT_READ), 0);
  EXPECT_EQ(munmap(addr, 4096), 0);
  uint32_t word = 7;
  EXPECT_EQ(futex(&word, FUTEX_WAIT_PRIVATE, 8, nullptr), -EAGAIN);
  EXPECT_EQ(futex(&word, FUTEX_WAKE_PRIVATE, 1, nullptr), 0);
  EXPECT_EQ(
      tgkill(static_cast<int>(::getpid()), static_cast<int>(::gettid()), 0), 0);
}

// Invariant: with accounting off nothing is counted.
TEST_F(SyscallTest, OffCountsNothing) {
  for (int i = 0; i < 100; ++i) getpid();
  openat(AT_FDCWD, kMissingPath, O_RDONLY);
  EXPECT_TRUE(syscall_stats().empty());
  EXPECT_EQ(accounting(), AccountingMode::kOff);
}

// Invariant: calls and errors are exact per syscall number.
TEST_F(SyscallTest, KnownMixCountsExactly) {
  set_accounting(AccountingMode::kSummary);
  EXPECT_EQ(accounting(), AccountingMode::kSummary);
  for (int i = 0; i < 1000; ++i) getpid();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(openat(AT_FDCWD, kMissingPath, O_RDONLY), -ENOENT);
  }
  long fd = openat(AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 50; ++i) write(static_cast<int>(fd), "x", 1);
  close(static_cast<int>(fd));
  raw_syscall6(SYS_getpid);  // raw: never counted
  set_accounting(AccountingMode::kOff);
  getpid();  // off again: not counted

  std::vector<SyscallStat> stats = syscall_stats();
  ASSERT_EQ(stats.size(), 4u);
  SyscallStat g = row(stats, SYS_getpid);
  EXPECT_EQ(g.calls, 1000u);
  EXPECT_EQ(g.errors, 0u);
  EXPECT_STREQ(g.name, "getpid");
  SyscallStat o = row(stats, SYS_openat);
  EXPECT_EQ(o.calls, 101u);
  EXPECT_EQ(o.errors, 100u);
  EXPECT_STREQ(o.name, "openat");
  SyscallStat w = row(stats, SYS_write);
  EXPECT_EQ(w.calls, 50u);
  EXPECT_EQ(w.errors, 0u);
  EXPECT_EQ(row(stats, SYS_close).calls, 1u);
  // Rows come in syscall-number order.
  for (size_t i = 1; i < stats.size(); ++i) {
    EXPECT_LT(stats[i - 1].nr, stats[i].nr);
  }
}

// Invariant: reset zeroes every thread's counters.
TEST_F(SyscallTest, ResetZeroes) {
  set_accounting(AccountingMode::kSummary);
  for (int i = 0; i < 10; ++i) getpid();
  ASSERT_EQ(row(syscall_stats(), SYS_getpid).calls, 10u);
  reset_syscall_stats();
  EXPECT_TRUE(syscall_stats().empty());
  for (int i = 0; i < 3; ++i) getpid();
  EXPECT_EQ(row(syscall_stats(), SYS_getpid).calls, 3u);
}

// Invariant: a failing call counts as an error whatever its errno, EAGAIN
// included (strace counts it too).
TEST_F(SyscallTest, EagainIsAnError) {
  int fds[2];
  ASSERT_EQ(raw_syscall6(SYS_pipe2, reinterpret_cast<long>(fds), O_NONBLOCK),
            0);
  set_accounting(AccountingMode::kSummary);
  char c;
  EXPECT_EQ(read(fds[0], &c, 1), -EAGAIN);
  EXPECT_EQ(write(fds[1], "y", 1), 1);
  EXPECT_EQ(read(fds[0], &c, 1), 1);
  set_accounting(AccountingMode::kOff);
  raw_syscall6(SYS_close, fds[0]);
  raw_syscall6(SYS_close, fds[1]);
  std::vector<SyscallStat> stats = syscall_stats();
  EXPECT_EQ(row(stats, SYS_read).calls, 2u);
  EXPECT_EQ(row(stats, SYS_read).errors, 1u);
  EXPECT_EQ(row(stats, SYS_write).errors, 0u);
}

// Invariant: with two threads each making N calls, the totals are exactly
// 2N while the threads are alive (after they stopped calling) and still
// exactly 2N after they exited and were joined.
TEST_F(SyscallTest, TwoThreadsExactBeforeAndAfterExit) {
  constexpr int kCalls = 20000;
  set_accounting(AccountingMode::kSummary);
  std::atomic<int> done{0};
  std::atomic<bool> may_exit{false};
  auto body = [&] {
    for (int i = 0; i < kCalls; ++i) getpid();
    done.fetch_add(1, std::memory_order_release);
    while (!may_exit.load(std::memory_order_acquire)) {
      std::this_thread::yield();
    }
  };
  std::thread a(body), b(body);
  while (done.load(std::memory_order_acquire) < 2) std::this_thread::yield();
  EXPECT_EQ(row(syscall_stats(), SYS_getpid).calls, 2u * kCalls);
  may_exit.store(true, std::memory_order_release);
  a.join();
  b.join();
  set_accounting(AccountingMode::kOff);
  SyscallStat g = row(syscall_stats(), SYS_getpid);
  EXPECT_EQ(g.calls, 2u * kCalls);
  EXPECT_EQ(g.errors, 0u);
  // The time estimate survives the fold: positive, and below an absurd
  // 100 us per getpid.
  EXPECT_GT(g.nanos, 0u);
  EXPECT_LT(g.nanos, 2u * kCalls * 100'000u);
}

// Invariant: exited threads' counts are kept across later threads, and
// reset clears them too.
TEST_F(SyscallTest, RetiredCountsAccumulateAndReset) {
  set_accounting(AccountingMode::kSummary);
  for (int t = 0; t < 4; ++t) {
    std::thread th([] {
      for (int i = 0; i < 100; ++i) getpid();
      openat(AT_FDCWD, kMissingPath, O_RDONLY);
    });
    th.join();
  }
  std::vector<SyscallStat> stats = syscall_stats();
  EXPECT_EQ(row(stats, SYS_getpid).calls, 400u);
  EXPECT_EQ(row(stats, SYS_openat).errors, 4u);
  reset_syscall_stats();
  EXPECT_TRUE(syscall_stats().empty());
}

// A thread_local whose destructor makes accounted calls. Constructed before
// the thread's first accounted call, so its destructor runs after the
// accounting's own (thread_local destructors run in reverse order).
struct LateCaller {
  bool armed = false;
  ~LateCaller() {
    if (!armed) return;
    for (int i = 0; i < 5; ++i) getpid();
    openat(AT_FDCWD, kMissingPath, O_RDONLY);
  }
};
thread_local LateCaller tls_late_caller;

// Invariant: calls a thread makes after its counters were folded (in later
// thread_local destructors) still count, exactly.
TEST_F(SyscallTest, CallsAfterThreadCountersFoldedStillCount) {
  set_accounting(AccountingMode::kSummary);
  std::thread th([] {
    tls_late_caller.armed = true;  // registers its destructor first
    for (int i = 0; i < 10; ++i) getpid();
  });
  th.join();
  std::vector<SyscallStat> stats = syscall_stats();
  EXPECT_EQ(row(stats, SYS_getpid).calls, 15u);
  EXPECT_EQ(row(stats, SYS_openat).calls, 1u);
  EXPECT_EQ(row(stats, SYS_openat).errors, 1u);
}

// Invariant: an expensive syscall is timed (the estimate is not a sample
// of a cheap one): five 2 ms sleeps report at least 10 ms.
TEST_F(SyscallTest, ExpensiveCallsAreTimed) {
  set_accounting(AccountingMode::kSummary);
  for (int i = 0; i < 5; ++i) nanosleep(2'000'000);
  set_accounting(AccountingMode::kOff);
  SyscallStat s = row(syscall_stats(), SYS_nanosleep);
  EXPECT_EQ(s.calls, 5u);
  EXPECT_GE(s.nanos, 10'000'000u);
  EXPECT_LT(s.nanos, 5'000'000'000u);
}

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    long n =
        raw_syscall6(SYS_read, fd, reinterpret_cast<long>(buf), sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A line with its ` <s.uuuuuu>` duration replaced by ` <>`, or "" when
// the line does not end in such a duration.
std::string strip_duration(const std::string& l) {
  size_t open = l.rfind(" <");
  if (open == std::string::npos || l.size() < open + 4 ||
      l.compare(l.size() - 2, 2, ">\n") != 0) {
    return "";
  }
  std::string secs = l.substr(open + 2, l.size() - 2 - (open + 2));
  size_t dot = secs.find('.');
  if (dot == std::string::npos || dot == 0 || secs.size() - dot - 1 != 6) {
    return "";
  }
  for (size_t i = 0; i < secs.size(); ++i) {
    if (i != dot && (secs[i] < '0' || secs[i] > '9')) return "";
  }
  return l.substr(0, open) + " <>\n";
}

// Invariant: kFull writes `[tid N] name(args) = ret <secs>` per call to the
// trace fd, errors as strace prints them, and still counts the calls; the
// trace writes themselves are not counted.
TEST_F(SyscallTest, FullModeLines) {
  int fds[2];
  ASSERT_EQ(raw_syscall6(SYS_pipe2, reinterpret_cast<long>(fds), O_NONBLOCK),
            0);
  set_trace_fd(fds[1]);
  set_accounting(AccountingMode::kFull);
  long pid = getpid();
  openat(AT_FDCWD, kMissingPath, O_RDONLY | O_CLOEXEC);
  set_accounting(AccountingMode::kOff);
  set_trace_fd(2);
  std::string out = drain(fds[0]);
  raw_syscall6(SYS_close, fds[0]);
  raw_syscall6(SYS_close, fds[1]);

  const std::string tid = "[tid " + std::to_string(::gettid()) + "] ";
  size_t eol = out.find('\n');
  ASSERT_NE(eol, std::string::npos) << out;
  std::string first = out.substr(0, eol + 1);
  std::string second = out.substr(eol + 1);
  EXPECT_EQ(strip_duration(first),
            tid + "getpid() = " + std::to_string(pid) + " <>\n")
      << first;
  EXPECT_EQ(strip_duration(second),
            tid +
                "openat(AT_FDCWD, \"/nonexistent/gort-syscall-test\", "
                "O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or "
                "directory) <>\n")
      << second;

  std::vector<SyscallStat> stats = syscall_stats();
  EXPECT_EQ(stats.size(), 2u);
  EXPECT_EQ(row(stats, SYS_getpid).calls, 1u);
  EXPECT_EQ(row(stats, SYS_openat).errors, 1u);
  EXPECT_EQ(row(stats, SYS_write).calls, 0u);
}

// ---- names
// ---------------------------------------------------------------------

// Invariant: names are the kernel's, as strace prints them.
TEST(SyscallNameTest, KernelNames) {
  EXPECT_STREQ(syscall_name(0), "read");
  EXPECT_STREQ(syscall_name(SYS_getpid), "getpid");
  EXPECT_STREQ(syscall_name(SYS_openat), "openat");
  EXPECT_STREQ(syscall_name(SYS_newfstatat), "newfstatat");
  EXPECT_STREQ(syscall_name(SYS_pread64), "pread64");
  EXPECT_STREQ(syscall_name(SYS_futex), "futex");
  EXPECT_STREQ(syscall_name(SYS_exit_group), "exit_group");
  EXPECT_STREQ(syscall_name(334), "rseq");
  EXPECT_STREQ(syscall_name(335), "syscall_335");
  EXPECT_STREQ(syscall_name(424), "pidfd_send_signal");
  EXPECT_STREQ(syscall_name(449), "futex_waitv");
  EXPECT_STREQ(syscall_name(462), "mseal");
  EXPECT_STREQ(syscall_name(511), "syscall_511");
  EXPECT_STREQ(syscall_name(1000), "syscall_1000");
}

// ---- strace -c's table ------------------------------------------------------

SyscallStat stat(long nr, uint64_t calls, uint64_t errors, uint64_t nanos) {
  SyscallStat s;
  s.nr = nr;
  s.name = syscall_name(nr);
  s.calls = calls;
  s.errors = errors;
  s.nanos = nanos;
  return s;
}

// Golden: `strace -c -f ls /nonexistent` as strace 6.1 printed it on this
// machine; the input is its rows (microsecond times) in number order.
TEST(StraceSummaryTest, MatchesStraceLsGolden) {
  std::vector<SyscallStat> in = {
      stat(SYS_read, 7, 0, 83000),
      stat(SYS_write, 4, 0, 57000),
      stat(SYS_close, 22, 0, 166000),
      stat(SYS_mmap, 30, 0, 487000),
      stat(SYS_mprotect, 5, 0, 71000),
      stat(SYS_munmap, 1, 0, 24000),
      stat(SYS_brk, 3, 0, 19000),
      stat(SYS_ioctl, 1, 1, 11000),
      stat(SYS_pread64, 2, 0, 18000),
      stat(SYS_access, 2, 2, 12000),
      stat(SYS_execve, 1, 0, 0),
      stat(SYS_statfs, 2, 2, 31000),
      stat(SYS_arch_prctl, 1, 0, 7000),
      stat(SYS_futex, 1, 0, 8000),
      stat(SYS_set_tid_address, 1, 0, 6000),
      stat(SYS_openat, 39, 19, 461000),
      stat(SYS_newfstatat, 20, 0, 148000),
      stat(SYS_set_robust_list, 1, 0, 7000),
      stat(SYS_prlimit64, 1, 0, 7000),
      stat(SYS_getrandom, 1, 0, 8000),
      stat(SYS_statx, 2, 2, 21000),
      stat(SYS_rseq, 1, 0, 7000),
  };
  const char* want =
      "% time     seconds  usecs/call     calls    errors syscall\n"
      "------ ----------- ----------- --------- --------- ----------------\n"
      " 29.36    0.000487          16        30           mmap\n"
      " 27.79    0.000461          11        39        19 openat\n"
      " 10.01    0.000166           7        22           close\n"
      "  8.92    0.000148           7        20           newfstatat\n"
      "  5.00    0.000083          11         7           read\n"
      "  4.28    0.000071          14         5           mprotect\n"
      "  3.44    0.000057          14         4           write\n"
      "  1.87    0.000031          15         2         2 statfs\n"
      "  1.45    0.000024          24         1           munmap\n"
      "  1.27    0.000021          10         2         2 statx\n"
      "  1.15    0.000019           6         3           brk\n"
      "  1.08    0.000018           9         2           pread64\n"
      "  0.72    0.000012           6         2         2 access\n"
      "  0.66    0.000011          11         1         1 ioctl\n"
      "  0.48    0.000008           8         1           futex\n"
      "  0.48    0.000008           8         1           getrandom\n"
      "  0.42    0.000007           7         1           arch_prctl\n"
      "  0.42    0.000007           7         1           set_robust_list\n"
      "  0.42    0.000007           7         1           prlimit64\n"
      "  0.42    0.000007           7         1           rseq\n"
      "  0.36    0.000006           6         1           set_tid_address\n"
      "  0.00    0.000000           0         1           execve\n"
      "------ ----------- ----------- --------- --------- ----------------\n"
      "100.00    0.001659          11       148        26 total\n";
  EXPECT_EQ(format_strace_summary(in), want);
}

// Golden: `strace -c -f /bin/true` here (all times zero: ties keep number
// order, percentages 0.00, errors blank in the total).
TEST(StraceSummaryTest, MatchesStraceTrueGoldenAllZero) {
  std::vector<SyscallStat> in = {
      stat(SYS_execve, 1, 0, 0), stat(SYS_mmap, 1, 0, 0),
      stat(SYS_read, 1, 0, 0),  // input order does not matter
  };
  const char* want =
      "% time     seconds  usecs/call     calls    errors syscall\n"
      "------ ----------- ----------- --------- --------- ----------------\n"
      "  0.00    0.000000           0         1           read\n"
      "  0.00    0.000000           0         1           mmap\n"
      "  0.00    0.000000           0         1           execve\n"
      "------ ----------- ----------- --------- --------- ----------------\n"
      "100.00    0.000000           0         3           total\n";
  EXPECT_EQ(format_strace_summary(in), want);
}

// Golden: `strace -c -f -e trace=sched_getaffinity nproc` here: a name of
// 17 characters widens the last column to 18 dashes.
TEST(StraceSummaryTest, LongNameWidensColumn) {
  std::vector<SyscallStat> in = {stat(SYS_sched_getaffinity, 1, 0, 0)};
  const char* want =
      "% time     seconds  usecs/call     calls    errors syscall\n"
      "------ ----------- ----------- --------- --------- ------------------\n"
      "  0.00    0.000000           0         1           sched_getaffinity\n"
      "------ ----------- ----------- --------- --------- ------------------\n"
      "100.00    0.000000           0         1           total\n";
  EXPECT_EQ(format_strace_summary(in), want);
}

// Invariant (strace's count.c): numeric columns widen to the widest value
// (the total's seconds, calls and errors).
TEST(StraceSummaryTest, BigNumbersWidenColumns) {
  std::vector<SyscallStat> in = {
      stat(SYS_futex, 12345678901ULL, 1234567890ULL, 123456789012345ULL)};
  const char* want =
      "% time       seconds  usecs/call       calls     errors syscall\n"
      "------ ------------- ----------- ----------- ---------- "
      "----------------\n"
      "100.00 123456.789012          10 12345678901 1234567890 futex\n"
      "------ ------------- ----------- ----------- ---------- "
      "----------------\n"
      "100.00 123456.789012          10 12345678901 1234567890 total\n";
  EXPECT_EQ(format_strace_summary(in), want);
}

// Invariant: no rows still prints the header, rules and a zero total.
TEST(StraceSummaryTest, Empty) {
  const char* want =
      "% time     seconds  usecs/call     calls    errors syscall\n"
      "------ ----------- ----------- --------- --------- ----------------\n"
      "------ ----------- ----------- --------- --------- ----------------\n"
      "100.00    0.000000           0         0           total\n";
  EXPECT_EQ(format_strace_summary({}), want);
}

// ---- one line per call
// ---------------------------------------------------------

std::string line(long nr, std::vector<long> a, long result, int64_t nanos,
                 bool local = true, size_t cap = 1024) {
  long args[6] = {0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < a.size(); ++i) args[i] = a[i];
  std::vector<char> buf(cap);
  size_t n =
      format_strace_line(buf.data(), cap, 42, nr, args, result, nanos, local);
  EXPECT_EQ(n, strlen(buf.data()));
  return std::string(buf.data(), n);
}

long ptr(const void* p) { return reinterpret_cast<long>(p); }

// Invariant: lines read as `strace -f -T` prints them, tid column aside.
TEST(StraceLineTest, Shapes) {
  EXPECT_EQ(line(SYS_getpid, {}, 1234, 3000),
            "[tid 42] getpid() = 1234 <0.000003>\n");
  EXPECT_EQ(line(SYS_openat, {AT_FDCWD, ptr("/etc/x"), O_RDONLY | O_CLOEXEC},
                 -ENOENT, 1'500'000'000),
            "[tid 42] openat(AT_FDCWD, \"/etc/x\", O_RDONLY|O_CLOEXEC) = -1 "
            "ENOENT (No such file or directory) <1.500000>\n");
  EXPECT_EQ(
      line(SYS_openat, {3, ptr("f"), O_WRONLY | O_CREAT | O_TRUNC, 0644}, 4, 0),
      "[tid 42] openat(3, \"f\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 4 "
      "<0.000000>\n");
  EXPECT_EQ(line(SYS_write, {1, ptr("hi\n\"\\\t\001x\0017"), 10}, 10, 5000),
            "[tid 42] write(1, \"hi\\n\\\"\\\\\\t\\1x\\0017\", 10) = 10 "
            "<0.000005>\n");
  const char* big = "0123456789abcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(line(SYS_write, {1, ptr(big), 36}, 36, 0),
            "[tid 42] write(1, \"0123456789abcdefghijklmnopqrstuv\"..., 36) "
            "= 36 <0.000000>\n");
  EXPECT_EQ(line(SYS_read, {0, 0x1000, 10}, -EAGAIN, 0),
            "[tid 42] read(0, 0x1000, 10) = -1 EAGAIN (Resource temporarily "
            "unavailable) <0.000000>\n");
  EXPECT_EQ(line(SYS_mmap,
                 {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0},
                 0x7f0000001000L, 0),
            "[tid 42] mmap(NULL, 8192, PROT_READ|PROT_WRITE, "
            "MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000 <0.000000>\n");
  EXPECT_EQ(line(SYS_mprotect, {0x1000, 4096, PROT_NONE}, 0, 0),
            "[tid 42] mprotect(0x1000, 4096, PROT_NONE) = 0 <0.000000>\n");
  EXPECT_EQ(line(SYS_madvise, {0x1000, 4096, MADV_DONTNEED}, 0, 0),
            "[tid 42] madvise(0x1000, 4096, MADV_DONTNEED) = 0 <0.000000>\n");
  EXPECT_EQ(line(SYS_futex, {0x1000, FUTEX_WAKE_PRIVATE, 1}, 0, 0),
            "[tid 42] futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 0 <0.000000>\n");
  EXPECT_EQ(line(SYS_futex, {0x1000, FUTEX_WAIT_PRIVATE, 0, 0}, -EAGAIN, 0),
            "[tid 42] futex(0x1000, FUTEX_WAIT_PRIVATE, 0, NULL) = -1 EAGAIN "
            "(Resource temporarily unavailable) <0.000000>\n");
  struct timespec ts = {1, 500};
  EXPECT_EQ(line(SYS_nanosleep, {ptr(&ts), 0}, 0, 0),
            "[tid 42] nanosleep({tv_sec=1, tv_nsec=500}, NULL) = 0 "
            "<0.000000>\n");
  EXPECT_EQ(line(SYS_tgkill, {10, 11, SIGURG}, 0, 0),
            "[tid 42] tgkill(10, 11, SIGURG) = 0 <0.000000>\n");
  // Unknown shape: six arguments, small ones decimal, the rest hex.
  EXPECT_EQ(line(SYS_ioctl, {1, 0x5401, 0x7ffc0000}, -ENOTTY, 0),
            "[tid 42] ioctl(1, 21505, 0x7ffc0000, 0, 0, 0) = -1 ENOTTY "
            "(Inappropriate ioctl for device) <0.000000>\n");
}

// Invariant: pointers are never dereferenced for a remote process or when
// the kernel said EFAULT.
TEST(StraceLineTest, NoDereferenceWhenNotProvenReadable) {
  EXPECT_EQ(line(SYS_openat, {AT_FDCWD, 0x10, O_RDONLY}, -EFAULT, 0),
            "[tid 42] openat(AT_FDCWD, 0x10, O_RDONLY) = -1 EFAULT (Bad "
            "address) <0.000000>\n");
  EXPECT_EQ(line(SYS_write, {1, 0x10, 5}, 5, 0, /*local=*/false),
            "[tid 42] write(1, 0x10, 5) = 5 <0.000000>\n");
}

// Invariant: a short buffer truncates the arguments, never the result, and
// the line still ends in a newline.
TEST(StraceLineTest, TruncatesArguments) {
  std::string path(300, 'a');
  std::string out = line(SYS_openat, {AT_FDCWD, ptr(path.c_str()), O_RDONLY},
                         -ENOENT, 0, true, 128);
  EXPECT_LT(out.size(), 128u);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_NE(out.find("...) = -1 ENOENT (No such file or directory) <0.000000>"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace gort::sys
