// Internals of the `netrig udp` driver (udp_stress.h): the UdpStress workload class, the flow
// instances it drives, and its counters. The class's member functions are split by concern:
//
//   udp_stress.cc           public API (options table, RunUdpStress), status, run hooks,
//                           teardown, report
//   udp_stress_setup.cc     options, peers and relays, endpoint encodings, opening flows
//   udp_stress_writers.cc   the in-flight budget, writers (Operate), judging rejections
//   udp_stress_readers.cc   readers (delivery checks, bounces) and the relay's fault hook
//   udp_stress_chaos.cc     the chaos thread (path events, reopen), retire, finalization
//                           (silent loss)
//
// Parts with state of their own are owner classes beside it: DeliveryLedger (delivery_ledger.h)
// settles every datagram's id exactly once and accounts for what is in flight; PathState
// (path_state.h) takes the
// path down and back and checks that flows leave "waiting"; SourceExerciser
// (source_exerciser.h) sleeps and wakes the flow's source while flows open and close; SizeModel
// (size_model.h) draws datagram sizes and judges rejections.
//
// The datagram format, the per-datagram states and the endpoint encodings it uses are in
// stress_datagram.h, stress_ids.h and stress_encodings.h. Not a public API.
//
// Threading: writer threads (the driver core calls Operate), one reader thread per flow
// instance, the chaos thread, the source exerciser's thread, and the relay threads
// (OnRelayFault).
// Shared state is atomics or guarded by the Mutex named in its ABSL_GUARDED_BY; members marked
// "chaos thread only" or "source thread only" belong to that thread.
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_UDP_STRESS_INTERNAL_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_UDP_STRESS_INTERNAL_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "harness/base/mutex.h"
#include "harness/check/violation.h"
#include "harness/drive/driver.h"
#include "harness/drive/in_flight.h"
#include "harness/drive/latency_histogram.h"
#include "harness/drive/seeds.h"
#include "harness/drive/stress_run.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"
#include "harness/sched/thread.h"
#include "harness/udp/flow.h"
#include "harness/udp/peers/dns_upstream.h"
#include "harness/udp/peers/echo_server.h"
#include "harness/udp/peers/fault_relay.h"
#include "harness/udp/socket_util.h"
#include "harness/workloads/udp/delivery_ledger.h"
#include "harness/workloads/udp/dns_query.h"
#include "harness/workloads/udp/path_state.h"
#include "harness/workloads/udp/size_model.h"
#include "harness/workloads/udp/source_exerciser.h"
#include "harness/workloads/udp/stress_datagram.h"
#include "harness/workloads/udp/stress_encodings.h"
#include "harness/workloads/udp/stress_ids.h"
#include "harness/workloads/udp/udp_stress.h"
#include "nlohmann/json.hpp"

