#include "harness/sched/schedule_point.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace netrig {
namespace {

TEST(SchedulePointTest, OffModeCountsNothing) {
  ConfigureSchedule({.mode = ScheduleMode::kOff});
  const uint64_t before = SchedulePointsHit();
  for (int i = 0; i < 1000; ++i) SchedulePoint("test.off");
  EXPECT_EQ(SchedulePointsHit(), before);
}

TEST(SchedulePointTest, PerturbModeCountsEveryPointFromEveryThread) {
  ConfigureSchedule({.mode = ScheduleMode::kPerturb, .seed = 7, .max_sleep_us = 2});
  const uint64_t before = SchedulePointsHit();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 500; ++i) SchedulePoint("test.perturb");
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(SchedulePointsHit() - before, 2000u);
  EXPECT_EQ(CurrentSchedule().seed, 7u);
  ConfigureSchedule({.mode = ScheduleMode::kOff});
}

}  // namespace
}  // namespace netrig
