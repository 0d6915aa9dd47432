// Flow: the UDP flow interface a client under test implements, and the registry that maps
// `--flow NAME` to it (docs/field-notes.md stories 2, 4 and 5).
//
// A flow carries datagrams to and from many peers. Read() returns datagrams, each tagged with the
// Endpoint it came from; Write() takes datagrams, each with the Endpoint to send to, and answers
// per datagram: accepted, queued, or rejected. A rejection that claims a size limit names the
// limit and its value (limit_kind, limit_bytes), so the driver can hold it to the datagram-size
// oracle (harness/net/datagram_oracle.h). Path events move the flow into and out of the "waiting"
// state; while waiting a write must fail visibly or queue visibly, never vanish. Read(), Write(),
// Close() and OnPathEvent() may be called from different threads at once; Close() makes blocked
// and later reads return CancelledError and later writes FailedPrecondition.
//
// A FlowSource hands new flows to a handler, one per peer, the way a transparent proxy receives
// them; it can be put to sleep and woken (story 4).
//
// Plugging in your own flow:
//   class MyFlow : public netrig::Flow { ... };
//   NETRIG_REGISTER_FLOW("my-flow", "my client's UDP transport",
//                        [](const netrig::FlowOptions& options)
//                            -> absl::StatusOr<std::unique_ptr<netrig::Flow>> {
//                          return std::make_unique<MyFlow>(options);
//                        });
// Put the macro in a .cc file that you link into your executable directly (add_executable
// sources, or an OBJECT library): a static-library member that nothing references is dropped by
// the linker, and its registration with it. Or call netrig::RegisterFlow(...) from main().
// netrig's own flows (socket, dns-proxy, the seeded bugs) are registered on first lookup.
//
// The flow kit (flow_kit.h) has the pieces a correct flow needs: ResolveDestination,
// SendErrorResult (EMSGSIZE naming its limit), loopback checks, and the InFlightGate that lets
// Close() wait for reads and writes.
//
// Reporting your flow's live objects: give each Flow and FlowSource a LiveToken on kLiveFlows /
// kLiveFlowSources (below), and count your own objects with counters of your own
// (check/live_objects.h), e.g. per-peer state or sockets:
//   netrig::LiveCounter kLivePeerStates("my-flow.peer_state");
//   struct PeerState { ...; netrig::LiveToken live{kLivePeerStates}; };
//   class MyFlow : public netrig::Flow { ...; netrig::LiveToken live_{netrig::kLiveFlows}; };
// `netrig udp` checks every counter of the program once every flow of the run was closed and
// released: one not back to its value from before the run is a `live_objects` violation naming
// the type. The JSON report's `live_objects_counted` lists the counters the run exercised.
//
// Using a flow:
//   absl::StatusOr<std::unique_ptr<netrig::Flow>> flow = netrig::CreateFlow("socket", {});
//   std::vector<netrig::Datagram> out;
//   out.push_back({*netrig::Endpoint::Parse("127.0.0.1:7"), "hello"});
//   std::vector<netrig::WriteResult> results = (*flow)->Write(out);
//   absl::StatusOr<std::vector<netrig::Datagram>> in =
//       (*flow)->Read(/*max_datagrams=*/16, absl::Seconds(1));
#ifndef NETRIG_HARNESS_UDP_FLOW_H_
#define NETRIG_HARNESS_UDP_FLOW_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "harness/base/registry.h"
#include "harness/check/live_objects.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"

namespace netrig {

// One UDP datagram and its peer: the source on read, the destination on write.
struct Datagram {
  // Default: 0.0.0.0:0, a placeholder (Endpoint itself has no default); vectors can resize.
  Endpoint endpoint = Endpoint::IPv4({0, 0, 0, 0}, 0);
  std::string payload;
  // Read side: the datagram was longer than the flow's receive buffer and was cut.
  bool truncated = false;
};

// The answer to one datagram of a Write().
struct WriteResult {
  enum class Outcome { kAccepted, kQueued, kRejected };

  Outcome outcome = Outcome::kAccepted;
  // OK unless rejected; the error says why, in words a person can act on.
  absl::Status error;
  // Set when the rejection claims a size limit: which one, and the largest payload it allows.
  DatagramLimitKind limit_kind = DatagramLimitKind::kNone;
  uint64_t limit_bytes = 0;

  static WriteResult Accepted() { return {}; }
  static WriteResult Queued() { return {Outcome::kQueued, absl::OkStatus()}; }
  static WriteResult Rejected(absl::Status error) { return {Outcome::kRejected, std::move(error)}; }
  static WriteResult TooLarge(absl::Status error, DatagramLimitKind kind, uint64_t limit_bytes) {
    return {Outcome::kRejected, std::move(error), kind, limit_bytes};
  }
  bool accepted() const { return outcome == Outcome::kAccepted; }
  bool rejected() const { return outcome == Outcome::kRejected; }
};

// "accepted", "queued", "rejected".
absl::string_view WriteOutcomeName(WriteResult::Outcome outcome);

enum class FlowState { kReady, kWaiting, kClosed };
// "ready", "waiting", "closed".
absl::string_view FlowStateName(FlowState state);

enum class PathEvent { kPathLost, kPathBack };

class Flow {
 public:
  virtual ~Flow() = default;

  // Waits up to `timeout` for at least one datagram and returns between 1 and `max_datagrams`;
  // an empty vector on timeout. CancelledError once the flow is closed (also for a read blocked
  // when Close() is called).
  virtual absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams,
                                                     absl::Duration timeout) = 0;

