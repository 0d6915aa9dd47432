// The watchdog's hang check (check/watchdog.h): a client callback that does not return within
// `hang_after` is one `hang` violation whose message names the thread, its last schedule point
// and its stack; callbacks that return in time are not.
#include "harness/check/watchdog.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"
#include "harness/sched/thread_census.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

Mutex client_lock;

__attribute__((noinline)) void WatchdogTestCompletionBlockedOnClientLock(
    std::atomic<bool>* entered) {
  WatchedCallback in_callback("completion");
  SchedulePoint("watchdog_test.reenter");
  entered->store(true);
  client_lock.Lock();
  client_lock.Unlock();
  asm volatile("" ::: "memory");
}

TEST(WatchdogHangTest, ACallbackBlockedPastTheLimitIsOneHangWithThreadsAndStacks) {
  ViolationLog violations;
  Ledger tasks(&violations, "task", absl::Seconds(60));
  Watchdog watchdog({&tasks}, &violations, absl::Hours(1), /*log=*/nullptr,
                    /*hang_after=*/absl::Milliseconds(200));
  std::atomic<bool> entered{false};
  client_lock.Lock();
  Thread blocked("client.event",
                 [&entered] { WatchdogTestCompletionBlockedOnClientLock(&entered); });
  while (!entered.load()) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(watchdog.CheckNow(), 0u);  // Not past the limit yet.
  EXPECT_FALSE(watchdog.hang_reported());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(watchdog.CheckNow(), 1u);
  EXPECT_TRUE(watchdog.hang_reported());
  EXPECT_EQ(watchdog.CheckNow(), 0u);  // Reported once.
  client_lock.Unlock();
  blocked.join();
  watchdog.Stop();

  const std::vector<Violation> kept = violations.Kept();
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].kind, "hang");
  EXPECT_THAT(kept[0].message, HasSubstr("completion callback on thread"));
  EXPECT_THAT(kept[0].message, HasSubstr("\"client.event\""));
  EXPECT_THAT(kept[0].message, HasSubstr("last schedule point watchdog_test.reenter"));
  EXPECT_THAT(kept[0].message, HasSubstr("WatchdogTestCompletionBlockedOnClientLock"));
}

TEST(WatchdogHangTest, CallbacksThatReturnAreNotHangs) {
  ViolationLog violations;
  Ledger tasks(&violations, "task", absl::Seconds(60));
  Watchdog watchdog({&tasks}, &violations, absl::Milliseconds(10), /*log=*/nullptr,
                    /*hang_after=*/absl::Milliseconds(200));
  for (int i = 0; i < 50; ++i) {
    WatchedCallback in_callback("completion");
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::SleepFor(absl::Milliseconds(250));
  watchdog.CheckNow();
  watchdog.Stop();
  EXPECT_FALSE(watchdog.hang_reported());
  EXPECT_TRUE(violations.empty());
}

}  // namespace
}  // namespace netrig
