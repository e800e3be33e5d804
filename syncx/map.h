// syncx/map.h: Go's sync.Map, and the sharded map Go programmers write for
// write-heavy loads.
//
//   Map<K, V>         Go's sync.Map: lock-free loads from an atomically
//                     loaded read-only snapshot; a dirty map under a Mutex
//                     for new keys, promoted to the snapshot after enough
//                     misses. Best when keys are written once and read
//                     many times, or when goroutines touch disjoint keys
//   ShardedMap<K, V>  N shards, each a Mutex and an absl::flat_hash_map
//                     (the segment-lock map); the same API where it applies
//
// Methods, named after Go's: load, store, load_or_store, load_and_delete,
// erase (Delete), range, swap, compare_and_swap, compare_and_delete (the
// last three from Go 1.20; compare_* need V's operator==). Values are
// returned by copy.
//
// A Map entry holds its value in one of two ways (map_internal below):
// inline in the entry under a per-entry sequence lock when V is trivially
// copyable and at most kMaxInlineValue bytes (an int, a pointer, a small
// struct: a store rewrites the entry in place, nothing is allocated or
// retired), else in an immutable heap box swapped by pointer CAS, as Go
// boxes values in interfaces.
//
// Thread safety: every method from any goroutine or thread, concurrently.
// range's function runs outside every lock and may call the map.
//
// Memory ordering: a store (and what its caller wrote before it)
// happens-before any load that returns its value: boxed values are
// published with release CAS/exchange on the entry and read with acquire;
// inline values are written with release stores inside the entry's
// sequence lock and read with acquire loads, validated by the lock word
// (the all-acquire/release seqlock: no fences); snapshots are published
// with a release store and loaded with acquire; the dirty map is under the
// Mutex. Old snapshots, entries and boxes are freed only after every
// reader that might see them has finished (reclaim.h).
#ifndef GORT_SYNCX_MAP_H_
#define GORT_SYNCX_MAP_H_

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "sched/preempt.h"
#include "sched/sync_support.h"
#include "sys/fatal.h"
#include "sys/syscall.h"
#include "syncx/mutex.h"
#include "syncx/pool.h"
#include "syncx/reclaim.h"

namespace gort::syncx {

namespace map_internal {

// The largest V stored inline (three words: the entry with its lock word
// stays within half a cache line).
inline constexpr size_t kMaxInlineValue = 24;
template <typename V>
inline constexpr bool kInlineValue = std::is_trivially_copyable_v<V> &&
                                     sizeof(V) <= kMaxInlineValue &&
                                     alignof(V) <= alignof(uint64_t);

// Go's entry, in both representations. An entry is *live* (holds a
// value), *deleted* (Go's p == nil: still in the snapshot, maybe in
// dirty) or *expunged* (deleted and not in dirty). Every method runs
// inside a ReadSection; *_locked ones also under the Map's Mutex.
//
//   load()                    the value if live
//   try_swap(v, prev)         false if expunged; else v becomes the value
//                             (moved from) and *prev (if prev) the old one
//   try_load_or_store(v, a)   kExpunged; kLoaded with *a = the value; or
//                             kStored (was deleted, now v)
//   erase()                   live -> deleted; the old value
//   compare_and_swap(x, d)    live with value == x -> d (moved from)
//   compare_and_delete(x)     live with value == x -> deleted
//   unexpunge_locked()        expunged -> deleted; true if it was expunged
//   expunge_locked()          deleted -> expunged; true if now expunged
//   expunged_locked()         whether expunged
enum class LoadOrStore { kExpunged, kLoaded, kStored };

// Pause while another writer holds an inline entry's sequence lock: a
// few stores long, unless that writer's thread lost its CPU (the machine
// is oversubscribed), hence the OS yield after a while. The holder is
// pinned or a plain thread, so never parked by gort's scheduler.
inline void seqlock_pause(int& spins) {
  if (++spins < 128) {
    __builtin_ia32_pause();
  } else {
    spins = 0;
    sys::sched_yield();
  }
}

// The inline representation: a lock word and the value's bytes in
// kWords atomic words.
//
// ctl: version << 3 | state << 1 | busy. A writer takes the lock with a
// CAS that sets busy (acquire), writes the words with release stores, and
// releases with a release store of version + 1 and the new state. A
// reader loads ctl (acquire; spins while busy), the words (acquire), and
// ctl again (relaxed; ordered after the acquire loads): the value is
// consistent iff ctl did not change. Why: if a word load read a store of
// a writer W, W's locking CAS happens-before the second ctl load (the
// word store was a release after it), so that load sees W's busy ctl or a
// later one, never the first (versions only grow); and the first ctl's
// release store happens-before the word loads, so they see at least that
// writer's words. State changes that keep the value (expunge, unexpunge)
// CAS ctl directly, version + 1.
template <typename V>
class InlineEntry {
 public:
  explicit InlineEntry(const V& v) {
    write_words(v);
    ctl_.store(make_ctl(0, kLive), std::memory_order_relaxed);  // published
                                                               // with the
                                                               // table
  }
  ~InlineEntry() = default;

