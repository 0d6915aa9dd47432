#include "harness/net/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace netrig {
namespace {

bool IsLoopbackV6(const in6_addr& address) {
  if (IN6_IS_ADDR_LOOPBACK(&address)) return true;
  return IN6_IS_ADDR_V4MAPPED(&address) && address.s6_addr[12] == 127;
}

}  // namespace

bool IsLoopbackEndpoint(const Endpoint& endpoint) {
  if (endpoint.kind() != EndpointKind::kAddress) return false;
  absl::StatusOr<SocketAddress> address = endpoint.ToSockaddr();
  return address.ok() && IsLoopbackAddress(*address);
}

bool IsLoopbackAddress(const SocketAddress& address) {
  const sockaddr* raw = address.get();
  if (raw->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(raw);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (raw->sa_family == AF_INET6) {
    return IsLoopbackV6(reinterpret_cast<const sockaddr_in6*>(raw)->sin6_addr);
  }
  return false;
}

bool IsLoopbackHost(absl::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  if (absl::StartsWith(host, "[")) {
    if (!absl::EndsWith(host, "]")) return false;
    const std::string literal(host.substr(1, host.size() - 2));
    in6_addr v6{};
    return inet_pton(AF_INET6, literal.c_str(), &v6) == 1 && IsLoopbackV6(v6);
  }
  std::string lower = absl::AsciiStrToLower(host);
  if (lower == "localhost" || lower == "localhost.") return true;
  // Numeric IPv4 in any form a resolver accepts. Only these characters: inet_aton would stop at
  // a space and ignore what follows, a URL parser would not.
  const bool numeric = std::all_of(lower.begin(), lower.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'x' ||
           (c >= 'a' && c <= 'f');
  });
  if (numeric) {
    in_addr v4{};
    if (inet_aton(lower.c_str(), &v4) != 0) return (ntohl(v4.s_addr) >> 24) == 127;
    return false;
  }
  in6_addr v6{};
  return inet_pton(AF_INET6, lower.c_str(), &v6) == 1 && IsLoopbackV6(v6);
}

}  // namespace netrig
