// cli/strace_table.h: reads back a `strace -c` table (strace's own, or
// gort's --strace, which prints the same shape).
//
//   StraceRow          calls, errors and seconds of one syscall (or total)
//   StraceTable        the rows by syscall name, and the total row
//   parse_strace_table the first table in a text
//
// The shape, as strace 6.1 prints it (widths grow with the numbers):
//
//   % time     seconds  usecs/call     calls    errors syscall
//   ------ ----------- ----------- --------- --------- ----------------
//    67.65    0.001987         993         2         1 wait4
//     9.64    0.000283           9        29           mmap
//   ------ ----------- ----------- --------- --------- ----------------
//   100.00    0.002937          15       191        29 total
//
// A row has five fields when its errors column is blank, six otherwise.
//
// Thread safety: pure functions.
#ifndef GORT_CLI_STRACE_TABLE_H_
#define GORT_CLI_STRACE_TABLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace gort::cli {

struct StraceRow {
  uint64_t calls = 0;
  uint64_t errors = 0;
  double seconds = 0;
};

struct StraceTable {
  std::map<std::string, StraceRow> rows;  // by syscall name
  StraceRow total;
};

// Parses the first table in `text`; lines before its header are skipped
// (other output on the same stream). nullopt, with the reason in *error,
// when there is no header, a row does not parse, the closing rule or the
// total row is missing, or a name appears twice.
std::optional<StraceTable> parse_strace_table(std::string_view text,
                                              std::string* error);

}  // namespace gort::cli

#endif  // GORT_CLI_STRACE_TABLE_H_
