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

// Incremented by two threads with no synchronization of their own. Read at the end too: a
// global that is only written can be optimized away, and with it the race.
int shared_value = 0;

// `writes_after_point`: each thread writes after a scheduling point and takes another before it
// exits (both threads alive at the race), or writes first thing (the first writer may be gone).
void RaceOrderedOnlyByTheScheduler(bool writes_after_point) {
  ControlledOptions options;
  options.strategy = ScheduleStrategy::kRandom;
  options.seed = 1;
  ControlledScheduler scheduler(options);
  scheduler.Begin();
  Thread a("a", [writes_after_point] {
    if (writes_after_point) SchedulePoint("a.before");
    shared_value += 1;
    SchedulePoint("a.after");
  });
  Thread b("b", [writes_after_point] {
    if (writes_after_point) SchedulePoint("b.before");
    shared_value += 2;
    SchedulePoint("b.after");
  });
  a.join();
  b.join();
  scheduler.End();
  std::fprintf(stderr, "no report (value %d)\n", shared_value);
  std::_Exit(0);
}

TEST(ControlledSchedulerTsanDeathTest, ARaceOrderedOnlyByTheScheduleIsReported) {
  if (!kBuiltWithTsan) GTEST_SKIP() << "needs the tsan preset";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (bool writes_after_point : {true, false}) {
    EXPECT_EXIT(RaceOrderedOnlyByTheScheduler(writes_after_point), ::testing::ExitedWithCode(84),
                "WARNING: ThreadSanitizer: data race(.|\n)*Location is global "
                "'netrig::\\(anonymous namespace\\)::shared_value'")
        << "writes_after_point=" << writes_after_point;
  }
}

}  // namespace
}  // namespace netrig
