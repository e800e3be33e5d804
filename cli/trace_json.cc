#include "cli/trace_json.h"

#include <errno.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "sched/g.h"

namespace gort::cli {
namespace {

namespace trace = sched::trace;

constexpr int kPsPid = 1;
constexpr int kMsPid = 2;
// Tracks of threads that are no M (sysmon) start here in the Ms process.
constexpr int64_t kNoMTidBase = 1000000;

// Nanoseconds as the format's microseconds, exactly: "1234.567".
std::string micros(int64_t ns) {
  if (ns < 0) ns = 0;
  return fmt::format("{}.{:03}", ns / 1000, ns % 1000);
}

std::string_view basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xc0) == 0x80; };
  unsigned char c = b(0);
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xe0 && b(1) < 0xa0) return 0;
    if (c == 0xed && b(1) > 0x9f) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xf0 && b(1) < 0x90) return 0;
    if (c == 0xf4 && b(1) > 0x8f) return 0;
    return 4;
  }
  return 0;
}

struct Site {
  std::string label;     // "pingpong.cc:25"
  std::string file;      // as the compiler saw it
  std::string function;
  uint32_t line = 0;
};

// Writes the traceEvents array's elements.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  // One event object; `body` is its members without braces.
  void event(std::string_view body) {
    out_->append(count_ == 0 ? "\n{" : ",\n{");
    out_->append(body);
    out_->push_back('}');
    count_++;
  }
  uint64_t count() const { return count_; }

 private:
  std::string* out_;
  uint64_t count_ = 0;
};

// A goroutine's run on one thread, as the builder below tracks it.
struct Run {
  int64_t goid = 0;
  int64_t m_start = -1;  // ns; -1: its start was overwritten (no M slice)
  int32_t p = -1;        // the P it holds now, -1 if none
  int64_t p_start = 0;
  int64_t syscall_start = -1;
};

class Builder {
 public:
  Builder(std::string* out, const std::map<int64_t, Site>& sites, int64_t end_ns)
      : w_(out), sites_(sites), end_ns_(end_ns) {}

