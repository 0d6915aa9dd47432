// The `null` flow: echoes every datagram it accepts back to its own Read(), in process, with no
// socket, as if the peer it was written to had answered at once.
//
// It is the harness's ceiling for UDP: `netrig udp --flow null` measures what netrig itself spends
// per datagram (writers, readers, the delivery ledger, the size oracle, path events) apart from
// any transport, so a benchmark can say whether a flow or the harness is the bottleneck
// (`scripts/bench`). It keeps the Flow contract, so every check of `netrig udp` holds for it:
//
//   netrig udp --flow null --faults=none --duration 5s
//
// What it still does as a correct flow must: a datagram larger than the loopback path allows is
// rejected naming the oracle's limit, a destination that is not loopback is refused when
// FlowOptions::loopback_only is set, writes while waiting for a path are rejected visibly, and
// Close() wakes blocked reads. Answers come back tagged with the endpoint exactly as written.
#ifndef NETRIG_HARNESS_UDP_NULL_FLOW_H_
#define NETRIG_HARNESS_UDP_NULL_FLOW_H_

#include <memory>

#include "absl/status/statusor.h"
#include "harness/udp/flow.h"

namespace netrig {

absl::StatusOr<std::unique_ptr<Flow>> NewNullFlow(const FlowOptions& options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_NULL_FLOW_H_
