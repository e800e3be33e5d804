// chan/select.h: Go's select statement (included by chan/chan.h).
//
//   select(cases...)       runs exactly one of its cases; returns its index
//   on_recv(ch, fn)        case v, ok := <-ch: fn(v, ok), fn(v) or fn()
//   on_send(ch, v, fn)     case ch <- v: fn()
//   on_default(fn)         default: fn()
//
//   gort::select(gort::on_recv(in, [&](int v, bool ok) { ... }),
//                gort::on_send(out, x, [&] { ... }),
//                gort::on_default([&] { ... }));
//
// Semantics are Go's. If one or more cases can proceed, one of them is
// chosen uniformly at random (a fresh random order per select, from the
// P's generator); else, with a default case, the default runs; else the
// caller blocks until some case can proceed, and the first to become ready
// wins. A case on a nil channel never fires. A send case on a closed
// channel that is chosen throws Panic("send on closed channel"); a receive
// case on a closed channel fires with (T{}, false). A select with no cases
// blocks forever. The same channel may appear in several cases. The chosen
// case's function runs after the select has released every channel, so it
// may use the channels freely (and may itself select).
//
// Cases refer to their channels and hold the value to send: build them in
// the select call's argument list (they live until the end of that full
// expression), not in variables that outlive the channels. on_send takes
// its value when the case is made (as Go evaluates it before choosing);
// a move-only value whose case is not chosen is destroyed with the case.
//
// The returned index is the position of the case that ran among the
// arguments (the default case included), 0-based.
//
// Thread safety: as chan.h: any goroutine or thread, concurrently.
#ifndef GORT_CHAN_SELECT_H_
#define GORT_CHAN_SELECT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "chan/chan.h"
#include "chan/hchan.h"
#include "sched/preempt.h"

