#include "cli/term.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "fmt/format.h"

namespace gort::cli {

bool is_terminal(std::FILE* f) { return isatty(fileno(f)) == 1; }

bool colour_on(std::FILE* f) {
  const char* no_colour = std::getenv("NO_COLOR");
  if (no_colour != nullptr && no_colour[0] != '\0') return false;
  const char* term = std::getenv("TERM");
  if (term != nullptr && std::strcmp(term, "dumb") == 0) return false;
  return is_terminal(f);
}

std::string paint(std::string_view text, Colour c, bool on) {
  if (!on) return std::string(text);
  const char* code = "";
  switch (c) {
    case Colour::kGreen:
      code = "32";
      break;
    case Colour::kRed:
      code = "31";
      break;
    case Colour::kYellow:
      code = "33";
      break;
    case Colour::kBold:
      code = "1";
      break;
  }
  return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
}

Progress::Progress(bool interactive) : interactive_(interactive) {}

Progress::~Progress() { clear(); }

void Progress::update(int done, int total, std::string_view text) {
  if (interactive_) {
    // \r and "erase to end of line": the line is redrawn, never scrolled.
    fmt::print(stderr, "\r\x1b[K[{}/{}] {}", done, total, text);
    drawn_ = true;
  } else {
    fmt::print(stderr, "[{}/{}] {}\n", done, total, text);
  }
  std::fflush(stderr);
}

void Progress::clear() {
  if (!drawn_) return;
  fmt::print(stderr, "\r\x1b[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace gort::cli
