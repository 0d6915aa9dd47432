// LoopbackFlowSource: the reference FlowSource, shaped like a transparent proxy's flow delivery
// (docs/field-notes.md story 4). It listens on 127.0.0.1 and ::1 (one kernel-chosen port for both); the
// first datagram from a new peer opens a per-peer flow that is handed to the handler; later
// datagrams from that peer go to that flow's Read(). A flow's Write() sends from the listening
// socket, so replies come from the address the peer wrote to. Closing a flow forgets the peer; its
// next datagram opens a new flow.
//
// Sleep() stops handing out new flows: peers that arrive meanwhile are parked, with their
// datagrams, and handed out right after Wake(). Flows already handed out keep working. Each
// per-peer flow queues at most 4096 datagrams; more are counted in queue_overflows(), never
// silently lost.
//
// Example:
//   absl::StatusOr<std::unique_ptr<netrig::FlowSource>> source =
//       netrig::CreateFlowSource("socket", {});
//   (*source)->Start([&](std::unique_ptr<netrig::Flow> flow, const netrig::Endpoint& peer) {
//     flows.push_back(std::move(flow));
//   });
//   (*source)->Sleep();  ...  (*source)->Wake();
#ifndef NETRIG_HARNESS_UDP_FLOW_SOURCE_H_
#define NETRIG_HARNESS_UDP_FLOW_SOURCE_H_

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "harness/udp/flow.h"
#include "harness/udp/socket_util.h"
#include "harness/sched/thread.h"

namespace netrig {

namespace internal {
// Seeded bug (e), used only by "bug-sleep-wake-source": after this many wakes (0: never) a
// Wake() no longer re-arms the dispatcher, so no new flow is handed out again.
struct FlowSourceBugs {
  int stop_after_wakes = 0;
};
struct SourceCore;
}  // namespace internal

class LoopbackFlowSource : public FlowSource {
 public:
  static absl::StatusOr<std::unique_ptr<LoopbackFlowSource>> Open(
      const FlowOptions& options, internal::FlowSourceBugs bugs = {});
  ~LoopbackFlowSource() override;

  absl::Status Start(Handler handler) override;
  void Sleep() override;
  void Wake() override;
  void Stop() override;
  std::vector<Endpoint> LocalEndpoints() const override;

  uint64_t flows_handed_out() const;
  uint64_t queue_overflows() const;

 private:
  LoopbackFlowSource(const FlowOptions& options, internal::FlowSourceBugs bugs);
  void Dispatch();

  const FlowOptions options_;
  const internal::FlowSourceBugs bugs_;
  LiveToken live_{kLiveFlowSources};
  std::shared_ptr<internal::SourceCore> core_;
  internal::UniqueFd stop_;
  internal::UniqueFd kick_;
  Handler handler_;
  Thread dispatcher_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  std::atomic<int> wakes_{0};
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_FLOW_SOURCE_H_
