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

}  // namespace netrig::internal::udp_stress
