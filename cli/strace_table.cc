#include "cli/strace_table.h"

#include <cstdlib>
#include <vector>

namespace gort::cli {
namespace {

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) fields.push_back(line.substr(i, j - i));
    i = j;
  }
  return fields;
}

bool is_rule(const std::string& line) {
  return !line.empty() && line.find_first_not_of("- ") == std::string::npos;
}

bool to_u64(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (*end != '\0' || s[0] == '-') return false;
  *out = v;
  return true;
}

// Fills *row and *name from a row's fields; false when it does not parse.
bool parse_row(const std::string& line, StraceRow* row, std::string* name) {
  std::vector<std::string> f = fields_of(line);
  if (f.size() != 5 && f.size() != 6) return false;
  char* end = nullptr;
  row->seconds = std::strtod(f[1].c_str(), &end);
  if (*end != '\0') return false;
  if (!to_u64(f[3], &row->calls)) return false;
  row->errors = 0;
  if (f.size() == 6 && !to_u64(f[4], &row->errors)) return false;
  *name = f.back();
  return true;
}

}  // namespace

std::optional<StraceTable> parse_strace_table(std::string_view text,
                                              std::string* error) {
  std::vector<std::string> lines = lines_of(text);
  size_t i = 0;
  while (i < lines.size() && lines[i].rfind("% time", 0) != 0) ++i;
  if (i == lines.size()) {
    *error = "no strace -c header (\"% time ...\") found";
    return std::nullopt;
  }
  ++i;
  if (i == lines.size() || !is_rule(lines[i])) {
    *error = "no dashed rule under the header";
    return std::nullopt;
  }
  ++i;
  StraceTable table;
  for (; i < lines.size() && !is_rule(lines[i]); ++i) {
    StraceRow row;
    std::string name;
    if (!parse_row(lines[i], &row, &name)) {
      *error = "cannot parse row \"" + lines[i] + "\"";
      return std::nullopt;
    }
    if (!table.rows.emplace(name, row).second) {
      *error = "syscall " + name + " listed twice";
      return std::nullopt;
    }
  }
  if (i == lines.size()) {
    *error = "no closing dashed rule";
    return std::nullopt;
  }
  ++i;
  std::string name;
  if (i == lines.size() || !parse_row(lines[i], &table.total, &name) ||
      name != "total") {
    *error = "no total row after the closing rule";
    return std::nullopt;
  }
  return table;
}

}  // namespace gort::cli
