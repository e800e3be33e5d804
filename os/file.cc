// os::File: Go's *os.File on gort's scheduler.
//
// ## Glossary
//
// - *blocking kind*: a File whose every syscall runs inside
//   gort::blocking() (Go's entersyscall/exitsyscall): regular files,
//   directories, descriptors epoll refuses, and descriptors adopted by
//   new_file while in blocking mode. A goroutine waiting for the disk keeps
//   its M but its P can be retaken by sysmon and handed to another M, so
//   the other goroutines run on (the seed's "unlink P and M for disk I/O").
// - *pollable kind*: pipes, FIFOs, ttys, sockets: O_NONBLOCK, registered
//   with the poller (netpoll/netpoll.h); a call that would block (EAGAIN)
//   parks the goroutine in `IO wait` and retries when the poller readies it
//   (Go's internal/poll.FD.Read loop).
// - *reference*: a count of the calls using the descriptor now; the last
//   reference of a closed File closes the descriptor (Go's fdMutex refs).
//
// ## Rejected alternatives
//
// - Every descriptor through the poller: epoll refuses regular files
//   (EPERM), and they are always "ready" anyway: a disk read blocks in the
//   kernel, not in EAGAIN, so the only way to keep the P busy is the
//   syscall hand-off. (io_uring would make disk I/O pollable; Go does not
//   use it, and this runtime's poller is epoll's.)
// - Always blocking(), pipes included: a goroutine waiting on an idle pipe
//   would hold an M in the kernel for as long as the writer takes; with
//   many of them the process grows a thread each (Go's reason for the
//   poller).
// - A second copy of internal/poll.FD here: the pollable kind is exactly
//   netpoll::FD (netpoll/fd.h, the socket layer's), made with
//   FdKind::kFile; the blocking kind reuses its FdMutex. What this file
//   adds is the blocking kind's loop, pread/pwrite/lseek/fstat, and Go's
//   os words (`read NAME: file already closed`, where poll says `use of
//   closed file`).
// - Closing the descriptor in close() at once: a concurrent read could then
//   run on a number the kernel already gave to a new open (the classic
//   close-vs-read race). Go's answer, used by both kinds: close marks the
//   File closed and whoever drops the last reference closes the
//   descriptor. The pollable kind's close also evicts the parked waiters and
//   waits for them to leave (netpoll/fd.cc, steps 1-4); the blocking kind's
//   cannot wait (a read in the kernel may never return, a tty's say), as
//   in Go's isBlocking case: close returns, and the last reader closes.
//
// ## Which kind (Go's os/file_unix.go newFile)
//
// open() and pipe(): fstat; regular files and directories are blocking;
// FIFOs, sockets and ttys are made non-blocking and registered. Other
// character and block devices (/dev/null, disks) are blocking: epoll
// refuses most of them with EPERM, and netpoll::FD::open would close the
// descriptor on that refusal, so they are never offered to it. new_file()
// registers a descriptor only if it is already non-blocking (Go's
// kindNonBlock): a blocking one (an inherited stdin) is shared with others
// who expect it to stay blocking.
//
// ## Invariants
//
// 1. Exactly one of `pfd` (pollable) and the Impl's own `mu` (blocking)
//    is used for a File's whole life; `fd`, `name`, `append` are written
//    before the File is published and never again.
// 2. Blocking kind: every syscall holds a reference of `mu` (a read the
//    read lock, a write the write lock: reads are serialised with reads,
//    as Go's fdMutex does for files too), and the call whose unlock or
//    decref reports the last reference of a closed mutex closes the fd.
//
// Memory ordering: FdMutex's seq_cst CASes order every reference holder's
// syscalls before the destroyer's close(2) (netpoll/fd.h).
#include "os/file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "netpoll/fd.h"
#include "sched/sched.h"
#include "sys/syscall.h"

namespace gort::os {

namespace {

// One syscall moves at most 1 GiB (Go's maxRW in internal/poll/fd_unix.go).
constexpr size_t kMaxRW = size_t{1} << 30;

// `OP NAME: WORDS` (Go's *PathError) with errno's words and code.
absl::Status path_error(absl::string_view op, absl::string_view name, int err) {
  absl::Status e = netpoll::errno_error(nullptr, err);
  return absl::Status(e.code(), absl::StrCat(op, " ", name, ": ", e.message()));
}

// Go's os.ErrClosed as File.wrapErr reports it: `OP NAME: file already
// closed` (poll's ErrFileClosing, "use of closed file", is translated).
absl::Status closed_error(absl::string_view op, absl::string_view name) {
  return absl::FailedPreconditionError(
      absl::StrCat(op, " ", name, ": file already closed"));
}

// Go's ErrInvalid from checkValid on a nil *File.
absl::Status invalid_error(absl::string_view op) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": invalid argument"));
}

