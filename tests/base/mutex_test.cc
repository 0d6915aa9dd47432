#include "harness/base/mutex.h"

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

class GuardedCounter {
 public:
  void Add() {
    MutexLock lock(&mu_);
    ++count_;
    changed_.SignalAll();
  }
  int Get() {
    MutexLock lock(&mu_);
    return count_;
  }
  // Waits until the count reaches `target` or the timeout passes; returns the count seen.
  int WaitFor(int target, absl::Duration timeout) {
    MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (count_ < target && absl::Now() < deadline) {
      changed_.WaitWithTimeout(&mu_, deadline - absl::Now());
    }
    return count_;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Under the tsan preset this is the check that netrig::Mutex is visible to TSan (Debian's
// absl::Mutex is not): a race here would fail the test with exit code 84.
TEST(MutexTest, CounterFromFourThreadsIsExact) {
  GuardedCounter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) counter.Add();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.Get(), 40000);
}

TEST(MutexTest, CondVarWakesWaiter) {
  GuardedCounter counter;
  std::thread producer([&] {
    for (int i = 0; i < 3; ++i) counter.Add();
  });
  EXPECT_EQ(counter.WaitFor(3, absl::Seconds(30)), 3);
  producer.join();
}

TEST(MutexTest, WaitWithTimeoutTimesOut) {
  GuardedCounter counter;
  EXPECT_EQ(counter.WaitFor(1, absl::Milliseconds(20)), 0);
}

}  // namespace
}  // namespace netrig
