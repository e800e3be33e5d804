// sys/strace_format.cc: strace's two output formats.
//
//   format_strace_summary  `strace -c`'s table
//   format_strace_line     one `strace -f -T` line, `[tid N] name(args) = ret
//                          <secs>`
//
// The summary follows strace 6.1 (this machine's) column for column, as
// observed from `strace -c -f /bin/true`, `strace -c -f ls /nonexistent`
// and `strace -c -f nproc` and as its src/count.c lays them out:
//   * columns `% time`, `seconds`, `usecs/call`, `calls`, `errors`,
//     `syscall`, right-aligned to widths 6, 11, 11, 9, 9 and left-aligned to
//     16; each width grows to fit the widest value of the column (the total
//     row's for seconds/calls/errors, the largest per-call mean for
//     usecs/call, the longest name + 1 for syscall); the last column is not
//     padded;
//   * a rule of dashes per column under the header and above the total;
//   * `% time` is 100 * seconds / total seconds (0.00 when the syscall took
//     no time); `usecs/call` is the integer part of the mean; an error count
//     of 0 prints blank (printf's `%.0u` of 0);
//   * rows sorted by seconds, largest first; strace's qsort (glibc's merge
//     sort, stable) leaves ties in syscall-number order;
//   * the total row: `100.00`, total seconds, total seconds / total calls in
//     usecs, total calls, total errors, `total`.
//
// The line format follows `strace -f -T` with the pid column spelled
// `[tid N]`: arguments decimal, pointers hex (NULL for 0), strings quoted
// and escaped as strace escapes them (at most 32 bytes of a buffer, then
// `...`), flags symbolic for the calls the runtime makes (openat, mmap,
// mprotect, madvise, futex, tgkill), the result decimal (hex for mmap) or
// `-1 ENAME (description)`, then the time inside the call as `<s.uuuuuu>`.
// A syscall without a known shape prints its six arguments, small ones in
// decimal and the rest in hex.
//
// Thread safety: both functions are pure (no shared state).
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "sys/syscall.h"

