// The baton must not hide races from TSan: two threads that write one plain variable, ordered
// only by the controlled scheduler, are still a data race (measured: an ordinary mutex-and-condvar
// baton hides it; the scheduler ignores its own synchronization, so TSan reports it).
#include <cstdio>

#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

int shared_value = 0;  // Written by two threads with no synchronization of their own.

void RaceOrderedOnlyByTheScheduler() {
  ControlledOptions options;
  options.strategy = ScheduleStrategy::kRandom;
  options.seed = 1;
  ControlledScheduler scheduler(options);
  scheduler.Begin();
  Thread a("a", [] {
    SchedulePoint("a.before");
    shared_value = 1;
  });
  Thread b("b", [] {
    SchedulePoint("b.before");
    shared_value = 2;
  });
  a.join();
  b.join();
  scheduler.End();
  std::fprintf(stderr, "no report\n");
  std::_Exit(0);
}

TEST(ControlledSchedulerTsanDeathTest, ARaceOrderedOnlyByTheScheduleIsReported) {
  if (!kBuiltWithTsan) GTEST_SKIP() << "needs the tsan preset";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(RaceOrderedOnlyByTheScheduler(), ::testing::ExitedWithCode(84),
              "ThreadSanitizer: data race");
}

}  // namespace
}  // namespace netrig
