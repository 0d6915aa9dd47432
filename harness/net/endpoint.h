// Endpoint: one type for every way a UDP/TCP peer is named in the field.
//
// Kinds:
//   - kHost:     a host name and a port, resolved later ("example.com:443").
//   - kAddress:  a numeric IPv4 or IPv6 address and port; IPv6 may carry a scope (interface) for
//                link-local addresses ("[fe80::1%eth0]:5353", "fe80::7:afff:fea1:edb8%en5.54442").
//   - kRedacted: the redacted log form "IPv4#e5b4bb04:443": family and port are known, the address
//                is not; ToSockaddr() refuses it.
//
// Every endpoint has one canonical text form (ToString()). Parse(ToString(e)) == e and
// FromSockaddr(ToSockaddr(e)) == e for address endpoints; the canonical form is a fixed point.
// Scopes print as the interface name when this host has that interface, as a number otherwise.
//
// Example:
//   absl::StatusOr<netrig::Endpoint> e = netrig::Endpoint::Parse("[fe80::1%lo]:5353");
//   if (!e.ok()) return e.status();            // InvalidArgument naming input and position
//   absl::StatusOr<netrig::SocketAddress> sa = e->ToSockaddr();
//   sendto(fd, data, size, 0, sa->get(), sa->length);
#ifndef NETRIG_HARNESS_NET_ENDPOINT_H_
#define NETRIG_HARNESS_NET_ENDPOINT_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "harness/net/address_family.h"

namespace netrig {

enum class EndpointKind { kHost, kAddress, kRedacted };

// "host", "address" or "redacted".
absl::string_view EndpointKindName(EndpointKind kind);

// A socket address with its length, as the kernel wants it.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

class Endpoint {
 public:
  // Constructors for each kind. `name` must be a valid DNS host name (checked by Parse only).
  static Endpoint Host(absl::string_view name, uint16_t port);
  static Endpoint IPv4(const std::array<uint8_t, 4>& address, uint16_t port);
  // scope_id 0 means no scope.
  static Endpoint IPv6(const std::array<uint8_t, 16>& address, uint16_t port,
                       uint32_t scope_id = 0);

  // Parses any textual form listed in the file comment. Errors are InvalidArgument and name the
  // input and the byte position of the problem.
  static absl::StatusOr<Endpoint> Parse(absl::string_view text);

  // Parses raw socket-address bytes (sockaddr_in, sockaddr_in6 or sockaddr_storage) whose declared
  // length is bytes.size(). Unknown families and short lengths are InvalidArgument.
  static absl::StatusOr<Endpoint> FromSockaddr(absl::Span<const uint8_t> bytes);
  static absl::StatusOr<Endpoint> FromSockaddr(const sockaddr* address, socklen_t length);

  // Address endpoints only; host endpoints (not resolved here), redacted endpoints and scopes
  // naming an interface this host does not have are FailedPrecondition / InvalidArgument.
  absl::StatusOr<SocketAddress> ToSockaddr() const;

  // The canonical text form.
  std::string ToString() const;

  EndpointKind kind() const { return kind_; }
  AddressFamily family() const { return family_; }
  uint16_t port() const { return port_; }
  // kHost: the name (lower-cased). kAddress: the numeric address without scope ("fe80::1").
  // kRedacted: the redacted token ("e5b4bb04").
  const std::string& host() const { return host_; }
  // IPv6 scope: the interface index, or 0 when none or not known on this host.
  uint32_t scope_id() const { return scope_id_; }
  // IPv6 scope as text: the interface name, or the number, or "" when none.
  const std::string& scope() const { return scope_; }
  // Raw address bytes (4 or 16) for kAddress; empty otherwise.
  absl::Span<const uint8_t> address_bytes() const;

  friend bool operator==(const Endpoint& a, const Endpoint& b);
  friend bool operator!=(const Endpoint& a, const Endpoint& b) { return !(a == b); }

 private:
  Endpoint() = default;

  EndpointKind kind_ = EndpointKind::kHost;
  AddressFamily family_ = AddressFamily::kUnspecified;
  uint16_t port_ = 0;
  std::string host_;
  std::array<uint8_t, 16> bytes_{};
  uint32_t scope_id_ = 0;
  std::string scope_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_NET_ENDPOINT_H_
