// Colour and progress only on a terminal: a pty is one, a pipe is not;
// NO_COLOR and TERM=dumb switch colour off even on a terminal; Progress
// rewrites one line in place on a terminal and logs a line per update
// elsewhere, and leaves no status line behind.
#include "cli/term.h"

#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace gort::cli {
namespace {

struct Pty {
  int master = -1, slave = -1;
  Pty() { EXPECT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0); }
  ~Pty() {
    close(master);
    close(slave);
  }
};

TEST(Term, ATerminalIsOneAndAPipeIsNot) {
  Pty pty;
  std::FILE* tty = fdopen(dup(pty.slave), "w");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::FILE* piped = fdopen(p[1], "w");
  unsetenv("NO_COLOR");
  setenv("TERM", "xterm", 1);
  EXPECT_TRUE(is_terminal(tty));
  EXPECT_FALSE(is_terminal(piped));
  EXPECT_TRUE(colour_on(tty));
  EXPECT_FALSE(colour_on(piped));
  setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(colour_on(tty));
  unsetenv("NO_COLOR");
  setenv("TERM", "dumb", 1);
  EXPECT_FALSE(colour_on(tty));
  std::fclose(tty);
  std::fclose(piped);
  close(p[0]);
}

TEST(Term, PaintAddsEscapesOnlyWhenOn) {
  EXPECT_EQ(paint("1.30x", Colour::kGreen, false), "1.30x");
  EXPECT_EQ(paint("1.30x", Colour::kGreen, true), "\x1b[32m1.30x\x1b[0m");
  EXPECT_EQ(paint("0.73x", Colour::kRed, true), "\x1b[31m0.73x\x1b[0m");
}

// Runs f with stderr sent to a temporary file and returns what it wrote.
template <typename F>
std::string capture_stderr(F f) {
  std::fflush(stderr);
  char path[] = "/tmp/term_test_XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(2);
  dup2(fd, 2);
  f();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string out;
  lseek(fd, 0, SEEK_SET);
  char buf[512];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  close(fd);
  unlink(path);
  return out;
}

TEST(Term, ProgressLogsLinesOffATerminal) {
  std::string out = capture_stderr([] {
    Progress p(false);
    p.update(1, 2, "pingpong: run 1/1");
    p.update(2, 2, "yield: run 1/1");
  });
  EXPECT_EQ(out, "[1/2] pingpong: run 1/1\n[2/2] yield: run 1/1\n");
}

TEST(Term, ProgressRewritesOneLineOnATerminalAndClearsIt) {
  std::string out = capture_stderr([] {
    Progress p(true);
    p.update(1, 2, "a");
    p.update(2, 2, "b");
  });
  EXPECT_EQ(out, "\r\x1b[K[1/2] a\r\x1b[K[2/2] b\r\x1b[K");
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace gort::cli