// The driver's internals (and stress_*.h) live one namespace below netrig::internal: names such
// as Header, Instance, Slot or Counters are too generic to share netrig::internal with the rest of
// the harness (two such classes in one binary would silently break the one-definition rule).
namespace netrig::internal::udp_stress {

struct Counters {
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> delivered_truncated{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> fault_dropped{0};
  std::atomic<uint64_t> fault_truncated{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> rejected_family_maximum{0};
  std::atomic<uint64_t> rejected_path_mtu{0};
  std::atomic<uint64_t> rejected_buffer{0};
  std::atomic<uint64_t> rejected_over_path_limit{0};
  std::atomic<uint64_t> rejected_waiting{0};
  std::atomic<uint64_t> rejected_closing{0};
  std::atomic<uint64_t> rejected_other{0};
  std::atomic<uint64_t> wrongly_rejected{0};
  std::atomic<uint64_t> wrong_limit{0};
  std::atomic<uint64_t> unnamed_limit{0};
  std::atomic<uint64_t> lost{0};
  // Of `lost`, with --peer: not blamed on the flow, because the peers' own sockets dropped at
  // least as many or their drops cannot be read.
  std::atomic<uint64_t> lost_not_blamed{0};
  std::atomic<uint64_t> abandoned{0};
  std::atomic<uint64_t> strays{0};
  std::atomic<uint64_t> bounces{0};
  std::atomic<uint64_t> budget_stalls{0};
  std::atomic<uint64_t> flows_opened{0};
  std::atomic<uint64_t> reopens{0};
  std::atomic<uint64_t> path_events{0};
  std::atomic<uint64_t> read_errors{0};
  // Flow source.
  std::atomic<uint64_t> peers_opened{0};
  std::atomic<uint64_t> peers_delivered{0};
  std::atomic<uint64_t> source_sleeps{0};
  std::atomic<uint64_t> source_wakes{0};
  std::atomic<uint64_t> source_echoes{0};
};

inline void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}
inline uint64_t Get(const std::atomic<uint64_t>& counter) {
  return counter.load(std::memory_order_relaxed);
}

// One flow object under test, from open to finalization.
struct Instance {
  uint32_t id = 0;
  int slot = 0;
  std::unique_ptr<Flow> flow;
  IdTable ids;
  std::atomic<uint32_t> next_seq{0};
  std::atomic<int64_t> inflight_cost{0};
  std::atomic<int64_t> inflight{0};
  std::atomic<int> users{0};  // writers inside Write() on this instance
  std::atomic<bool> closing{false};
  std::atomic<bool> retired{false};
  std::atomic<bool> full{false};
  // Set by whoever retires it (the chaos thread, or the main thread at the end).
  uint32_t retire_seq = std::numeric_limits<uint32_t>::max();
  bool graceful = true;
  absl::Time retired_at;
  // Drain progress, kept by whoever holds it in retiring_: the in-flight count last seen and when
  // it last went down (see UdpStress::DrainOver).
  int64_t drain_inflight_seen = -1;
  absl::Time drain_progress_at;
  Thread reader;
  Mutex hook_mu;
  bool finalized ABSL_GUARDED_BY(hook_mu) = false;
  // Ids of which a relay fault cut a copy (another copy, a relay duplicate, may arrive whole).
  absl::flat_hash_set<uint32_t> cut_copies ABSL_GUARDED_BY(hook_mu);
};

struct Slot {
  Mutex mu;
  Instance* current ABSL_GUARDED_BY(mu) = nullptr;
};

struct WorkerState {
  explicit WorkerState(uint64_t seed) : seed(seed) {}
  // Each batch draws from OperationRandom(DeriveSeed(seed, batches++)): the k-th batch of a
  // writer makes the same choices whatever the timing.
  const uint64_t seed;
  uint64_t batches = 0;
  // While the path stays down a writer backs off (1 ms, doubling to 50 ms), as a client waiting
  // for a path would; back to 1 ms once it is up.
  absl::Duration down_backoff = absl::Milliseconds(1);
  std::vector<Datagram> datagrams;
  std::vector<uint8_t> encodings;
  std::vector<uint8_t> targets;
};

class UdpStress : public StressWorkload {
 public:
  explicit UdpStress(const UdpStressOptions& options) : options_(options) {}
  ~UdpStress() override { Teardown(/*interrupted=*/true); }

  // StressWorkload (drive/stress_run.h).
  std::string subject() const override { return options_.flow; }
  std::string Describe() const override;
  absl::Status Setup(const StressContext& context) override;
  void AdjustDrive(DriveOptions& drive) override;
  void Finish(const DriveResult& drive, bool interrupted) override;
  void AddReport(const DriveResult& drive, nlohmann::json& report,
                 std::vector<std::pair<std::string, std::string>>& summary) override;
  OperationTally Tally() const override;

  void Operate(int worker, uint64_t index, absl::Time intended_start) override;
  std::string StatusFragment() override;
  void SampleSeries(SeriesSample& sample) override;
  void SampleBands(std::vector<std::pair<std::string, bool>>& states) override;
  std::string InFlightUnit() const override { return "bytes"; }

 private:
  absl::Status SetupWorkload();
  absl::Status SetupPeers();
  absl::Status SetupEncodings();

  absl::StatusOr<Instance*> OpenInstance(int slot);
  Instance* Pin(Slot& slot);
  void ReaderLoop(Instance* instance);
  // Returns true when `datagram` settled its id as delivered (first copy back).
  // Bounce choices come from OperationRandom keyed by the datagram's identity (instance, id,
  // hop), not by the order in which datagrams came back.
  bool Deliver(Instance* instance, Datagram& datagram, std::vector<Datagram>& bounces,
               std::vector<uint8_t>& bounce_encodings);
  void WriteBounces(Instance* instance, std::vector<Datagram>& bounces,
                    const std::vector<uint8_t>& encodings);
  // Accounts for the write results of datagrams [0, n) sent with ids base_seq... on `instance`.
  void SettleWrite(Instance* instance, absl::Span<const Datagram> datagrams,
                   absl::Span<const WriteResult> results, uint32_t base_seq,
                   absl::Span<const uint8_t> encodings, bool path_overlap);
  void OnRelayFault(absl::string_view payload, const char* fault);
  // Writes datagram `h` over `payload` (h.length bytes): the echo format (header, fill bytes), or
  // with --peer_protocol=dns the DNS query that carries `h` (dns_query.h).
  void EncodePayload(std::string& payload, const Header& h) const;
  // The header of a datagram, a query or an answer of this run, in the run's format.
  bool ReadHeader(absl::string_view payload, Header* h) const;
  // --peer_protocol=dns: whether `answer` answers query `h`; reports it when not. True to go on.
  bool AnswerMatches(Instance* instance, absl::string_view answer, Header* h);
  bool WaitForBudget(int64_t cost);

