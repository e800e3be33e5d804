// cli/term.h: output that behaves differently on a terminal.
//
//   is_terminal   whether a stream is a terminal (isatty)
//   colour_on     colour for a stream: only on a terminal, never with
//                 NO_COLOR set (no-color.org) or TERM=dumb
//   paint         text in a colour, or unchanged when colour is off
//   Progress      one status line on stderr, rewritten in place, shown only
//                 when stderr is a terminal (else a log line per update)
//
// Pipes and files (tests, CI logs, `gort ... | less`) get plain text: no
// escape sequence ever reaches them.
//
// Thread safety: Progress is used by one thread; the rest are pure.
#ifndef GORT_CLI_TERM_H_
#define GORT_CLI_TERM_H_

#include <cstdio>
#include <string>
#include <string_view>

namespace gort::cli {

bool is_terminal(std::FILE* f);
bool colour_on(std::FILE* f);

enum class Colour { kGreen, kRed, kYellow, kBold };
std::string paint(std::string_view text, Colour c, bool on);

class Progress {
 public:
  // `interactive`: rewrite one line in place (a terminal), else print each
  // update as a line of its own.
  explicit Progress(bool interactive);
  ~Progress();  // clears the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Shows `[done/total] text`.
  void update(int done, int total, std::string_view text);
  // Erases the status line (a no-op off a terminal); the next update draws
  // it again.
  void clear();

 private:
  bool interactive_;
  bool drawn_ = false;
};

}  // namespace gort::cli

#endif  // GORT_CLI_TERM_H_