  std::optional<V> load() {
    for (int spins = 0;; seqlock_pause(spins)) {
      uint64_t c = ctl_.load(std::memory_order_acquire);
      if ((c & kBusy) != 0) continue;
      if (state(c) != kLive) return std::nullopt;
      std::array<uint64_t, kWords> w = read_words();
      if (ctl_.load(std::memory_order_relaxed) == c) return to_value(w);
    }
  }

  bool try_swap(V& v, std::optional<V>* prev) {
    for (int spins = 0;; seqlock_pause(spins)) {
      uint64_t c = ctl_.load(std::memory_order_relaxed);
      if ((c & kBusy) != 0) continue;
      if (state(c) == kExpunged) return false;
      if (!lock(c)) continue;
      if (prev != nullptr && state(c) == kLive) {
        prev->emplace(to_value(read_words()));
      }
      write_words(v);
      unlock(c, kLive);
      return true;
    }
  }

  LoadOrStore try_load_or_store(const V& v, std::optional<V>* actual) {
    for (int spins = 0;; seqlock_pause(spins)) {
      uint64_t c = ctl_.load(std::memory_order_acquire);
      if ((c & kBusy) != 0) continue;
      if (state(c) == kExpunged) return LoadOrStore::kExpunged;
      if (state(c) == kLive) {
        std::array<uint64_t, kWords> w = read_words();
        if (ctl_.load(std::memory_order_relaxed) != c) continue;
        actual->emplace(to_value(w));
        return LoadOrStore::kLoaded;
      }
      if (!lock(c)) continue;
      write_words(v);
      unlock(c, kLive);
      return LoadOrStore::kStored;
    }
  }

  std::optional<V> erase() {
    for (int spins = 0;; seqlock_pause(spins)) {
      uint64_t c = ctl_.load(std::memory_order_relaxed);
      if ((c & kBusy) != 0) continue;
      if (state(c) != kLive) return std::nullopt;
      if (!lock(c)) continue;
      std::optional<V> old(to_value(read_words()));
      unlock(c, kDeleted);
      return old;
    }
  }

  template <typename Eq>
  bool compare_and_swap(const V& expected, V& desired, Eq&& eq) {
    return compare_and_set(expected, &desired, eq);
  }
  template <typename Eq>
  bool compare_and_delete(const V& expected, Eq&& eq) {
    return compare_and_set(expected, nullptr, eq);
  }

  bool unexpunge_locked() { return set_state(kExpunged, kDeleted); }
  bool expunge_locked() {
    return set_state(kDeleted, kExpunged) ||
           state(ctl_.load(std::memory_order_relaxed)) == kExpunged;
  }
  bool expunged_locked() const {
    return state(ctl_.load(std::memory_order_relaxed)) == kExpunged;
  }

 private:
  static constexpr size_t kWords = (sizeof(V) + 7) / 8;
  static constexpr uint64_t kBusy = 1;
  static constexpr uint64_t kDeleted = 0, kLive = 1, kExpunged = 2;
  static constexpr uint64_t make_ctl(uint64_t version, uint64_t st) {
    return version << 3 | st << 1;
  }
  static constexpr uint64_t state(uint64_t c) { return (c >> 1) & 3; }
  static V to_value(const std::array<uint64_t, kWords>& w) {
    std::array<unsigned char, sizeof(V)> bytes;
    std::memcpy(bytes.data(), w.data(), sizeof(V));
    return std::bit_cast<V>(bytes);
  }

