// UdpStress: the `netrig udp` workload on the driver core (harness/drive/driver.h). It drives any
// registered Flow (`--flow NAME`) with datagrams whose sizes sit on every limit of the
// datagram-size oracle, to endpoints in every encoding, through a fault relay to a loopback echo
// peer, while flows are closed and reopened, the path goes down and comes back, and the flow's
// source sleeps and wakes (field-notes stories 2, 4, 5 and 6). Everything it checks is a
// violation in the ViolationLog:
//
//   wrongly_rejected               a datagram that fits the oracle was rejected (any reason) by a
//                                  ready flow
//   wrong_limit / unnamed_limit    a rejection names a limit that is not true, or none at all
//   silent_loss                    an accepted datagram neither came back, nor was dropped by a
//                                  counted relay fault, before the drain (`drain` of quiet);
//                                  the message names the harness's own losses (kernel drops at
//                                  the relay and echo peer, echo send errors), which excuse nothing
//   corrupted_datagram, duplicate_delivery, wrong_source_endpoint, rejected_but_delivered
//   stuck_waiting                  a flow still "waiting" after the path came back
//   flow_not_delivered_after_wake  a peer that arrived after a wake never reached the handler
//   leak                           live flow objects (udp.flow, udp.flow_source) not back to zero
//   open_failed, read_failed       the flow could not be reopened, or Read() failed while open
//
// Every decision draws from a generator seeded by DeriveSeed(seed, "<name>"); the report lists
// each seed, and UdpStressArgs() renders the exact `netrig udp` arguments that replay a run.
//
// Example:
//   netrig::UdpStressOptions options;
//   options.flow = "socket";
//   options.duration = absl::Seconds(3);
//   options.seed = 42;
//   netrig::ViolationLog violations(netrig::UdpStressRecipe(options));
//   absl::StatusOr<netrig::UdpStressResult> result = netrig::RunUdpStress(options, &violations);
//   if (!result.ok()) return result.status();        // bad options or setup failure
//   netrig::PrintSummary(stdout, "netrig udp", result->summary, violations);
#ifndef NETRIG_HARNESS_UDP_UDP_STRESS_H_
#define NETRIG_HARNESS_UDP_UDP_STRESS_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/check/violation.h"
#include "harness/net/endpoint.h"
#include "harness/udp/fault_relay.h"
#include "nlohmann/json.hpp"

namespace netrig {

enum class FamilyChoice { kIPv4, kIPv6, kBoth };
// "ipv4", "ipv6", "both".
absl::string_view FamilyChoiceName(FamilyChoice family);
absl::StatusOr<FamilyChoice> ParseFamilyChoice(absl::string_view text);

// Relay fault probabilities: "none", "mild" or "default" (the default mix: 0.5 % drop, 0.5 %
// duplicate, 1 % reorder, 1 % delay up to 10 ms, 0.2 % truncate), or a comma list of drop=P,
// duplicate=P, reorder=P, delay=P, truncate=P, max_delay=DURATION, starting from none
// ("drop=0.01,delay=0.05,max_delay=30ms"). InvalidArgument naming the bad item.
absl::StatusOr<RelayFaults> ParseFaultSpec(absl::string_view spec);

struct UdpStressOptions {
  std::string flow = "socket";  // a registered flow (harness/udp/flow.h)
  absl::Duration duration = absl::Seconds(10);
  int threads = 2;  // writer threads (each flow also has its own reader thread)
  int flows = 4;    // flows open at once
  // Datagrams per second across all writers (open loop, intended start times); 0: closed loop,
  // as fast as the flows, the peer and the in-flight budget allow.
  double rate = 0;
  int batch = 16;  // datagrams per Write()
  uint64_t seed = 0;
  bool perturb = true;  // schedule perturbation, seeded by DeriveSeed(seed, "perturb")
  std::string faults = "mild";
  absl::Duration path_events = absl::Milliseconds(500);  // path down/up every N; 0: never
  bool sleep_wake = true;  // exercise the flow's FlowSource (when it has one) with sleep/wake
  bool reopen = true;      // close and reopen flows mid-traffic
  // Path model. mtu 0: the real path (loopback, or 1500 with `peers`). On loopback a non-zero
  // mtu with dont_fragment makes the relay drop (as a counted "mtu" fault) what would not fit.
  uint32_t mtu = 0;
  bool dont_fragment = true;
  FamilyChoice family = FamilyChoice::kBoth;
  uint64_t size = 0;    // fixed payload size; 0: sizes on every oracle limit plus 50-200 bytes
  double bounce = 0.1;  // fraction of returned datagrams written back to the endpoint as read
  // An external echo peer (address endpoints, e.g. inside a test namespace) instead of the
  // in-process loopback echo; no relay then (faults off), and `bind` gives the flow's addresses.
  std::vector<Endpoint> peers;
  std::vector<Endpoint> bind;
  // Interface for the scoped IPv6 encoding ("" : "lo" on loopback, none with peers).
  std::string scope_interface;
  // A retired flow's datagrams count as lost once none has come back for this long (at most five
  // times this after retirement).
  absl::Duration drain = absl::Seconds(2);
  absl::Duration wake_deadline = absl::Seconds(2);
  absl::Duration waiting_deadline = absl::Seconds(1);
  bool stop_on_violation = true;
  absl::Duration status_interval = absl::Seconds(1);
  FILE* status_out = stderr;  // nullptr: no status lines
};

struct UdpStressResult {
  // Everything the JSON report holds (datagrams_sent, datagrams_delivered,
  // datagrams_dropped_by_fault, wrongly_rejected, violations, datagrams_per_sec, duration_s,
  // seed, and more).
  nlohmann::json report;
  // Rows for PrintSummary().
  std::vector<std::pair<std::string, std::string>> summary;
  uint64_t violations = 0;
  int exit_code() const { return violations == 0 ? 0 : 1; }
};

// Runs the workload. Violations go to `violations` (whose recipe the caller sets, usually
// UdpStressRecipe(options)). Errors: invalid options (InvalidArgument), unknown flow (NotFound),
// peers that cannot be started.
absl::StatusOr<UdpStressResult> RunUdpStress(const UdpStressOptions& options,
                                             ViolationLog* violations);

// The arguments after `netrig udp` that replay `options` exactly (every flag, seed included).
std::vector<std::string> UdpStressArgs(const UdpStressOptions& options);
// {"command": "udp", "args": UdpStressArgs(options), "seed": ..., "seeds": {name: seed...}}.
nlohmann::json UdpStressRecipe(const UdpStressOptions& options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_UDP_STRESS_H_
