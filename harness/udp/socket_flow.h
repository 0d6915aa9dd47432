// SocketFlow: the reference `socket` flow. One non-blocking UDP socket per family (127.0.0.1 and
// ::1, kernel-chosen ports, unless FlowOptions says otherwise), read with recvmmsg and written
// with sendmmsg in batches.
//
// Endpoints: address endpoints go through Endpoint::ToSockaddr (scopes included; IPv4-mapped
// IPv6 goes out of the IPv4 socket), host endpoints are resolved once per flow with getaddrinfo,
// redacted endpoints are rejected. Reads tag each datagram with Endpoint::FromSockaddr of its
// source. EMSGSIZE becomes a rejection naming the limit: the family maximum (65507 / 65527) when
// the payload exceeds it, else the path MTU limit from the kernel's route MTU (IP_MTU/IPV6_MTU).
// While waiting (path lost) every write is rejected with Unavailable; nothing is queued. Its
// destinations, send errors and Close() are the flow kit's (flow_kit.h), as a user's flow can use.
//
// Example:
//   absl::StatusOr<std::unique_ptr<netrig::SocketFlow>> flow = netrig::SocketFlow::Open({});
//   std::vector<netrig::WriteResult> results = (*flow)->Write(datagrams);
#ifndef NETRIG_HARNESS_UDP_SOCKET_FLOW_H_
#define NETRIG_HARNESS_UDP_SOCKET_FLOW_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "harness/base/mutex.h"
#include "harness/udp/flow.h"
#include "harness/udp/flow_kit.h"
#include "harness/udp/socket_util.h"

namespace netrig {

namespace internal {
// Seeded bugs (check/seeded_bugs.h), used only by the flows registered in bug_flows.cc. The
// reference flow has every knob off.
struct SocketFlowBugs {
  // (a) An address endpoint (as handed out by Read) makes the write fail "too large".
  bool address_too_large = false;
  // (b) A scoped IPv6 endpoint is re-encoded by string surgery that loses the scope.
  bool scope_mangle = false;
  // (c) Close() frees the receive buffers without waiting for reads in flight.
  bool close_race_uaf = false;
  // (d) Writes while waiting are reported accepted and thrown away.
  bool waiting_drop = false;
};
}  // namespace internal

class SocketFlow : public Flow {
 public:
  static absl::StatusOr<std::unique_ptr<SocketFlow>> Open(const FlowOptions& options,
                                                          internal::SocketFlowBugs bugs = {});
  ~SocketFlow() override;

  absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams, absl::Duration timeout) override;
  std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override;
  void Close() override;
  void OnPathEvent(PathEvent event) override;
  FlowState state() const override;
  std::vector<Endpoint> LocalEndpoints() const override;

 private:
  struct ReceiveBuffers;
  struct Destination {
    int fd = -1;
    AddressFamily family = AddressFamily::kUnspecified;
    SocketAddress address;
  };

  SocketFlow(const FlowOptions& options, internal::SocketFlowBugs bugs);
  absl::Status Init();
  absl::StatusOr<Destination> Resolve(const Endpoint& endpoint);
  absl::StatusOr<SocketAddress> ResolveHost(const Endpoint& endpoint);
  WriteResult MapSendError(int error_number, const Datagram& datagram,
                           const Destination& destination) const;
  // Sends datagrams[indices[i]] to destinations[i] (all on one socket), filling all_results.
  void SendBatch(absl::Span<const Datagram> datagrams, absl::Span<const size_t> indices,
                 absl::Span<const Destination> destinations, absl::Span<WriteResult> all_results);
  void ReceiveFrom(int fd, size_t max, std::vector<Datagram>& out);

  const FlowOptions options_;
  const internal::SocketFlowBugs bugs_;
  LiveToken live_{kLiveFlows};
  internal::UniqueFd ipv4_;
  internal::UniqueFd ipv6_;
  internal::UniqueFd wake_;
  // Reads and writes in flight; Close() waits for them before closing the sockets.
  InFlightGate gate_;
  std::atomic<bool> waiting_{false};
  // The socket (0: IPv4, 1: IPv6) that delivered datagrams last, or -1: Read's fast path.
  std::atomic<int> last_ready_{-1};

  static constexpr int kMaxBatch = 256;

  Mutex close_mu_;
  Mutex mu_;
  absl::flat_hash_map<std::string, SocketAddress> resolved_ ABSL_GUARDED_BY(mu_);

  // Held while receiving into buffers_ (reads from several threads share them). Not annotated
  // ABSL_GUARDED_BY: seeded bug (c) deliberately frees it without the lock.
  Mutex read_mu_;
  std::unique_ptr<ReceiveBuffers> buffers_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_SOCKET_FLOW_H_