  std::array<uint64_t, kWords> read_words() const {
    std::array<uint64_t, kWords> w;
    // Acquire: pairs with write_words' release stores (see the class
    // comment: it orders the second ctl load after these).
    for (size_t i = 0; i < kWords; i++) {
      w[i] = words_[i].load(std::memory_order_acquire);
    }
    return w;
  }
  // REQUIRES: the lock held (or the entry unpublished).
  void write_words(const V& v) {
    std::array<uint64_t, kWords> w{};
    std::memcpy(w.data(), &v, sizeof(V));
    // Release: a reader whose acquire load sees one of these sees our
    // locking CAS (class comment).
    for (size_t i = 0; i < kWords; i++) {
      words_[i].store(w[i], std::memory_order_release);
    }
  }
  // Takes the lock if ctl is still c (unbusy). Acquire: the word stores
  // stay after it; pairs with the previous writer's unlock.
  bool lock(uint64_t c) {
    return ctl_.compare_exchange_weak(c, c | kBusy, std::memory_order_acquire,
                                      std::memory_order_relaxed);
  }
  // Release: pairs with readers' acquire loads of ctl.
  void unlock(uint64_t c, uint64_t st) {
    ctl_.store(make_ctl((c >> 3) + 1, st), std::memory_order_release);
  }
  // from -> to without touching the value; false if not in `from`.
  bool set_state(uint64_t from, uint64_t to) {
    for (int spins = 0;; seqlock_pause(spins)) {
      uint64_t c = ctl_.load(std::memory_order_relaxed);
      if ((c & kBusy) != 0) continue;
      if (state(c) != from) return false;
      if (ctl_.compare_exchange_weak(c, make_ctl((c >> 3) + 1, to),
                                     std::memory_order_relaxed)) {
        return true;
      }
    }
  }
  // CompareAndSwap (desired) or CompareAndDelete (nullptr): reads the
  // value consistently, compares outside the lock, then locks only if ctl
  // is unchanged (so the value compared is the value replaced).
  template <typename Eq>
  bool compare_and_set(const V& expected, V* desired, Eq& eq) {
    for (int spins = 0;; seqlock_pause(spins)) {
      uint64_t c = ctl_.load(std::memory_order_acquire);
      if ((c & kBusy) != 0) continue;
      if (state(c) != kLive) return false;
      std::array<uint64_t, kWords> w = read_words();
      if (ctl_.load(std::memory_order_relaxed) != c) continue;
      if (!eq(to_value(w), expected)) return false;
      if (!lock(c)) continue;
      if (desired != nullptr) write_words(*desired);
      unlock(c, desired != nullptr ? kLive : kDeleted);
      return true;
    }
  }

  std::atomic<uint64_t> ctl_;
  std::array<std::atomic<uint64_t>, kWords> words_;
};

// The boxed representation (Go's entry: p is nullptr when deleted,
// expunged(), or a Box, immutable once published). Replaced and deleted
// boxes are retired (reclaim.h); unpublished ones freed at once.
template <typename V>
class BoxedEntry {
 public:
  explicit BoxedEntry(const V& v) : p_(make_box(v)) {}
  explicit BoxedEntry(V&& v) : p_(make_box(std::move(v))) {}
  // Frees a live box: the entry is unreachable (the Map's destructor, or
  // after a grace period), so is its box.
  ~BoxedEntry() {
    Box* b = p_.load(std::memory_order_relaxed);
    if (live(b)) free_box(b);
  }

  std::optional<V> load() {
    Box* b = p_.load(std::memory_order_acquire);
    if (!live(b)) return std::nullopt;
    return b->value;
  }

