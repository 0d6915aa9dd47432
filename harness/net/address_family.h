// AddressFamily: IPv4 or IPv6, shared by Endpoint and the datagram-size oracle.
#ifndef NETRIG_HARNESS_NET_ADDRESS_FAMILY_H_
#define NETRIG_HARNESS_NET_ADDRESS_FAMILY_H_

#include "absl/strings/string_view.h"

namespace netrig {

enum class AddressFamily { kUnspecified, kIPv4, kIPv6 };

// "ipv4", "ipv6" or "unspecified".
inline absl::string_view AddressFamilyName(AddressFamily family) {
  switch (family) {
    case AddressFamily::kIPv4:
      return "ipv4";
    case AddressFamily::kIPv6:
      return "ipv6";
    case AddressFamily::kUnspecified:
      break;
  }
  return "unspecified";
}

}  // namespace netrig

#endif  // NETRIG_HARNESS_NET_ADDRESS_FAMILY_H_
