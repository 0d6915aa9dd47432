// The datagram format of the `netrig udp` driver (udp_stress.h): a 32-byte header saying who sent
// a datagram, when, and how it was addressed, then a body of one fill byte that the reader samples
// to catch mixed-up or mangled payloads. Also QueueCost(), what a datagram occupies in a socket
// queue, which bounds what the driver keeps in flight. Kept apart from the driver so the format can
// be tested on its own. Not a public API.
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_STRESS_DATAGRAM_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_STRESS_DATAGRAM_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace netrig::internal::udp_stress {

// ---- The datagram header: who sent it, when, and what it should look like. -------------------
// Bytes 0-1 "NR", byte 2 left alone (a DNS responder flips its QR bit), byte 3 version.
constexpr size_t kHeaderBytes = 32;
constexpr uint8_t kHeaderVersion = 1;

struct Header {
  uint32_t run_tag = 0;
  uint32_t instance = 0;
  uint32_t seq = 0;
  uint32_t length = 0;
  int64_t sent_ns = 0;  // intended start, ns since the epoch
  uint8_t encoding = 0;
  uint8_t hop = 0;
  uint8_t target = 0;
};

// Writes `h` over the first kHeaderBytes of `p`.
void PutHeader(char* p, const Header& h);
// False when `p` is shorter than a header, is not one, or belongs to another run.
bool GetHeader(absl::string_view p, uint32_t run_tag, Header* h);

// The body byte of datagram `seq` of flow instance `instance`.
inline char FillByte(uint32_t instance, uint32_t seq) {
  return static_cast<char>(seq * 131u + instance * 7u + 1u);
}

// Fills everything after the header with `fill`.
void FillBody(std::string& payload, char fill);

// Samples the body (first, middle, last byte): cheap, and catches mixed-up or mangled payloads.
bool BodyIntact(absl::string_view p, char fill);

// A conservative estimate of what a datagram occupies in a socket queue (payload plus the
// kernel's per-packet overhead; large loopback packets can take twice their size).
inline int64_t QueueCost(size_t size) {
  return size < 4096 ? static_cast<int64_t>(size) + 1536 : 2 * static_cast<int64_t>(size) + 4096;
}
// What may be in flight at once across all flows: well under every socket buffer on the path
// (4 MiB requested, so no queue on the way can overflow and lose a datagram nobody counted.
constexpr int64_t kInFlightBudget = 3 << 20;

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_STRESS_DATAGRAM_H_