  bool try_swap(V& v, std::optional<V>* prev) {
    Box* p = p_.load(std::memory_order_acquire);
    if (p == expunged()) return false;
    Box* b = make_box(std::move(v));
    while (!p_.compare_exchange_weak(p, b, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      if (p == expunged()) {
        v = std::move(b->value);
        free_box(b);
        return false;
      }
    }
    // Go's Store does not read the old value: only Swap pays that miss.
    if (prev != nullptr && live(p)) prev->emplace(p->value);
    retire_box(p);
    return true;
  }

  LoadOrStore try_load_or_store(const V& v, std::optional<V>* actual) {
    Box* p = p_.load(std::memory_order_acquire);
    Box* b = nullptr;
    for (;;) {
      if (p == expunged() || p != nullptr) {
        if (b != nullptr) free_box(b);  // never visible to anyone
        if (p == expunged()) return LoadOrStore::kExpunged;
        actual->emplace(p->value);
        return LoadOrStore::kLoaded;
      }
      if (b == nullptr) b = make_box(v);
      if (p_.compare_exchange_weak(p, b, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
        return LoadOrStore::kStored;
      }
    }
  }

  std::optional<V> erase() {
    Box* p = p_.load(std::memory_order_acquire);
    while (live(p)) {
      if (p_.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
        std::optional<V> old(p->value);
        retire_box(p);
        return old;
      }
    }
    return std::nullopt;
  }

  template <typename Eq>
  bool compare_and_swap(const V& expected, V& desired, Eq&& eq) {
    Box* p = p_.load(std::memory_order_acquire);
    Box* b = nullptr;
    for (;;) {
      if (!live(p) || !eq(p->value, expected)) {
        if (b != nullptr) {
          desired = std::move(b->value);
          free_box(b);
        }
        return false;
      }
      if (b == nullptr) b = make_box(std::move(desired));
      if (p_.compare_exchange_weak(p, b, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
        retire_box(p);
        return true;
      }
    }
  }

  template <typename Eq>
  bool compare_and_delete(const V& expected, Eq&& eq) {
    Box* p = p_.load(std::memory_order_acquire);
    while (live(p) && eq(p->value, expected)) {
      if (p_.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
        retire_box(p);
        return true;
      }
    }
    return false;
  }

  bool unexpunge_locked() {
    Box* expected = expunged();
    return p_.compare_exchange_strong(expected, nullptr,
                                      std::memory_order_relaxed);
  }
  // Go's tryExpungeLocked.
  bool expunge_locked() {
    Box* p = p_.load(std::memory_order_relaxed);
    while (p == nullptr) {
      if (p_.compare_exchange_weak(p, expunged(), std::memory_order_relaxed)) {
        return true;
      }
    }
    return p == expunged();
  }
  bool expunged_locked() const {
    return p_.load(std::memory_order_relaxed) == expunged();
  }

 private:
  struct Box {
    V value;
  };
  static Box* expunged() {
    static char tag;
    return reinterpret_cast<Box*>(&tag);
  }
  static bool live(Box* b) { return b != nullptr && b != expunged(); }

  // Boxes are recycled through a process-wide Pool per Box type: every
  // store makes one and retires another, and malloc/free of them (the free
  // on the reclaimer's thread) cost more than the rest of a store. The
  // pool holds raw storage (destroyed boxes).
  static pool_internal::PoolCore& box_storage() {
    static pool_internal::PoolCore* pool =
        new pool_internal::PoolCore([](void* p) { ::operator delete(p); });
    return *pool;
  }
  template <typename... Args>
  static Box* make_box(Args&&... args) {
    void* mem = box_storage().get();
    if (mem == nullptr) mem = ::operator new(sizeof(Box));
    return new (mem) Box{V(std::forward<Args>(args)...)};
  }
  static void free_box(void* p) {
    static_cast<Box*>(p)->~Box();
    box_storage().put(p);
  }
  static void retire_box(Box* b) {
    if (live(b)) reclaim_internal::retire(b, &free_box);
  }

  std::atomic<Box*> p_;
};

}  // namespace map_internal

template <typename K, typename V, typename Hash = absl::Hash<K>,
          typename Eq = std::equal_to<K>>
class Map {
 public:
  Map() : read_(pack(new Table, false)) {}
  ~Map();
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;

  // The value for key, if present (Go's Load).
  std::optional<V> load(const K& key);
  // Sets the value for key (Go's Store).
  void store(const K& key, V value) { swap_impl(key, value, nullptr); }
  // The existing value and true if key is present; else stores value and
  // returns it and false (Go's LoadOrStore).
  std::pair<V, bool> load_or_store(const K& key, V value);
  // Deletes key, returning its value if it was present (Go's LoadAndDelete).
  std::optional<V> load_and_delete(const K& key);
  // Deletes key (Go's Delete).
  void erase(const K& key) { (void)load_and_delete(key); }
  // Calls f(key, value) for each key present, until f returns false (Go's
  // Range: no consistent snapshot; a key is visited at most once; f may
  // modify the map). f runs outside every lock.
  template <typename F>
  void range(F&& f);
  // Stores value and returns the previous value, if any (Go's Swap).
  std::optional<V> swap(const K& key, V value) {
    std::optional<V> prev;
    swap_impl(key, value, &prev);
    return prev;
  }
  // Stores desired if key's value == expected (Go's CompareAndSwap).
  bool compare_and_swap(const K& key, const V& expected, V desired);
  // Deletes key if its value == expected (Go's CompareAndDelete).
  bool compare_and_delete(const K& key, const V& expected);

  // Whether this Map's values are stored inline (tests, docs).
  static constexpr bool kInline = map_internal::kInlineValue<V>;

 private:
  using Entry = std::conditional_t<kInline, map_internal::InlineEntry<V>,
                                   map_internal::BoxedEntry<V>>;
  using Table = absl::flat_hash_map<K, Entry*, Hash, Eq>;
  using LoadOrStore = map_internal::LoadOrStore;

  // The snapshot word: a Table* with `amended` (dirty holds keys the table
  // lacks) in bit 0, so that readers see the pair in one load.
  static uintptr_t pack(Table* t, bool amended) {
    return reinterpret_cast<uintptr_t>(t) | (amended ? 1 : 0);
  }
  static Table* table_of(uintptr_t w) {
    return reinterpret_cast<Table*>(w & ~uintptr_t{1});
  }
  static bool amended_of(uintptr_t w) { return (w & 1) != 0; }
  static Entry* find(Table* t, const K& key) {
    auto it = t->find(key);
    return it == t->end() ? nullptr : it->second;
  }
  static bool value_eq(const V& a, const V& b) { return a == b; }

  static void free_entry(void* p) { delete static_cast<Entry*>(p); }
  static void free_table(void* p) { delete static_cast<Table*>(p); }

  // Store and Swap; *prev (if prev) gets the old value. value is moved
  // from.
  void swap_impl(const K& key, V& value, std::optional<V>* prev);

  // mu_ for a section's slow path: the section may park while it waits,
  // and is pinned again while it holds mu_, so that an inline entry's
  // sequence lock is never held by a preempted goroutine (readers spin on
  // it, pinned).
  void lock_slow(reclaim_internal::ReadSection& section)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(mu_) {
    section.allow_park();
    mu_.lock();
    section.disallow_park();
  }
  void unlock_slow(reclaim_internal::ReadSection& section)
      ABSL_UNLOCK_FUNCTION(mu_) {
    section.allow_park();
    mu_.unlock();
    section.disallow_park();
  }

  // Go's Load lookup: key's entry in the read snapshot, else (if amended)
  // under mu_ in the snapshot again or in the dirty map, counting a miss
  // whether or not the key is there (it takes the slow path until the dirty
  // map is promoted). Returns nullptr if absent; the entry stays valid for
  // the section. Sets *slow if it took mu_.
  Entry* find_counting_miss(reclaim_internal::ReadSection& section, const K& key,
                            bool* slow);

  void miss_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void promote_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void dirty_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The read snapshot: loaded with acquire, stored with release under mu_.
  std::atomic<uintptr_t> read_;
  Mutex mu_;
  Table* dirty_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

template <typename K, typename V, typename H, typename E>
Map<K, V, H, E>::~Map() {
  // An entry may be in both tables (under the same key): delete it once,
  // with dirty's copy. An entry frees its own value.
  Table* read = table_of(read_.load(std::memory_order_relaxed));
  for (auto& [k, e] : *read) {
    if (dirty_ == nullptr || find(dirty_, k) != e) delete e;
  }
  if (dirty_ != nullptr) {
    for (auto& [k, e] : *dirty_) delete e;
    delete dirty_;
  }
  delete read;
}

template <typename K, typename V, typename H, typename E>
typename Map<K, V, H, E>::Entry* Map<K, V, H, E>::find_counting_miss(
    reclaim_internal::ReadSection& section, const K& key, bool* slow) {
  uintptr_t w = read_.load(std::memory_order_acquire);
  Entry* e = find(table_of(w), key);
  if (e == nullptr && amended_of(w)) {
    lock_slow(section);
    // Re-check: the dirty map may have been promoted while we waited.
    w = read_.load(std::memory_order_relaxed);
    e = find(table_of(w), key);
    if (e == nullptr && amended_of(w)) {
      e = find(dirty_, key);
      miss_locked();
    }
    unlock_slow(section);
    *slow = true;
  }
  return e;
}

template <typename K, typename V, typename H, typename E>
std::optional<V> Map<K, V, H, E>::load(const K& key) {
  std::optional<V> out;
  bool slow = false;
  {
    reclaim_internal::ReadSection section;
    if (Entry* e = find_counting_miss(section, key, &slow)) out = e->load();
  }
  if (slow) reclaim_internal::maybe_reclaim();  // a miss may have promoted
  return out;
}

template <typename K, typename V, typename H, typename E>
void Map<K, V, H, E>::swap_impl(const K& key, V& value,
                                std::optional<V>* prev) {
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr || !e->try_swap(value, prev)) {
      lock_slow(section);
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e != nullptr) {
        // An expunged entry: dirty exists and lacks it (Go's
        // unexpungeLocked).
        if (e->unexpunge_locked()) (*dirty_)[key] = e;
        bool stored = e->try_swap(value, prev);
        GORT_CHECK(stored);  // not expunged under mu_
      } else if (dirty_ != nullptr && (e = find(dirty_, key)) != nullptr) {
        bool stored = e->try_swap(value, prev);
        GORT_CHECK(stored);
      } else {
        if (!amended_of(w)) {
          // The first new key since the last promotion: make a dirty map
          // and mark the snapshot amended (the same table).
          dirty_locked();
          read_.store(pack(table_of(w), true), std::memory_order_release);
        }
        (*dirty_)[key] = new Entry(std::move(value));
      }
      unlock_slow(section);
    }
  }
  reclaim_internal::maybe_reclaim();
}

template <typename K, typename V, typename H, typename E>
std::pair<V, bool> Map<K, V, H, E>::load_or_store(const K& key, V value) {
  std::optional<V> actual;  // set when loaded
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr ||
        e->try_load_or_store(value, &actual) == LoadOrStore::kExpunged) {
      lock_slow(section);
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e != nullptr) {
        if (e->unexpunge_locked()) (*dirty_)[key] = e;
        LoadOrStore r = e->try_load_or_store(value, &actual);
        GORT_CHECK(r != LoadOrStore::kExpunged);  // not under mu_
      } else if (dirty_ != nullptr && (e = find(dirty_, key)) != nullptr) {
        LoadOrStore r = e->try_load_or_store(value, &actual);
        GORT_CHECK(r != LoadOrStore::kExpunged);
        miss_locked();
      } else {
        if (!amended_of(w)) {
          dirty_locked();
          read_.store(pack(table_of(w), true), std::memory_order_release);
        }
        (*dirty_)[key] = new Entry(value);
      }
      unlock_slow(section);
    }
  }
  reclaim_internal::maybe_reclaim();
  if (actual.has_value()) return {std::move(*actual), true};
  return {std::move(value), false};
}

