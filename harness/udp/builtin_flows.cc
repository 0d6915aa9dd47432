// netrig's own flows. The flow registry (FlowRegistry() in flow.cc) adds them on first use, which
// is what keeps this file (and the flows it names) in any binary that uses the registry, even
// when netrig_udp is linked as a static library.
#include <cstdlib>
#include <memory>

#include "harness/udp/dns_proxy.h"
#include "harness/udp/flow.h"
#include "harness/udp/null_flow.h"
#include "harness/udp/socket_flow.h"

namespace netrig::internal {

absl::StatusOr<std::unique_ptr<FlowSource>> MakeLoopbackFlowSource(const FlowOptions& options);

namespace {

absl::StatusOr<std::unique_ptr<Flow>> MakeSocketFlow(const FlowOptions& options) {
  absl::StatusOr<std::unique_ptr<SocketFlow>> flow = SocketFlow::Open(options);
  if (!flow.ok()) return flow.status();
  return std::unique_ptr<Flow>(std::move(*flow));
}

absl::StatusOr<std::unique_ptr<Flow>> MakeDnsProxyFlow(const FlowOptions& options) {
  absl::StatusOr<std::unique_ptr<DnsProxyFlow>> flow = DnsProxyFlow::Open(options);
  if (!flow.ok()) return flow.status();
  return std::unique_ptr<Flow>(std::move(*flow));
}

}  // namespace

void RegisterBuiltinFlows(const Registry<FlowRegistration>::Adder& add) {
  auto must = [](absl::Status status) {
    if (!status.ok()) std::abort();
  };
  must(add({"socket",
            "a real UDP socket per family (127.0.0.1, ::1), batched with sendmmsg/recvmmsg",
            &MakeSocketFlow, &MakeLoopbackFlowSource}));
  must(add({"dns-proxy",
            "forwards each datagram as a DNS query over TCP (two-byte length framing) to "
            "FlowOptions::dns_upstream; responses come back tagged with the endpoint exactly as "
            "written",
            &MakeDnsProxyFlow, nullptr}));
  must(add({"null",
            "echoes every datagram back in process, no socket: the harness's own ceiling "
            "(null_flow.h)",
            &NewNullFlow, nullptr}));
}

}  // namespace netrig::internal
