// Schedule points: the one seam between lifecycle code and whatever controls interleavings.
//
// Lifecycle code calls SchedulePoint() at each interesting transition. By default (kOff) the call
// is one relaxed atomic load. In kPerturb mode each call may yield or sleep for a few
// microseconds, drawn from a seeded generator, so stress runs explore more interleavings. A run
// prints its perturbation seed; passing it back reuses the same per-thread decision streams.
// (Threads still race for the CPU, so a seed makes a finding likelier, not certain, to recur.)
//
// Example:
//   netrig::ConfigureSchedule({.mode = netrig::ScheduleMode::kPerturb, .seed = 42});
//   ...
//   netrig::SchedulePoint("task.resume");
//
// Names are string literals: the thread census (thread_census.h) keeps the last one each thread
// passed, for the watchdog's hang report.
#ifndef NETRIG_HARNESS_SCHED_SCHEDULE_POINT_H_
#define NETRIG_HARNESS_SCHED_SCHEDULE_POINT_H_

#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace netrig {

enum class ScheduleMode { kOff, kPerturb };

struct ScheduleOptions {
  ScheduleMode mode = ScheduleMode::kOff;
  uint64_t seed = 0;
  // Probability (per point) of std::this_thread::yield().
  double yield_probability = 0.05;
  // Probability (per point) of sleeping up to max_sleep_us microseconds.
  double sleep_probability = 0.01;
  int max_sleep_us = 50;
};

// Sets the mode for the whole process. Threads pick the new options up at their next point.
void ConfigureSchedule(const ScheduleOptions& options);
ScheduleOptions CurrentSchedule();
// Number of points passed in kPerturb mode since start (for reports).
uint64_t SchedulePointsHit();

namespace internal {
extern std::atomic<bool> schedule_active;
void SchedulePointSlow(absl::string_view name);
// A controlled scheduler (controlled.h) turns schedule points into its steps while it runs.
void EnableScheduleHooks(bool enabled);
// thread_census.h; `point` must be a string literal.
void NoteSchedulePoint(const char* point);
}  // namespace internal

inline void SchedulePoint(absl::string_view name) {
  // Always: the watchdog's hang report names each thread's last point (thread_census.h).
  internal::NoteSchedulePoint(name.data());
  if (internal::schedule_active.load(std::memory_order_relaxed)) {
    internal::SchedulePointSlow(name);
  }
}

}  // namespace netrig

#endif  // NETRIG_HARNESS_SCHED_SCHEDULE_POINT_H_
