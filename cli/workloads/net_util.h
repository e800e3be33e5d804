// cli/workloads/net_util.h: what the network workloads (echo, accept,
// stream) share.
//
//   read_full    reads exactly n bytes from a Conn (Go's io.ReadFull)
//   FirstError   keeps the first error any goroutine reports
//
// Thread safety: FirstError's set and get from any goroutine or thread;
// read_full as Conn::read.
#ifndef GORT_CLI_WORKLOADS_NET_UTIL_H_
#define GORT_CLI_WORKLOADS_NET_UTIL_H_

#include <atomic>
#include <cstddef>

#include "absl/status/status.h"
#include "netpoll/net.h"

namespace gort::cli {

// Reads exactly n bytes into buf: OK, or the error that stopped it (EOF
// before the first byte; `unexpected EOF`, DataLoss, after some bytes, as
// io.ReadFull's ErrUnexpectedEOF).
inline absl::Status read_full(net::Conn& c, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    auto r = c.read(buf + got, n - got);
    if (!r.ok()) {
      if (got > 0 && net::is_eof(r.status())) {
        return absl::DataLossError("unexpected EOF");
      }
      return r.status();
    }
    got += *r;
  }
  return absl::OkStatus();
}

// The first error reported; later ones are dropped. Lock-free: the first
// set() claims the slot with an exchange, and get() is called after every
// setter has been joined (the join publishes the Status).
class FirstError {
 public:
  void set(const absl::Status& s) {
    if (!claimed_.exchange(true, std::memory_order_relaxed)) status_ = s;
  }
  // Whether set() has been called (relaxed: a hint until the setters are
  // joined).
  bool claimed() const { return claimed_.load(std::memory_order_relaxed); }
  // REQUIRES: every goroutine that may call set() has been joined.
  absl::Status get() const { return status_; }

 private:
  std::atomic<bool> claimed_{false};
  absl::Status status_;
};

}  // namespace gort::cli

#endif  // GORT_CLI_WORKLOADS_NET_UTIL_H_
