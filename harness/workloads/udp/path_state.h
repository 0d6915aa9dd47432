// The `netrig udp` workload's path: whether the network path of every flow is up, the events
// that take it down and bring it back (relays stop forwarding, every live flow gets
// PathEvent::kPathLost / kPathBack), and the check that follows each return: a flow must leave
// "waiting" within --waiting_deadline (stuck_waiting). Writers take a WriteWindow around each
// Write() to learn whether it overlapped a path event (a rejection then is excused). It owns
// the path's state and the list of live flow instances. Not a public API.
//
//   PathState path(options, relays, &counters, report);
//   absl::Status opened = path.OpenLive(instance, [&] { return CreateFlow(...); });
//   PathState::WriteWindow window = path.BeginWrite();
//   ... instance->flow->Write(...) ...
//   const bool overlap = path.Overlapped(window);
//   path.Set(/*up=*/false);        // the chaos thread
//   path.CheckWaiting(Now());      // after Set(true), until nothing is pending
//   path.RemoveLive(instance);     // when the instance is finalized
//
// Threading: every method may be called from any thread; Set() and CheckWaiting() run on the
// chaos thread (and the main thread at teardown, after the chaos thread is joined).
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_PATH_STATE_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_PATH_STATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/udp/flow.h"
#include "harness/udp/peers/fault_relay.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig::internal::udp_stress {

struct Counters;
struct Instance;

class PathState {
 public:
  using Report = std::function<void(absl::string_view kind, std::string message)>;

  // `relays` (may be empty) stop forwarding while the path is down; they must outlive this.
  PathState(const UdpStressOptions& options, std::vector<FaultRelay*> relays, Counters* counters,
            Report report)
      : options_(options),
        relays_(std::move(relays)),
        counters_(counters),
        report_(std::move(report)) {}
  PathState(const PathState&) = delete;
  PathState& operator=(const PathState&) = delete;

  // Creates the instance's flow with `create` and makes it live, with no path event in between
  // (a flow opened while the path is down is told so at once).
  absl::Status OpenLive(Instance* instance,
                        absl::FunctionRef<absl::StatusOr<std::unique_ptr<Flow>>()> create);
  // The instance is finalized: no more path events, no waiting check.
  void RemoveLive(Instance* instance);

  // Takes the path down or brings it back (every live, not closing, flow is told).
  void Set(bool up);
  // Reports stuck_waiting for each flow still "waiting" past the deadline of the last return.
  void CheckWaiting(absl::Time now);
  // Flows the last return still waits to see leave "waiting".
  bool WaitingChecksPending();
  // Live flows in state kWaiting now (for the status line).
  uint64_t CountWaiting();

  bool down() const { return down_.load(std::memory_order_acquire); }

  // What a writer saw of the path when it started a Write().
  struct WriteWindow {
    bool down = false;
    uint64_t epoch = 0;
  };
  WriteWindow BeginWrite() const {
    return {down_.load(std::memory_order_acquire), epoch_.load(std::memory_order_acquire)};
  }
  // True if the path was down at the start or an event happened since.
  bool Overlapped(const WriteWindow& window) const {
    return window.down || epoch_.load(std::memory_order_acquire) != window.epoch;
  }

 private:
  void ReportViolation(absl::string_view kind, std::string message) {
    report_(kind, std::move(message));
  }

  const UdpStressOptions& options_;
  const std::vector<FaultRelay*> relays_;
  Counters* const counters_;
  const Report report_;

  // The epoch moves on every event (before and after it), so a write that overlapped one knows.
  Mutex mu_;
  std::atomic<bool> down_{false};
  std::atomic<uint64_t> epoch_{0};
  std::vector<Instance*> live_ ABSL_GUARDED_BY(mu_);
  std::map<Instance*, absl::Time> must_leave_waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_PATH_STATE_H_
