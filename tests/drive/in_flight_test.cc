#include "harness/drive/in_flight.h"

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

TEST(InFlightBudget, TakesUpToTheLimitThenWaitsForARelease) {
  InFlightBudget budget(2);
  auto never = [] { return false; };
  EXPECT_TRUE(budget.Acquire(1, never));
  EXPECT_TRUE(budget.Acquire(1, never));
  EXPECT_EQ(budget.in_flight(), 2);
  std::atomic<bool> got{false};
  Thread waiter("waiter", [&] { got = budget.Acquire(1, [] { return false; }); });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(got.load());  // Still waiting: the budget is spent.
  budget.Release(1);
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(budget.in_flight(), 2);
}

TEST(InFlightBudget, GivesUpWhenAsked) {
  InFlightBudget budget(1);
  ASSERT_TRUE(budget.Acquire(1, [] { return false; }));
  int asked = 0;
  EXPECT_FALSE(budget.Acquire(
      1, [&] { return ++asked >= 3; }, absl::Milliseconds(1)));
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(budget.in_flight(), 1);  // Nothing taken by the failed Acquire.
}

TEST(InFlightBudget, AnOversizedOperationGoesAloneAndRoomIsNotTaken) {
  InFlightBudget budget(100);
  EXPECT_TRUE(budget.Acquire(500, [] { return true; }));  // Nothing in flight: it goes.
  EXPECT_FALSE(budget.WaitForRoom(10, [] { return true; }));
  budget.Release(500);
  EXPECT_TRUE(budget.WaitForRoom(10, [] { return true; }));
  EXPECT_EQ(budget.in_flight(), 0);  // WaitForRoom takes nothing.
  budget.Add(30);
  EXPECT_EQ(budget.in_flight(), 30);
  InFlightBudget unlimited(0);
  EXPECT_TRUE(unlimited.Acquire(1 << 30, [] { return true; }));
  EXPECT_TRUE(unlimited.Acquire(1 << 30, [] { return true; }));
}

}  // namespace
}  // namespace netrig
