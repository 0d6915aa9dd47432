// Flow conformance: the contract of harness/udp/flow.h as properties a registered flow must hold,
// each a function that returns OK or a Status naming what broke, and a GoogleTest suite that runs
// every property against a flow picked by its registry name.
//
// Every property runs on loopback against netrig's embedded peers (an EchoServer, or for flows
// that forward DNS a DnsUpstream) and takes well under a second on a correct flow:
//   RoundTripsEverySizeUpToTheLimit   payloads from 1 byte to the binding limit (datagram_oracle.h)
//                                     come back unchanged, untruncated, from the peer they went to
//   AcceptsEveryEndpointSpelling      IPv4, IPv6, IPv4-mapped IPv6, scoped IPv6 and a host name
//                                     (each where the flow claims it) reach the peer
//   RejectionNamesItsLimit            a payload one byte over the limit is rejected with
//                                     WriteResult::TooLarge naming the limit the oracle names
//   CloseWakesBlockedReads            Close() wakes reads blocked in other threads with
//                                     CancelledError; later reads are Cancelled, later writes
//                                     FailedPrecondition; Close() is idempotent
//   WritesWhileWaitingAreVisible      while waiting (kPathLost) a write is rejected or queued, and
//                                     every datagram reported accepted or queued reaches the peer
//   ConcurrentUseAndClose             reads, writes, path events and two Close() calls at once
//                                     from several threads end with the flow closed and no
//                                     reply the flow never sent (run it under TSan and ASan)
//   SourceHandsOutFlowsAcrossSleepWake  (flows with a FlowSource) a new peer gets a flow after
//                                     each of several Sleep()/Wake() cycles, and it reads the
//                                     peer's datagram
//
// In a test file of your project (link netrig::conformance and your flow's registration):
//
//   #include "harness/conformance/flow_conformance.h"
//
//   INSTANTIATE_FLOW_CONFORMANCE(Mine, "my-flow");
//
//   // A flow that forwards to DNS and has no IPv6 socket:
//   netrig::conformance::FlowConformanceOptions MyDnsClaims() {
//     netrig::conformance::FlowConformanceOptions claims;
//     claims.peer = netrig::conformance::FlowPeer::kDnsUpstream;
//     claims.ipv6 = false;
//     return claims;
//   }
//   INSTANTIATE_FLOW_CONFORMANCE(MyDns, "my-dns-flow", MyDnsClaims());
//
// (Fill options field by field: GCC 12 warns about designated initializers that leave fields
// out under -Wextra.)
//
// The tests are named PREFIX/PREFIXFlowConformance.Holds/PROPERTY, e.g.
// Mine/MineFlowConformance.Holds/CloseWakesBlockedReads. A property that does not apply (no ::1 on
// this host, no flow source, a spelling the flow does not claim) is reported SKIPPED with why.
//
// Or call a property yourself:
//   absl::Status held = netrig::conformance::CheckFlowCloseWakesBlockedReads("my-flow", {});
#ifndef NETRIG_HARNESS_CONFORMANCE_FLOW_CONFORMANCE_H_
#define NETRIG_HARNESS_CONFORMANCE_FLOW_CONFORMANCE_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "harness/conformance/not_applicable.h"
#include "harness/udp/flow.h"

