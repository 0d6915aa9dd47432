#include "harness/sched/schedule_point.h"

#include <random>
#include <thread>

#include "harness/base/mutex.h"
#include "harness/sched/control_hooks.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace internal {
std::atomic<bool> schedule_active{false};
std::atomic<const ControlHooks*> control_hooks{nullptr};
std::atomic<uint64_t> control_epoch{0};
}  // namespace internal

namespace {

Mutex options_mu;
ScheduleOptions options ABSL_GUARDED_BY(options_mu);
// Bumped by ConfigureSchedule so threads reseed their generators.
std::atomic<uint64_t> generation{0};
std::atomic<uint64_t> points_hit{0};

struct ThreadState {
  uint64_t generation = ~uint64_t{0};
  ScheduleOptions options;
  std::mt19937_64 rng;
};

// A fixed hash (absl::Hash is seeded per process, which would break replay).
uint64_t Fnv1a(absl::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

ThreadState& State() {
  thread_local ThreadState state;
  return state;
}

}  // namespace

void ConfigureSchedule(const ScheduleOptions& new_options) {
  {
    MutexLock lock(&options_mu);
    options = new_options;
  }
  generation.fetch_add(1);
  internal::schedule_active.store(new_options.mode != ScheduleMode::kOff);
}

ScheduleOptions CurrentSchedule() {
  MutexLock lock(&options_mu);
  return options;
}

uint64_t SchedulePointsHit() { return points_hit.load(std::memory_order_relaxed); }

namespace internal {

void SchedulePointSlow(absl::string_view name) {
  if (const ControlHooks* hooks = ActiveControlHooks()) {
    hooks->on_point(name);
    return;
  }
  ThreadState& state = State();
  const uint64_t current = generation.load(std::memory_order_acquire);
  if (state.generation != current) {
    state.generation = current;
    state.options = CurrentSchedule();
    // One stream per (seed, stable thread id): a rerun with the same seed gives each thread the
    // same decisions for the same sequence of points, whatever order threads started in.
    state.rng.seed(state.options.seed ^ (Fnv1a(CurrentThreadId()) * 0x9e3779b97f4a7c15ULL));
  }
  if (state.options.mode == ScheduleMode::kOff) return;
  points_hit.fetch_add(1, std::memory_order_relaxed);
  // Mixing the point's name in makes different points draw differently from the same stream.
  const uint64_t draw = state.rng() ^ Fnv1a(name);
  const double unit = static_cast<double>(draw >> 11) * 0x1.0p-53;
  if (unit < state.options.sleep_probability) {
    const uint64_t max_us = state.options.max_sleep_us > 0 ? state.options.max_sleep_us : 1;
    const int us = 1 + static_cast<int>(state.rng() % max_us);
    std::this_thread::sleep_for(std::chrono::microseconds(us));
  } else if (unit < state.options.sleep_probability + state.options.yield_probability) {
    std::this_thread::yield();
  }
}

void EnableScheduleHooks(bool enabled) {
  if (enabled) control_epoch.fetch_add(1, std::memory_order_acq_rel);
  schedule_active.store(enabled || CurrentSchedule().mode != ScheduleMode::kOff);
}

}  // namespace internal
}  // namespace netrig
