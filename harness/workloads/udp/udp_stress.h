// UdpStress: the `netrig udp` workload on the driver core (harness/drive/driver.h). It drives any
// registered Flow (`--flow NAME`) with datagrams whose sizes sit on every limit of the
// datagram-size oracle, to endpoints in every encoding, through a fault relay to a loopback echo
// peer, while flows are closed and reopened, the path goes down and comes back, and the flow's
// source sleeps and wakes (docs/field-notes.md stories 2, 4, 5 and 6). Everything it checks is a
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
//                                  (--peer_protocol=dns: an answer whose id or question is not
//                                  that of the query it names is corrupted_datagram; dns_query.h)
//   stuck_waiting                  a flow still "waiting" after the path came back
//   flow_not_delivered_after_wake  a peer that arrived after a wake never reached the handler
//   open_failed, read_failed       the flow could not be reopened, or Read() failed while open
//
//   live_objects                   live objects (udp.flow, udp.flow_source, the flow's own
//   counters)
//                                  not back to zero
//                                  (checked by the run core, drive/stress_run.h)
//
// Every decision draws from a generator seeded by DeriveSeed(seed, "<name>"); the report lists
// each seed, and UdpOptionTable().Render(options) gives the exact `netrig udp` arguments that
// replay a run. The lifecycle around the workload (outputs, seeds, signals, summary, JSON report,
// finding file, exit status) is RunStress's (drive/stress_run.h).
//
// Example:
//   netrig::UdpStressOptions options;
//   options.flow = "socket";
//   options.duration = absl::Seconds(3);
//   options.seed = 42;
//   absl::StatusOr<netrig::StressResult> result = netrig::RunUdpStress(options);
//   if (!result.ok()) return result.status();        // bad options or setup failure
//   return result->exit_code;                        // 0 clean, 1 violations (exit_codes.h)
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_UDP_STRESS_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_UDP_STRESS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/option_table.h"
#include "harness/check/violation.h"
#include "harness/drive/stress_run.h"
#include "harness/net/endpoint.h"
#include "harness/udp/peers/fault_relay.h"
#include "nlohmann/json.hpp"

namespace netrig {

enum class FamilyChoice { kIPv4, kIPv6, kBoth };
// "ipv4", "ipv6", "both".
absl::string_view FamilyChoiceName(FamilyChoice family);
absl::StatusOr<FamilyChoice> ParseFamilyChoice(absl::string_view text);

// What the peers answer: an echo (every datagram back unchanged), or DNS (each datagram is a
// well-formed query, each answer the peer's own reply, matched by DNS id and question;
// dns_query.h).
enum class PeerProtocol { kEcho, kDns };

// Relay faults from the --faults grammar (drive/fault_mix.h): "none", "default" (0.5 % drop,
// 0.5 % duplicate, 1 % reorder, 1 % delay up to 10 ms, 0.2 % truncate), or a list of drop=P,
// duplicate=P, reorder=P, delay=P, truncate=P and max_delay=DURATION, starting from none
// ("drop=0.01,delay=0.05,max_delay=30ms"). InvalidArgument naming the bad item.
absl::StatusOr<RelayFaults> ParseFaultSpec(absl::string_view spec);

struct UdpStressOptions : StressOptions {
  UdpStressOptions() { finding_dir = "artifacts/findings"; }

  std::string flow = "socket";  // a registered flow (harness/udp/flow.h)
  bool list_flows = false;      // `netrig udp --list_flows`
  int flows = 4;                // flows open at once
  int batch = 16;               // datagrams per Write()
  // Path down/up every N; 0: never.
  absl::Duration path_events = absl::Milliseconds(500);
  bool sleep_wake = true;  // exercise the flow's FlowSource (when it has one) with sleep/wake
  bool reopen = true;      // close and reopen flows mid-traffic
  // Path model. mtu 0: the real path (loopback, or the kernel's route MTU towards `peers`). On
  // loopback a non-zero mtu with dont_fragment makes the relay drop (as a counted "mtu" fault)
  // what would not fit.
  uint32_t mtu = 0;
  bool dont_fragment = true;
  FamilyChoice family = FamilyChoice::kBoth;
  uint64_t size = 0;    // fixed payload size; 0: sizes on every oracle limit plus 50-200 bytes
  double bounce = 0.1;  // fraction of returned datagrams written back to the endpoint as read
  // An external echo peer (address endpoints, e.g. inside a test namespace) instead of the
  // in-process loopback echo; no relay then (faults off), and `bind` gives the flow's addresses.
  // Refused unless loopback (or inside a test namespace's address range), or `allow_remote`.
  std::vector<Endpoint> peers;
  std::vector<Endpoint> bind;
  bool allow_remote = false;
  // --peer_protocol=dns: the datagrams are DNS queries for names under `dns_zone` (which the peers
  // must answer), `dns_max_query` bytes at most (what the peers accept; dnsmasq: 1232 over UDP).
  // Without --peer the in-process peer answers as a DNS server would (the query, QR bit set).
  PeerProtocol peer_protocol = PeerProtocol::kEcho;
  std::string dns_zone = "example.test";
  uint64_t dns_max_query = 1232;
  // The DNS-over-TCP upstream of forwarding flows (dns-proxy) instead of the in-process one; needs
  // --peer_protocol=dns. Loopback only unless allow_remote, like --peer.
  std::optional<Endpoint> dns_upstream;
  // Interface for the scoped IPv6 encoding ("" : "lo" on loopback, none with peers).
  std::string scope_interface;
  // A retired flow's datagrams count as lost once none has come back for this long (at most five
  // times this after retirement).
  absl::Duration drain = absl::Seconds(2);
  absl::Duration wake_deadline = absl::Seconds(2);
  absl::Duration waiting_deadline = absl::Seconds(1);
};

// Every `netrig udp` option, declared once: flags, `netrig help udp`, ranges and the replay
// arguments all come from it.
const OptionTable<UdpStressOptions>& UdpOptionTable();

// Checks what the table's ranges cannot: the flow is registered, --faults parses, --size fits
// the datagram header, --peer/--bind parse and are loopback unless allow_remote.
absl::Status ValidateUdpStressOptions(const UdpStressOptions& options);

// Resolves the seeds, validates, and runs the workload under RunStress.
absl::StatusOr<StressResult> RunUdpStress(UdpStressOptions options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_UDP_STRESS_H_
