#include "harness/check/live_objects.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace netrig {
namespace {

LiveCounter kWidgetCounter("test.widget");

struct Widget {
  LiveToken live{kWidgetCounter};
};

TEST(LiveObjectsTest, CountsFollowConstructionAndDestruction) {
  const auto baseline = LiveObjectsSnapshot();
  auto a = std::make_unique<Widget>();
  auto b = std::make_unique<Widget>(*a);  // Copies count too.
  EXPECT_EQ(kWidgetCounter.live(), 2);
  const auto changed = LiveObjectsChangedSince(baseline);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].first, "test.widget");
  EXPECT_EQ(changed[0].second, 2);
  a.reset();
  b.reset();
  EXPECT_EQ(kWidgetCounter.live(), 0);
  EXPECT_TRUE(LiveObjectsChangedSince(baseline).empty());
}

TEST(LiveObjectsTest, ConcurrentTokensBalance) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 5000; ++i) Widget w;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(kWidgetCounter.live(), 0);
  EXPECT_GE(kWidgetCounter.created(), 20000u);
}

}  // namespace
}  // namespace netrig