// A netpoll::FD error in os's words: EOF as is; `use of closed file` as
// closed_error; "call: words" (and "i/o timeout") as `OP NAME: words`.
absl::Status wrap(const absl::Status& s, absl::string_view op,
                  absl::string_view name) {
  if (is_eof(s)) return s;
  if (s.code() == absl::StatusCode::kFailedPrecondition &&
      s.message() == netpoll::closed_error(netpoll::FdKind::kFile).message()) {
    return closed_error(op, name);
  }
  absl::string_view m = s.message();
  if (size_t colon = m.find(": "); colon != absl::string_view::npos) {
    m = m.substr(colon + 2);
  }
  return absl::Status(s.code(), absl::StrCat(op, " ", name, ": ", m));
}

enum class Kind : uint8_t {
  kOpenFile,  // open(): pollable if a FIFO, socket or tty
  kNewFile,   // new_file(): the same, and only if already non-blocking
  kPipe,      // pipe(): pollable
};

}  // namespace

absl::Status eof() { return netpoll::eof_error(); }

bool is_eof(const absl::Status& s) {
  return s.code() == absl::StatusCode::kOutOfRange && s.message() == "EOF";
}

struct File::Impl {
  int fd = -1;
  std::string name;
  bool append = false;                // O_APPEND: write_at refuses
  std::unique_ptr<netpoll::FD> pfd;   // the pollable kind; else null
  netpoll::FdMutex mu;                // the blocking kind's references
  long close_result = 0;              // close(2)'s, set by destroy

  // The blocking kind's FD.destroy: the last reference of a closed File.
  void destroy() { close_result = sys::close(fd); }

  // Runs `f(fd)`, a syscall returning the kernel's result, holding a
  // reference: inside blocking() for the blocking kind, directly for the
  // pollable one (its fd is non-blocking). EINTR is retried. Returns false
  // (without calling f) if the File is closed.
  template <typename F>
  bool with_ref(F&& f, long* result) {
    if (pfd != nullptr) {
      absl::Status s = pfd->with_fd([&](int sysfd) {
        do {
          *result = f(sysfd);
        } while (*result == -EINTR);
        return absl::OkStatus();
      });
      return s.ok();
    }
    if (!mu.incref()) return false;
    do {
      *result = gort::blocking([&] { return f(fd); });
    } while (*result == -EINTR);
    if (mu.decref()) destroy();
    return true;
  }
};

