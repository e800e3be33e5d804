// Tests of syncx/map.h: Map and ShardedMap against a model, for boxed
// values (std::string) and both inline sizes (one word, three words).
// Sequentially, every operation's result must equal the model's
// (absl::flat_hash_map). Concurrently, goroutines on 2 Ps and plain
// threads each own a disjoint set of keys and check every result against
// their own model, while others load those keys and range over the map
// (a value must belong to its key, and a three-word value must not be
// torn); at the end the map holds exactly the union of the models.
// compare_and_swap used as an atomic increment by many writers on a few
// keys loses no increment (writers exclude each other on one entry).
// Afterwards, everything the Map retired is freed by a grace period (ASan
// checks the frees). The reclaimer: a section holds what it loaded until
// it ends (also across parking), and readers racing a writer that retires
// and reclaims never see a freed object; map_test_fallback runs it all
// again in the fallback mode (no membarrier).
#include "syncx/map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sched/sched.h"
#include "sched/test_util.h"
#include "sys/clock.h"
#include "sys/env.h"
#include "syncx/reclaim.h"
#include "syncx/test_util.h"
#include "syncx/waitgroup.h"

namespace gort::syncx {
namespace {

using sched::testing::ScopedProcs;
using sched::testing::scaled;
using sched::testing::SchedTest;
using sched::testing::Watchdog;
using testing::KeepRunnable;

// Values carry their key (and a version), so that a reader of another
// goroutine's key can check the value belongs to it.
//
// Boxed: "key:version", a std::string, so that a value read after being
// freed is a real use-after-free for ASan.
struct StringValues {
  using V = std::string;
  static V make(int64_t key, int64_t version) {
    return std::to_string(key) + ":" + std::to_string(version);
  }
  static bool belongs_to(const V& v, int64_t key) {
    return v.rfind(std::to_string(key) + ":", 0) == 0;
  }
  static int64_t version_of(const V& v) {
    return std::stoll(v.substr(v.find(':') + 1));
  }
};
// Inline, one word: version << 16 | key (keys < 2^16).
struct WordValues {
  using V = int64_t;
  static V make(int64_t key, int64_t version) {
    return static_cast<int64_t>(static_cast<uint64_t>(version) << 16 |
                                static_cast<uint64_t>(key));
  }
  static bool belongs_to(const V& v, int64_t key) {
    return (v & 0xffff) == key;
  }
  static int64_t version_of(const V& v) { return v >> 16; }
};
// Inline, three words that must agree: a torn read (words of two stores)
// fails belongs_to.
struct Wide {
  int64_t key;
  int64_t version;
  uint64_t check;
  bool operator==(const Wide&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Wide& w) {
  return os << "{" << w.key << "," << w.version << "," << w.check << "}";
}
struct WideValues {
  using V = Wide;
  static uint64_t check(int64_t key, int64_t version) {
    return static_cast<uint64_t>(key) * 0x9e3779b97f4a7c15ULL ^
           static_cast<uint64_t>(version) * 0xbf58476d1ce4e5b9ULL;
  }
  static V make(int64_t key, int64_t version) {
    return Wide{key, version, check(key, version)};
  }
  static bool belongs_to(const V& v, int64_t key) {
    return v.key == key && v.check == check(v.key, v.version);
  }
  static int64_t version_of(const V& v) { return v.version; }
};

static_assert(!Map<int64_t, StringValues::V>::kInline);
static_assert(Map<int64_t, WordValues::V>::kInline);
static_assert(Map<int64_t, WideValues::V>::kInline);

// A map type and its values.
template <typename M, typename Values>
struct Param {
  using MapType = M;
  using Vals = Values;
  using V = typename Values::V;
};

// One random operation on `m` and the model, on a key of `keys`; checks
// the result. Returns false (with a gtest failure) on a mismatch.
template <typename P, typename M, typename Model>
bool step(M& m, Model& model, std::mt19937_64& rng, int64_t key,
          int64_t version) {
  using V = typename P::V;
  using Vals = typename P::Vals;
  auto model_get = [&]() -> std::optional<V> {
    auto it = model.find(key);
    if (it == model.end()) return std::nullopt;
    return it->second;
  };
  V v = Vals::make(key, version);
  switch (rng() % 9) {
    case 0: {
      auto got = m.load(key);
      EXPECT_EQ(got, model_get()) << "load " << key;
      return got == model_get();
    }
    case 1:
      m.store(key, v);
      model[key] = v;
      return true;
    case 2: {
      auto [actual, loaded] = m.load_or_store(key, v);
      auto want = model_get();
      bool ok = loaded == want.has_value() && actual == (want ? *want : v);
      EXPECT_TRUE(ok) << "load_or_store " << key;
      if (!want) model[key] = v;
      return ok;
    }
    case 3: {
      auto got = m.load_and_delete(key);
      bool ok = got == model_get();
      EXPECT_TRUE(ok) << "load_and_delete " << key;
      model.erase(key);
      return ok;
    }
    case 4:
      m.erase(key);
      model.erase(key);
      return true;
    case 5: {
      auto got = m.swap(key, v);
      bool ok = got == model_get();
      EXPECT_TRUE(ok) << "swap " << key;
      model[key] = v;
      return ok;
    }
    case 6: {
      // Half the time with the right expected value.
      auto want = model_get();
      V expected = want && rng() % 2 ? *want : Vals::make(key, -1);
      bool swapped = m.compare_and_swap(key, expected, v);
      bool ok = swapped == (want && *want == expected);
      EXPECT_TRUE(ok) << "compare_and_swap " << key;
      if (swapped) model[key] = v;
      return ok;
    }
    case 7: {
      auto want = model_get();
      V expected = want && rng() % 2 ? *want : Vals::make(key, -1);
      bool deleted = m.compare_and_delete(key, expected);
      bool ok = deleted == (want && *want == expected);
      EXPECT_TRUE(ok) << "compare_and_delete " << key;
      if (deleted) model.erase(key);
      return ok;
    }
    default: {
      auto got = m.load(key);
      return got == model_get();
    }
  }
}

// Everything in the map, by range.
template <typename Model, typename M>
Model contents(M& m) {
  Model out;
  m.range([&](const int64_t& k, const auto& v) {
    EXPECT_TRUE(out.emplace(k, v).second) << "range visited " << k << " twice";
    return true;
  });
  return out;
}

template <typename P>
class MapTest : public SchedTest {
 protected:
  using M = typename P::MapType;
  using V = typename P::V;
  using Vals = typename P::Vals;
  using Model = absl::flat_hash_map<int64_t, V>;