template <typename K, typename V, typename H, typename E>
std::optional<V> Map<K, V, H, E>::load_and_delete(const K& key) {
  std::optional<V> out;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr && amended_of(w)) {
      lock_slow(section);
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e == nullptr && amended_of(w)) {
        if ((e = find(dirty_, key)) != nullptr) {
          // Only in dirty: after the erase no map holds the entry. Sections
          // that found it under mu_ may still use it: retire, don't free.
          dirty_->erase(key);
          reclaim_internal::retire(e, &free_entry);
        }
        miss_locked();
      }
      unlock_slow(section);
    }
    if (e != nullptr) out = e->erase();  // Go's entry.delete
  }
  reclaim_internal::maybe_reclaim();
  return out;
}

template <typename K, typename V, typename H, typename E>
bool Map<K, V, H, E>::compare_and_swap(const K& key, const V& expected,
                                       V desired) {
  bool swapped = false;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    if (Entry* e = find(table_of(w), key)) {
      swapped = e->compare_and_swap(expected, desired, value_eq);
    } else if (amended_of(w)) {
      lock_slow(section);
      w = read_.load(std::memory_order_relaxed);
      if (Entry* e2 = find(table_of(w), key)) {
        swapped = e2->compare_and_swap(expected, desired, value_eq);
      } else if (dirty_ != nullptr) {
        if (Entry* e3 = find(dirty_, key)) {
          swapped = e3->compare_and_swap(expected, desired, value_eq);
        }
        miss_locked();
      }
      unlock_slow(section);
    }
  }
  reclaim_internal::maybe_reclaim();
  return swapped;
}

