#include "sched/runq.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace gort::sched {
namespace {

struct Item {
  int id;
};

auto no_backoff = [] {};

// Invariant: the owner alone sees FIFO order on the ring, and runnext jumps
// the queue.
TEST(RunQueueTest, FifoWithRunnext) {
  RunQueue<Item, 8> q;
  Item items[4] = {{0}, {1}, {2}, {3}};
  EXPECT_EQ(q.put(&items[0], false), nullptr);
  EXPECT_EQ(q.put(&items[1], false), nullptr);
  EXPECT_EQ(q.put(&items[2], true), nullptr);   // runnext
  EXPECT_EQ(q.put(&items[3], true), nullptr);   // kicks 2 to the ring
  EXPECT_EQ(q.size(), 3u);
  bool inherit;
  EXPECT_EQ(q.get(&inherit), &items[3]);
  EXPECT_TRUE(inherit);
  EXPECT_EQ(q.get(&inherit), &items[0]);
  EXPECT_FALSE(inherit);
  EXPECT_EQ(q.get(&inherit), &items[1]);
  EXPECT_EQ(q.get(&inherit), &items[2]);
  EXPECT_EQ(q.get(&inherit), nullptr);
  EXPECT_TRUE(q.empty());
}

// Invariant: a full ring refuses the element; taking half for overflow
// removes exactly the older half, after which put succeeds.
TEST(RunQueueTest, OverflowTakesOlderHalf) {
  RunQueue<Item, 8> q;
  std::vector<Item> items(9);
  for (int i = 0; i < 8; i++) {
    items[i].id = i;
    ASSERT_EQ(q.put(&items[i], false), nullptr);
  }
  items[8].id = 8;
  EXPECT_EQ(q.put(&items[8], false), &items[8]);
  Item* half[8];
  ASSERT_EQ(q.take_half_for_overflow(half), 4u);
  for (int i = 0; i < 4; i++) EXPECT_EQ(half[i]->id, i);
  EXPECT_EQ(q.put(&items[8], false), nullptr);
  bool inherit;
  for (int i = 4; i <= 8; i++) EXPECT_EQ(q.get(&inherit)->id, i);
}

// Invariant: a steal takes half (rounded up) of the victim's ring, and takes
// runnext only when asked and only when the ring is empty.
TEST(RunQueueTest, StealHalfThenRunnext) {
  RunQueue<Item, 8> victim, thief;
  Item items[6] = {{0}, {1}, {2}, {3}, {4}, {5}};
  for (int i = 0; i < 5; i++) victim.put(&items[i], false);
  victim.put(&items[5], true);
  Item* got = thief.steal_from(victim, false, no_backoff);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->id, 2);          // 3 stolen (0,1,2); the last is returned
  EXPECT_EQ(thief.size(), 2u);
  EXPECT_EQ(victim.size(), 2u);
  bool inherit;
  EXPECT_EQ(victim.get(&inherit), &items[5]);
  EXPECT_EQ(victim.get(&inherit), &items[3]);
  EXPECT_EQ(victim.get(&inherit), &items[4]);
  victim.put(&items[5], true);
  EXPECT_EQ(thief.steal_from(victim, false, no_backoff), nullptr);
  int backoffs = 0;
  EXPECT_EQ(thief.steal_from(victim, true, [&] { backoffs++; }), &items[5]);
  EXPECT_EQ(backoffs, 1);
  EXPECT_TRUE(victim.empty());
}

// Invariant: under a racing owner (put/get/overflow) and two thieves, every
// element is consumed exactly once.
TEST(RunQueueTest, ConcurrentExactlyOnce) {
  constexpr int kItems = 200000;
  std::vector<Item> items(kItems);
  std::vector<std::atomic<int>> seen(kItems);
  for (int i = 0; i < kItems; i++) items[i].id = i;
  RunQueue<Item> owner;
  std::atomic<bool> done{false};
  std::atomic<int> consumed{0};

  auto consume = [&](Item* it) {
    ASSERT_EQ(seen[it->id].fetch_add(1, std::memory_order_relaxed), 0);
    consumed.fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<std::thread> thieves;
  // Thieves steal into their own rings and drain them.
  for (int k = 0; k < 2; k++) {
    thieves.emplace_back([&] {
      RunQueue<Item> mine;
      bool inherit;
      for (;;) {
        bool finished = done.load(std::memory_order_acquire);
        if (Item* it = mine.steal_from(owner, true, no_backoff)) {
          consume(it);
          while (Item* more = mine.get(&inherit)) consume(more);
        } else if (finished) {
          return;
        }
      }
    });
  }
  std::vector<Item*> global;
  Item* half[RunQueue<Item>::kCapacity];
  bool inherit;
  for (int i = 0; i < kItems; i++) {
    Item* rest = owner.put(&items[i], i % 7 == 0);
    while (rest != nullptr) {
      uint32_t n = owner.take_half_for_overflow(half);
      global.insert(global.end(), half, half + n);
      rest = owner.put(rest, false);
    }
    if (i % 3 == 0) {
      if (Item* it = owner.get(&inherit)) consume(it);
    }
  }
  while (Item* it = owner.get(&inherit)) consume(it);
  done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();
  for (Item* it : global) consume(it);
  EXPECT_EQ(consumed.load(), kItems);
  for (int i = 0; i < kItems; i++) ASSERT_EQ(seen[i].load(), 1) << i;
}

}  // namespace
}  // namespace gort::sched
