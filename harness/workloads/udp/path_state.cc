#include "harness/workloads/udp/path_state.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "harness/sched/clock.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

absl::Status PathState::OpenLive(
    Instance* instance, absl::FunctionRef<absl::StatusOr<std::unique_ptr<Flow>>()> create) {
  MutexLock lock(&mu_);
  absl::StatusOr<std::unique_ptr<Flow>> flow = create();
  if (!flow.ok()) return flow.status();
  instance->flow = std::move(*flow);
  if (down()) instance->flow->OnPathEvent(PathEvent::kPathLost);
  live_.push_back(instance);
  return absl::OkStatus();
}

void PathState::RemoveLive(Instance* instance) {
  MutexLock lock(&mu_);
  live_.erase(std::remove(live_.begin(), live_.end(), instance), live_.end());
  must_leave_waiting_.erase(instance);
}

void PathState::Set(bool up) {
  MutexLock lock(&mu_);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  Add(counters_->path_events);
  if (!up) {
    down_.store(true, std::memory_order_release);
    for (FaultRelay* relay : relays_) relay->SetPathUp(false);
    must_leave_waiting_.clear();
    for (Instance* instance : live_) {
      if (!instance->closing.load(std::memory_order_acquire)) {
        instance->flow->OnPathEvent(PathEvent::kPathLost);
      }
    }
  } else {
    for (FaultRelay* relay : relays_) relay->SetPathUp(true);
    const absl::Time by = netrig::Now() + options_.waiting_deadline;
    for (Instance* instance : live_) {
      if (instance->closing.load(std::memory_order_acquire)) continue;
      instance->flow->OnPathEvent(PathEvent::kPathBack);
      must_leave_waiting_[instance] = by;
    }
    down_.store(false, std::memory_order_release);
  }
  epoch_.fetch_add(1, std::memory_order_acq_rel);
}

void PathState::CheckWaiting(absl::Time now) {
  MutexLock lock(&mu_);
  for (auto it = must_leave_waiting_.begin(); it != must_leave_waiting_.end();) {
    Instance* instance = it->first;
    if (instance->closing.load(std::memory_order_acquire) ||
        instance->flow->state() != FlowState::kWaiting) {
      it = must_leave_waiting_.erase(it);
      continue;
    }
    if (now > it->second) {
      ReportViolation("stuck_waiting",
                      absl::StrFormat("flow '%s' (instance %d) is still \"waiting\" %s after the "
                                      "path came back",
                                      options_.flow, instance->id,
                                      absl::FormatDuration(options_.waiting_deadline)));
      it = must_leave_waiting_.erase(it);
      continue;
    }
    ++it;
  }
}

bool PathState::WaitingChecksPending() {
  MutexLock lock(&mu_);
  return !must_leave_waiting_.empty();
}

uint64_t PathState::CountWaiting() {
  MutexLock lock(&mu_);
  uint64_t waiting = 0;
  for (Instance* instance : live_) {
    if (!instance->closing.load() && instance->flow->state() == FlowState::kWaiting) ++waiting;
  }
  return waiting;
}

}  // namespace netrig::internal::udp_stress
