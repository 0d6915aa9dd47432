#include "harness/sched/thread.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "harness/sched/clock.h"

namespace netrig {
namespace {

// Ids follow the spawn tree, not OS thread ids: the k-th thread tX starts is tX.k.
TEST(Thread, IdsFollowTheSpawnTree) {
  const std::string parent = CurrentThreadId();
  std::string child_id, grandchild_id, child_name;
  Thread child("worker", [&] {
    child_id = CurrentThreadId();
    child_name = CurrentThreadName();
    Thread grandchild("helper", [&] { grandchild_id = CurrentThreadId(); });
    grandchild.join();
  });
  Thread sibling("other", [] {});
  child.join();
  sibling.join();
  EXPECT_EQ(child.id(), child_id);
  EXPECT_EQ(child_name, "worker");
  EXPECT_EQ(grandchild_id, child_id + ".0");
  EXPECT_EQ(child_id.substr(0, parent.size() + 1), parent + ".");
  // The sibling came right after the child.
  const int child_k = std::stoi(child_id.substr(parent.size() + 1));
  EXPECT_EQ(sibling.id(), parent + "." + std::to_string(child_k + 1));
}

TEST(Thread, MainThreadIsT0) {
  // gtest runs tests on the process's main thread.
  EXPECT_EQ(CurrentThreadId(), "t0");
  EXPECT_EQ(CurrentThreadName(), "main");
}

TEST(ThreadAffinity, OwnerPassesOthersAbort) {
  ThreadAffinity affinity;
  affinity.Check("unbound: anyone");
  affinity.BindToCurrent();
  EXPECT_TRUE(affinity.IsCurrent());
  affinity.Check("the owner");
  bool other_is_current = true;
  Thread other("other", [&] { other_is_current = affinity.IsCurrent(); });
  other.join();
  EXPECT_FALSE(other_is_current);
  EXPECT_DEATH(
      {
        Thread intruder("intruder", [&] { affinity.Check("EventOnly"); });
        intruder.join();
      },
      "EventOnly must run on thread t0 \\(main\\), not on t0\\.[0-9]+ \\(intruder\\)");
  affinity.Unbind();
  EXPECT_FALSE(affinity.IsCurrent());
}

TEST(HarnessClock, RealByDefaultAndReplaceable) {
  const absl::Time before = absl::Now();
  EXPECT_GE(netrig::Now(), before);
  class FixedClock : public Clock {
   public:
    absl::Time Now() override { return now; }
    void SleepUntil(absl::Time when) override { now = std::max(now, when); }
    absl::Time now = absl::FromUnixSeconds(1000);
  } fixed;
  SetHarnessClock(&fixed);
  EXPECT_EQ(netrig::Now(), absl::FromUnixSeconds(1000));
  netrig::SleepFor(absl::Hours(2));  // Virtual: costs no wall time.
  EXPECT_EQ(netrig::Now(), absl::FromUnixSeconds(1000) + absl::Hours(2));
  SetHarnessClock(nullptr);
  EXPECT_GE(netrig::Now(), before);
}

}  // namespace
}  // namespace netrig
