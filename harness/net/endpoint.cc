#include "harness/net/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "harness/net/address_family.h"
#include "harness/net/endpoint_internal.h"

namespace netrig {

absl::string_view EndpointKindName(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::kHost:
      return "host";
    case EndpointKind::kAddress:
      return "address";
    case EndpointKind::kRedacted:
      return "redacted";
  }
  return "unknown";
}

namespace {

using internal::endpoint_impl::HasKameScopeField;
using internal::endpoint_impl::KameScope;
using internal::endpoint_impl::Scope;
using internal::endpoint_impl::ScopeFromIndex;

std::string Ntop(int af, const uint8_t* bytes) {
  char buffer[INET6_ADDRSTRLEN];
  if (inet_ntop(af, bytes, buffer, sizeof(buffer)) == nullptr) return "?";
  return buffer;
}

// The reason in pieces, as for EndpointTextParser::Error.
template <typename... Reason>
std::nullopt_t SockaddrError(internal::EndpointError& error, absl::Span<const uint8_t> bytes,
                             size_t position, const Reason&... reason) {
  internal::endpoint_impl::SockaddrErrorWithReason(error, bytes, position,
                                                   {absl::AlphaNum(reason).Piece()...});
  return std::nullopt;
}

}  // namespace

Endpoint Endpoint::Host(absl::string_view name, uint16_t port) {
  Endpoint e;
  e.kind_ = EndpointKind::kHost;
  e.family_ = AddressFamily::kUnspecified;
  e.port_ = port;
  e.host_ = absl::AsciiStrToLower(name);
  return e;
}

Endpoint Endpoint::IPv4(const std::array<uint8_t, 4>& address, uint16_t port) {
  Endpoint e;
  e.kind_ = EndpointKind::kAddress;
  e.family_ = AddressFamily::kIPv4;
  e.port_ = port;
  std::copy(address.begin(), address.end(), e.bytes_.begin());
  e.host_ = Ntop(AF_INET, e.bytes_.data());
  return e;
}

Endpoint Endpoint::IPv6(const std::array<uint8_t, 16>& address, uint16_t port, uint32_t scope_id) {
  std::array<uint8_t, 16> bytes = address;
  if (HasKameScopeField(bytes)) {
    if (scope_id == 0) scope_id = KameScope(bytes);
    bytes[2] = bytes[3] = 0;
  }
  Scope scope = ScopeFromIndex(scope_id);
  return FromParts(bytes, port, std::move(scope.text), scope.id);
}

Endpoint Endpoint::FromParts(const std::array<uint8_t, 16>& address, uint16_t port,
                             std::string scope, uint32_t scope_id) {
  Endpoint e;
  e.kind_ = EndpointKind::kAddress;
  e.family_ = AddressFamily::kIPv6;
  e.port_ = port;
  e.bytes_ = address;
  e.host_ = Ntop(AF_INET6, e.bytes_.data());
  e.scope_ = std::move(scope);
  e.scope_id_ = scope_id;
  return e;
}

Endpoint Endpoint::Redacted(AddressFamily family, absl::string_view token, uint16_t port) {
  Endpoint e;
  e.kind_ = EndpointKind::kRedacted;
  e.family_ = family == AddressFamily::kIPv6 ? AddressFamily::kIPv6 : AddressFamily::kIPv4;
  e.port_ = port;
  e.host_ = absl::AsciiStrToLower(token);
  return e;
}

absl::StatusOr<Endpoint> Endpoint::Parse(absl::string_view text) {
  internal::EndpointError error;
  std::optional<Endpoint> endpoint = internal::ParseEndpoint(text, error);
  if (!endpoint.has_value()) return error.ToStatus();
  return *std::move(endpoint);
}

absl::StatusOr<Endpoint> Endpoint::FromSockaddr(absl::Span<const uint8_t> bytes) {
  internal::EndpointError error;
  std::optional<Endpoint> endpoint = internal::EndpointFromSockaddr(bytes, error);
  if (!endpoint.has_value()) return error.ToStatus();
  return *std::move(endpoint);
}

