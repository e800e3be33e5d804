// Tests of os/file.h: round trips through both kinds of File, Go's error
// words, the P hand-off of a blocking-kind read on a single P, a pipe read
// parking in `IO wait` and woken by a write or a close, and, after every
// test, that no goroutine and no file descriptor was leaked.
#include "os/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "netpoll/netpoll.h"
#include "sched/internal.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"

namespace gort::os {
namespace {

using sched::G;
using sched::GStatus;
using sched::testing::Latch;
using sched::testing::SchedTest;
using sched::testing::ScopedProcs;
using sched::testing::Watchdog;

// Open descriptors of this process (the directory's own fd counts in both
// calls alike).
int count_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  int n = 0;
  while (readdir(d) != nullptr) n++;
  closedir(d);
  return n;
}

std::string temp_path(const std::string& leaf) {
  const char* dir = getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + leaf + "." +
         std::to_string(getpid());
}

// Yields until pred() holds; false after `seconds` (the caller fails).
template <typename Pred>
bool yield_until(Pred pred, int seconds = 20) {
  int64_t deadline = sys::nanotime() + int64_t{seconds} * 1'000'000'000;
  while (!pred()) {
    if (sys::nanotime() > deadline) return false;
    yield();
  }
  return true;
}

// Whether g is parked (kWaiting) while the poller counts a waiter: the
// goroutine waits in IO wait. (g->wait_reason says so too, but reading it
// races with the goroutine's next park if the poller wakes it spuriously.)
bool parked_in_io_wait(G* g) {
  return g != nullptr &&
         g->status.load(std::memory_order_acquire) == GStatus::kWaiting &&
         netpoll::waiters() > 0;
}

// Invariant after every test: the goroutines it started are gone
// (SchedTest) and the number of open descriptors is what it was before.
class FileTest : public SchedTest {
 protected:
  static void SetUpTestSuite() {
    // A broken pipe must come back as EPIPE, not kill the test (Go's
    // runtime ignores SIGPIPE for descriptors other than 1 and 2).
    signal(SIGPIPE, SIG_IGN);
    // The runtime's own descriptors (the poller's epoll and eventfd) are
    // made on first use and live as long as the process: make them now.
    run([] {
      auto p = pipe();
      ASSERT_TRUE(p.ok()) << p.status();
    });
  }
  void SetUp() override {
    SchedTest::SetUp();
    fds_ = count_fds();
  }
  void TearDown() override {
    SchedTest::TearDown();
    EXPECT_EQ(count_fds(), fds_) << "file descriptors leaked by the test";
  }