namespace gort {

template <typename T>
class Chan;

namespace chan_internal {

struct NoOp {
  void operator()() const {}
};

template <typename T, typename F>
struct RecvCase {
  using value_type = T;
  HChan* c;
  F fn;
  Slot<T> slot;
};

template <typename T, typename F>
struct SendCase {
  using value_type = T;
  HChan* c;
  T value;
  F fn;
};

template <typename F>
struct DefaultCase {
  F fn;
};

template <typename C>
struct CaseKind {
  static constexpr bool kDefault = false;
  static constexpr bool kRecv = false;
  static constexpr bool kSend = false;
};
template <typename T, typename F>
struct CaseKind<RecvCase<T, F>> {
  static constexpr bool kDefault = false;
  static constexpr bool kRecv = true;
  static constexpr bool kSend = false;
};
template <typename T, typename F>
struct CaseKind<SendCase<T, F>> {
  static constexpr bool kDefault = false;
  static constexpr bool kRecv = false;
  static constexpr bool kSend = true;
};
template <typename F>
struct CaseKind<DefaultCase<F>> {
  static constexpr bool kDefault = true;
  static constexpr bool kRecv = false;
  static constexpr bool kSend = false;
};

template <typename C>
constexpr bool kIsDefault = CaseKind<std::remove_cvref_t<C>>::kDefault;
template <typename C>
constexpr bool kIsCase = CaseKind<std::remove_cvref_t<C>>::kDefault ||
                         CaseKind<std::remove_cvref_t<C>>::kRecv ||
                         CaseKind<std::remove_cvref_t<C>>::kSend;

// Runs a case's function through gort_user_call, so that a long-running
// handler stays preemptible (sched/preempt.h).
template <typename T, typename F>
void run_case(RecvCase<T, F>& cs, bool received) {
  if constexpr (std::is_invocable_v<F&, T, bool>) {
    T v = received ? cs.slot.take() : zero_value<T>();
    auto call = [&] { cs.fn(std::move(v), received); };
    gort_user_call(call);
  } else if constexpr (std::is_invocable_v<F&, T>) {
    T v = received ? cs.slot.take() : zero_value<T>();
    auto call = [&] { cs.fn(std::move(v)); };
    gort_user_call(call);
  } else {
    static_assert(std::is_invocable_v<F&>,
                  "on_recv's function must take (T, bool), (T) or ()");
    if (received) (void)cs.slot.take();  // drop the value
    gort_user_call(cs.fn);
  }
}

template <typename T, typename F>
void run_case(SendCase<T, F>& cs, bool) {
  static_assert(std::is_invocable_v<F&>, "on_send's function must take ()");
  gort_user_call(cs.fn);
}

template <typename F>
void run_case(DefaultCase<F>& cs, bool) {
  static_assert(std::is_invocable_v<F&>, "on_default's function must take ()");
  gort_user_call(cs.fn);
}

template <typename T, typename F>
void describe(RecvCase<T, F>& cs, SelectCase* out) {
  *out = SelectCase{cs.c, cs.slot.addr(), false};
}
template <typename T, typename F>
void describe(SendCase<T, F>& cs, SelectCase* out) {
  *out = SelectCase{
      cs.c, kNoStorage<T> ? nullptr : static_cast<void*>(&cs.value), true};
}

// The one-case forms Go's compiler rewrites select into (walk/select.go):
// a plain blocking operation, or with a default a non-blocking one.
template <typename T, typename F>
bool one_case(RecvCase<T, F>& cs, bool block) {
  RecvResult r = chanrecv(cs.c, cs.slot.addr(), block);
  if (!r.selected) return false;
  run_case(cs, r.received);
  return true;
}
template <typename T, typename F>
bool one_case(SendCase<T, F>& cs, bool block) {
  if (!chansend(cs.c, kNoStorage<T> ? nullptr : static_cast<void*>(&cs.value),
                block)) {
    return false;
  }
  run_case(cs, false);
  return true;
}

template <typename... Cases, size_t... I>
int select_impl(std::index_sequence<I...>, Cases&... cases) {
  constexpr int kTotal = sizeof...(Cases);
  constexpr int kDefaults = (0 + ... + (kIsDefault<Cases> ? 1 : 0));
  constexpr int kN = kTotal - kDefaults;
  static_assert(kDefaults <= 1, "select: more than one on_default case");
  static_assert(kN <= 65535, "select: too many cases");
  // Where the default case sits among the arguments (kTotal if none).
  constexpr int kDefaultAt = [] {
    int at = kTotal, i = 0;
    ((kIsDefault<Cases> ? (at = i, ++i) : ++i), ...);
    return at;
  }();
  auto run_default = [&] {
    ((kIsDefault<Cases> ? (run_case(cases, false), 0) : 0), ...);
    return kDefaultAt;
  };

  if constexpr (kN == 0) {
    if constexpr (kDefaults == 1) return run_default();
    block_forever(sched::WaitReason::kSelectNoCases);
  } else if constexpr (kN == 1) {
    int ran = -1;
    auto try_case = [&](auto& cs, int i) {
      if constexpr (!kIsDefault<decltype(cs)>) {
        if (one_case(cs, kDefaults == 0)) ran = i;
      }
    };
    (try_case(cases, static_cast<int>(I)), ...);
    if (ran >= 0) return ran;
    return run_default();
  } else {
    // The channel cases in argument order, and each one's argument index.
    std::array<SelectCase, kN> scases;
    std::array<uint16_t, kN> arg_index;
    {
      int k = 0;
      auto add = [&](auto& cs, int i) {
        if constexpr (!kIsDefault<decltype(cs)>) {
          describe(cs, &scases[k]);
          arg_index[k] = static_cast<uint16_t>(i);
          ++k;
        }
      };
      (add(cases, static_cast<int>(I)), ...);
    }
    std::array<SudogStorage, kN> sudogs;  // left uninitialised
    std::array<uint16_t, 2 * kN> order;
    SelectResult r = selectgo(scases.data(), sudogs.data(), order.data(), kN,
                              kDefaults == 0);
    if (r.index < 0) return run_default();
    const int at = arg_index[r.index];
    ((static_cast<int>(I) == at && !kIsDefault<Cases>
          ? (run_case(cases, r.received), 0)
          : 0),
     ...);
    return at;
  }
}

}  // namespace chan_internal

// case v, ok := <-ch. fn is called as fn(v, ok), fn(v) or fn(), whichever it
// takes; with no fn the value is dropped.
template <typename T, typename F = chan_internal::NoOp>
chan_internal::RecvCase<T, std::decay_t<F>> on_recv(const Chan<T>& ch,
                                                    F&& fn = {}) {
  return {chan_internal::Access::hchan(ch), std::forward<F>(fn), {}};
}

// case ch <- value. fn() runs if this case is chosen.
template <typename T, typename V, typename F = chan_internal::NoOp>
requires std::constructible_from<T, V&&>
    chan_internal::SendCase<T, std::decay_t<F>> on_send(const Chan<T>& ch,
                                                        V&& value,
                                                        F&& fn = {}) {
  return {chan_internal::Access::hchan(ch), T(std::forward<V>(value)),
          std::forward<F>(fn)};
}

// default: fn() runs if no other case can proceed now.
template <typename F>
chan_internal::DefaultCase<std::decay_t<F>> on_default(F&& fn) {
  return {std::forward<F>(fn)};
}

// Go's select statement; see the header comment. Returns the index of the
// case that ran. REQUIRES: at most one on_default.
template <typename... Cases>
requires(chan_internal::kIsCase<Cases>&&...) int select(Cases&&... cases) {
  return chan_internal::select_impl(std::index_sequence_for<Cases...>{},
                                    cases...);
}

}  // namespace gort

#endif  // GORT_CHAN_SELECT_H_
