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
//
// Text forms accepted by Parse (canonical output in parentheses):
//   host:port               "Example.COM:443"            ("example.com:443")
//   ipv4:port               "1.2.3.4:53"                 ("1.2.3.4:53")
//   [ipv6%scope]:port       "[fe80::1%eth0]:5353"        ("[fe80::1%eth0]:5353")
//   ipv6%scope.port         "fe80::1%en5.54442"          ("[fe80::1%en5]:54442")
//   ipv6%scope:port         "fe80::1%en5:54442"          (same)
//   ipv6.port               "2001:db8::1.443"            ("[2001:db8::1]:443")
//   KAME embedded scope     "[fe80:15::1]:80"            ("[fe80::1%21]:80": bytes 2-3 of a
//                           link-local unicast or ff01/ff02 multicast address move to the scope)
//   IPv4-mapped IPv6        "[::FFFF:1.2.3.4]:80"        ("[::ffff:1.2.3.4]:80", family IPv6)
//   redacted                "IPv4#E5B4BB04:443"          ("IPv4#e5b4bb04:443"; 1-64 hex digits)
//
// Decisions:
//   - A port is always required: 1-5 decimal digits, at most 65535 (0 allowed).
//   - Host names follow RFC 1123: labels of 1-63 letters, digits and '-' (not first or last),
//     at most 253 bytes, ASCII only, compared lower-cased. No trailing dot. A name whose last
//     label is all digits is rejected (no top-level domain is numeric, RFC 3696 section 2), so
//     "1.2.3" or "256.1.1.1" or "0x7f.0.0.1" are never host names: they are invalid IPv4.
//   - Scopes: all digits = an interface index (0 = no scope); otherwise an interface name of
//     1-15 bytes from [A-Za-z0-9_.-], case-sensitive. A name this host does not know is kept as
//     text (scope_id() 0) so that "%en5" round-trips anywhere; ToSockaddr() then fails.
//     An index whose interface name is not printable by those rules prints as the number.
//   - A scope is allowed on any IPv6 address (RFC 4007), never on IPv4.
//   - Text longer than 300 bytes, control bytes, spaces and non-ASCII bytes are rejected.
//   - Interface names come from a cached if_nameindex() snapshot (reloaded after 1 s, or after
//     50 ms on a miss), so parsing a scope costs no system call on the hot path.
#ifndef NETRIG_HARNESS_NET_ENDPOINT_H_
#define NETRIG_HARNESS_NET_ENDPOINT_H_

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "harness/net/address_family.h"

namespace netrig {

namespace internal {
class EndpointTextParser;
}  // namespace internal

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
  // scope_id 0 means no scope. A scope embedded KAME-style in bytes 2-3 of a link-local address
  // moves to the scope (when scope_id is 0) and those bytes are cleared.
  static Endpoint IPv6(const std::array<uint8_t, 16>& address, uint16_t port,
                       uint32_t scope_id = 0);
  // `family` kIPv4 or kIPv6 (anything else is treated as kIPv4); `token` is lower-cased.
  static Endpoint Redacted(AddressFamily family, absl::string_view token, uint16_t port);

  // Parses any textual form listed in the file comment. Errors are InvalidArgument and name the
  // input (first 64 bytes, escaped), its length and the 0-based byte position of the problem:
  //   invalid endpoint "example.com:65536" (17 bytes) at byte 12: port 65536 is above 65535
  static absl::StatusOr<Endpoint> Parse(absl::string_view text);

  // Parses raw socket-address bytes (sockaddr_in, sockaddr_in6 or sockaddr_storage) whose declared
  // length is bytes.size(). Unknown families and short lengths are InvalidArgument.
  static absl::StatusOr<Endpoint> FromSockaddr(absl::Span<const uint8_t> bytes);
  static absl::StatusOr<Endpoint> FromSockaddr(const sockaddr* address, socklen_t length);

  // Address endpoints only. Host endpoints (not resolved here) and redacted endpoints are
  // InvalidArgument; a scope naming an interface this host does not have is FailedPrecondition.
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
  friend class internal::EndpointTextParser;

  Endpoint() = default;
  // An IPv6 address endpoint exactly as given (no KAME move, no scope lookup).
  static Endpoint FromParts(const std::array<uint8_t, 16>& address, uint16_t port,
                            std::string scope, uint32_t scope_id);

  EndpointKind kind_ = EndpointKind::kHost;
  AddressFamily family_ = AddressFamily::kUnspecified;
  uint16_t port_ = 0;
  std::string host_;
  std::array<uint8_t, 16> bytes_{};
  uint32_t scope_id_ = 0;
  std::string scope_;
};

// Peer identity. One peer can come back in several spellings: a dual-stack socket (AF_INET6,
// IPV6_V6ONLY off, the usual transparent-proxy listener) hands an IPv4 peer out as
// "[::ffff:127.0.0.1]:5000", a plain one as "127.0.0.1:5000", and a scope may be added or dropped
// on the way. netrig compares peers with SameAddress, never by text.

// An IPv6 address endpoint holding an IPv4-mapped address (::ffff:a.b.c.d).
bool IsMapped(const Endpoint& e);

// The address bytes an endpoint reaches, IPv4-mapped unmapped (empty for host and redacted).
absl::Span<const uint8_t> UnmappedAddress(const Endpoint& e);

// Same address and port, mapped or not, any scope: the same peer. False for host names and
// redacted endpoints (they name no address).
bool SameAddress(const Endpoint& a, const Endpoint& b);

namespace internal {

// Drops the cached interface-name snapshot (tests that create or rename interfaces call this).
void ReloadInterfaceNames();

// Endpoint::Parse and Endpoint::FromSockaddr before the error becomes an absl::Status: the same
// parser and the same message, built in place. For fuzz targets: under ASan the two heap
// allocations of an absl::Status that carries a message took a fifth of the endpoint fuzzer's
// time, and most fuzz inputs are errors. Endpoint::Parse(text) is ParseEndpoint(text, error), then
// error.ToStatus() on failure; nothing else differs.
//
// Example:
//   netrig::internal::EndpointError error;
//   std::optional<netrig::Endpoint> e = netrig::internal::ParseEndpoint(text, error);
//   if (!e.has_value()) Report(error.position(), error.message());
class EndpointError {
 public:
  // "invalid endpoint \"...\" (N bytes) at byte P: reason" or
  // "invalid socket address (N bytes: hex) at byte P: reason".
  absl::string_view message() const { return absl::string_view(message_, size_); }
  // The 0-based byte of the input named in the message; at most the input's size.
  size_t position() const { return position_; }
  // InvalidArgument with message().
  absl::Status ToStatus() const;

 private:
  friend class EndpointErrorBuilder;

  // Room for the input shown escaped (64 bytes, 4 per byte at worst) and the longest reason;
  // longer reasons are cut.
  char message_[448];
  size_t size_ = 0;
  size_t position_ = 0;
};

std::optional<Endpoint> ParseEndpoint(absl::string_view text, EndpointError& error);
std::optional<Endpoint> EndpointFromSockaddr(absl::Span<const uint8_t> bytes, EndpointError& error);

}  // namespace internal

}  // namespace netrig

#endif  // NETRIG_HARNESS_NET_ENDPOINT_H_
