// The datagram-size oracle: does a UDP payload of N bytes fit a path, and if not, which limit does
// it break and what is that limit's value? Every UDP check in netrig trusts this answer, and the
// tests hold it to the Linux kernel's EMSGSIZE boundary to the byte (loopback and veth paths).
//
// Limits (payload bytes, UDP header excluded):
//   - family maximum:   IPv4 65507 (65535 total length - 20 IPv4 - 8 UDP);
//                       IPv6 65527 (65535 payload length - 8 UDP; no jumbograms).
//   - path MTU with don't-fragment (IP_PMTUDISC_DO / IPV6_DONTFRAG): MTU - 20 (IPv4) or 40 (IPv6)
//                       - 8. As in the kernel, IPv4 caps the MTU at 65535 (so loopback's 65536
//                       gives 65507 there) and IPv6 keeps it (loopback: 65536 - 48 = 65488).
//                       Without don't-fragment the kernel fragments and only the family maximum
//                       applies.
//   - buffer:           the payload must fit a flow's datagram buffer when one is given (a
//                       user client's read/write buffer). The kernel enforces no per-datagram
//                       limit from SO_SNDBUF/SO_RCVBUF: it accepts one datagram larger than either
//                       into an empty queue, so a buffer limit is a client's own limit.
// The smallest applicable limit binds; on a tie the first in the order above is reported.
//
// Example:
//   absl::StatusOr<netrig::DatagramVerdict> v = netrig::CheckDatagram(
//       1473, netrig::AddressFamily::kIPv4,
//       netrig::DatagramPath::Interface(1500, /*dont_fragment=*/true));
//   if (!v.ok()) return v.status();  // unspecified family, MTU below the family minimum
//   // v->fits == false, v->limit_kind == DatagramLimitKind::kPathMtuDontFragment,
//   // v->limit_bytes == 1472, v->message == "payload 1473 bytes exceeds the path MTU limit 1472
//   // (MTU 1500 − 20 IPv4 − 8 UDP, don't-fragment set)"
//
//   // A client refused a datagram: was it right, and did it name the right limit?
//   netrig::DatagramRejection r;
//   r.message = "The datagram was too large";
//   absl::StatusOr<netrig::RejectionJudgement> j = netrig::JudgeRejection(
//       120, netrig::AddressFamily::kIPv6, netrig::DatagramPath::Loopback(), r);
//   // j->finding == RejectionFinding::kRejectedDatagramThatFits
#ifndef NETRIG_HARNESS_NET_DATAGRAM_ORACLE_H_
#define NETRIG_HARNESS_NET_DATAGRAM_ORACLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/net/address_family.h"

namespace netrig {

inline constexpr uint64_t kUdpHeaderBytes = 8;
inline constexpr uint64_t kIPv4HeaderBytes = 20;
inline constexpr uint64_t kIPv6HeaderBytes = 40;
inline constexpr uint64_t kIPv4MaxPayload = 65507;
inline constexpr uint64_t kIPv6MaxPayload = 65527;
// Linux loopback's default MTU.
inline constexpr uint32_t kLoopbackMtu = 65536;
// The smallest MTU each family runs on (RFC 791 / RFC 8200); below it the oracle refuses the path.
inline constexpr uint32_t kIPv4MinMtu = 68;
inline constexpr uint32_t kIPv6MinMtu = 1280;

enum class DatagramLimitKind { kNone, kFamilyMaximum, kPathMtuDontFragment, kBuffer };

// "none", "family maximum", "path MTU with don't-fragment", "buffer".
absl::string_view DatagramLimitKindName(DatagramLimitKind kind);

// The path a datagram takes.
struct DatagramPath {
  uint32_t mtu = kLoopbackMtu;  // link MTU in bytes, as `ip link` shows it
  bool loopback = true;         // only changes how messages name the MTU
  bool dont_fragment = false;   // IP_PMTUDISC_DO (IPv4) / IPV6_DONTFRAG or IPV6_PMTUDISC_DO (IPv6)
  std::optional<uint64_t> buffer_bytes;  // a flow's datagram buffer, when it has one

  static DatagramPath Loopback(bool dont_fragment = false);
  static DatagramPath Interface(uint32_t mtu, bool dont_fragment);
  DatagramPath WithBuffer(uint64_t bytes) const;

