// Loopback checks: netrig sends traffic only to this machine (and to the test network
// namespaces it creates) unless the user's own command line says --allow_remote. The checks
// are conservative: an address is loopback only when every way a resolver or libcurl could read
// its spelling lands on loopback, so `2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`,
// `LOCALHOST.` are loopback, and `127.0.0.1.example.com`, `%31%32%37.0.0.1` or a name that is
// not "localhost" are not.
//
// Example:
//   if (!netrig::IsLoopbackHost(host) && !allow_remote) return absl::PermissionDeniedError(...);
//   if (!netrig::IsLoopbackEndpoint(peer)) ...
//   if (!netrig::IsLoopbackAddress(*peer.ToSockaddr())) ...
#ifndef NETRIG_HARNESS_NET_LOOPBACK_H_
#define NETRIG_HARNESS_NET_LOOPBACK_H_

#include "absl/strings/string_view.h"
#include "harness/net/endpoint.h"

namespace netrig {

// 127.0.0.0/8, ::1, and IPv4-mapped 127.0.0.0/8 (::ffff:127.x.y.z). A host endpoint is not
// loopback here (its name is not resolved).
bool IsLoopbackEndpoint(const Endpoint& endpoint);
// The same for a socket address (an AF_INET or AF_INET6 sockaddr; any other family is not).
bool IsLoopbackAddress(const SocketAddress& address);

// A URL's host as written (brackets around an IPv6 literal allowed; no port, no userinfo):
// an IPv4 address in any spelling inet_aton accepts (decimal, octal, hex, 1 to 4 parts), an
// IPv6 literal, or the name "localhost" (any case, one trailing dot).
bool IsLoopbackHost(absl::string_view host);

}  // namespace netrig

#endif  // NETRIG_HARNESS_NET_LOOPBACK_H_
