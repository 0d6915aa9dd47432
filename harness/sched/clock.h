// The harness clock: every deadline, drain, watchdog tick, rate pace and sleep of the harness
// reads and sleeps through these three functions, so that a controlled scheduler can make time
// virtual (a drain of two seconds then costs no wall time). Without one they are the real clock
// (absl::Now), at the cost of one relaxed load.
//
// What stays on the real clock on purpose: child-process timeouts (harness/findings), and the
// outer hang guards that must fire even if harness time stood still.
//
// Example:
//   const absl::Time deadline = netrig::Now() + options.drain;
//   while (netrig::Now() < deadline && !done()) netrig::SleepFor(absl::Milliseconds(2));
#ifndef NETRIG_HARNESS_SCHED_CLOCK_H_
#define NETRIG_HARNESS_SCHED_CLOCK_H_

#include <atomic>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace netrig {

// A clock that replaces the real one (a controlled scheduler's virtual time).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void SleepUntil(absl::Time when) = 0;
};

namespace internal {
extern std::atomic<Clock*> harness_clock;
// `precise`: yield through the last 200 us instead of trusting the kernel's timer slack.
void RealSleepUntil(absl::Time when, bool precise);
}  // namespace internal

inline absl::Time Now() {
  Clock* clock = internal::harness_clock.load(std::memory_order_relaxed);
  return clock == nullptr ? absl::Now() : clock->Now();
}

inline void SleepUntil(absl::Time when) {
  Clock* clock = internal::harness_clock.load(std::memory_order_relaxed);
  if (clock == nullptr) {
    internal::RealSleepUntil(when, /*precise=*/false);
  } else {
    clock->SleepUntil(when);
  }
}

inline void SleepFor(absl::Duration duration) { SleepUntil(Now() + duration); }

// SleepUntil for open-loop pacing: on the real clock it yields through the last 200 us (the
// kernel's 50 us default timer slack would otherwise bunch intended starts at high rates).
inline void PaceUntil(absl::Time when) {
  Clock* clock = internal::harness_clock.load(std::memory_order_relaxed);
  if (clock == nullptr) {
    internal::RealSleepUntil(when, /*precise=*/true);
  } else {
    clock->SleepUntil(when);
  }
}

// Installs `clock` (null: the real one) for the whole process; the caller keeps it alive.
void SetHarnessClock(Clock* clock);

}  // namespace netrig

#endif  // NETRIG_HARNESS_SCHED_CLOCK_H_
