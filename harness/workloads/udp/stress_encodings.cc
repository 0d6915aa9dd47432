#include "harness/workloads/udp/stress_encodings.h"

#include <cstring>

namespace netrig::internal::udp_stress {

namespace {

constexpr const char* kEncodingNames[kEncodingCount] = {
    "ipv4 numeric",
    "ipv4 from text",
    "ipv4-mapped ipv6",
    "ipv6 numeric",
    "ipv6 scoped by name",
    "ipv6 scoped by index",
    "host name",
    "as read",
    "re-encoded as ipv4-mapped",
    "re-encoded scoped",
    "re-encoded as host name",
    "re-encoded via text",
};

}  // namespace

const char* EncodingName(uint8_t encoding) {
  return encoding < kEncodingCount ? kEncodingNames[encoding] : "unknown encoding";
}

bool IsMapped(const Endpoint& e) {
  if (e.kind() != EndpointKind::kAddress || e.family() != AddressFamily::kIPv6) return false;
  absl::Span<const uint8_t> b = e.address_bytes();
  if (b.size() != 16) return false;
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

absl::Span<const uint8_t> UnmappedAddress(const Endpoint& e) {
  if (e.kind() != EndpointKind::kAddress) return {};
  absl::Span<const uint8_t> bytes = e.address_bytes();
  return IsMapped(e) ? bytes.subspan(12) : bytes;
}

bool SameAddress(const Endpoint& a, const Endpoint& b) {
  if (a.port() != b.port()) return false;
  const absl::Span<const uint8_t> x = UnmappedAddress(a);
  const absl::Span<const uint8_t> y = UnmappedAddress(b);
  return !x.empty() && x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size()) == 0;
}

}  // namespace netrig::internal::udp_stress
