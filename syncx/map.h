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
// Thread safety: every method from any goroutine or thread, concurrently.
// range's function runs outside every lock and may call the map.
//
// Memory ordering: a store (and what its caller wrote before it)
// happens-before any load that returns its value: values are published
// with release CAS/exchange on the entry and read with acquire; snapshots
// are published with a release store and loaded with acquire; the dirty
// map is under the Mutex. Old snapshots, entries and values are freed only
// after every reader that might see them has finished (reclaim.h).
#ifndef GORT_SYNCX_MAP_H_
#define GORT_SYNCX_MAP_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "sched/preempt.h"
#include "sys/fatal.h"
#include "syncx/mutex.h"
#include "syncx/pool.h"
#include "syncx/reclaim.h"

namespace gort::syncx {

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
  void store(const K& key, V value) { (void)swap(key, std::move(value)); }
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
  std::optional<V> swap(const K& key, V value);
  // Stores desired if key's value == expected (Go's CompareAndSwap).
  bool compare_and_swap(const K& key, const V& expected, V desired);
  // Deletes key if its value == expected (Go's CompareAndDelete).
  bool compare_and_delete(const K& key, const V& expected);

 private:
  // A value, immutable once published (Go's *interface{} in entry.p).
  struct Box {
    V value;
  };
  // Go's entry. p: nullptr (deleted, still in the read snapshot and maybe
  // dirty), expunged() (deleted and not in dirty), or a Box. Release
  // CAS/exchange to publish, acquire loads.
  struct Entry {
    explicit Entry(Box* b) : p(b) {}
    std::atomic<Box*> p;
  };
  using Table = absl::flat_hash_map<K, Entry*, Hash, Eq>;

  static Box* expunged() {
    static char tag;
    return reinterpret_cast<Box*>(&tag);
  }
  static bool live(Box* b) { return b != nullptr && b != expunged(); }

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

  // Value boxes are recycled through a process-wide Pool per Box type:
  // every store makes one and retires another, and malloc/free of them
  // (the free on the reclaimer's thread) cost more than the rest of a
  // store. The pool holds raw storage (destroyed boxes).
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
  static void delete_box(Box* b) { free_box(b); }
  static void free_entry(void* p) { delete static_cast<Entry*>(p); }
  static void free_table(void* p) { delete static_cast<Table*>(p); }
  static void retire_box(Box* b) {
    if (live(b)) reclaim_internal::retire(b, &free_box);
  }

  // entry.tryStore, as a swap: false if expunged; else *old = previous.
  static bool try_swap(Entry* e, Box* b, Box** old) {
    Box* p = e->p.load(std::memory_order_acquire);
    for (;;) {
      if (p == expunged()) return false;
      if (e->p.compare_exchange_weak(p, b, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        *old = p;
        return true;
      }
    }
  }

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
  // An entry may be in both tables (under the same key); its value is
  // freed once, with the snapshot's copy, and the entry with dirty's.
  Table* read = table_of(read_.load(std::memory_order_relaxed));
  for (auto& [k, e] : *read) {
    Box* b = e->p.load(std::memory_order_relaxed);
    if (live(b)) delete_box(b);
    if (dirty_ == nullptr || find(dirty_, k) != e) delete e;
  }
  if (dirty_ != nullptr) {
    for (auto& [k, e] : *dirty_) {
      if (find(read, k) != e) {
        Box* b = e->p.load(std::memory_order_relaxed);
        if (live(b)) delete_box(b);
      }
      delete e;
    }
    delete dirty_;
  }
  delete read;
}

template <typename K, typename V, typename H, typename E>
std::optional<V> Map<K, V, H, E>::load(const K& key) {
  std::optional<V> out;
  bool slow = false;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr && amended_of(w)) {
      section.allow_park();
      mu_.lock();
      // Re-check: the dirty map may have been promoted while we waited.
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e == nullptr && amended_of(w)) {
        e = find(dirty_, key);
        // Count a miss whether or not the key was there: the key takes the
        // slow path until the dirty map is promoted.
        miss_locked();
      }
      mu_.unlock();
      section.disallow_park();
      slow = true;
    }
    if (e != nullptr) {
      Box* b = e->p.load(std::memory_order_acquire);
      if (live(b)) out.emplace(b->value);
    }
  }
  if (slow) reclaim_internal::maybe_reclaim();  // a miss may have promoted
  return out;
}

template <typename K, typename V, typename H, typename E>
std::optional<V> Map<K, V, H, E>::swap(const K& key, V value) {
  Box* b = make_box(std::move(value));
  Box* old = nullptr;
  std::optional<V> prev;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr || !try_swap(e, b, &old)) {
      section.allow_park();
      mu_.lock();
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e != nullptr) {
        Box* expected = expunged();
        if (e->p.compare_exchange_strong(expected, nullptr,
                                         std::memory_order_relaxed)) {
          // The entry was expunged: dirty exists and lacks it (Go's
          // unexpungeLocked).
          (*dirty_)[key] = e;
        }
        old = e->p.exchange(b, std::memory_order_acq_rel);
      } else if (dirty_ != nullptr && (e = find(dirty_, key)) != nullptr) {
        old = e->p.exchange(b, std::memory_order_acq_rel);
      } else {
        if (!amended_of(w)) {
          // The first new key since the last promotion: make a dirty map
          // and mark the snapshot amended (the same table).
          dirty_locked();
          read_.store(pack(table_of(w), true), std::memory_order_release);
        }
        (*dirty_)[key] = new Entry(b);
      }
      mu_.unlock();
      section.disallow_park();
    }
    if (live(old)) prev.emplace(old->value);
  }
  retire_box(old);
  reclaim_internal::maybe_reclaim();
  return prev;
}

