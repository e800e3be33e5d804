// os/file.h: files on gort's scheduler (Go's os.File; the public API of
// //os:file).
//
//   File               an open file descriptor (Go's *os.File): RAII,
//                      move-only; read, write, read_at, write_at, seek,
//                      size, close, fd, name
//   open               opens a path with flags and permission (os.OpenFile)
//   open_readonly      opens for reading (os.Open)
//   create             creates or truncates for reading and writing
//                      (os.Create: O_RDWR|O_CREAT|O_TRUNC, 0666)
//   new_file           adopts a descriptor the caller owns (os.NewFile)
//   pipe               a connected pair: {read end, write end} (os.Pipe)
//   eof / is_eof       the end-of-file status (the same one gort::net uses)
//
// Two kinds of file, chosen when the File is made, as Go's os does:
//
//   blocking   regular files, directories, devices other than ttys
//              (/dev/null): every syscall runs inside gort::blocking(), so
//              a goroutine that waits for the disk hands its P to another M
//              (the scheduler's syscall hand-off).
//   pollable   pipes, FIFOs, sockets, ttys: the descriptor is made
//              non-blocking (O_NONBLOCK on the open file description, which
//              a process sharing it sees too, as with Go) and driven by
//              netpoll::FD (netpoll/fd.h); a read or write that would block
//              parks the goroutine in `IO wait` until the poller says the
//              fd is ready.
//
// Errors are absl::Status with Go's words: `open /x: no such file or
// directory` (the code from the errno: NotFound, PermissionDenied, ...),
// `read /x: file already closed` (FailedPrecondition) after close, and the
// end of a file is eof() (OutOfRange "EOF"), never wrapped, as io.EOF and
// as gort::net's Conn::read (net::is_eof accepts it too).
//
// Thread safety: a File's methods may be called from any goroutines and
// threads at once, except the destructor and move assignment, which need
// the caller to be its only user. Reads are serialised with reads and
// writes with writes (Go's fdMutex); read_at and write_at are not.
// close() may race with readers and writers: a reader parked on a pipe
// wakes with `file already closed` and close() returns once no call uses
// the descriptor; a blocking-kind call already in the kernel cannot be
// interrupted, so close() returns at once and the descriptor is closed
// when the last such call returns, never under it (Go's rule too).
#ifndef GORT_OS_FILE_H_
#define GORT_OS_FILE_H_

#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gort::os {

// The end of a file or a stream: OutOfRange with the message "EOF" (Go's
// io.EOF, and the status gort::net's Conn::read returns at the end of a
// stream).
absl::Status eof();
bool is_eof(const absl::Status& s);

class File {
 public:
  // A File that holds nothing: every method but the destructor fails with
  // `invalid argument` (Go's ErrInvalid on a nil *File).
  File();
  File(File&& other) noexcept;
  // Closes what this File held first (ignoring the error).
  // REQUIRES: no other goroutine uses either File.
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  // Closes the descriptor if close() was not called (ignoring the error).
  // REQUIRES: no other goroutine or thread uses the File any more.
  ~File();

  // Reads up to n bytes (n > 0) at the file offset and returns how many
  // (>= 1), or eof() at the end of the file (a regular file) or when every
  // writer has closed (a pipe), or `read NAME: ...` with Go's words. n == 0
  // returns 0 at once (after checking the File is open). A read from a pipe
  // with nothing in it parks the goroutine (`IO wait`).
  absl::StatusOr<size_t> read(void* buf, size_t n);

  // Writes all n bytes, looping over short writes (and, on a pipe, parking
  // while it is full), or returns the error that stopped it:
  // `write NAME: broken pipe` (EPIPE; SIGPIPE is the process's business),
  // `write NAME: file already closed`.
  absl::Status write(const void* buf, size_t n);
  absl::Status write(std::string_view s) { return write(s.data(), s.size()); }

  // Reads up to n bytes at `offset` without moving the file offset (pread).
  // Returns how many (possibly fewer than n, unlike Go's ReadAt, which
  // loops), or eof() when offset is at or past the end. Fails with `read
  // NAME: illegal seek` on a pipe, `readat NAME: negative offset`. Not
  // serialised with read().
  absl::StatusOr<size_t> read_at(void* buf, size_t n, int64_t offset);

  // Writes all n bytes at `offset` (pwrite), looping over short writes.
  // A File opened with O_APPEND refuses (Go's rule): `writeat NAME: os:
  // invalid use of WriteAt on file opened with O_APPEND`.
  absl::Status write_at(const void* buf, size_t n, int64_t offset);

  // Sets the file offset (whence: SEEK_SET, SEEK_CUR, SEEK_END) and returns
  // the new one. `seek NAME: illegal seek` on a pipe.
  absl::StatusOr<int64_t> seek(int64_t offset, int whence);

  // The size in bytes from fstat (Go's Stat().Size()): `stat NAME: ...`.
  absl::StatusOr<int64_t> size();

  // Closes the file (Go's File.Close): wakes readers and writers parked on
  // it with `file already closed`, waits until none of them uses the
  // descriptor, then closes it. A second close fails with `close NAME: file
  // already closed`.
  absl::Status close();

  // The descriptor (-1 for an empty File). Valid until close(); I/O done on
  // it directly bypasses the File's serialisation.
  int fd() const;
  // The name the File was opened with ("|0" and "|1" for a pipe's ends).
  const std::string& name() const;
  // Whether reads and writes go through the poller (the pollable kind).
  bool pollable() const;
  // Whether this File holds a descriptor (open or closed).
  explicit operator bool() const { return impl_ != nullptr; }

  // The state behind a File (os/file.cc); users cannot make one, so the
  // constructor below is for file.cc's factories only.
  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// Opens `path` with open(2) `flags` (O_RDONLY, O_WRONLY, O_RDWR, O_CREAT,
// O_TRUNC, O_APPEND, O_EXCL, ...; O_CLOEXEC is always added, as Go does) and
// permission bits `perm` (before the umask) for a file it creates. Errors:
// `open PATH: no such file or directory` and the rest of errno's words.
absl::StatusOr<File> open(std::string_view path, int flags,
                          uint32_t perm = 0);

// open(path, O_RDONLY).
absl::StatusOr<File> open_readonly(std::string_view path);

// open(path, O_RDWR | O_CREAT | O_TRUNC, 0666).
absl::StatusOr<File> create(std::string_view path);

// Takes ownership of `fd` (the File closes it) under `name` (Go's
// os.NewFile). As Go's, it drives fd through the poller only if fd is
// already non-blocking (and a pipe, socket or tty): a blocking descriptor
// (an inherited stdin) stays blocking and gets the blocking kind. Fails
// with `newfile NAME: bad file descriptor` if fd is not open (and then
// does not own it); if the poller refuses fd, fd is closed.
absl::StatusOr<File> new_file(int fd, std::string name);

// A pipe (pipe2 with O_CLOEXEC): first is the read end ("|0"), second the
// write end ("|1"), both pollable.
absl::StatusOr<std::pair<File, File>> pipe();

}  // namespace gort::os

#endif  // GORT_OS_FILE_H_