  void ChaosLoop();
  void Reopen(int slot, bool graceful);
  void Retire(Instance* instance, bool graceful);
  // True once a retired instance has nothing in flight, or has gone `drain` without one datagram
  // coming back (at most five drains in all). Quiet time rather than time since retirement: a
  // loaded machine (sanitizers, tests in parallel) delays answers, and only what stops coming back
  // is lost.
  bool DrainOver(Instance* instance, absl::Time now);
  void CloseAndFinalize(Instance* instance);
  void Finalize(Instance* instance);

  // Datagrams the harness itself lost: kernel drops at the relays' and the echo peer's full
  // receive buffers, and echo sends that failed. None can be tied to one datagram, so nothing is
  // excused by them; a silent_loss report names them, and the report counts them.
  // With --peer, the peers' own sockets' drops (read from /proc/net/udp{,6}) when every peer's is
  // visible; otherwise they are unknown, and losses cannot be called the flow's.
  struct HarnessLosses {
    uint64_t relay_kernel_drops = 0;
    uint64_t echo_kernel_drops = 0;
    uint64_t echo_send_errors = 0;
    bool external_peers = false;
    std::optional<uint64_t> external_peer_drops;  // nullopt: unknown (or no --peer).
    uint64_t total() const {
      return relay_kernel_drops + echo_kernel_drops + echo_send_errors +
             external_peer_drops.value_or(0);
    }
    // "relay 0, echo peer 0; echo send errors 0" or "relay 0, peer 1690" / "peer unknown".
    std::string Describe() const;
  };
  HarnessLosses HarnessLossesNow() const;

  void ReportViolation(absl::string_view kind, std::string message);
  // Stops traffic threads, retires every flow and drains it (not at all once the user asked
  // twice to stop: what is still out is then abandoned, never called lost), stops the peers.
  void Teardown(bool interrupted);

  const UdpStressOptions options_;
  uint64_t bounce_seed_ = 0;            // Set by Setup().
  ViolationLog* violations_ = nullptr;  // Set by Setup().
  uint64_t seed_ = 0;                   // Set by Setup().
  const FlowRegistration* registration_ = nullptr;
  FlowOptions flow_options_;
  RelayFaults faults_;
  bool use_relay_ = false;
  bool dns_ = false;  // --peer_protocol=dns
  uint32_t run_tag_ = 0;
  int op_batch_ = 1;

  std::unique_ptr<EchoServer> echo_;
  // --peer: each peer's socket drop count at setup (nullopt where it cannot be seen).
  std::vector<std::optional<uint64_t>> external_peer_drops_at_start_;
  std::unique_ptr<DnsUpstream> upstream_;
  std::vector<std::unique_ptr<FaultRelay>> relays_;
  std::vector<Endpoint> targets_;  // where flows send: relay fronts, echo, or --peer
  std::vector<AddressFamily> target_families_;
  std::vector<EncodedEndpoint> encodings_;
  std::vector<AddressFamily> localhost_families_;
  std::unique_ptr<SizeModel> sizes_;  // what to send, and whether a rejection was right
  std::vector<std::pair<std::string, std::string>> seeds_;

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<WorkerState>> workers_;
  Mutex instances_mu_;
  std::vector<std::unique_ptr<Instance>> owned_ ABSL_GUARDED_BY(instances_mu_);
  std::array<std::atomic<Instance*>, kMaxInstances> instance_table_{};
  std::atomic<uint32_t> next_instance_{0};
  int max_reopens_ = 0;

  // The path, its events and the live flows they reach (set up with the relays).
  std::unique_ptr<PathState> path_;

  // Where every datagram stands, and the queue bytes in flight (QueueCost) across flows.
  DeliveryLedger ledger_{kInFlightBudget};
  std::atomic<bool> stopping_{false};
  absl::Time start_;
  absl::Time traffic_end_;
  // When the path appears after --no_path_at_start (start-up time when there is no window).
  absl::Time path_appears_;

  Thread chaos_;
  std::vector<Instance*> retiring_;  // chaos thread only

  // Sleep/wake of the flow's source while flows open and close (docs/field-notes.md, story 4).
  std::unique_ptr<SourceExerciser> source_;

  Counters counters_;
  LatencyHistogram latency_;
  std::map<std::string, uint64_t> reported_by_kind_;  // under reported_mu_
  Mutex reported_mu_;
  bool torn_down_ = false;
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_UDP_STRESS_INTERNAL_H_