namespace netrig::conformance {

// The peer a flow's datagrams reach.
enum class FlowPeer {
  // An EchoServer on 127.0.0.1 and ::1: each datagram comes back unchanged from where it went.
  kEcho,
  // A DnsUpstream, given to the flow as FlowOptions::dns_upstream (the way dns-proxy forwards):
  // each datagram (a DNS message) comes back as MakeDnsResponse(query), tagged with the endpoint
  // it was written to, exactly as written.
  kDnsUpstream,
};

// What the flow claims; each property checks only what is claimed.
struct FlowConformanceOptions {
  FlowPeer peer = FlowPeer::kEcho;
  // Sends to and receives from IPv6 loopback ([::1]:port).
  bool ipv6 = true;
  // Accepts an IPv4 peer in IPv4-mapped form ([::ffff:127.0.0.1]:port) as the same peer.
  bool ipv4_mapped = true;
  // Accepts a scoped IPv6 endpoint ([::1%lo]:port).
  bool scoped_ipv6 = true;
  // Resolves host-name endpoints (localhost:port).
  bool host_names = true;
  // Reacts to OnPathEvent(kPathLost) by entering FlowState::kWaiting.
  bool path_events = true;
  // Passed to the factory (dns_upstream is filled in for kDnsUpstream).
  FlowOptions flow_options;
};

// One property: OK when `flow` holds it, otherwise a Status saying what broke (the first thing
// that broke); NotApplicable (not_applicable.h) when it cannot be checked here.
using FlowPropertyCheck = absl::Status (*)(absl::string_view flow,
                                           const FlowConformanceOptions& options);

absl::Status CheckFlowRoundTripsEverySizeUpToTheLimit(absl::string_view flow,
                                                      const FlowConformanceOptions& options);
absl::Status CheckFlowAcceptsEveryEndpointSpelling(absl::string_view flow,
                                                   const FlowConformanceOptions& options);
absl::Status CheckFlowRejectionNamesItsLimit(absl::string_view flow,
                                             const FlowConformanceOptions& options);
absl::Status CheckFlowCloseWakesBlockedReads(absl::string_view flow,
                                             const FlowConformanceOptions& options);
absl::Status CheckFlowWritesWhileWaitingAreVisible(absl::string_view flow,
                                                   const FlowConformanceOptions& options);
absl::Status CheckFlowConcurrentUseAndClose(absl::string_view flow,
                                            const FlowConformanceOptions& options);
absl::Status CheckFlowSourceHandsOutFlowsAcrossSleepWake(absl::string_view flow,
                                                         const FlowConformanceOptions& options);

struct FlowProperty {
  const char* name;  // "CloseWakesBlockedReads": the test name.
  FlowPropertyCheck check;
};
// Every property above, in that order.
const std::vector<FlowProperty>& FlowProperties();

// One test of the suite: a property for a flow.
struct FlowConformanceCase {
  std::string flow;
  FlowConformanceOptions options;
  FlowProperty property;
};
// Every property for `flow`.
std::vector<FlowConformanceCase> FlowConformanceCases(absl::string_view flow,
                                                      const FlowConformanceOptions& options = {});
// The property's name, for INSTANTIATE_TEST_SUITE_P.
std::string FlowConformanceCaseName(const ::testing::TestParamInfo<FlowConformanceCase>& info);
// "my-flow: CloseWakesBlockedReads" in test output.
void PrintTo(const FlowConformanceCase& test_case, std::ostream* out);

// The suite's fixture; INSTANTIATE_FLOW_CONFORMANCE derives one per instantiation.
class FlowConformanceTest : public ::testing::TestWithParam<FlowConformanceCase> {
 protected:
  // Runs the case's property: fails with its Status, or skips when it does not apply.
  void CheckProperty();
};

}  // namespace netrig::conformance

// INSTANTIATE_FLOW_CONFORMANCE(Prefix, "flow name" [, FlowConformanceOptions{...}]): at namespace
// scope, once per flow; Prefix is an identifier unique in the test binary.
#define INSTANTIATE_FLOW_CONFORMANCE(prefix, flow_name, ...)                                \
  class prefix##FlowConformance : public ::netrig::conformance::FlowConformanceTest {};     \
  TEST_P(prefix##FlowConformance, Holds) { CheckProperty(); }                               \
  INSTANTIATE_TEST_SUITE_P(prefix, prefix##FlowConformance,                                 \
                           ::testing::ValuesIn(::netrig::conformance::FlowConformanceCases( \
                               flow_name __VA_OPT__(, ) __VA_ARGS__)),                      \
                           ::netrig::conformance::FlowConformanceCaseName)

#endif  // NETRIG_HARNESS_CONFORMANCE_FLOW_CONFORMANCE_H_