namespace gort::sys {

// ---- summary
// -----------------------------------------------------------------

namespace {

// strace's ts_float of a duration: seconds as a double.
double seconds_of(uint64_t nanos) {
  return static_cast<double>(nanos / 1'000'000'000) +
         static_cast<double>(nanos % 1'000'000'000) / 1e9;
}

size_t printed_width(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

void append_format(std::string* out, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0)
    out->append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
}

}  // namespace

std::string format_strace_summary(const std::vector<SyscallStat>& stats) {
  std::vector<const SyscallStat*> rows;
  uint64_t total_nanos = 0, total_calls = 0, total_errors = 0;
  uint64_t max_usecs = 0;
  size_t max_name = 0;
  for (const SyscallStat& s : stats) {
    if (s.calls == 0) continue;
    rows.push_back(&s);
    total_nanos += s.nanos;
    total_calls += s.calls;
    total_errors += s.errors;
    // strace: the mean as a timespec (integer ns), then seconds * 1e6.
    uint64_t usecs = static_cast<uint64_t>(seconds_of(s.nanos / s.calls) * 1e6);
    max_usecs = std::max(max_usecs, usecs);
    max_name = std::max(max_name, strlen(s.name));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const SyscallStat* a, const SyscallStat* b) {
                     if (a->nanos != b->nanos) return a->nanos > b->nanos;
                     return a->nr < b->nr;
                   });
  const double total_seconds = seconds_of(total_nanos);

  const int w_pct = 6;
  const int w_secs = static_cast<int>(
      std::max<size_t>(11, printed_width("%.6f", total_seconds)));
  const int w_usecs = static_cast<int>(std::max<size_t>(
      11, printed_width("%llu", static_cast<unsigned long long>(max_usecs))));
  const int w_calls = static_cast<int>(std::max<size_t>(
      9, printed_width("%llu", static_cast<unsigned long long>(total_calls))));
  const int w_errors = static_cast<int>(std::max<size_t>(
      9, printed_width("%llu", static_cast<unsigned long long>(total_errors))));
  const int w_name = static_cast<int>(std::max<size_t>(16, max_name + 1));

  std::string out;
  append_format(&out, "%*s %*s %*s %*s %*s %s\n", w_pct, "% time", w_secs,
                "seconds", w_usecs, "usecs/call", w_calls, "calls", w_errors,
                "errors", "syscall");
  std::string rule;
  for (int w : {w_pct, w_secs, w_usecs, w_calls, w_errors, w_name}) {
    if (!rule.empty()) rule += ' ';
    rule.append(static_cast<size_t>(w), '-');
  }
  rule += '\n';
  out += rule;

  for (const SyscallStat* s : rows) {
    double secs = seconds_of(s->nanos);
    double pct = 100.0 * secs;
    if (pct != 0.0) pct /= total_seconds;
    uint64_t usecs =
        static_cast<uint64_t>(seconds_of(s->nanos / s->calls) * 1e6);
    append_format(&out, "%*.2f %*.6f %*llu %*llu %*.0llu %s\n", w_pct, pct,
                  w_secs, secs, w_usecs, static_cast<unsigned long long>(usecs),
                  w_calls, static_cast<unsigned long long>(s->calls), w_errors,
                  static_cast<unsigned long long>(s->errors), s->name);
  }

  out += rule;
  uint64_t total_usecs =
      total_calls == 0
          ? 0
          : static_cast<uint64_t>(total_seconds /
                                  static_cast<double>(total_calls) * 1e6);
  append_format(&out, "%*.2f %*.6f %*llu %*llu %*.0llu %s\n", w_pct, 100.0,
                w_secs, total_seconds, w_usecs,
                static_cast<unsigned long long>(total_usecs), w_calls,
                static_cast<unsigned long long>(total_calls), w_errors,
                static_cast<unsigned long long>(total_errors), "total");
  return out;
}

// ---- one line per call
// ---------------------------------------------------------

namespace {

// A bounded, never-allocating appender. Keeps the last byte for the NUL.
class LineWriter {
 public:
  LineWriter(char* buf, size_t cap) : buf_(buf), cap_(cap) { buf_[0] = '\0'; }