  void metadata(const std::set<int32_t>& ps,
                const std::vector<std::pair<int64_t, std::string>>& ms) {
    w_.event(fmt::format(R"("name":"process_name","ph":"M","pid":{},"tid":0,"args":{{"name":"Ps"}})", kPsPid));
    w_.event(fmt::format(R"("name":"process_sort_index","ph":"M","pid":{},"tid":0,"args":{{"sort_index":1}})", kPsPid));
    w_.event(fmt::format(R"("name":"process_name","ph":"M","pid":{},"tid":0,"args":{{"name":"Ms"}})", kMsPid));
    w_.event(fmt::format(R"("name":"process_sort_index","ph":"M","pid":{},"tid":0,"args":{{"sort_index":2}})", kMsPid));
    for (int32_t p : ps) {
      w_.event(fmt::format(R"("name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"P{}"}})", kPsPid, p, p));
      w_.event(fmt::format(R"("name":"thread_sort_index","ph":"M","pid":{},"tid":{},"args":{{"sort_index":{}}})", kPsPid, p, p));
    }
    for (const auto& [tid, name] : ms) {
      w_.event(fmt::format(R"("name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"{}"}})", kMsPid, tid, json_escape(name)));
      w_.event(fmt::format(R"("name":"thread_sort_index","ph":"M","pid":{},"tid":{},"args":{{"sort_index":{}}})", kMsPid, tid, tid));
    }
  }

  // One thread's events, oldest first; its track in Ms is `tid`.
  void thread(const trace::ThreadEvents& t, int64_t tid) {
    tid_ = tid;
    m_ = t.m;
    std::optional<Run> run;
    for (const trace::Event& e : t.events) {
      switch (e.kind) {
        case trace::EventKind::kGoStart:
          if (run) end_run(*run, e.ts_ns, "(stop lost)", "");
          run = Run{.goid = e.goid, .m_start = e.ts_ns, .p = e.p, .p_start = e.ts_ns};
          break;
        case trace::EventKind::kGoStop: {
          if (!run || run->goid != e.goid) run = Run{.goid = e.goid};
          std::string_view wait =
              e.reason == trace::StopReason::kPark
                  ? sched::wait_reason_string(e.wait) : "";
          end_run(*run, e.ts_ns, trace::stop_reason_string(e.reason), wait);
          run.reset();
          break;
        }
        case trace::EventKind::kSyscallEnter:
          if (!run || run->goid != e.goid) run = Run{.goid = e.goid};
          if (run->p >= 0) p_slice(*run, e.ts_ns, "entersyscall", "");
          run->p = -1;
          run->syscall_start = e.ts_ns;
          instant(kMsPid, tid_, "entersyscall", e.ts_ns,
                  fmt::format(R"("goid":{},"p":{})", e.goid, e.p));
          break;
        case trace::EventKind::kSyscallExit:
          if (!run || run->goid != e.goid) run = Run{.goid = e.goid};
          if (run->syscall_start >= 0) {
            w_.event(fmt::format(
                R"("name":"syscall","cat":"syscall","ph":"X","pid":{},"tid":{},"ts":{},"dur":{},"args":{{"goid":{}}})",
                kMsPid, tid_, micros(run->syscall_start),
                micros(e.ts_ns - run->syscall_start), e.goid));
            run->syscall_start = -1;
          }
          instant(kMsPid, tid_, "exitsyscall", e.ts_ns,
                  fmt::format(R"("goid":{},"p":{})", e.goid, e.p));
          if (e.p >= 0) {
            run->p = e.p;
            run->p_start = e.ts_ns;
          }
          break;
        case trace::EventKind::kSteal:
          instant(kPsPid, e.p, fmt::format("steal G{} from P{}", e.goid, e.other_p),
                  e.ts_ns,
                  fmt::format(R"("goid":{},"victim":{},"m":{})", e.goid, e.other_p, m_));
          break;
        case trace::EventKind::kNetpoll:
          instant(kMsPid, tid_, fmt::format("netpoll: {} ready", e.count), e.ts_ns,
                  fmt::format(R"("count":{},"p":{})", e.count, e.p));
          break;
        case trace::EventKind::kTimers:
          if (e.p >= 0) {
            instant(kPsPid, e.p, fmt::format("timers: {} fired", e.count), e.ts_ns,
                    fmt::format(R"("count":{},"heap_p":{},"m":{})", e.count, e.other_p, m_));
          } else {
            instant(kMsPid, tid_, fmt::format("timers: {} fired", e.count), e.ts_ns,
                    fmt::format(R"("count":{},"heap_p":{})", e.count, e.other_p));
          }
          break;
      }
    }
    if (run) end_run(*run, end_ns_, "(trace end)", "");
  }

  uint64_t count() const { return w_.count(); }

 private:
  // The goroutine's name and args shared by its slices.
  std::string g_name(int64_t goid) const {
    auto it = sites_.find(goid);
    if (it == sites_.end()) return fmt::format("G{}", goid);
    return fmt::format("G{} {}", goid, json_escape(it->second.label));
  }
  std::string g_args(int64_t goid) const {
    auto it = sites_.find(goid);
    if (it == sites_.end()) return fmt::format(R"("goid":{})", goid);
    const Site& s = it->second;
    return fmt::format(R"("goid":{},"created_at":"{}:{}","function":"{}")", goid,
                       json_escape(s.file), s.line, json_escape(s.function));
  }

  void p_slice(const Run& r, int64_t end, std::string_view why, std::string_view wait) {
    w_.event(fmt::format(
        R"("name":"{}","cat":"goroutine","ph":"X","pid":{},"tid":{},"ts":{},"dur":{},"args":{{{},"m":{},"end":"{}"{}}})",
        g_name(r.goid), kPsPid, r.p, micros(r.p_start), micros(end - r.p_start),
        g_args(r.goid), m_, json_escape(why), wait_arg(wait)));
  }

  static std::string wait_arg(std::string_view wait) {
    return wait.empty() ? "" : fmt::format(R"(,"wait_reason":"{}")", json_escape(wait));
  }

  void end_run(Run& r, int64_t end, std::string_view why, std::string_view wait) {
    if (r.p >= 0) p_slice(r, end, why, wait);
    if (r.syscall_start >= 0) {
      w_.event(fmt::format(
          R"("name":"syscall","cat":"syscall","ph":"X","pid":{},"tid":{},"ts":{},"dur":{},"args":{{"goid":{}}})",
          kMsPid, tid_, micros(r.syscall_start), micros(end - r.syscall_start), r.goid));
    }
    if (r.m_start >= 0) {
      w_.event(fmt::format(
          R"("name":"{}","cat":"goroutine","ph":"X","pid":{},"tid":{},"ts":{},"dur":{},"args":{{{},"end":"{}"{}}})",
          g_name(r.goid), kMsPid, tid_, micros(r.m_start), micros(end - r.m_start),
          g_args(r.goid), json_escape(why), wait_arg(wait)));
    }
  }

  void instant(int pid, int64_t tid, std::string_view name, int64_t ts,
               std::string_view args) {
    w_.event(fmt::format(
        R"("name":"{}","cat":"sched","ph":"i","s":"t","pid":{},"tid":{},"ts":{},"args":{{{}}})",
        json_escape(name), pid, tid, micros(ts), args));
  }

  Writer w_;
  const std::map<int64_t, Site>& sites_;
  int64_t end_ns_;
  int64_t tid_ = 0;
  int64_t m_ = -1;
};

}  // namespace

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\u{:04x}", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      i++;
      continue;
    }
    size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\\ufffd";
      i++;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string format_trace_json(const std::vector<trace::ThreadEvents>& threads,
                              TraceJsonStats* stats) {
  // Every goroutine's creation site, from any thread's start events; the
  // Ps seen; the threads' tracks; the end of the trace.
  std::map<int64_t, Site> sites;
  std::set<int32_t> ps;
  std::vector<std::pair<int64_t, std::string>> ms;
  std::vector<int64_t> tids;
  int64_t end_ns = 0;
  uint64_t dropped = 0;
  int64_t no_m = 0;
  for (const trace::ThreadEvents& t : threads) {
    dropped += t.dropped;
    int64_t tid = t.m >= 0 ? t.m : kNoMTidBase + no_m++;
    tids.push_back(tid);
    ms.emplace_back(tid, t.m >= 0 ? fmt::format("M{}", t.m) : "sysmon (no M)");
    for (const trace::Event& e : t.events) {
      end_ns = std::max(end_ns, e.ts_ns);
      if (e.p >= 0) ps.insert(e.p);
      if (e.kind == trace::EventKind::kGoStart && !sites.contains(e.goid)) {
        Site s;
        s.file = e.site.file_name() != nullptr ? e.site.file_name() : "?";
        s.function = e.site.function_name() != nullptr ? e.site.function_name() : "?";
        s.line = e.site.line();
        s.label = fmt::format("{}:{}", basename(s.file), s.line);
        sites.emplace(e.goid, std::move(s));
      }
    }
  }
  std::sort(ms.begin(), ms.end());

  std::string out = "{\"traceEvents\":[";
  Builder b(&out, sites, end_ns);
  b.metadata(ps, ms);
  for (size_t i = 0; i < threads.size(); i++) b.thread(threads[i], tids[i]);
  out += fmt::format(
      "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{{\"generator\":\"gort "
      "run --trace-out\",\"dropped_events\":{},\"ring_events_per_thread\":{}}}}}\n",
      dropped, trace::kRingEvents);
  if (stats != nullptr) {
    stats->events = b.count();
    stats->dropped = dropped;
  }
  return out;
}

// ---- TraceOut ----------------------------------------------------------------

absl::StatusOr<TraceOut> TraceOut::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "--trace-out: cannot open {}: {}", path, std::strerror(errno)));
  }
  return TraceOut(f, path);
}

TraceOut::TraceOut(TraceOut&& other) noexcept
    : file_(other.file_), path_(std::move(other.path_)) {
  other.file_ = nullptr;
}

TraceOut::~TraceOut() {
  if (file_ != nullptr) std::fclose(file_);
}

void TraceOut::start() { trace::enable(); }

absl::StatusOr<TraceJsonStats> TraceOut::finish() {
  trace::disable();
  std::vector<trace::ThreadEvents> threads = trace::drain();
  TraceJsonStats stats;
  std::string text = format_trace_json(threads, &stats);
  std::FILE* f = file_;
  file_ = nullptr;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int err = errno;
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    return absl::InternalError(fmt::format("--trace-out: writing {}: {}",
                                           path_, std::strerror(err)));
  }
  return stats;
}

}  // namespace gort::cli