template <typename K, typename V, typename H, typename E>
std::pair<V, bool> Map<K, V, H, E>::load_or_store(const K& key, V value) {
  std::optional<V> actual;  // set when loaded
  Box* b = nullptr;         // ours, once allocated
  bool published = false;
  // Go's tryLoadOrStore: the value if live; else store ours if the entry is
  // deleted (nullptr); false (stay undecided) if expunged.
  auto try_load_or_store = [&](Entry* e) -> bool {
    Box* p = e->p.load(std::memory_order_acquire);
    for (;;) {
      if (p == expunged()) return false;
      if (p != nullptr) {
        actual.emplace(p->value);
        return true;
      }
      if (b == nullptr) b = make_box(value);
      if (e->p.compare_exchange_weak(p, b, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        published = true;
        return true;
      }
    }
  };
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr || !try_load_or_store(e)) {
      section.allow_park();
      mu_.lock();
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e != nullptr) {
        Box* expected = expunged();
        if (e->p.compare_exchange_strong(expected, nullptr,
                                         std::memory_order_relaxed)) {
          (*dirty_)[key] = e;
        }
        bool decided = try_load_or_store(e);
        GORT_CHECK(decided);  // not expunged under mu_
      } else if (dirty_ != nullptr && (e = find(dirty_, key)) != nullptr) {
        bool decided = try_load_or_store(e);
        GORT_CHECK(decided);
        miss_locked();
      } else {
        if (!amended_of(w)) {
          dirty_locked();
          read_.store(pack(table_of(w), true), std::memory_order_release);
        }
        if (b == nullptr) b = make_box(value);
        (*dirty_)[key] = new Entry(b);
        published = true;
      }
      mu_.unlock();
      section.disallow_park();
    }
  }
  if (b != nullptr && !published) delete_box(b);  // never visible to anyone
  reclaim_internal::maybe_reclaim();
  if (actual.has_value()) return {std::move(*actual), true};
  return {std::move(value), false};
}

template <typename K, typename V, typename H, typename E>
std::optional<V> Map<K, V, H, E>::load_and_delete(const K& key) {
  std::optional<V> out;
  Box* old = nullptr;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr && amended_of(w)) {
      section.allow_park();
      mu_.lock();
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
      mu_.unlock();
      section.disallow_park();
    }
    if (e != nullptr) {
      // Go's entry.delete.
      Box* p = e->p.load(std::memory_order_acquire);
      while (live(p)) {
        if (e->p.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
          out.emplace(p->value);
          old = p;
          break;
        }
      }
    }
  }
  retire_box(old);
  reclaim_internal::maybe_reclaim();
  return out;
}

template <typename K, typename V, typename H, typename E>
bool Map<K, V, H, E>::compare_and_swap(const K& key, const V& expected,
                                       V desired) {
  bool swapped = false;
  Box* b = nullptr;
  Box* old = nullptr;
  // Go's tryCompareAndSwap.
  auto try_cas = [&](Entry* e) {
    Box* p = e->p.load(std::memory_order_acquire);
    for (;;) {
      if (!live(p) || !(p->value == expected)) return;
      if (b == nullptr) b = make_box(std::move(desired));
      if (e->p.compare_exchange_weak(p, b, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        swapped = true;
        old = p;
        return;
      }
    }
  };
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    if (Entry* e = find(table_of(w), key)) {
      try_cas(e);
    } else if (amended_of(w)) {
      section.allow_park();
      mu_.lock();
      w = read_.load(std::memory_order_relaxed);
      if (Entry* e2 = find(table_of(w), key)) {
        try_cas(e2);
      } else if (dirty_ != nullptr) {
        if (Entry* e3 = find(dirty_, key)) try_cas(e3);
        miss_locked();
      }
      mu_.unlock();
      section.disallow_park();
    }
  }
  if (!swapped && b != nullptr) delete_box(b);
  retire_box(old);
  reclaim_internal::maybe_reclaim();
  return swapped;
}

template <typename K, typename V, typename H, typename E>
bool Map<K, V, H, E>::compare_and_delete(const K& key, const V& expected) {
  bool deleted = false;
  Box* old = nullptr;
  {
    reclaim_internal::ReadSection section;
    uintptr_t w = read_.load(std::memory_order_acquire);
    Entry* e = find(table_of(w), key);
    if (e == nullptr && amended_of(w)) {
      section.allow_park();
      mu_.lock();
      w = read_.load(std::memory_order_relaxed);
      e = find(table_of(w), key);
      if (e == nullptr && amended_of(w)) {
        e = find(dirty_, key);
        miss_locked();
      }
      mu_.unlock();
      section.disallow_park();
    }
    if (e != nullptr) {
      Box* p = e->p.load(std::memory_order_acquire);
      while (live(p) && p->value == expected) {
        if (e->p.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
          deleted = true;
          old = p;
          break;
        }
      }
    }
  }
  retire_box(old);
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
      section.allow_park();
      mu_.lock();
      if (amended_of(read_.load(std::memory_order_relaxed))) promote_locked();
      mu_.unlock();
      section.disallow_park();
      w = read_.load(std::memory_order_acquire);
    }
    Table* t = table_of(w);
    items.reserve(t->size());
    for (auto& [k, e] : *t) {
      Box* b = e->p.load(std::memory_order_acquire);
      if (live(b)) items.emplace_back(k, b->value);
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
    if (e->p.load(std::memory_order_relaxed) == expunged()) {
      reclaim_internal::retire(e, &free_entry);
    }
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
    Box* p = e->p.load(std::memory_order_relaxed);
    while (p == nullptr) {
      if (e->p.compare_exchange_weak(p, expunged(), std::memory_order_relaxed)) {
        p = expunged();
      }
    }
    if (p != expunged()) dirty_->emplace(k, e);
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
