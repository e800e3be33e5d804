// sys/syscall.h: the syscall layer. Every system call the runtime makes goes
// through one of these wrappers, so that `gort run --strace` can count them.
//
//   raw_syscall6          one `syscall` instruction, no accounting (the fatal
//                         path and the accounting's own output use it)
//   syscall6              the same, accounted when accounting is on
//   getpid, write, ...    typed wrappers over syscall6
//   Accounting            on/off/full switch, per-thread counters, snapshots
//   SyscallStat           one row of the summary
//   format_strace_summary strace -c's table
//
// Return convention: the kernel's. A result in [-4095, -1] is -errno; there
// is no errno global. `is_error(r)` tells.
//
// Thread safety: every function may be called from any thread at any time.
// Counters are per thread (one writer each); snapshots sum them and are exact
// once the counted threads have stopped making calls.
//
// Memory ordering: a thread's counters are atomics written only by that
// thread with relaxed load+store (no RMW on the fast path) and read by
// snapshot with relaxed loads; a snapshot taken after joining the counted
// threads (which synchronizes-with their exit) sees their final values.
#ifndef GORT_SYS_SYSCALL_H_
#define GORT_SYS_SYSCALL_H_

#include <sys/syscall.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace gort::sys {

// The kernel's error convention: results in [-4095, -1] are -errno.
inline bool is_error(long r) { return static_cast<unsigned long>(r) > -4096UL; }

// One syscall instruction with up to six arguments; never accounted.
long raw_syscall6(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0,
                  long a4 = 0, long a5 = 0);

// One syscall instruction with up to six arguments; accounted when
// accounting is on. Returns the kernel's result (see is_error).
long syscall6(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0,
              long a4 = 0, long a5 = 0);

// Typed wrappers, one syscall each, accounted. Results as syscall6.
long getpid();
long gettid();
long read(int fd, void* buf, size_t n);
long write(int fd, const void* buf, size_t n);
long openat(int dirfd, const char* path, int flags, int mode = 0);
long close(int fd);
long nanosleep(long nanos);
long sched_yield();
// mmap returns the address or -errno (see is_error).
long mmap(void* addr, size_t len, int prot, int flags, int fd, long off);
long munmap(void* addr, size_t len);
long madvise(void* addr, size_t len, int advice);
long mprotect(void* addr, size_t len, int prot);
long futex(uint32_t* addr, int op, uint32_t val, const struct timespec* ts,
           uint32_t* addr2 = nullptr, uint32_t val3 = 0);
long tgkill(int tgid, int tid, int sig);

// What accounting records.
enum class AccountingMode {
  kOff,      // nothing: one predictable branch per call
  kSummary,  // calls, errors and time per syscall number, per thread
  kFull,     // kSummary, plus one line per call to the trace fd
};

// Switches accounting for every thread. REQUIRES: not called concurrently
// with itself. Calls already in flight finish under the old mode.
void set_accounting(AccountingMode mode);
AccountingMode accounting();

// Where kFull writes its lines (default 2, stderr). The lines are written
// with raw_syscall6, so they are never themselves counted.
void set_trace_fd(int fd);

// One row of the summary: totals over every thread, live or exited, since
// the last reset.
struct SyscallStat {
  long nr = 0;
  const char* name = "";  // the kernel's name, as strace prints it
  uint64_t calls = 0;
  uint64_t errors = 0;  // results in [-4095, -1], EAGAIN and EINPROGRESS too
  // Time inside the calls. calls and errors are exact; nanos is estimated
  // from a 1-in-16 sample of a thread's calls of a cheap syscall (expensive
  // ones, over ~1 us, are timed every call); see syscall.cc's essay.
  uint64_t nanos = 0;
};

// Totals per syscall with calls > 0, in syscall-number order.
std::vector<SyscallStat> syscall_stats();

// Zeroes every thread's counters. REQUIRES: no accounted call in flight.
void reset_syscall_stats();

// The name strace prints for syscall `nr` ("getpid"), or "syscall_NNN".
const char* syscall_name(long nr);

// strace -c's table, rows sorted by time (descending; ties in syscall-number
// order, as strace 6.1's stable sort leaves them), with the header, the
// dashed rules and the total row, ending in a newline. Column widths grow
// with the numbers as strace's do.
std::string format_strace_summary(const std::vector<SyscallStat>& stats);

// One `strace -f -T`-style line for one call, `[tid N] name(args) = ret
// <secs>\n`, errors as `= -1 ENOENT (No such file or directory)`. Writes at
// most `cap` bytes including the terminating NUL (truncating the arguments
// if needed, but always ending in a newline) and returns the length without
// the NUL. Never allocates (kFull calls it on every syscall). When
// `local_memory` is true, pointer arguments (paths, read/write buffers,
// timespecs) belong to this process and are printed by content where the
// kernel's result proves them readable; when false (another process's
// registers, as a ptrace tracer has) they print as hex.
// REQUIRES: cap >= 64.
size_t format_strace_line(char* buf, size_t cap, long tid, long nr,
                          const long args[6], long result, int64_t nanos,
                          bool local_memory);

}  // namespace gort::sys

#endif  // GORT_SYS_SYSCALL_H_
