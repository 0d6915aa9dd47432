// Internal: how netrig::Thread and SchedulePoint reach a running controlled scheduler
// (controlled.h). The scheduler installs the table while it runs; without one every hook is a
// relaxed load and a branch.
#ifndef NETRIG_HARNESS_SCHED_CONTROL_HOOKS_H_
#define NETRIG_HARNESS_SCHED_CONTROL_HOOKS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace netrig::internal {

struct ControlHooks {
  // Parent side of a spawn: registers the child; returns its record (null: it runs free). The
  // parent then starts the OS thread and passes the "thread.spawn" point.
  void* (*on_spawn)(const std::string& id);
  // Child side, first thing on the new thread: waits for the baton.
  void (*on_start)(void* record);
  // Child side, last thing: hands the baton on for good.
  void (*on_exit)(void* record);
  // Joiner side, before the real join: waits (as a scheduling step) until the child has exited.
  void (*before_join)(void* record);
  // SchedulePoint(name).
  void (*on_point)(absl::string_view name);
};

extern std::atomic<const ControlHooks*> control_hooks;
// Bumped by every scheduler run: a thread record belongs to the run that made it.
extern std::atomic<uint64_t> control_epoch;

inline const ControlHooks* ActiveControlHooks() {
  return control_hooks.load(std::memory_order_acquire);
}

}  // namespace netrig::internal

#endif  // NETRIG_HARNESS_SCHED_CONTROL_HOOKS_H_