template <typename K, typename V, typename H, typename E>
bool Map<K, V, H, E>::compare_and_delete(const K& key, const V& expected) {
  bool deleted = false;
  bool slow = false;
  {
    reclaim_internal::ReadSection section;
    if (Entry* e = find_counting_miss(section, key, &slow)) {
      deleted = e->compare_and_delete(expected, value_eq);
    }
  }
  reclaim_internal::maybe_reclaim();
  return deleted;
}

template <typename K, typename V, typename H, typename E>
template <typename F>
void Map<K, V, H, E>::range(F&& f) {
  // Copies the pairs under a section (Go iterates its snapshot; ours may
  // be freed once the section ends), then calls f outside it, so that f
  // may block, run long, or modify the map.
  std::vector<std::pair<K, V>> items;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    if (amended_of(w)) {
      // Promote dirty first, so that the snapshot holds every key (Go).
      lock_slow(section);
      if (amended_of(read_.load(std::memory_order_relaxed))) promote_locked();
      unlock_slow(section);
      w = read_.load(std::memory_order_acquire);
    }
    Table* t = table_of(w);
    items.reserve(t->size());
    for (auto& [k, e] : *t) {
      if (std::optional<V> v = e->load()) items.emplace_back(k, std::move(*v));
    }
  }
  reclaim_internal::maybe_reclaim();
  for (auto& [k, v] : items) {
    bool more = true;
    auto call = [&] { more = f(static_cast<const K&>(k), static_cast<const V&>(v)); };
    gort_user_call(call);  // f stays preemptible (sched/preempt.h)
    if (!more) break;
  }
}