namespace internal {
std::optional<Endpoint> EndpointFromSockaddr(absl::Span<const uint8_t> bytes,
                                             EndpointError& error) {
  if (bytes.size() < sizeof(sa_family_t)) {
    return SockaddrError(error, bytes, bytes.size(), "shorter than the 2-byte family field");
  }
  if (bytes.size() > sizeof(sockaddr_storage)) {
    return SockaddrError(error, bytes, sizeof(sockaddr_storage), "longer than sockaddr_storage (",
                         sizeof(sockaddr_storage), " bytes)");
  }
  sa_family_t family;
  std::memcpy(&family, bytes.data(), sizeof(family));
  if (family == AF_INET) {
    if (bytes.size() < sizeof(sockaddr_in)) {
      return SockaddrError(error, bytes, bytes.size(), "AF_INET needs ", sizeof(sockaddr_in),
                           " bytes");
    }
    sockaddr_in in;
    std::memcpy(&in, bytes.data(), sizeof(in));
    std::array<uint8_t, 4> address;
    std::memcpy(address.data(), &in.sin_addr, address.size());
    return Endpoint::IPv4(address, ntohs(in.sin_port));
  }
  if (family == AF_INET6) {
    if (bytes.size() < sizeof(sockaddr_in6)) {
      return SockaddrError(error, bytes, bytes.size(), "AF_INET6 needs ", sizeof(sockaddr_in6),
                           " bytes");
    }
    sockaddr_in6 in6;
    std::memcpy(&in6, bytes.data(), sizeof(in6));
    std::array<uint8_t, 16> address;
    std::memcpy(address.data(), &in6.sin6_addr, address.size());
    if (HasKameScopeField(address) && KameScope(address) != 0 && in6.sin6_scope_id != 0 &&
        in6.sin6_scope_id != KameScope(address)) {
      return SockaddrError(error, bytes, offsetof(sockaddr_in6, sin6_scope_id), "sin6_scope_id ",
                           in6.sin6_scope_id, " conflicts with the scope ", KameScope(address),
                           " embedded in the address");
    }
    return Endpoint::IPv6(address, ntohs(in6.sin6_port), in6.sin6_scope_id);
  }
  return SockaddrError(error, bytes, 0, "unsupported address family ", family,
                       " (AF_INET and AF_INET6 only)");
}

}  // namespace internal

absl::StatusOr<Endpoint> Endpoint::FromSockaddr(const sockaddr* address, socklen_t length) {
  if (address == nullptr) return absl::InvalidArgumentError("invalid socket address: null");
  if (length > sizeof(sockaddr_storage)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid socket address: declared length ",
                                                   length, " exceeds sockaddr_storage (",
                                                   sizeof(sockaddr_storage), " bytes)"));
  }
  return FromSockaddr(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(address), length));
}

absl::StatusOr<SocketAddress> Endpoint::ToSockaddr() const {
  switch (kind_) {
    case EndpointKind::kHost:
      return absl::InvalidArgumentError(absl::StrCat(
          "host endpoint ", ToString(), " has no socket address: resolve the name first"));
    case EndpointKind::kRedacted:
      return absl::InvalidArgumentError(absl::StrCat(
          "redacted endpoint ", ToString(), " has no socket address: its address is unknown"));
    case EndpointKind::kAddress:
      break;
  }
  SocketAddress result;
  if (family_ == AddressFamily::kIPv4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    std::memcpy(&in.sin_addr, bytes_.data(), 4);
    std::memcpy(&result.storage, &in, sizeof(in));
    result.length = sizeof(in);
    return result;
  }
  uint32_t scope_id = scope_id_;
  if (!scope_.empty() && scope_id == 0) {
    // The interface may have appeared since parsing (a test's namespace or veth pair).
    scope_id = internal::endpoint_impl::InterfaceNames::Get().IndexOf(scope_).value_or(0);
    if (scope_id == 0) {
      return absl::FailedPreconditionError(absl::StrCat("endpoint ", ToString(),
                                                        ": this host has no interface named '",
                                                        scope_, "', so the scope has no index"));
    }
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  std::memcpy(&in6.sin6_addr, bytes_.data(), 16);
  in6.sin6_scope_id = scope_id;
  std::memcpy(&result.storage, &in6, sizeof(in6));
  result.length = sizeof(in6);
  return result;
}

std::string Endpoint::ToString() const {
  switch (kind_) {
    case EndpointKind::kHost:
      return absl::StrCat(host_, ":", port_);
    case EndpointKind::kRedacted:
      return absl::StrCat(family_ == AddressFamily::kIPv6 ? "IPv6#" : "IPv4#", host_, ":", port_);
    case EndpointKind::kAddress:
      break;
  }
  if (family_ == AddressFamily::kIPv4) return absl::StrCat(host_, ":", port_);
  if (scope_.empty()) return absl::StrCat("[", host_, "]:", port_);
  return absl::StrCat("[", host_, "%", scope_, "]:", port_);
}

absl::Span<const uint8_t> Endpoint::address_bytes() const {
  if (kind_ != EndpointKind::kAddress) return {};
  return absl::MakeConstSpan(bytes_.data(), family_ == AddressFamily::kIPv4 ? 4 : 16);
}

bool operator==(const Endpoint& a, const Endpoint& b) {
  return a.kind_ == b.kind_ && a.family_ == b.family_ && a.port_ == b.port_ &&
         a.bytes_ == b.bytes_ && a.scope_id_ == b.scope_id_ && a.host_ == b.host_ &&
         a.scope_ == b.scope_;
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

}  // namespace netrig
