// The thread census (sched/thread_census.h): threads blocked inside a watched callback are found
// with their name, last schedule point and a symbolized stack, also while blocked on a lock (the
// case of a deadlocked client) and under ASan and TSan.
#include "harness/sched/thread_census.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

Mutex blocker;

// Named so that the stack must show it: a callback that waits for a lock held elsewhere.
__attribute__((noinline)) void CensusTestCallbackWaitingForLock(std::atomic<bool>* entered) {
  WatchedCallback in_callback("completion");
  SchedulePoint("census_test.before_lock");
  entered->store(true);
  blocker.Lock();
  blocker.Unlock();
  asm volatile("" ::: "memory");  // Keeps the frame (no tail call).
}

const ThreadSnapshot* Find(const std::vector<ThreadSnapshot>& threads, const std::string& name) {
  for (const ThreadSnapshot& thread : threads) {
    if (thread.name == name) return &thread;
  }
  return nullptr;
}

TEST(ThreadCensusTest, FindsAThreadBlockedInACallbackWithItsPointAndStack) {
  std::atomic<bool> entered{false};
  blocker.Lock();
  Thread blocked("census.blocked", [&entered] { CensusTestCallbackWaitingForLock(&entered); });
  while (!entered.load()) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(150));

  const std::vector<ThreadSnapshot> long_ones =
      ThreadsInCallbackLongerThan(absl::Milliseconds(100));
  const ThreadSnapshot* hung = Find(long_ones, "census.blocked");
  ASSERT_NE(hung, nullptr);
  EXPECT_STREQ(hung->callback, "completion");
  EXPECT_EQ(hung->last_point, "census_test.before_lock");
  EXPECT_TRUE(hung->netrig_thread);
  EXPECT_GE(hung->in_callback_for, absl::Milliseconds(100));

  const std::vector<ThreadSnapshot> all = CaptureThreadStacks(absl::Seconds(5));
  const ThreadSnapshot* with_stack = Find(all, "census.blocked");
  ASSERT_NE(with_stack, nullptr);
  EXPECT_TRUE(with_stack->has_stack) << with_stack->stack;
  EXPECT_THAT(with_stack->stack, HasSubstr("CensusTestCallbackWaitingForLock"));
  // The calling thread is in the census too (it passed no point, so it joined just now or is
  // absent): every listed thread has a stack or says why not.
  for (const ThreadSnapshot& thread : all) EXPECT_FALSE(thread.stack.empty()) << thread.name;
  const std::string report = FormatThreadSnapshots(all);
  EXPECT_THAT(report, HasSubstr("\"census.blocked\""));
  EXPECT_THAT(report, HasSubstr("last schedule point census_test.before_lock"));
  EXPECT_THAT(report, HasSubstr("in completion callback for"));

  blocker.Unlock();
  blocked.join();
  EXPECT_EQ(Find(ThreadsInCallbackLongerThan(absl::ZeroDuration()), "census.blocked"), nullptr);
}

TEST(ThreadCensusTest, AThreadNetrigDidNotStartIsListedAsSuch) {
  std::atomic<bool> entered{false};
  blocker.Lock();
  std::thread foreign([&entered] { CensusTestCallbackWaitingForLock(&entered); });
  while (!entered.load()) absl::SleepFor(absl::Milliseconds(1));
  const std::vector<ThreadSnapshot> all = CaptureThreadStacks(absl::Seconds(5));
  blocker.Unlock();
  foreign.join();
  const ThreadSnapshot* found = Find(all, "unregistered");
  ASSERT_NE(found, nullptr);
  EXPECT_FALSE(found->netrig_thread);
  EXPECT_THAT(FormatThreadSnapshots(all), HasSubstr("not a netrig thread"));
}

}  // namespace
}  // namespace netrig