template <typename K, typename V, typename H, typename E>
void Map<K, V, H, E>::miss_locked() {
  misses_++;
  if (dirty_ == nullptr || misses_ < dirty_->size()) return;
  promote_locked();
}

// The dirty map becomes the snapshot (Go's missLocked and Range). Entries
// of the old snapshot that dirty lacks are exactly the expunged ones (dirty
// was made from the snapshot minus those, and an unexpunged one is put back
// into dirty): they are in no map from now on, so they retire with the old
// table.
template <typename K, typename V, typename H, typename E>
void Map<K, V, H, E>::promote_locked() {
  Table* old = table_of(read_.load(std::memory_order_relaxed));
  Table* now = dirty_ != nullptr ? dirty_ : new Table;
  read_.store(pack(now, false), std::memory_order_release);
  dirty_ = nullptr;
  misses_ = 0;
  for (auto& [k, e] : *old) {
    if (e->expunged_locked()) reclaim_internal::retire(e, &free_entry);
  }
  reclaim_internal::retire(old, &free_table);
}

// Makes dirty from the snapshot, expunging deleted entries instead of
// copying them (Go's dirtyLocked and tryExpungeLocked).
template <typename K, typename V, typename H, typename E>
void Map<K, V, H, E>::dirty_locked() {
  if (dirty_ != nullptr) return;
  Table* read = table_of(read_.load(std::memory_order_relaxed));
  dirty_ = new Table;
  dirty_->reserve(read->size());
  for (auto& [k, e] : *read) {
    if (!e->expunge_locked()) dirty_->emplace(k, e);
  }
}