namespace {

bool is_tty(int fd) {
  struct termios t;
  return !sys::is_error(
      sys::syscall6(SYS_ioctl, fd, TCGETS, reinterpret_cast<long>(&t)));
}

// Builds the Impl for an open descriptor, choosing its kind. On failure
// *consumed says whether fd was closed (netpoll::FD::open closes it when
// the poller refuses it); otherwise the caller still owns it.
absl::Status make_impl(int fd, std::string name, Kind kind,
                       std::unique_ptr<File::Impl>* out, bool* consumed) {
  *consumed = false;
  auto f = std::make_unique<File::Impl>();
  f->fd = fd;
  f->name = std::move(name);
  struct stat st;
  long r = gort::blocking([&] {
    return sys::syscall6(SYS_fstat, fd, reinterpret_cast<long>(&st));
  });
  if (sys::is_error(r)) {
    return path_error("newfile", f->name, static_cast<int>(-r));
  }
  long fl = sys::syscall6(SYS_fcntl, fd, F_GETFL);
  if (sys::is_error(fl)) {
    return path_error("newfile", f->name, static_cast<int>(-fl));
  }
  f->append = (fl & O_APPEND) != 0;
  bool pollable = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
                  (S_ISCHR(st.st_mode) && is_tty(fd));
  if (kind == Kind::kNewFile && (fl & O_NONBLOCK) == 0) pollable = false;
  if (pollable) {
    if ((fl & O_NONBLOCK) == 0) {
      long s = sys::syscall6(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
      if (sys::is_error(s)) {
        return path_error("newfile", f->name, static_cast<int>(-s));
      }
    }
    auto pfd = netpoll::FD::open(fd, netpoll::FdKind::kFile);
    if (!pfd.ok()) {
      *consumed = true;
      return wrap(pfd.status(), "newfile", f->name);
    }
    f->pfd = std::move(*pfd);
  }
  *out = std::move(f);
  return absl::OkStatus();
}

absl::StatusOr<File> adopt(int fd, std::string name, Kind kind) {
  std::unique_ptr<File::Impl> impl;
  bool consumed = false;
  absl::Status s = make_impl(fd, std::move(name), kind, &impl, &consumed);
  if (!s.ok()) {
    if (!consumed) sys::close(fd);
    return s;
  }
  return File(std::move(impl));
}

}  // namespace

File::File() = default;
File::File(File&& other) noexcept = default;
File::File(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (impl_ != nullptr) (void)close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

File::~File() {
  if (impl_ != nullptr) (void)close();  // `file already closed` if it was
}

int File::fd() const { return impl_ != nullptr ? impl_->fd : -1; }

const std::string& File::name() const {
  static const std::string* const kEmpty = new std::string();
  return impl_ != nullptr ? impl_->name : *kEmpty;
}

bool File::pollable() const {
  return impl_ != nullptr && impl_->pfd != nullptr;
}

absl::StatusOr<size_t> File::read(void* buf, size_t n) {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("read");
  if (f->pfd != nullptr) {
    absl::StatusOr<size_t> r = f->pfd->read(buf, n);
    if (!r.ok()) return wrap(r.status(), "read", f->name);
    return r;
  }
  if (!f->mu.rwlock(true)) return closed_error("read", f->name);
  long r = 0;
  if (n > 0) {
    do {
      r = gort::blocking(
          [&] { return sys::read(f->fd, buf, std::min(n, kMaxRW)); });
    } while (r == -EINTR);
  }
  if (f->mu.rwunlock(true)) f->destroy();
  if (sys::is_error(r)) return path_error("read", f->name, static_cast<int>(-r));
  if (r == 0 && n > 0) return eof();  // Go's eofError: 0 bytes is the end
  return static_cast<size_t>(r);
}

absl::Status File::write(const void* buf, size_t n) {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("write");
  if (f->pfd != nullptr) {
    absl::StatusOr<size_t> r = f->pfd->write(buf, n);
    if (!r.ok()) return wrap(r.status(), "write", f->name);
    return absl::OkStatus();
  }
  if (!f->mu.rwlock(false)) return closed_error("write", f->name);
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  absl::Status status;
  while (done < n) {
    size_t chunk = std::min(n - done, kMaxRW);
    long r = gort::blocking([&] { return sys::write(f->fd, p + done, chunk); });
    if (r == -EINTR) continue;
    if (sys::is_error(r)) {
      status = path_error("write", f->name, static_cast<int>(-r));
      break;
    }
    if (r == 0) {  // Go's io.ErrUnexpectedEOF
      status = absl::DataLossError(
          absl::StrCat("write ", f->name, ": unexpected EOF"));
      break;
    }
    done += static_cast<size_t>(r);
  }
  if (f->mu.rwunlock(false)) f->destroy();
  return status;
}

absl::StatusOr<size_t> File::read_at(void* buf, size_t n, int64_t offset) {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("read");
  if (offset < 0) {  // Go's ReadAt
    return absl::InvalidArgumentError(
        absl::StrCat("readat ", f->name, ": negative offset"));
  }
  // A reference, not the read lock: pread names its offset, so it is
  // independent of other reads (Go's FD.Pread).
  long r = 0;
  if (!f->with_ref(
          [&](int fd) {
            return sys::syscall6(SYS_pread64, fd, reinterpret_cast<long>(buf),
                                 static_cast<long>(std::min(n, kMaxRW)),
                                 offset);
          },
          &r)) {
    return closed_error("read", f->name);
  }
  if (sys::is_error(r)) return path_error("read", f->name, static_cast<int>(-r));
  if (r == 0 && n > 0) return eof();
  return static_cast<size_t>(r);
}

absl::Status File::write_at(const void* buf, size_t n, int64_t offset) {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("write");
  if (f->append) {  // Go's errWriteAtInAppendMode, op "writeat"
    return absl::FailedPreconditionError(absl::StrCat(
        "writeat ", f->name,
        ": os: invalid use of WriteAt on file opened with O_APPEND"));
  }
  if (offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("writeat ", f->name, ": negative offset"));
  }
  const char* p = static_cast<const char*>(buf);
  size_t done = 0;
  while (done < n) {
    size_t chunk = std::min(n - done, kMaxRW);
    long r = 0;
    if (!f->with_ref(
            [&](int fd) {
              return sys::syscall6(SYS_pwrite64, fd,
                                   reinterpret_cast<long>(p + done),
                                   static_cast<long>(chunk),
                                   offset + static_cast<int64_t>(done));
            },
            &r)) {
      return closed_error("write", f->name);
    }
    if (sys::is_error(r)) return path_error("write", f->name, static_cast<int>(-r));
    if (r == 0) {
      return absl::DataLossError(absl::StrCat("write ", f->name, ": unexpected EOF"));
    }
    done += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> File::seek(int64_t offset, int whence) {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("seek");
  long r = 0;
  if (!f->with_ref(
          [&](int fd) { return sys::syscall6(SYS_lseek, fd, offset, whence); },
          &r)) {
    return closed_error("seek", f->name);
  }
  if (sys::is_error(r)) return path_error("seek", f->name, static_cast<int>(-r));
  return static_cast<int64_t>(r);
}

absl::StatusOr<int64_t> File::size() {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("stat");
  struct stat st;
  long r = 0;
  if (!f->with_ref(
          [&](int fd) {
            return sys::syscall6(SYS_fstat, fd, reinterpret_cast<long>(&st));
          },
          &r)) {
    return closed_error("stat", f->name);
  }
  if (sys::is_error(r)) return path_error("stat", f->name, static_cast<int>(-r));
  return static_cast<int64_t>(st.st_size);
}

absl::Status File::close() {
  Impl* f = impl_.get();
  if (f == nullptr) return invalid_error("close");
  if (f->pfd != nullptr) {
    absl::Status s = f->pfd->close();
    if (!s.ok()) return wrap(s, "close", f->name);
    return absl::OkStatus();
  }
  if (!f->mu.incref_and_close()) return closed_error("close", f->name);
  if (f->mu.decref()) {
    f->destroy();
    if (sys::is_error(f->close_result)) {
      return path_error("close", f->name, static_cast<int>(-f->close_result));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<File> new_file(int fd, std::string name) {
  std::unique_ptr<File::Impl> impl;
  bool consumed = false;
  absl::Status s = make_impl(fd, std::move(name), Kind::kNewFile, &impl, &consumed);
  if (!s.ok()) return s;
  return File(std::move(impl));
}

absl::StatusOr<File> open(std::string_view path, int flags, uint32_t perm) {
  std::string name(path);
  long r;
  do {
    // Opening may block (a FIFO waits for its other end; NFS): blocking().
    r = gort::blocking([&] {
      return sys::openat(AT_FDCWD, name.c_str(), flags | O_CLOEXEC,
                         static_cast<int>(perm));
    });
  } while (r == -EINTR);
  if (sys::is_error(r)) return path_error("open", name, static_cast<int>(-r));
  return adopt(static_cast<int>(r), std::move(name), Kind::kOpenFile);
}

absl::StatusOr<File> open_readonly(std::string_view path) {
  return open(path, O_RDONLY);
}

absl::StatusOr<File> create(std::string_view path) {
  return open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
}

absl::StatusOr<std::pair<File, File>> pipe() {
  int fds[2];
  long r = sys::syscall6(SYS_pipe2, reinterpret_cast<long>(fds), O_CLOEXEC);
  if (sys::is_error(r)) {  // Go's os.Pipe: NewSyscallError("pipe2", e)
    return netpoll::errno_error("pipe2", static_cast<int>(-r));
  }
  absl::StatusOr<File> rd = adopt(fds[0], "|0", Kind::kPipe);
  if (!rd.ok()) {
    sys::close(fds[1]);
    return rd.status();
  }
  absl::StatusOr<File> wr = adopt(fds[1], "|1", Kind::kPipe);
  if (!wr.ok()) return wr.status();  // rd's destructor closes fds[0]
  return std::make_pair(std::move(*rd), std::move(*wr));
}

}  // namespace gort::os
