#include "harness/sched/clock.h"

#include <thread>

namespace netrig {
namespace internal {

std::atomic<Clock*> harness_clock{nullptr};

void RealSleepUntil(absl::Time when, bool precise) {
  while (true) {
    const absl::Duration left = when - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    if (!precise) {
      absl::SleepFor(left);
      return;
    }
    if (left > absl::Microseconds(200)) {
      absl::SleepFor(left - absl::Microseconds(100));
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace internal

void SetHarnessClock(Clock* clock) {
  internal::harness_clock.store(clock, std::memory_order_relaxed);
}

}  // namespace netrig
