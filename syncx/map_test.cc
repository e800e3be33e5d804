// Tests of syncx/map.h: Map and ShardedMap against a model. Sequentially,
// every operation's result must equal the model's (absl::flat_hash_map).
// Concurrently, goroutines on 2 Ps and plain threads each own a disjoint
// set of keys and check every result against their own model, while
// others load those keys and range over the map; at the end the map must
// hold exactly the union of the models. Afterwards, everything the Map
// retired is freed by a grace period (ASan checks the frees).
#include "syncx/map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sched/sched.h"
#include "sched/test_util.h"
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

// Values carry their key so that a reader of another goroutine's key can
// check the value belongs to it: "key:version". A std::string, so that a
// value read after being freed is a real use-after-free for ASan.
std::string value_for(int64_t key, int64_t version) {
  return std::to_string(key) + ":" + std::to_string(version);
}
bool belongs_to(const std::string& v, int64_t key) {
  return v.rfind(std::to_string(key) + ":", 0) == 0;
}

using Model = absl::flat_hash_map<int64_t, std::string>;

// One random operation on `m` and the model, on a key of `keys`; checks
// the result. Returns false (with a gtest failure) on a mismatch.
template <typename M>
bool step(M& m, Model& model, std::mt19937_64& rng, int64_t key,
          int64_t version) {
  auto model_get = [&]() -> std::optional<std::string> {
    auto it = model.find(key);
    if (it == model.end()) return std::nullopt;
    return it->second;
  };
  std::string v = value_for(key, version);
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
      std::string expected = want && rng() % 2 ? *want : value_for(key, -1);
      bool swapped = m.compare_and_swap(key, expected, v);
      bool ok = swapped == (want && *want == expected);
      EXPECT_TRUE(ok) << "compare_and_swap " << key;
      if (swapped) model[key] = v;
      return ok;
    }
    case 7: {
      auto want = model_get();
      std::string expected = want && rng() % 2 ? *want : value_for(key, -1);
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
template <typename M>
Model contents(M& m) {
  Model out;
  m.range([&](const int64_t& k, const std::string& v) {
    EXPECT_TRUE(out.emplace(k, v).second) << "range visited " << k << " twice";
    return true;
  });
  return out;
}

template <typename M>
class MapTest : public SchedTest {
 protected:
  void TearDown() override {
    SchedTest::TearDown();
    // Every retired snapshot, entry and value is freed after a grace
    // period (ASan's leak check would report what is not).
    run([] { reclaim_internal::synchronize(); });
    EXPECT_EQ(reclaim_internal::pending(), 0);
  }
};

using MapTypes =
    ::testing::Types<Map<int64_t, std::string>, ShardedMap<int64_t, std::string>>;
TYPED_TEST_SUITE(MapTest, MapTypes);

// Sequential random operations over few keys (so that promotion,
// expunging and un-expunging all happen) match the model at every step;
// range sees exactly the model; range stops when f returns false.
TYPED_TEST(MapTest, SequentialMatchesModel) {
  run([] {
    TypeParam m;
    Model model;
    std::mt19937_64 rng(1);
    const int64_t steps = scaled(200000, 50000, 20000);
    for (int64_t i = 0; i < steps; i++) {
      int64_t key = static_cast<int64_t>(rng() % 64);
      ASSERT_TRUE(step(m, model, rng, key, i)) << "step " << i;
      if (i % 997 == 0) {
        ASSERT_EQ(contents(m), model) << "step " << i;
      }
    }
    EXPECT_EQ(contents(m), model);
    int visited = 0;
    m.store(1000, value_for(1000, 0));
    m.store(1001, value_for(1001, 0));
    m.range([&](const int64_t&, const std::string&) {
      visited++;
      return false;
    });
    EXPECT_EQ(visited, 1);
  });
}

// Concurrent: 6 goroutines on 2 Ps and 2 threads, each owning the keys
// k with k % 8 == its index, run random operations checked against their
// own model, and also load other workers' keys (the value must belong to
// the key) and range (every pair must belong to its key). At the end the
// map equals the union of the models.
TYPED_TEST(MapTest, ConcurrentMatchesModels) {
  ScopedProcs p(2);
  Watchdog dog("map concurrent", 120);
  const int64_t steps = scaled(40000, 10000, 2000);
  TypeParam m;
  std::vector<Model> models(8);
  std::atomic<bool> bad{false};
  auto worker = [&](int w) {
    std::mt19937_64 rng(100 + w);
    for (int64_t i = 0; i < steps; i++) {
      int64_t key = static_cast<int64_t>(rng() % 32) * 8 + w;
      if (!step(m, models[w], rng, key, i)) bad.store(true);
      if (i % 16 == 0) {
        int64_t other = static_cast<int64_t>(rng() % 256);
        if (auto v = m.load(other); v && !belongs_to(*v, other)) bad.store(true);
      }
      if (i % 4096 == 0) {
        m.range([&](const int64_t& k, const std::string& v) {
          if (!belongs_to(v, k)) bad.store(true);
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
  EXPECT_EQ(contents(m), all);
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