 private:
  int fds_ = 0;
};

// What is written comes back: write, seek, read (to EOF), read_at,
// write_at, size; the file offset moves with read/write and not with
// read_at/write_at; a regular file is the blocking kind.
TEST_F(FileTest, RoundTrip) {
  std::string path = temp_path("roundtrip");
  run([&] {
    auto f = create(path);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_FALSE(f->pollable());
    EXPECT_EQ(f->name(), path);
    ASSERT_TRUE(f->write("hello, ").ok());
    ASSERT_TRUE(f->write(std::string("world")).ok());
    EXPECT_EQ(*f->size(), 12);
    EXPECT_EQ(*f->seek(0, SEEK_CUR), 12);
    EXPECT_EQ(*f->seek(0, SEEK_SET), 0);
    char buf[64] = {};
    auto n = f->read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(std::string(buf, *n), "hello, world");
    auto at_end = f->read(buf, sizeof(buf));
    EXPECT_TRUE(is_eof(at_end.status())) << at_end.status();
    EXPECT_EQ(at_end.status(), eof());
    // read_at does not move the offset (still at 12).
    n = f->read_at(buf, 5, 7);
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(std::string(buf, *n), "world");
    EXPECT_TRUE(is_eof(f->read_at(buf, 5, 12).status()));
    ASSERT_TRUE(f->write_at("W", 1, 7).ok());
    EXPECT_EQ(*f->seek(0, SEEK_CUR), 12);
    EXPECT_EQ(*f->seek(-5, SEEK_END), 7);
    n = f->read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(std::string(buf, *n), "World");
    EXPECT_EQ(*f->read(buf, 0), 0u);  // a zero-byte read is no EOF
    EXPECT_TRUE(f->close().ok());

    auto g = open_readonly(path);
    ASSERT_TRUE(g.ok()) << g.status();
    n = g->read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(std::string(buf, *n), "hello, World");
    // Moving a File moves the descriptor; the moved-from File is empty.
    File h = std::move(*g);
    EXPECT_EQ(g->fd(), -1);
    EXPECT_GE(h.fd(), 0);
  });  // h's destructor closes it (checked by the fd count)
  unlink(path.c_str());
}

// Go's words and absl codes for the errors a File returns.
TEST_F(FileTest, ErrorsInGosWords) {
  std::string dir = temp_path("errors-dir");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  std::string path = dir + "/f";
  run([&] {
    auto missing = open_readonly(dir + "/missing");
    EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(missing.status().message(),
              "open " + dir + "/missing: no such file or directory");

    auto excl = open(dir, O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_EQ(excl.status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(excl.status().message(), "open " + dir + ": file exists");

    auto d = open_readonly(dir);
    ASSERT_TRUE(d.ok()) << d.status();
    char buf[8];
    EXPECT_EQ(d->read(buf, sizeof(buf)).status().message(),
              "read " + dir + ": is a directory");

    auto f = create(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->close().ok());
    EXPECT_EQ(f->read(buf, 1).status().message(), "read " + path + ": file already closed");
    EXPECT_EQ(f->read(buf, 1).status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(f->write("x").message(), "write " + path + ": file already closed");
    EXPECT_EQ(f->seek(0, SEEK_SET).status().message(), "seek " + path + ": file already closed");
    EXPECT_EQ(f->size().status().message(), "stat " + path + ": file already closed");
    EXPECT_EQ(f->close().message(), "close " + path + ": file already closed");

    auto ro = open_readonly(path);
    ASSERT_TRUE(ro.ok());
    EXPECT_EQ(ro->write("x").message(), "write " + path + ": bad file descriptor");
    EXPECT_EQ(ro->read_at(buf, 1, -1).status().message(), "readat " + path + ": negative offset");

    auto app = open(path, O_WRONLY | O_APPEND);
    ASSERT_TRUE(app.ok());
    EXPECT_EQ(app->write_at("x", 1, 0).message(),
              "writeat " + path + ": os: invalid use of WriteAt on file opened with O_APPEND");

    auto p = pipe();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->first.name(), "|0");
    EXPECT_EQ(p->second.name(), "|1");
    EXPECT_EQ(p->first.seek(0, SEEK_SET).status().message(), "seek |0: illegal seek");
    ASSERT_TRUE(p->first.close().ok());
    absl::Status broken = p->second.write("x");
    EXPECT_EQ(broken.message(), "write |1: broken pipe");
    EXPECT_EQ(p->first.read(buf, 1).status().message(), "read |0: file already closed");
    EXPECT_EQ(p->first.close().message(), "close |0: file already closed");

    File empty;
    EXPECT_FALSE(empty);
    EXPECT_EQ(empty.read(buf, 1).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(empty.close().code(), absl::StatusCode::kInvalidArgument);

    EXPECT_EQ(new_file(-1, "bad").status().message(), "newfile bad: bad file descriptor");
  });
  unlink(path.c_str());
  rmdir(dir.c_str());
}

// The blocking kind hands its P over while the syscall blocks. On ONE P, a
// goroutine reads a File whose read blocks in the kernel until another
// goroutine writes: a blocking-mode pipe adopted with new_file, which (as
// Go's os.NewFile) gets the blocking kind, the same code path as a regular
// file; unlike a disk read its duration is ours to choose. Invariant: the
// writer goroutine runs, on the only P, while the reader is inside the read
// syscall (its status is `syscall`), and only then makes the data the read
// returns. Without the hand-off the writer could never run and the read
// would never return (the watchdog would fire).
TEST_F(FileTest, BlockingReadHandsOffThePOnOneP) {
  ScopedProcs procs(1);
  Watchdog dog("FileTest.BlockingReadHandsOffThePOnOneP", 60);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);  // blocking mode
  std::string got;
  int64_t writer_steps_during_read = 0;
  run([&] {
    auto rd = new_file(fds[0], "slow");
    ASSERT_TRUE(rd.ok()) << rd.status();
    ASSERT_FALSE(rd->pollable());
    std::atomic<G*> reader{nullptr};
    Latch done(1);
    go([&] {
      reader.store(sched::current_g());
      char buf[16];
      auto n = rd->read(buf, sizeof(buf));  // blocks in the kernel
      if (n.ok()) got.assign(buf, *n);
      done.done();
    });
    // The writer: runs only if the reader's P was handed over.
    ASSERT_TRUE(yield_until([&] {
      G* g = reader.load();
      return g != nullptr && g->status.load() == GStatus::kSyscall;
    })) << "the reader never entered its read syscall";
    for (int i = 0; i < 100; i++) {
      yield();
      if (reader.load()->status.load() == GStatus::kSyscall) writer_steps_during_read++;
    }
    ASSERT_EQ(::write(fds[1], "slow disk", 9), 9);
    done.wait();
  });
  EXPECT_EQ(got, "slow disk");
  EXPECT_EQ(writer_steps_during_read, 100)
      << "the reader left its syscall before any data was written";
  close(fds[1]);
}

// Regular files are the blocking kind too: on one P, a goroutine reading a
// 1 GiB sparse file in 64 MiB reads (each some ms of copying in the
// kernel) is seen in `syscall` status by another goroutine, which can only
// run then if the P was handed over during a read().
TEST_F(FileTest, RegularFileReadRunsInBlocking) {
  ScopedProcs procs(1);
  Watchdog dog("FileTest.RegularFileReadRunsInBlocking", 60);
  std::string path = temp_path("sparse");
  constexpr int64_t kFileSize = int64_t{1} << 30;
  constexpr size_t kChunk = size_t{64} << 20;
  bool seen = false;
  run([&] {
    auto f = create(path);
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(ftruncate(f->fd(), kFileSize), 0);  // a hole: no disk blocks
    std::vector<char> buf(kChunk);
    std::atomic<G*> reader{nullptr};
    std::atomic<bool> in_read{false}, stop{false};
    Latch done(1);
    go([&] {
      reader.store(sched::current_g());
      int64_t deadline = sys::nanotime() + 20'000'000'000;
      while (!stop.load() && sys::nanotime() < deadline) {
        in_read.store(true);
        auto n = f->read(buf.data(), buf.size());
        in_read.store(false);
        if (!n.ok()) {
          if (!is_eof(n.status())) ADD_FAILURE() << n.status();
          f->seek(0, SEEK_SET).IgnoreError();
        }
      }
      done.done();
    });
    seen = yield_until([&] {
      G* g = reader.load();
      return g != nullptr && in_read.load() && g->status.load() == GStatus::kSyscall;
    });
    stop.store(true);
    done.wait();
  });
  unlink(path.c_str());
  EXPECT_TRUE(seen) << "no goroutine ran while the reader was inside read()";
}

// A pipe read with nothing to read parks the goroutine in `IO wait` (its
// M and P are free); a write from another goroutine wakes it with exactly
// the bytes written; once the write end is closed the reader gets EOF.
TEST_F(FileTest, PipeReadParksAndWriteWakes) {
  Watchdog dog("FileTest.PipeReadParksAndWriteWakes", 60);
  run([&] {
    auto p = pipe();
    ASSERT_TRUE(p.ok()) << p.status();
    File& rd = p->first;
    File& wr = p->second;
    ASSERT_TRUE(rd.pollable());
    ASSERT_TRUE(wr.pollable());
    std::atomic<G*> reader{nullptr};
    std::atomic<int> reads{0};
    std::string got;
    absl::Status end;
    Latch done(1);
    go([&] {
      reader.store(sched::current_g());
      char buf[64];
      for (;;) {
        auto n = rd.read(buf, sizeof(buf));
        if (!n.ok()) {
          end = n.status();
          break;
        }
        got.append(buf, *n);
        reads.fetch_add(1);
      }
      done.done();
    });
    ASSERT_TRUE(yield_until([&] { return parked_in_io_wait(reader.load()); }))
        << "the reader did not park in IO wait";
    ASSERT_TRUE(wr.write("ping").ok());
    // (Not the wait reason again: the reader may be writing it in its next
    // park while we would read it.)
    ASSERT_TRUE(yield_until([&] { return reads.load() == 1; }));
    ASSERT_TRUE(wr.write("pong").ok());
    ASSERT_TRUE(wr.close().ok());
    done.wait();
    EXPECT_EQ(got, "pingpong");
    EXPECT_TRUE(is_eof(end)) << end;
  });
}

// No byte lost or reordered when a writer pushes 4 MiB through a pipe
// (64 KiB of buffer: it parks while full) to a reader taking odd-sized
// pieces, both as goroutines.
TEST_F(FileTest, PipeCarriesEveryByte) {
  Watchdog dog("FileTest.PipeCarriesEveryByte", 60);
  constexpr size_t kTotal = size_t{4} << 20;
  run([&] {
    auto p = pipe();
    ASSERT_TRUE(p.ok());
    std::vector<uint8_t> data(kTotal);
    uint32_t x = 12345;
    for (auto& b : data) {
      x = x * 1103515245 + 12345;
      b = static_cast<uint8_t>(x >> 24);
    }
    std::vector<uint8_t> got;
    got.reserve(kTotal);
    Latch done(1);
    go([&] {
      std::vector<uint8_t> buf(777);
      for (;;) {
        auto n = p->first.read(buf.data(), buf.size());
        if (!n.ok()) {
          EXPECT_TRUE(is_eof(n.status())) << n.status();
          break;
        }
        got.insert(got.end(), buf.begin(), buf.begin() + *n);
      }
      done.done();
    });
    ASSERT_TRUE(p->second.write(data.data(), data.size()).ok());
    ASSERT_TRUE(p->second.close().ok());
    done.wait();
    EXPECT_TRUE(got == data) << "got " << got.size() << " bytes of " << kTotal;
  });
}

// close() while a goroutine is parked reading the pipe wakes it with
// `read |0: file already closed`; close() returns only once the reader has
// left (the descriptor is then closed: fcntl says EBADF, unless the kernel
// already reused the number, which nothing in this test does).
TEST_F(FileTest, CloseWakesParkedReader) {
  Watchdog dog("FileTest.CloseWakesParkedReader", 60);
  run([&] {
    auto p = pipe();
    ASSERT_TRUE(p.ok());
    std::atomic<G*> reader{nullptr};
    absl::Status err;
    Latch done(1);
    go([&] {
      reader.store(sched::current_g());
      char buf[8];
      err = p->first.read(buf, sizeof(buf)).status();
      done.done();
    });
    ASSERT_TRUE(yield_until([&] { return parked_in_io_wait(reader.load()); }));
    int fd = p->first.fd();
    ASSERT_TRUE(p->first.close().ok());
    EXPECT_EQ(fcntl(fd, F_GETFD), -1) << "close returned with the fd still open";
    done.wait();
    EXPECT_EQ(err.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(err.message(), "read |0: file already closed");
  });
}

// /dev/null is a character device epoll refuses: the blocking kind, and it
// behaves as /dev/null (writes vanish, reads say EOF).
TEST_F(FileTest, DevNullIsBlockingKind) {
  run([&] {
    auto f = open("/dev/null", O_RDWR);
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_FALSE(f->pollable());
    EXPECT_TRUE(f->write("gone").ok());
    char buf[4];
    EXPECT_TRUE(is_eof(f->read(buf, sizeof(buf)).status()));
  });
}

// Files work from plain threads too (no goroutine: blocking() just calls,
// and a pipe wait blocks the thread): a thread writes a pipe a goroutine
// reads, and reads a regular file.
TEST_F(FileTest, WorksFromPlainThreads) {
  Watchdog dog("FileTest.WorksFromPlainThreads", 60);
  auto p = pipe();
  ASSERT_TRUE(p.ok());
  std::string path = temp_path("thread");
  {
    auto f = create(path);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write("on a thread").ok());
    char buf[32];
    auto n = f->read_at(buf, sizeof(buf), 0);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(std::string(buf, *n), "on a thread");
  }
  std::string got;
  std::thread writer([&] {
    ForeignThread foreign;  // it wakes a goroutine: no deadlock report
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(p->second.write("from a thread").ok());
    EXPECT_TRUE(p->second.close().ok());
  });
  run([&] {
    char buf[32];
    for (;;) {
      auto n = p->first.read(buf, sizeof(buf));
      if (!n.ok()) break;
      got.append(buf, *n);
    }
  });
  writer.join();
  EXPECT_EQ(got, "from a thread");
  p->first.close().IgnoreError();
  unlink(path.c_str());
}

}  // namespace
}  // namespace gort::os
