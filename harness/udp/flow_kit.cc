#include "harness/udp/flow_kit.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/net/datagram_oracle.h"
#include "harness/udp/socket_util.h"

namespace netrig {

using internal::ErrnoStatus;

namespace {

void SetPort(SocketAddress& address, uint16_t port) {
  if (address.storage.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&address.storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&address.storage)->sin6_port = htons(port);
  }
}

}  // namespace

absl::StatusOr<SocketAddress> LookUpHost(absl::string_view host, uint16_t port,
                                         AddressFamily family) {
  const std::string name(host);
  addrinfo hints{};
  hints.ai_family = family == AddressFamily::kIPv4   ? AF_INET
                    : family == AddressFamily::kIPv6 ? AF_INET6
                                                     : AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  const int error = ::getaddrinfo(name.c_str(), nullptr, &hints, &results);
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve host ", name, ": ", ::gai_strerror(error)));
  }
  SocketAddress address;
  bool found = false;
  for (addrinfo* r = results; r != nullptr && !found; r = r->ai_next) {
    if ((r->ai_family != AF_INET && r->ai_family != AF_INET6) ||
        r->ai_addrlen > sizeof(address.storage)) {
      continue;
    }
    std::memcpy(&address.storage, r->ai_addr, r->ai_addrlen);
    address.length = r->ai_addrlen;
    found = true;
  }
  ::freeaddrinfo(results);
  if (!found) {
    return absl::UnavailableError(absl::StrCat("host ", name, " has no IPv4 or IPv6 address"));
  }
  SetPort(address, port);
  return address;
}

SocketAddress UnmapIPv4Mapped(const SocketAddress& address) {
  if (address.storage.ss_family != AF_INET6) return address;
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
  if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return address;
  SocketAddress v4;
  auto* sin = reinterpret_cast<sockaddr_in*>(&v4.storage);
  sin->sin_family = AF_INET;
  sin->sin_port = sin6->sin6_port;
  std::memcpy(&sin->sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
  v4.length = sizeof(sockaddr_in);
  return v4;
}

SocketAddress MapToIPv6(const SocketAddress& address) {
  if (address.storage.ss_family != AF_INET) return address;
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&address.storage);
  SocketAddress mapped;
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&mapped.storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = sin->sin_port;
  sin6->sin6_addr.s6_addr[10] = 0xff;
  sin6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&sin6->sin6_addr.s6_addr[12], &sin->sin_addr, 4);
  mapped.length = sizeof(sockaddr_in6);
  return mapped;
}

absl::Status RequireLoopback(const SocketAddress& address, const Endpoint& endpoint) {
  if (IsLoopbackAddress(address)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "endpoint ", endpoint.ToString(), " is not loopback; this flow sends only to loopback"));
}

absl::StatusOr<SocketAddress> ResolveDestination(const Endpoint& endpoint, bool loopback_only) {
  absl::StatusOr<SocketAddress> address;
  switch (endpoint.kind()) {
    case EndpointKind::kRedacted:
      return absl::InvalidArgumentError(absl::StrCat("endpoint ", endpoint.ToString(),
                                                     " is redacted: it has no address to send to"));
    case EndpointKind::kAddress:
      address = endpoint.ToSockaddr();
      break;
    case EndpointKind::kHost:
      address = LookUpHost(endpoint.host(), endpoint.port());
      break;
  }
  if (!address.ok()) return address.status();
  // An IPv6-only socket cannot send to ::ffff:a.b.c.d: it leaves as IPv4.
  const SocketAddress unmapped = UnmapIPv4Mapped(*address);
  if (loopback_only) {
    if (absl::Status loopback = RequireLoopback(unmapped, endpoint); !loopback.ok()) {
      return loopback;
    }
  }
  return unmapped;
}

absl::StatusOr<int> RouteMtu(const SocketAddress& address) {
  internal::UniqueFd fd(::socket(address.storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  if (::connect(fd.get(), address.get(), address.length) != 0) {
    return ErrnoStatus("connect", errno);
  }
  int mtu = 0;
  socklen_t length = sizeof(mtu);
  const bool ipv6 = address.storage.ss_family == AF_INET6;
  if (::getsockopt(fd.get(), ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, ipv6 ? IPV6_MTU : IP_MTU, &mtu,
                   &length) != 0) {
    return ErrnoStatus("getsockopt IP_MTU", errno);
  }
  return mtu;
}

WriteResult SendErrorResult(int error_number, const Datagram& datagram, const SocketAddress& to) {
  const std::string destination = datagram.endpoint.ToString();
  if (error_number != EMSGSIZE) {
    return WriteResult::Rejected(ErrnoStatus(absl::StrCat("send to ", destination), error_number));
  }
  const bool ipv6 = to.storage.ss_family == AF_INET6;
  const AddressFamily family = ipv6 ? AddressFamily::kIPv6 : AddressFamily::kIPv4;
  const uint64_t family_maximum = ipv6 ? kIPv6MaxPayload : kIPv4MaxPayload;
  const uint64_t size = datagram.payload.size();
  if (size > family_maximum) {
    return WriteResult::TooLarge(
        absl::InvalidArgumentError(absl::StrFormat(
            "payload %d bytes to %s exceeds the family maximum of %d bytes for %s (EMSGSIZE)", size,
            destination, family_maximum, AddressFamilyName(family))),
        DatagramLimitKind::kFamilyMaximum, family_maximum);
  }
  absl::StatusOr<int> mtu = RouteMtu(to);
  if (!mtu.ok()) {
    return WriteResult::Rejected(absl::InvalidArgumentError(
        absl::StrFormat("payload %d bytes to %s is too large for the path (EMSGSIZE); route MTU "
                        "unknown: %s",
                        size, destination, mtu.status().message())));
  }
  // As the kernel does: IPv4 caps the MTU at the 16-bit total length.
  const uint64_t effective_mtu = ipv6 ? *mtu : std::min(*mtu, 65535);
  const uint64_t header = (ipv6 ? kIPv6HeaderBytes : kIPv4HeaderBytes) + kUdpHeaderBytes;
  const uint64_t limit = effective_mtu > header ? effective_mtu - header : 0;
  return WriteResult::TooLarge(
      absl::InvalidArgumentError(
          absl::StrFormat("payload %d bytes to %s exceeds the path MTU limit of %d bytes (route "
                          "MTU %d, don't-fragment; EMSGSIZE)",
                          size, destination, limit, *mtu)),
      DatagramLimitKind::kPathMtuDontFragment, limit);
}

bool InFlightGate::Enter() {
  MutexLock lock(&mu_);
  if (closed()) return false;
  ++in_flight_;
  return true;
}

void InFlightGate::Leave() {
  MutexLock lock(&mu_);
  if (--in_flight_ == 0) idle_.SignalAll();
}

void InFlightGate::WaitIdle() {
  MutexLock lock(&mu_);
  while (in_flight_ > 0) idle_.Wait(&mu_);
}

}  // namespace netrig
