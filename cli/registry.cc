#include "cli/registry.h"

#include <cmath>
#include <cstdlib>

#include "fmt/format.h"

namespace gort::cli {
namespace {

[[noreturn]] void registry_fatal(const std::string& message) {
  std::fprintf(stderr, "gort: registry: %s\n", message.c_str());
  std::abort();
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int64_t WorkloadArgs::get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    registry_fatal(fmt::format("no option named \"{}\"", name));
  }
  return it->second;
}

bool is_rate_unit(std::string_view unit) {
  return unit.size() > 2 && unit.substr(unit.size() - 2) == "/s";
}

WorkloadArgs Workload::default_args() const {
  WorkloadArgs args;
  for (const WorkloadOption& o : options) args.set(o.name, o.default_value);
  return args;
}

Registry& Registry::global() {
  // Never destroyed, so no static destructor can outlive it.
  static Registry* registry = new Registry;
  return *registry;
}

void Registry::add(Workload w) {
  if (!valid_name(w.name)) {
    registry_fatal(fmt::format("bad workload name \"{}\"", w.name));
  }
  if (w.run == nullptr) {
    registry_fatal(fmt::format("workload \"{}\" has no run function", w.name));
  }
  if (workloads_.count(w.name) != 0) {
    registry_fatal(fmt::format("workload \"{}\" registered twice", w.name));
  }
  for (const WorkloadOption& o : w.options) {
    if (!valid_name(o.name) || o.min_value > o.default_value ||
        o.default_value > o.max_value) {
      registry_fatal(
          fmt::format("workload \"{}\": bad option \"{}\"", w.name, o.name));
    }
  }
  std::string name = w.name;
  workloads_.emplace(std::move(name), std::move(w));
}

const Workload* Registry::find(std::string_view name) const {
  auto it = workloads_.find(name);
  return it == workloads_.end() ? nullptr : &it->second;
}

std::vector<const Workload*> Registry::all() const {
  std::vector<const Workload*> out;
  for (const auto& [name, w] : workloads_) out.push_back(&w);
  return out;
}

std::string format_result_line(std::string_view name, const Result& r) {
  return fmt::format("result: {} {:.2f} {}", name, r.value, r.unit);
}

std::optional<ParsedResult> parse_result_line(std::string_view output) {
  constexpr std::string_view kPrefix = "result: ";
  std::string_view line;
  bool found = false;
  // The last line that starts with the prefix wins.
  size_t pos = 0;
  while (pos <= output.size()) {
    size_t end = output.find('\n', pos);
    if (end == std::string_view::npos) end = output.size();
    std::string_view l = output.substr(pos, end - pos);
    if (l.substr(0, kPrefix.size()) == kPrefix) {
      line = l;
      found = true;
    }
    pos = end + 1;
  }
  if (!found) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) fields.emplace_back(line.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 3) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(fields[1].c_str(), &end);
  if (end == fields[1].c_str() || *end != '\0' || !std::isfinite(value)) {
    return std::nullopt;
  }
  return ParsedResult{fields[0], Result{value, fields[2]}};
}

}  // namespace gort::cli