// The segment-lock map: kShards shards, each a Mutex and a flat_hash_map.
// Every operation locks the key's shard; range locks one shard at a time
// and calls f outside the lock.
template <typename K, typename V, typename Hash = absl::Hash<K>,
          typename Eq = std::equal_to<K>, size_t kShards = 32>
class ShardedMap {
 public:
  ShardedMap() = default;
  ShardedMap(const ShardedMap&) = delete;
  ShardedMap& operator=(const ShardedMap&) = delete;

  std::optional<V> load(const K& key) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    auto it = s.m.find(key);
    if (it == s.m.end()) return std::nullopt;
    return it->second;
  }
  void store(const K& key, V value) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    s.m.insert_or_assign(key, std::move(value));
  }
  std::pair<V, bool> load_or_store(const K& key, V value) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    auto [it, inserted] = s.m.try_emplace(key, std::move(value));
    return {it->second, !inserted};
  }
  std::optional<V> load_and_delete(const K& key) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    auto it = s.m.find(key);
    if (it == s.m.end()) return std::nullopt;
    std::optional<V> out(std::move(it->second));
    s.m.erase(it);
    return out;
  }
  void erase(const K& key) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    s.m.erase(key);
  }
  std::optional<V> swap(const K& key, V value) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    auto [it, inserted] = s.m.try_emplace(key, std::move(value));
    if (inserted) return std::nullopt;
    std::optional<V> prev(std::move(it->second));
    it->second = std::move(value);
    return prev;
  }
  bool compare_and_swap(const K& key, const V& expected, V desired) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    auto it = s.m.find(key);
    if (it == s.m.end() || !(it->second == expected)) return false;
    it->second = std::move(desired);
    return true;
  }
  bool compare_and_delete(const K& key, const V& expected) {
    Shard& s = shard(key);
    MutexLockGuard l(s.mu);
    auto it = s.m.find(key);
    if (it == s.m.end() || !(it->second == expected)) return false;
    s.m.erase(it);
    return true;
  }
  // Calls f(key, value) for each pair, shard by shard, until f returns
  // false. Each shard is copied under its lock; f runs outside it.
  template <typename F>
  void range(F&& f) {
    std::vector<std::pair<K, V>> items;
    for (Shard& s : shards_) {
      items.clear();
      {
        MutexLockGuard l(s.mu);
        items.assign(s.m.begin(), s.m.end());
      }
      for (auto& [k, v] : items) {
        bool more = true;
        auto call = [&] { more = f(static_cast<const K&>(k), static_cast<const V&>(v)); };
        gort_user_call(call);
        if (!more) return;
      }
    }
  }
  // The number of keys (a sum over shards locked one at a time).
  size_t size() {
    size_t n = 0;
    for (Shard& s : shards_) {
      MutexLockGuard l(s.mu);
      n += s.m.size();
    }
    return n;
  }

 private:
  class ABSL_SCOPED_LOCKABLE MutexLockGuard {
   public:
    explicit MutexLockGuard(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
        : mu_(mu) {
      mu_.lock();
    }
    ~MutexLockGuard() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

   private:
    Mutex& mu_;
  };
  struct alignas(64) Shard {
    Mutex mu;
    absl::flat_hash_map<K, V, Hash, Eq> m ABSL_GUARDED_BY(mu);
  };
  Shard& shard(const K& key) {
    // Mix the hash again: flat_hash_map uses the low bits too.
    size_t h = Hash{}(key);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return shards_[h % kShards];
  }

  std::array<Shard, kShards> shards_;
};

}  // namespace gort::syncx

#endif  // GORT_SYNCX_MAP_H_