  void TearDown() override {
    SchedTest::TearDown();
    // Every retired snapshot, entry and value is freed after a grace
    // period (ASan's leak check would report what is not).
    run([] { reclaim_internal::synchronize(); });
    EXPECT_EQ(reclaim_internal::pending(), 0);
  }
};

using MapTypes = ::testing::Types<
    Param<Map<int64_t, std::string>, StringValues>,
    Param<Map<int64_t, int64_t>, WordValues>,
    Param<Map<int64_t, Wide>, WideValues>,
    Param<ShardedMap<int64_t, std::string>, StringValues>,
    Param<ShardedMap<int64_t, int64_t>, WordValues>>;
TYPED_TEST_SUITE(MapTest, MapTypes);

// Sequential random operations over few keys (so that promotion,
// expunging and un-expunging all happen) match the model at every step;
// range sees exactly the model; range stops when f returns false.
TYPED_TEST(MapTest, SequentialMatchesModel) {
  using M = typename TestFixture::M;
  using Model = typename TestFixture::Model;
  using Vals = typename TestFixture::Vals;
  run([] {
    M m;
    Model model;
    std::mt19937_64 rng(1);
    const int64_t steps = scaled(200000, 50000, 20000);
    for (int64_t i = 0; i < steps; i++) {
      int64_t key = static_cast<int64_t>(rng() % 64);
      ASSERT_TRUE(step<TypeParam>(m, model, rng, key, i)) << "step " << i;
      if (i % 997 == 0) {
        ASSERT_EQ(contents<Model>(m), model) << "step " << i;
      }
    }
    EXPECT_EQ(contents<Model>(m), model);
    int visited = 0;
    m.store(1000, Vals::make(1000, 0));
    m.store(1001, Vals::make(1001, 0));
    m.range([&](const int64_t&, const auto&) {
      visited++;
      return false;
    });
    EXPECT_EQ(visited, 1);
  });
}

// Concurrent: 6 goroutines on 2 Ps and 2 threads, each owning the keys
// k with k % 8 == its index, run random operations checked against their
// own model, and also load other workers' keys (the value must belong to
// the key, untorn) and range (every pair must belong to its key). At the
// end the map equals the union of the models.
TYPED_TEST(MapTest, ConcurrentMatchesModels) {
  using M = typename TestFixture::M;
  using Model = typename TestFixture::Model;
  using Vals = typename TestFixture::Vals;
  ScopedProcs p(2);
  Watchdog dog("map concurrent", 120);
  const int64_t steps = scaled(40000, 10000, 2000);
  M m;
  std::vector<Model> models(8);
  std::atomic<bool> bad{false};
  auto worker = [&](int w) {
    std::mt19937_64 rng(100 + w);
    for (int64_t i = 0; i < steps; i++) {
      int64_t key = static_cast<int64_t>(rng() % 32) * 8 + w;
      if (!step<TypeParam>(m, models[w], rng, key, i)) bad.store(true);
      if (i % 16 == 0) {
        int64_t other = static_cast<int64_t>(rng() % 256);
        if (auto v = m.load(other); v && !Vals::belongs_to(*v, other)) {
          bad.store(true);
        }
      }
      if (i % 4096 == 0) {
        m.range([&](const int64_t& k, const auto& v) {
          if (!Vals::belongs_to(v, k)) bad.store(true);
          return true;
        });
      }
    }
  };
  run([&] {
    KeepRunnable keep;
    WaitGroup wg;
    wg.add(8);
    for (int w = 0; w < 6; w++) {
      go([&, w] {
        worker(w);
        wg.done();
      });
    }
    std::vector<std::thread> threads;
    for (int w = 6; w < 8; w++) {
      threads.emplace_back([&, w] {
        worker(w);
        wg.done();
      });
    }
    wg.wait();
    for (auto& t : threads) t.join();
  });
  EXPECT_FALSE(bad.load());
  Model all;
  for (auto& mo : models) all.insert(mo.begin(), mo.end());
  EXPECT_EQ(contents<Model>(m), all);
}

// Writers on the same entries: 4 goroutines on 2 Ps and 2 threads each
// increment the version of 4 shared keys by load + compare_and_swap
// (retrying on failure), while also storing and loading a fifth key.
// compare_and_swap must be atomic on one entry (for inline values: the
// sequence lock excludes writers, and a reader never returns a torn
// value), so every key ends at exactly the number of increments, and every
// value read belongs to its key.
TYPED_TEST(MapTest, CompareAndSwapCountsEveryIncrement) {
  using M = typename TestFixture::M;
  using V = typename TestFixture::V;
  using Vals = typename TestFixture::Vals;
  ScopedProcs p(2);
  Watchdog dog("map compare_and_swap counter", 120);
  constexpr int kKeys = 4;
  constexpr int kWorkers = 6;
  const int64_t increments = scaled(20000, 5000, 500);
  M m;
  for (int k = 0; k < kKeys; k++) m.store(k, Vals::make(k, 0));
  std::atomic<bool> bad{false};
  auto worker = [&](int w) {
    std::mt19937_64 rng(7 + w);
    for (int64_t i = 0; i < increments; i++) {
      int64_t key = static_cast<int64_t>(rng() % kKeys);
      for (;;) {
        std::optional<V> cur = m.load(key);
        if (!cur || !Vals::belongs_to(*cur, key)) {
          bad.store(true);
          break;
        }
        V next = Vals::make(key, Vals::version_of(*cur) + 1);
        if (m.compare_and_swap(key, *cur, next)) break;
      }
      m.store(kKeys, Vals::make(kKeys, i));
      if (auto v = m.load(kKeys); !v || !Vals::belongs_to(*v, kKeys)) {
        bad.store(true);
      }
    }
  };
  // Each worker's increments, per key, are counted by replaying its rng.
  std::vector<int64_t> want(kKeys, 0);
  for (int w = 0; w < kWorkers; w++) {
    std::mt19937_64 rng(7 + w);
    for (int64_t i = 0; i < increments; i++) want[rng() % kKeys]++;
  }
  run([&] {
    KeepRunnable keep;
    WaitGroup wg;
    wg.add(kWorkers);
    for (int w = 0; w < kWorkers - 2; w++) {
      go([&, w] {
        worker(w);
        wg.done();
      });
    }
    std::vector<std::thread> threads;
    for (int w = kWorkers - 2; w < kWorkers; w++) {
      threads.emplace_back([&, w] {
        worker(w);
        wg.done();
      });
    }
    wg.wait();
    for (auto& t : threads) t.join();
  });
  EXPECT_FALSE(bad.load());
  for (int k = 0; k < kKeys; k++) {
    std::optional<V> v = m.load(k);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(Vals::version_of(*v), want[k]) << "key " << k;
  }
}

// The reclaimer (reclaim.h), in whichever mode this process runs
// (asymmetric with membarrier, or the fallback: map_test_fallback runs
// this binary with GODEBUG=syncxmembarrier=0).
struct Obj {
  static constexpr int64_t kAlive = 0x600d;
  static constexpr int64_t kDead = 0xdead;
  std::atomic<int64_t> magic{kAlive};
  std::atomic<bool>* freed = nullptr;  // set by destroy, if non-null
};
void destroy_obj(void* p) {
  Obj* o = static_cast<Obj*>(p);
  o->magic.store(Obj::kDead, std::memory_order_relaxed);
  if (o->freed != nullptr) o->freed->store(true, std::memory_order_release);
  delete o;
}

TEST(ReclaimTest, ModeIsDecided) {
  { reclaim_internal::ReadSection section; }
  uint32_t mode = reclaim_internal::g_mode.load(std::memory_order_relaxed);
  EXPECT_TRUE(mode == reclaim_internal::kAsymmetric ||
              mode == reclaim_internal::kFallback);
  const std::string* knob = sys::env().godebug.find("syncxmembarrier");
  if (knob != nullptr && *knob == "0") {
    EXPECT_EQ(mode, reclaim_internal::kFallback);
  }
  std::printf("reclaim mode: %s\n",
              mode == reclaim_internal::kAsymmetric ? "asymmetric"
                                                    : "fallback");
}

// An object retired while a section that loaded it is open is not freed
// until that section ends, for a goroutine's section (also one that parks
// and resumes, perhaps on another P, in the middle) and a plain thread's:
// the reader loads the shared pointer inside its section, then the object
// is unlinked and retired and synchronize runs on another thread; for 20
// ms the reader sees it not freed (and reads it: ASan), then ends its
// section; synchronize then returns, and the object is freed.
void check_section_holds(bool goroutine, bool park) {
  std::atomic<Obj*> shared{new Obj};
  std::atomic<bool> freed{false};
  shared.load()->freed = &freed;
  std::atomic<int> phase{0};  // 1: reader holds the object; 2: retired
  std::atomic<bool> bad{false};
  auto reader = [&] {
    reclaim_internal::ReadSection section;
    Obj* o = shared.load(std::memory_order_acquire);
    phase.store(1);
    while (phase.load() != 2) {
    }
    if (park) {
      section.allow_park();
      for (int i = 0; i < 10; i++) yield();
      section.disallow_park();
    }
    int64_t until = sys::nanotime() + 20'000'000;
    while (sys::nanotime() < until) {
      if (freed.load() ||
          o->magic.load(std::memory_order_relaxed) != Obj::kAlive) {
        bad.store(true);
      }
    }
  };
  std::thread reclaimer([&] {
    while (phase.load() != 1) {
    }
    Obj* o = shared.exchange(nullptr);  // unlink
    reclaim_internal::retire(o, &destroy_obj);
    phase.store(2);
    reclaim_internal::synchronize();
    if (!freed.load(std::memory_order_acquire)) bad.store(true);
  });
  if (goroutine) {
    run([&] {
      WaitGroup wg;
      wg.add(1);
      go([&] {
        reader();
        wg.done();
      });
      wg.wait();
    });
  } else {
    std::thread t(reader);
    t.join();
  }
  reclaimer.join();
  EXPECT_FALSE(bad.load()) << "goroutine=" << goroutine << " park=" << park;
  EXPECT_TRUE(freed.load());
}

TEST(ReclaimTest, SectionHoldsRetiredObject) {
  ScopedProcs p(2);
  Watchdog dog("reclaim section holds", 60);
  check_section_holds(/*goroutine=*/true, /*park=*/false);
  check_section_holds(/*goroutine=*/true, /*park=*/true);
  check_section_holds(/*goroutine=*/false, /*park=*/false);
}

// Readers (4 goroutines on 2 Ps and a plain thread) load a shared object
// in short sections and read it, while a writer goroutine keeps replacing
// it and retiring the old one (destroy poisons it, then frees it) and
// reclaims when due: no reader ever sees a poisoned object (nor, under
// ASan, a freed one).
TEST(ReclaimTest, ReadersNeverSeeFreedObjects) {
  ScopedProcs p(2);
  Watchdog dog("reclaim stress", 120);
  const int64_t replacements = scaled(200000, 50000, 5000);
  std::atomic<Obj*> shared{new Obj};
  std::atomic<bool> stop{false};
  std::atomic<bool> bad{false};
  std::atomic<int64_t> reads{0};
  auto reader = [&](bool goroutine) {
    int64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      {
        reclaim_internal::ReadSection section;
        Obj* o = shared.load(std::memory_order_acquire);
        if (o->magic.load(std::memory_order_relaxed) != Obj::kAlive) {
          bad.store(true);
        }
      }
      // Outside a section now (the destructor ran): let the writer run
      // (no preemption by signal under TSan).
      if (++n % 64 == 0 && goroutine) yield();
    }
    reads.fetch_add(n);
  };
  std::thread thread_reader(reader, false);
  run([&] {
    WaitGroup wg;
    wg.add(5);
    for (int r = 0; r < 4; r++) {
      go([&] {
        reader(true);
        wg.done();
      });
    }
    go([&] {
      for (int64_t i = 0; i < replacements; i++) {
        Obj* old = shared.exchange(new Obj, std::memory_order_acq_rel);
        reclaim_internal::retire(old, &destroy_obj);
        reclaim_internal::maybe_reclaim();
        if (i % 4096 == 0) yield();  // let readers on this P run
      }
      stop.store(true);
      wg.done();
    });
    wg.wait();
  });
  thread_reader.join();
  EXPECT_FALSE(bad.load());
  EXPECT_GT(reads.load(), 0);
  destroy_obj(shared.load());
  run([] { reclaim_internal::synchronize(); });
  EXPECT_EQ(reclaim_internal::pending(), 0);
}

// Go's sync.Map promotes the dirty map after len(dirty) misses: after new
// keys are stored and loaded enough times, they are served from the
// snapshot (observable as: loads keep returning them, and range sees them
// exactly once). Also LoadOrStore of a deleted-then-expunged key.
TEST(SyncMapTest, PromotionAndExpunge) {
  run([] {
    Map<int, int> m;
    for (int i = 0; i < 10; i++) m.store(i, i);
    for (int r = 0; r < 20; r++) {
      for (int i = 0; i < 10; i++) ASSERT_EQ(m.load(i), i);
    }
    m.erase(3);       // 3 -> deleted in the snapshot
    m.store(100, 1);  // a new key: dirty is made, 3 is expunged
    EXPECT_EQ(m.load(3), std::nullopt);
    auto [v, loaded] = m.load_or_store(3, 33);  // un-expunge
    EXPECT_FALSE(loaded);
    EXPECT_EQ(v, 33);
    EXPECT_EQ(m.load(3), 33);
    int n = 0;
    m.range([&](const int&, const int&) {
      n++;
      return true;
    });
    EXPECT_EQ(n, 11);
  });
}

}  // namespace
}  // namespace gort::syncx
