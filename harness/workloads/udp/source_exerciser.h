// The `netrig udp` workload's flow-source exerciser: puts the flow's FlowSource to sleep and
// wakes it at random intervals while new peers keep sending a first datagram, and checks that
// each peer's flow reaches the handler within --wake_deadline of awake time
// (flow_not_delivered_after_wake) and that a handed-out flow carries an echo back (silent_loss,
// wrongly_rejected). It owns the source, its thread and the peers; the rest of the workload sees
// only its status and its counters. Not a public API.
//
//   SourceExerciser::Context context{...};
//   absl::StatusOr<std::unique_ptr<SourceExerciser>> exerciser =
//       SourceExerciser::Start(std::move(source), std::move(context));
//   (*exerciser)->StartThread();   // with the traffic
//   ...
//   (*exerciser)->Stop();          // wakes it, gives every peer its deadline, stops the source
//
// Threading: Start and Stop on the workload's main thread; the handler runs on the source's
// threads; everything else on the exerciser's own thread ("udp.source").
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_SOURCE_EXERCISER_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_SOURCE_EXERCISER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/base/unique_fd.h"
#include "harness/net/endpoint.h"
#include "harness/sched/thread.h"
#include "harness/udp/flow.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig::internal::udp_stress {

struct Counters;

class SourceExerciser {
 public:
  struct Context {
    const UdpStressOptions* options = nullptr;
    uint64_t seed = 0;     // the run's seed; the exerciser derives its own stream
    uint32_t run_tag = 0;  // marks this run's hello datagrams
    Counters* counters = nullptr;
    // Files a violation of `kind` (violation_kinds.h).
    std::function<void(absl::string_view kind, std::string message)> report;
    // Why rejecting `datagram` with `result` was wrong, or nothing if the rejection is one the
    // flow may make (the workload's judge of rejections).
    std::function<std::optional<std::string>(const Datagram& datagram, const WriteResult& result)>
        wrong_rejection;
  };

  // Starts `source`, whose handler queues each flow for the exerciser's thread.
  static absl::StatusOr<std::unique_ptr<SourceExerciser>> Start(std::unique_ptr<FlowSource> source,
                                                                Context context);
  ~SourceExerciser() { Stop(); }
  SourceExerciser(const SourceExerciser&) = delete;
  SourceExerciser& operator=(const SourceExerciser&) = delete;

  // Starts the thread that sleeps and wakes the source and opens peers.
  void StartThread();
  // Ends the traffic: the thread wakes the source, gives every peer its deadline and closes the
  // flows. Returns at once; Stop() waits for it.
  void RequestStop() { stopping_.store(true, std::memory_order_release); }
  // RequestStop(), then waits for the thread and stops the source. Idempotent.
  void Stop();

  bool asleep() const { return asleep_.load(std::memory_order_relaxed); }

 private:
  // A peer of the source: a client socket whose first datagram should open a flow.
  struct Peer {
    uint64_t number = 0;
    UniqueFd socket;
    // The peer's local endpoint, and its text for messages. A source may hand the peer out in
    // another spelling (IPv4-mapped from a dual-stack socket): matched with SameAddress.
    Endpoint local = Endpoint::IPv4({0, 0, 0, 0}, 0);
    std::string key;
    absl::Time opened;
    // How long the source has been awake since this peer's first datagram: its flow must reach
    // the handler within wake_deadline of that (a source that never really wakes piles it up).
    absl::Duration awake_waited;
    bool delivered = false;
    bool reported = false;
    std::unique_ptr<Flow> flow;
    bool hello_read = false;
    bool echo_expected = false;
    bool echo_received = false;
    absl::Time echo_deadline = absl::InfiniteFuture();
    absl::Time close_at = absl::InfiniteFuture();
  };

  SourceExerciser(std::unique_ptr<FlowSource> source, Context context);

  void Loop();
  void Tick(absl::Time now, bool opening);
  void OpenPeer(absl::Time now);
  void CheckPeers(absl::Time now);
  void EchoOnHandedOutFlow(Peer& peer, absl::Time now);
  void ReportViolation(absl::string_view kind, std::string message) {
    context_.report(kind, std::move(message));
  }

  const Context context_;
  const UdpStressOptions& options_;
  std::unique_ptr<FlowSource> source_;
  std::vector<Endpoint> endpoints_;  // where new peers send
  std::atomic<bool> stopping_{false};
  std::atomic<bool> asleep_{false};  // written by the exerciser's thread only
  bool stopped_ = false;
  Thread thread_;

  Mutex handed_mu_;
  std::deque<std::pair<std::unique_ptr<Flow>, Endpoint>> handed_ ABSL_GUARDED_BY(handed_mu_);

  // The exerciser's thread only.
  std::vector<std::unique_ptr<Peer>> peers_;
  uint64_t next_peer_ = 0;
  absl::Time last_tick_ = absl::InfinitePast();
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_SOURCE_EXERCISER_H_