  void put(char c) {
    if (len_ + 1 < cap_) {
      buf_[len_++] = c;
      buf_[len_] = '\0';
    } else {
      full_ = true;
    }
  }
  void puts(const char* s) {
    while (*s != '\0') put(*s++);
  }
  [[gnu::format(printf, 2, 3)]] void printf(const char* fmt, ...) {
    char tmp[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    for (int i = 0; i < n && i < static_cast<int>(sizeof(tmp)) - 1; ++i) {
      put(tmp[i]);
    }
  }
  size_t len() const { return len_; }
  bool full() const { return full_; }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool full_ = false;
};

// strace's string escaping: \" \\ \t \n \v \f \r, printable ASCII as is,
// anything else octal, with three digits when an octal digit follows.
void put_quoted(LineWriter* w, const unsigned char* s, size_t n,
                bool stop_at_nul, bool ellipsis) {
  w->put('"');
  size_t i = 0;
  for (; i < n; ++i) {
    unsigned char c = s[i];
    if (stop_at_nul && c == '\0') break;
    switch (c) {
      case '"':
        w->puts("\\\"");
        continue;
      case '\\':
        w->puts("\\\\");
        continue;
      case '\t':
        w->puts("\\t");
        continue;
      case '\n':
        w->puts("\\n");
        continue;
      case '\v':
        w->puts("\\v");
        continue;
      case '\f':
        w->puts("\\f");
        continue;
      case '\r':
        w->puts("\\r");
        continue;
      default:
        break;
    }
    if (c >= 0x20 && c < 0x7f) {
      w->put(static_cast<char>(c));
      continue;
    }
    bool digit_follows = i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7';
    if (digit_follows) {
      w->printf("\\%03o", c);
    } else {
      w->printf("\\%o", c);
    }
  }
  w->put('"');
  if (ellipsis) w->puts("...");
}

// strace's default -s: bytes of a buffer printed before `...`.
constexpr size_t kMaxBufferBytes = 32;
// Paths are printed whole (strace bounds them by PATH_MAX, not -s).
constexpr size_t kMaxPathBytes = 4096;

struct FlagName {
  unsigned long bit;
  const char* name;
};

// Prints the named bits of `v` joined by '|', then any rest as hex. Bits
// may be multi-bit masks; each is printed when all its bits are set.
void put_flags(LineWriter* w, unsigned long v, const FlagName* names,
               size_t count, bool first) {
  for (size_t i = 0; i < count; ++i) {
    if ((v & names[i].bit) == names[i].bit && names[i].bit != 0) {
      if (!first) w->put('|');
      w->puts(names[i].name);
      v &= ~names[i].bit;
      first = false;
    }
  }
  if (v != 0 || first) {
    if (!first) w->put('|');
    w->printf("%#lx", v);
  }
}

// Kernel values (the uapi asm-generic/fcntl.h numbers for x86-64; glibc
// defines O_LARGEFILE as 0 for 64-bit user code, the kernel sets 0100000).
// Multi-bit flags (O_SYNC, O_TMPFILE) come before their parts.
constexpr FlagName kOpenFlags[] = {
    {04010000, "O_SYNC"},     {020200000, "O_TMPFILE"},
    {0100, "O_CREAT"},        {0200, "O_EXCL"},
    {0400, "O_NOCTTY"},       {01000, "O_TRUNC"},
    {02000, "O_APPEND"},      {04000, "O_NONBLOCK"},
    {010000, "O_DSYNC"},      {020000, "O_ASYNC"},
    {040000, "O_DIRECT"},     {0100000, "O_LARGEFILE"},
    {0200000, "O_DIRECTORY"}, {0400000, "O_NOFOLLOW"},
    {01000000, "O_NOATIME"},  {02000000, "O_CLOEXEC"},
    {010000000, "O_PATH"},
};

void put_open_flags(LineWriter* w, unsigned long flags) {
  static const char* const kAccess[] = {"O_RDONLY", "O_WRONLY", "O_RDWR",
                                        "O_ACCMODE"};
  w->puts(kAccess[flags & 3]);
  flags &= ~3UL;
  if (flags != 0) {
    put_flags(w, flags, kOpenFlags, sizeof(kOpenFlags) / sizeof(kOpenFlags[0]),
              /*first=*/false);
  }
}

constexpr FlagName kProtFlags[] = {
    {0x1, "PROT_READ"},
    {0x2, "PROT_WRITE"},
    {0x4, "PROT_EXEC"},
    {0x8, "PROT_SEM"},
    {0x01000000, "PROT_GROWSDOWN"},
    {0x02000000, "PROT_GROWSUP"},
};

void put_prot(LineWriter* w, unsigned long prot) {
  if (prot == 0) {
    w->puts("PROT_NONE");
    return;
  }
  put_flags(w, prot, kProtFlags, sizeof(kProtFlags) / sizeof(kProtFlags[0]),
            /*first=*/true);
}

constexpr FlagName kMapFlags[] = {
    {0x10, "MAP_FIXED"},
    {0x20, "MAP_ANONYMOUS"},
    {0x40, "MAP_32BIT"},
    {0x100, "MAP_GROWSDOWN"},
    {0x800, "MAP_DENYWRITE"},
    {0x1000, "MAP_EXECUTABLE"},
    {0x2000, "MAP_LOCKED"},
    {0x4000, "MAP_NORESERVE"},
    {0x8000, "MAP_POPULATE"},
    {0x10000, "MAP_NONBLOCK"},
    {0x20000, "MAP_STACK"},
    {0x40000, "MAP_HUGETLB"},
    {0x80000, "MAP_SYNC"},
    {0x100000, "MAP_FIXED_NOREPLACE"},
    {0x4000000, "MAP_UNINITIALIZED"},
};

void put_map_flags(LineWriter* w, unsigned long flags) {
  static const char* const kType[] = {"0", "MAP_SHARED", "MAP_PRIVATE",
                                      "MAP_SHARED_VALIDATE"};
  w->puts(kType[flags & 3]);
  flags &= ~3UL;
  if (flags != 0) {
    put_flags(w, flags, kMapFlags, sizeof(kMapFlags) / sizeof(kMapFlags[0]),
              /*first=*/false);
  }
}

void put_madvise(LineWriter* w, long advice) {
  static const char* const kLow[] = {
      "MADV_NORMAL",
      "MADV_RANDOM",
      "MADV_SEQUENTIAL",
      "MADV_WILLNEED",
      "MADV_DONTNEED",
      nullptr,
      nullptr,
      nullptr,
      "MADV_FREE",
      "MADV_REMOVE",
      "MADV_DONTFORK",
      "MADV_DOFORK",
      "MADV_MERGEABLE",
      "MADV_UNMERGEABLE",
      "MADV_HUGEPAGE",
      "MADV_NOHUGEPAGE",
      "MADV_DONTDUMP",
      "MADV_DODUMP",
      "MADV_WIPEONFORK",
      "MADV_KEEPONFORK",
      "MADV_COLD",
      "MADV_PAGEOUT",
      "MADV_POPULATE_READ",
      "MADV_POPULATE_WRITE",
      "MADV_DONTNEED_LOCKED",
      "MADV_COLLAPSE",
  };
  static const char* const kHigh[] = {"MADV_HWPOISON", "MADV_SOFT_OFFLINE",
                                      "MADV_GUARD_INSTALL",
                                      "MADV_GUARD_REMOVE"};
  const char* name = nullptr;
  if (advice >= 0 &&
      advice < static_cast<long>(sizeof(kLow) / sizeof(kLow[0]))) {
    name = kLow[advice];
  } else if (advice >= 100 && advice < 104) {
    name = kHigh[advice - 100];
  }
  if (name != nullptr) {
    w->puts(name);
  } else {
    w->printf("%ld", advice);
  }
}

void put_futex_op(LineWriter* w, long op) {
  static const char* const kCmd[] = {
      "FUTEX_WAIT",           "FUTEX_WAKE",        "FUTEX_FD",
      "FUTEX_REQUEUE",        "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
      "FUTEX_LOCK_PI",        "FUTEX_UNLOCK_PI",   "FUTEX_TRYLOCK_PI",
      "FUTEX_WAIT_BITSET",    "FUTEX_WAKE_BITSET", "FUTEX_WAIT_REQUEUE_PI",
      "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2",
  };
  long cmd = op & 127;
  if (cmd >= static_cast<long>(sizeof(kCmd) / sizeof(kCmd[0]))) {
    w->printf("%ld", op);
    return;
  }
  w->puts(kCmd[cmd]);
  if (op & 128) w->puts("_PRIVATE");
  if (op & 256) w->puts("|FUTEX_CLOCK_REALTIME");
  long rest = op & ~(127L | 128L | 256L);
  if (rest != 0) w->printf("|%#lx", rest);
}

void put_signal(LineWriter* w, long sig) {
  const char* abbrev =
      sig > 0 && sig < 65 ? sigabbrev_np(static_cast<int>(sig)) : nullptr;
  if (abbrev != nullptr) {
    w->printf("SIG%s", abbrev);
  } else {
    w->printf("%ld", sig);
  }
}

void put_pointer(LineWriter* w, long p) {
  if (p == 0) {
    w->puts("NULL");
  } else {
    w->printf("%#lx", static_cast<unsigned long>(p));
  }
}

enum class Arg : uint8_t {
  kEnd,        // no more arguments
  kInt,        // int, decimal
  kLong,       // long, decimal
  kUlong,      // size_t and friends, decimal
  kHex,        // an integer strace prints in hex (offsets)
  kPointer,    // hex or NULL
  kDirFd,      // AT_FDCWD or decimal
  kPath,       // NUL-terminated string (an input)
  kOpenFlags,  // O_RDONLY|O_CLOEXEC
  kOpenMode,   // 0666, printed only with O_CREAT or O_TMPFILE
  kProt,       // PROT_READ|PROT_WRITE
  kMapFlags,   // MAP_PRIVATE|MAP_ANONYMOUS
  kMadvise,    // MADV_DONTNEED
  kTimespec,   // const struct timespec* (an input)
  kWriteBuf,   // buffer of args[2] bytes (an input)
  kReadBuf,    // buffer filled by the call, `result` bytes
  kSignal,     // SIGURG
  kFutex,      // the whole futex argument list, by op
  kGeneric,    // six arguments, unknown shape
};

struct Shape {
  long nr;
  Arg args[6];
  bool hex_result;
};

constexpr Shape kShapes[] = {
    {SYS_read, {Arg::kInt, Arg::kReadBuf, Arg::kUlong}, false},
    {SYS_write, {Arg::kInt, Arg::kWriteBuf, Arg::kUlong}, false},
    {SYS_openat,
     {Arg::kDirFd, Arg::kPath, Arg::kOpenFlags, Arg::kOpenMode},
     false},
    {SYS_close, {Arg::kInt}, false},
    {SYS_nanosleep, {Arg::kTimespec, Arg::kPointer}, false},
    {SYS_sched_yield, {}, false},
    {SYS_getpid, {}, false},
    {SYS_gettid, {}, false},
    {SYS_mmap,
     {Arg::kPointer, Arg::kUlong, Arg::kProt, Arg::kMapFlags, Arg::kInt,
      Arg::kHex},
     true},
    {SYS_munmap, {Arg::kPointer, Arg::kUlong}, false},
    {SYS_mprotect, {Arg::kPointer, Arg::kUlong, Arg::kProt}, false},
    {SYS_madvise, {Arg::kPointer, Arg::kUlong, Arg::kMadvise}, false},
    {SYS_futex, {Arg::kFutex}, false},
    {SYS_tgkill, {Arg::kInt, Arg::kInt, Arg::kSignal}, false},
    {SYS_tkill, {Arg::kInt, Arg::kSignal}, false},
    {SYS_kill, {Arg::kInt, Arg::kSignal}, false},
    {SYS_exit, {Arg::kInt}, false},
    {SYS_exit_group, {Arg::kInt}, false},
    {SYS_epoll_create1, {Arg::kInt}, false},
    {SYS_epoll_ctl, {Arg::kInt, Arg::kInt, Arg::kInt, Arg::kPointer}, false},
    {SYS_epoll_wait, {Arg::kInt, Arg::kPointer, Arg::kInt, Arg::kInt}, false},
    {SYS_epoll_pwait,
     {Arg::kInt, Arg::kPointer, Arg::kInt, Arg::kInt, Arg::kPointer,
      Arg::kUlong},
     false},
    {SYS_eventfd2, {Arg::kUlong, Arg::kInt}, false},
    {SYS_pipe2, {Arg::kPointer, Arg::kInt}, false},
    {SYS_sched_getaffinity, {Arg::kInt, Arg::kUlong, Arg::kPointer}, false},
    {SYS_getrandom, {Arg::kPointer, Arg::kUlong, Arg::kInt}, false},
    {SYS_sigaltstack, {Arg::kPointer, Arg::kPointer}, false},
    {SYS_rt_sigprocmask,
     {Arg::kInt, Arg::kPointer, Arg::kPointer, Arg::kUlong},
     false},
    {SYS_rt_sigaction,
     {Arg::kSignal, Arg::kPointer, Arg::kPointer, Arg::kUlong},
     false},
    {SYS_socket, {Arg::kInt, Arg::kInt, Arg::kInt}, false},
    {SYS_connect, {Arg::kInt, Arg::kPointer, Arg::kUlong}, false},
    {SYS_bind, {Arg::kInt, Arg::kPointer, Arg::kUlong}, false},
    {SYS_listen, {Arg::kInt, Arg::kInt}, false},
    {SYS_accept4, {Arg::kInt, Arg::kPointer, Arg::kPointer, Arg::kInt}, false},
    {SYS_clock_nanosleep,
     {Arg::kInt, Arg::kInt, Arg::kTimespec, Arg::kPointer},
     false},
};

const Shape* shape_of(long nr) {
  for (const Shape& s : kShapes) {
    if (s.nr == nr) return &s;
  }
  return nullptr;
}

// Whether the kernel's result proves an input pointer was readable: any
// result but EFAULT (the kernel copies its inputs before it can fail
// otherwise, in every call printed by content here).
bool input_readable(long result) { return result != -EFAULT; }

void put_timespec(LineWriter* w, long p, bool local, long result) {
  if (p == 0 || !local || !input_readable(result)) {
    put_pointer(w, p);
    return;
  }
  const struct timespec* ts = reinterpret_cast<const struct timespec*>(p);
  w->printf("{tv_sec=%ld, tv_nsec=%ld}", static_cast<long>(ts->tv_sec),
            static_cast<long>(ts->tv_nsec));
}

void put_generic_arg(LineWriter* w, long v) {
  if (v > -4096 && v < 65536) {
    w->printf("%ld", v);
  } else {
    w->printf("%#lx", static_cast<unsigned long>(v));
  }
}

void put_futex_args(LineWriter* w, const long a[6], bool local, long result) {
  put_pointer(w, a[0]);
  w->puts(", ");
  put_futex_op(w, a[1]);
  w->printf(", %u", static_cast<unsigned>(a[2]));
  long cmd = a[1] & 127;
  if (cmd == 0 /* FUTEX_WAIT */) {
    w->puts(", ");
    put_timespec(w, a[3], local, result);
  } else if (cmd == 9 || cmd == 10 /* FUTEX_{WAIT,WAKE}_BITSET */) {
    w->puts(", ");
    if (cmd == 9) {
      put_timespec(w, a[3], local, result);
    } else {
      put_pointer(w, a[3]);
    }
    w->puts(", ");
    if (static_cast<uint32_t>(a[5]) == 0xffffffffu) {
      w->puts("FUTEX_BITSET_MATCH_ANY");
    } else {
      w->printf("%#x", static_cast<unsigned>(a[5]));
    }
  } else if (cmd != 1 /* FUTEX_WAKE */) {
    for (int i = 3; i < 6; ++i) {
      w->puts(", ");
      put_generic_arg(w, a[i]);
    }
  }
}

void put_args(LineWriter* w, long nr, const long a[6], long result,
              bool local) {
  const Shape* shape = shape_of(nr);
  if (shape == nullptr) {
    for (int i = 0; i < 6; ++i) {
      if (i > 0) w->puts(", ");
      put_generic_arg(w, a[i]);
    }
    return;
  }
  for (int i = 0; i < 6 && shape->args[i] != Arg::kEnd; ++i) {
    Arg kind = shape->args[i];
    if (kind == Arg::kOpenMode && (a[2] & 0100 /* O_CREAT */) == 0 &&
        (a[2] & 020000000 /* __O_TMPFILE */) == 0) {
      break;
    }
    if (i > 0) w->puts(", ");
    long v = a[i];
    switch (kind) {
      case Arg::kEnd:
        break;
      case Arg::kInt:
        w->printf("%d", static_cast<int>(v));
        break;
      case Arg::kLong:
        w->printf("%ld", v);
        break;
      case Arg::kUlong:
        w->printf("%lu", static_cast<unsigned long>(v));
        break;
      case Arg::kHex:
        if (v == 0) {
          w->put('0');
        } else {
          w->printf("%#lx", static_cast<unsigned long>(v));
        }
        break;
      case Arg::kPointer:
        put_pointer(w, v);
        break;
      case Arg::kDirFd:
        if (static_cast<int>(v) == -100 /* AT_FDCWD */) {
          w->puts("AT_FDCWD");
        } else {
          w->printf("%d", static_cast<int>(v));
        }
        break;
      case Arg::kPath:
        if (v != 0 && local && input_readable(result)) {
          const unsigned char* s = reinterpret_cast<const unsigned char*>(v);
          size_t n = strnlen(reinterpret_cast<const char*>(s), kMaxPathBytes);
          put_quoted(w, s, n, /*stop_at_nul=*/true, /*ellipsis=*/false);
        } else {
          put_pointer(w, v);
        }
        break;
      case Arg::kOpenFlags:
        put_open_flags(w, static_cast<unsigned long>(v) & 0xffffffffUL);
        break;
      case Arg::kOpenMode:
        w->printf("%#03lo", static_cast<unsigned long>(v) & 07777UL);
        break;
      case Arg::kProt:
        put_prot(w, static_cast<unsigned long>(v) & 0xffffffffUL);
        break;
      case Arg::kMapFlags:
        put_map_flags(w, static_cast<unsigned long>(v) & 0xffffffffUL);
        break;
      case Arg::kMadvise:
        put_madvise(w, static_cast<int>(v));
        break;
      case Arg::kTimespec:
        put_timespec(w, v, local, result);
        break;
      case Arg::kWriteBuf: {
        size_t count = static_cast<size_t>(a[2]);
        if (v != 0 && local && result >= 0) {
          size_t n = std::min(count, kMaxBufferBytes);
          put_quoted(w, reinterpret_cast<const unsigned char*>(v), n,
                     /*stop_at_nul=*/false, /*ellipsis=*/count > n);
        } else {
          put_pointer(w, v);
        }
        break;
      }
      case Arg::kReadBuf:
        if (v != 0 && local && result > 0) {
          size_t got = static_cast<size_t>(result);
          size_t n = std::min(got, kMaxBufferBytes);
          put_quoted(w, reinterpret_cast<const unsigned char*>(v), n,
                     /*stop_at_nul=*/false, /*ellipsis=*/got > n);
        } else {
          put_pointer(w, v);
        }
        break;
      case Arg::kSignal:
        put_signal(w, v);
        break;
      case Arg::kFutex:
        put_futex_args(w, a, local, result);
        return;
      case Arg::kGeneric:
        put_generic_arg(w, v);
        break;
    }
  }
}

}  // namespace

size_t format_strace_line(char* buf, size_t cap, long tid, long nr,
                          const long args[6], long result, int64_t nanos,
                          bool local_memory) {
  // The tail (` = ret <secs>\n`) is formatted first so that long arguments
  // are what gets truncated, never the result.
  char tail[192];
  LineWriter t(tail, sizeof(tail));
  t.puts(") = ");
  if (is_error(result)) {
    int e = static_cast<int>(-result);
    const char* name = strerrorname_np(e);
    const char* desc = strerrordesc_np(e);
    if (name != nullptr && desc != nullptr) {
      t.printf("-1 %s (%s)", name, desc);
    } else {
      t.printf("-1 ERRNO_%d (Unknown error %d)", e, e);
    }
  } else {
    const Shape* shape = shape_of(nr);
    if (shape != nullptr && shape->hex_result) {
      t.printf("%#lx", static_cast<unsigned long>(result));
    } else {
      t.printf("%ld", result);
    }
  }
  if (nanos < 0) nanos = 0;
  t.printf(" <%ld.%06ld>\n", static_cast<long>(nanos / 1'000'000'000),
           static_cast<long>(nanos % 1'000'000'000 / 1000));

  // Head and arguments, leaving room for the tail.
  size_t room = cap > t.len() ? cap - t.len() : 1;
  LineWriter w(buf, room);
  w.printf("[tid %ld] %s(", tid, syscall_name(nr));
  put_args(&w, nr, args, result, local_memory);
  if (w.full()) {
    // Mark the truncation in the last bytes of the argument text.
    size_t len = w.len();
    for (size_t i = 0; i < 3 && i < len; ++i) buf[len - 1 - i] = '.';
  }
  size_t len = w.len();
  size_t tail_len = std::min(t.len(), cap - 1 - len);
  memcpy(buf + len, tail, tail_len);
  len += tail_len;
  buf[len] = '\0';
  if (len > 0 && buf[len - 1] != '\n') buf[len - 1] = '\n';
  return len;
}

}  // namespace gort::sys
