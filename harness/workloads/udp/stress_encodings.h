// The endpoint encodings of the `netrig udp` driver (udp_stress.h). The driver sends to each
// target (relay front, echo peer or --peer) under several encodings of the same address: numeric,
// parsed from text, IPv4-mapped, scoped by interface name or index, the host name "localhost",
// and, for datagrams written back, the endpoint as read or re-encoded. A flow must treat them all
// alike; the encoding travels in the datagram header and the id state so a finding names it.
// Also the address comparisons that tell whether a datagram came back from where it was sent.
// Not a public API.
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_STRESS_ENCODINGS_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_STRESS_ENCODINGS_H_

#include <cstdint>

#include "absl/types/span.h"
#include "harness/net/endpoint.h"

namespace netrig::internal::udp_stress {

// Endpoint encodings (at most 16: the id state keeps 4 bits).
enum Encoding : uint8_t {
  kIPv4Numeric,
  kIPv4FromText,
  kIPv4Mapped,
  kIPv6Numeric,
  kIPv6ScopedName,
  kIPv6ScopedIndex,
  kHostName,
  kAsRead,
  kReencodedMapped,
  kReencodedScoped,
  kReencodedHost,
  kReencodedText,
  kEncodingCount,
};
// "ipv4 numeric", "re-encoded via text"...; "unknown encoding" past kEncodingCount.
const char* EncodingName(uint8_t encoding);

struct EncodedEndpoint {
  Encoding encoding;
  uint8_t target;  // index into targets_
  Endpoint endpoint;
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_STRESS_ENCODINGS_H_