  // "loopback MTU 65536, don't-fragment", "MTU 1500, fragmentation allowed, buffer 4096".
  std::string ToString() const;
};

// One limit that applies on a path.
struct DatagramLimit {
  DatagramLimitKind kind = DatagramLimitKind::kNone;
  uint64_t payload_bytes = 0;  // the largest payload this limit allows
  // The figure the limit is usually quoted by: the link MTU for the path limit, 65535 (the IP
  // length field) for the family maximum, the buffer size for a buffer. A rejection that quotes
  // it names the limit as truly as one that quotes payload_bytes.
  uint64_t quoted_bytes = 0;
  std::string derivation;  // "MTU 1500 − 20 IPv4 − 8 UDP, don't-fragment set"
};

// Every limit that applies to `family` on `path`, in report order (family, path, buffer).
// InvalidArgument for kUnspecified or an MTU below the family's minimum.
absl::StatusOr<std::vector<DatagramLimit>> ApplicableLimits(AddressFamily family,
                                                            const DatagramPath& path);

// The binding limit: the smallest applicable one (the first on a tie). Its payload_bytes is the
// largest payload that fits.
absl::StatusOr<DatagramLimit> BindingLimit(AddressFamily family, const DatagramPath& path);

struct DatagramVerdict {
  bool fits = true;
  DatagramLimitKind limit_kind = DatagramLimitKind::kNone;  // kNone when it fits
  uint64_t limit_bytes = 0;                                 // the broken limit; 0 when it fits
  // Fits: "payload 1472 bytes fits (largest 1472: path MTU limit, MTU 1500 − 20 IPv4 − 8 UDP,
  // don't-fragment set)". Does not fit: see the file comment.
  std::string message;
};

// The oracle. Errors as ApplicableLimits.
absl::StatusOr<DatagramVerdict> CheckDatagram(uint64_t payload_bytes, AddressFamily family,
                                              const DatagramPath& path);

// A rejection seen from a kernel or a client under test. Fill what is known: an errno, and/or a
// structured claim, and/or the client's error text (parsed when no structured claim is given).
struct DatagramRejection {
  int error_number = 0;  // errno, e.g. EMSGSIZE; 0 when the rejection came as a message
  std::optional<DatagramLimitKind> claimed_kind;
  std::optional<uint64_t> claimed_limit_bytes;
  std::string message;
};

// What a rejection's message claims. A claim is size-related when the text speaks of a size
// ("too large", "exceeds", "MTU", "EMSGSIZE", ...). The kind comes from the earliest limit word
// ("buffer"; "MTU"/"path"/"fragment"; "maximum"/"max"/"family"/"jumbo"). The value is the first
// number after the first size word, skipping numbers equal to the payload size (those name the
// payload: "1473 > 1472"); a limit equal to the payload is no limit anyway.
struct RejectionClaim {
  bool size_related = false;
  std::optional<DatagramLimitKind> kind;
  std::optional<uint64_t> limit_bytes;
};
RejectionClaim ParseRejectionMessage(absl::string_view message, uint64_t payload_bytes);

enum class RejectionFinding {
  // Does not fit, and the rejection names a limit the payload breaks, with its value.
  kTrueLimit,
  // Does not fit; the rejection says so (EMSGSIZE, "too large", or the right kind without a
  // value) but does not say which limit with its value.
  kTrueButUnnamed,
  // Names a limit that does not apply here, a wrong value, or a limit the payload does not break.
  kWrongLimit,
  // The oracle says the datagram fits: rejecting it for its size is a bug (docs/field-notes.md story 2).
  kRejectedDatagramThatFits,
  // No size claim at all (e.g. ECONNREFUSED): outside the oracle's remit.
  kNotASizeRejection,
};

// "true limit", "true but unnamed", "wrong limit", "rejected a datagram that fits",
// "not a size rejection".
absl::string_view RejectionFindingName(RejectionFinding finding);

struct RejectionJudgement {
  RejectionFinding finding = RejectionFinding::kNotASizeRejection;
  DatagramVerdict oracle;  // what the oracle says about the datagram
  RejectionClaim claim;    // what the rejection was taken to claim
  std::string message;     // why, readable, with the true limit

  // True for kTrueLimit and kTrueButUnnamed: the datagram really breaks a limit and the rejection
  // says nothing false about it.
  bool names_true_limit() const {
    return finding == RejectionFinding::kTrueLimit || finding == RejectionFinding::kTrueButUnnamed;
  }
};

// Judges a rejection of a `payload_bytes` datagram on `path`. Errors as ApplicableLimits.
absl::StatusOr<RejectionJudgement> JudgeRejection(uint64_t payload_bytes, AddressFamily family,
                                                  const DatagramPath& path,
                                                  const DatagramRejection& rejection);

}  // namespace netrig

#endif  // NETRIG_HARNESS_NET_DATAGRAM_ORACLE_H_