  // One result per datagram, in order. After Close() every datagram is rejected with
  // FailedPrecondition.
  virtual std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) = 0;

  // Idempotent. Wakes blocked reads; returns once no read or write is using the flow's resources.
  virtual void Close() = 0;

  // The path went away (the flow enters kWaiting) or came back (it leaves kWaiting).
  virtual void OnPathEvent(PathEvent event) = 0;

  virtual FlowState state() const = 0;

  // Where peers can reach this flow (empty when it has no local address of its own).
  virtual std::vector<Endpoint> LocalEndpoints() const { return {}; }
};

// Hands new flows to a handler, one per peer. The handler runs on the source's thread and owns
// the flow it is given. Start() once; Sleep() and Wake() any number of times; Stop() (idempotent,
// also from the destructor) returns once the handler will not be called again.
class FlowSource {
 public:
  // `peer` is the peer as the source's socket saw it, in any form a socket reports: plain IPv4
  // or IPv6 ("127.0.0.1:5000", "[::1]:5000"), IPv4-mapped IPv6 from a dual-stack AF_INET6 socket
  // ("[::ffff:127.0.0.1]:5000"), with or without a scope. These are one peer: netrig compares
  // peers with SameAddress (net/endpoint.h), never by text.
  using Handler = std::function<void(std::unique_ptr<Flow> flow, const Endpoint& peer)>;

  virtual ~FlowSource() = default;
  virtual absl::Status Start(Handler handler) = 0;
  // While asleep the source hands out no new flow; peers that arrive meanwhile are handed out
  // after Wake(). Flows already handed out keep working.
  virtual void Sleep() = 0;
  virtual void Wake() = 0;
  virtual void Stop() = 0;
  // Where new peers send their first datagram.
  virtual std::vector<Endpoint> LocalEndpoints() const = 0;
};

// What a factory may use. Every field has a default that works on loopback.
struct FlowOptions {
  // Receive and send batch size (recvmmsg/sendmmsg).
  int batch = 16;
  // The DNS-over-TCP upstream, for flows that forward (dns-proxy).
  std::optional<Endpoint> dns_upstream;
  // Refuse (reject) writes to anything but 127.0.0.0/8, ::1 and host names that resolve there.
  bool loopback_only = true;
  // Set IP_PMTUDISC_DO / IPV6_DONTFRAG on the flow's sockets.
  bool dont_fragment = false;
  // Local addresses to bind instead of 127.0.0.1 / ::1 (address endpoints; port 0 for a
  // kernel-chosen one), e.g. a test namespace's address for a real-MTU path (`netrig udp --bind`).
  std::optional<Endpoint> bind_ipv4;
  std::optional<Endpoint> bind_ipv6;
};

using FlowFactory = std::function<absl::StatusOr<std::unique_ptr<Flow>>(const FlowOptions&)>;
using FlowSourceFactory =
    std::function<absl::StatusOr<std::unique_ptr<FlowSource>>(const FlowOptions&)>;

struct FlowRegistration {
  std::string name;
  std::string description;
  FlowFactory flow;
  // Optional: a source of per-peer flows of this kind (nullptr when the flow has none).
  FlowSourceFactory source;
};

// The flow registry (base/registry.h): built-ins (socket, dns-proxy, the seeded-bug flows) and
// every NETRIG_REGISTER_FLOW / RegisterFlow of the program.
Registry<FlowRegistration>& FlowRegistry();

// Adds a flow to the registry. AlreadyExists if the name is taken.
absl::Status RegisterFlow(FlowRegistration registration);
// Every registered flow, sorted by name (built-ins included).
std::vector<const FlowRegistration*> RegisteredFlows();
// nullptr when unknown.
const FlowRegistration* FindFlow(absl::string_view name);
// NotFound naming the known flows when `name` is unknown.
absl::StatusOr<std::unique_ptr<Flow>> CreateFlow(absl::string_view name,
                                                 const FlowOptions& options);
absl::StatusOr<std::unique_ptr<FlowSource>> CreateFlowSource(absl::string_view name,
                                                             const FlowOptions& options);

// Live flow objects (every Flow netrig creates holds a LiveToken on it), and sources.
extern LiveCounter kLiveFlows;
extern LiveCounter kLiveFlowSources;

namespace internal {
// netrig's own flows, added by the registry on first use: the reference flows
// (builtin_flows.cc) and the seeded-bug flows (bug_flows.cc).
void RegisterBuiltinFlows(const Registry<FlowRegistration>::Adder& add);
void RegisterBuiltinBugFlows(const Registry<FlowRegistration>::Adder& add);

// NETRIG_REGISTER_FLOW's registration, the source factory optional (an aggregate initializer
// without it would warn under -Wextra in users' builds).
inline FlowRegistration MakeFlowRegistration(std::string name, std::string description,
                                             FlowFactory flow, FlowSourceFactory source = nullptr) {
  return FlowRegistration{std::move(name), std::move(description), std::move(flow),
                          std::move(source)};
}

// What Write() answers once the flow is closed: every one of `count` datagrams rejected with
// FailedPrecondition.
std::vector<WriteResult> ClosedFlowWriteResults(size_t count);
}  // namespace internal

}  // namespace netrig

// NETRIG_REGISTER_FLOW("name", "description", flow_factory [, source_factory])
#define NETRIG_REGISTER_FLOW(name, description, ...) \
  NETRIG_REGISTER(::netrig::FlowRegistry(),          \
                  ::netrig::internal::MakeFlowRegistration(name, description, __VA_ARGS__))

#endif  // NETRIG_HARNESS_UDP_FLOW_H_
