#include "harness/udp/socket_util.h"

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"

namespace netrig::internal {

absl::Status ErrnoStatus(absl::string_view what, int error_number) {
  std::string message =
      absl::StrCat(what, ": ", std::strerror(error_number), " (errno ", error_number, ")");
  switch (error_number) {
    case EMSGSIZE:
    case EAFNOSUPPORT:
      // A datagram over a limit, or an endpoint of a family the socket cannot take: the
      // caller's argument (absl::ErrnoToStatus says Unknown and Unimplemented).
      return absl::InvalidArgumentError(message);
    case EAGAIN:
    case ENOBUFS:
      // A full socket buffer: resources, not an unavailable service.
      return absl::ResourceExhaustedError(message);
    default:
      return absl::Status(absl::ErrnoToStatusCode(error_number), message);
  }
}

namespace {

absl::StatusOr<SocketAddress> LoopbackAddress(AddressFamily family, uint16_t port) {
  SocketAddress address;
  if (family == AddressFamily::kIPv6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_loopback;
    sin6->sin6_port = htons(port);
    address.length = sizeof(sockaddr_in6);
  } else if (family == AddressFamily::kIPv4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&address.storage);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin->sin_port = htons(port);
    address.length = sizeof(sockaddr_in);
  } else {
    return absl::InvalidArgumentError("an unspecified address family has no loopback address");
  }
  return address;
}

absl::StatusOr<UniqueFd> BindSocket(int type, AddressFamily family, uint16_t port,
                                    const Endpoint* bind_address) {
  SocketAddress address;
  if (bind_address != nullptr) {
    absl::StatusOr<SocketAddress> converted = bind_address->ToSockaddr();
    if (!converted.ok()) return converted.status();
    address = *converted;
    family = bind_address->family();
  } else {
    absl::StatusOr<SocketAddress> loopback = LoopbackAddress(family, port);
    if (!loopback.ok()) return loopback.status();
    address = *loopback;
  }
  const int domain = family == AddressFamily::kIPv6 ? AF_INET6 : AF_INET;
  UniqueFd fd(::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  if (domain == AF_INET6) {
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (type == SOCK_STREAM) {
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (::bind(fd.get(), address.get(), address.length) != 0) {
    return ErrnoStatus(absl::StrCat("bind ", AddressFamilyName(family), " port ", port), errno);
  }
  return fd;
}

}  // namespace

absl::StatusOr<UniqueFd> BindUdp(AddressFamily family, uint16_t port,
                                 const Endpoint* bind_address) {
  return BindSocket(SOCK_DGRAM, family, port, bind_address);
}

absl::StatusOr<UniqueFd> ListenTcp(AddressFamily family, uint16_t port) {
  absl::StatusOr<UniqueFd> fd = BindSocket(SOCK_STREAM, family, port, nullptr);
  if (!fd.ok()) return fd.status();
  if (::listen(fd->get(), 64) != 0) return ErrnoStatus("listen", errno);
  return fd;
}

absl::StatusOr<UniqueFd> ConnectTcp(const Endpoint& peer, absl::Duration timeout) {
  absl::StatusOr<SocketAddress> address = peer.ToSockaddr();
  if (!address.ok()) return address.status();
  UniqueFd fd(::socket(address->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd.get(), address->get(), address->length) != 0) {
    if (errno != EINPROGRESS) return ErrnoStatus(absl::StrCat("connect ", peer.ToString()), errno);
    pollfd p{fd.get(), POLLOUT, 0};
    const absl::Time deadline = netrig::Now() + timeout;
    int ready = 0;
    while (ready == 0 && netrig::Now() < deadline) {
      ready = netrig::Poll(&p, 1, PollTimeoutMs(deadline - netrig::Now()));
      if (ready < 0 && errno == EINTR) ready = 0;
    }
    if (ready <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("connect ", peer.ToString(), ": timed out"));
    }
    int error = 0;
    socklen_t length = sizeof(error);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return ErrnoStatus(absl::StrCat("connect ", peer.ToString()), error);
  }
  return fd;
}

absl::StatusOr<Endpoint> LocalEndpoint(int fd) {
  SocketAddress address;
  address.length = sizeof(address.storage);
  if (::getsockname(fd, address.get(), &address.length) != 0) {
    return ErrnoStatus("getsockname", errno);
  }
  return Endpoint::FromSockaddr(address.get(), address.length);
}

Endpoint LoopbackIPv4Endpoint(uint16_t port) { return Endpoint::IPv4({127, 0, 0, 1}, port); }

std::optional<Endpoint> LoopbackIPv6Endpoint(const UniqueFd& ipv6, uint16_t port) {
  if (!ipv6.valid()) return std::nullopt;
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  return Endpoint::IPv6(loopback, port);
}

ReadableSockets PollReadable(int ipv4, int ipv6, int wake_fd, int timeout_ms) {
  pollfd fds[3];
  int count = 0;
  for (int fd : {ipv4, ipv6, wake_fd}) {
    if (fd >= 0) fds[count++] = {fd, POLLIN, 0};
  }
  ReadableSockets ready;
  if (netrig::Poll(fds, count, timeout_ms) <= 0) return ready;
  for (int i = 0; i < count; ++i) {
    if (fds[i].fd == wake_fd || (fds[i].revents & POLLIN) == 0) continue;
    ready.fds[ready.count++] = fds[i].fd;
  }
  return ready;
}

absl::StatusOr<UniqueFd> MakeWakeFd() {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("eventfd", errno);
  return fd;
}

void SignalWakeFd(int fd) {
  const uint64_t one = 1;
  // A full counter (2^64 - 2) still leaves the fd readable, which is all a waker needs.
  [[maybe_unused]] ssize_t written = ::write(fd, &one, sizeof(one));
}

uint64_t KernelDrops(int fd) {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof(meminfo);
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) != 0 ||
      length <= SK_MEMINFO_DROPS * sizeof(uint32_t)) {
    return 0;
  }
  return meminfo[SK_MEMINFO_DROPS];
}

namespace {

// A /proc/net/udp{,6} address ("0100007F:3039"): the address words as the kernel prints them
// (each 32-bit word of the network-order bytes, in host order), then the port in hex.
bool ParseProcAddress(absl::string_view text, std::vector<uint8_t>& bytes, uint16_t& port) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos || (colon != 8 && colon != 32)) return false;
  bytes.clear();
  for (size_t word = 0; word < colon; word += 8) {
    uint32_t value = 0;
    if (!absl::SimpleHexAtoi(text.substr(word, 8), &value)) return false;
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
  uint32_t parsed_port = 0;
  if (!absl::SimpleHexAtoi(text.substr(colon + 1), &parsed_port) || parsed_port > 0xffff) {
    return false;
  }
  port = static_cast<uint16_t>(parsed_port);
  return true;
}

bool AllZero(const std::vector<uint8_t>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

std::optional<uint64_t> PeerSocketDrops(const Endpoint& peer) {
  if (peer.kind() != EndpointKind::kAddress) return std::nullopt;
  const absl::Span<const uint8_t> unmapped = UnmappedAddress(peer);
  const bool ipv4 = unmapped.size() == 4;
  std::optional<uint64_t> drops;
  for (const char* path : {"/proc/net/udp", "/proc/net/udp6"}) {
    const bool file_is_v6 = std::string_view(path).back() == '6';
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);  // The header.
    while (std::getline(file, line)) {
      const std::vector<absl::string_view> fields =
          absl::StrSplit(line, ' ', absl::SkipWhitespace());
      if (fields.size() < 13) continue;
      std::vector<uint8_t> bytes;
      uint16_t port = 0;
      if (!ParseProcAddress(fields[1], bytes, port) || port != peer.port()) continue;
      bool receives = AllZero(bytes);
      if (!file_is_v6) {
        receives = receives || (ipv4 && std::equal(bytes.begin(), bytes.end(), unmapped.begin()));
      } else if (ipv4) {
        // A dual-stack socket receives IPv4 as ::ffff:a.b.c.d (bound there or to ::).
        const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        receives = receives || (std::equal(mapped_prefix, mapped_prefix + 12, bytes.begin()) &&
                                std::equal(bytes.begin() + 12, bytes.end(), unmapped.begin()));
      } else {
        receives =
            receives || std::equal(bytes.begin(), bytes.end(), unmapped.begin(), unmapped.end());
      }
      if (!receives || (!file_is_v6 && !ipv4)) continue;
      uint64_t count = 0;
      if (!absl::SimpleAtoi(fields.back(), &count)) continue;
      drops = drops.value_or(0) + count;
    }
  }
  return drops;
}

int PollTimeoutMs(absl::Duration remaining) {
  if (remaining <= absl::ZeroDuration()) return 0;
  if (remaining >= absl::Seconds(1)) return 1000;
  return static_cast<int>(absl::ToInt64Milliseconds(remaining + absl::Microseconds(999)));
}

namespace {

// Waits for `events` on fd. OK when ready; DeadlineExceeded; Cancelled when wake_fd fires.
absl::Status WaitFor(int fd, short events, absl::Time deadline, int wake_fd) {
  while (true) {
    pollfd p[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
    const int count = wake_fd >= 0 ? 2 : 1;
    const absl::Duration remaining = deadline - netrig::Now();
    if (remaining <= absl::ZeroDuration()) return absl::DeadlineExceededError("timed out");
    const int ready = netrig::Poll(p, count, PollTimeoutMs(remaining));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("poll", errno);
    }
    if (count == 2 && (p[1].revents & POLLIN)) return absl::CancelledError("closed");
    if (p[0].revents != 0) return absl::OkStatus();
  }
}

}  // namespace

absl::Status WriteAll(int fd, const void* data, size_t size, absl::Duration timeout, int wake_fd) {
  const absl::Time deadline = netrig::Now() + timeout;
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, bytes, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      absl::Status ready = WaitFor(fd, POLLOUT, deadline, wake_fd);
      if (!ready.ok()) return ready;
      continue;
    }
    return ErrnoStatus("send", errno);
  }
  return absl::OkStatus();
}

absl::Status ReadExact(int fd, void* data, size_t size, absl::Duration timeout, int wake_fd) {
  const absl::Time deadline = netrig::Now() + timeout;
  auto* bytes = static_cast<uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::recv(fd, bytes, size, MSG_DONTWAIT);
    if (n > 0) {
      bytes += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return absl::UnavailableError("connection closed by peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      absl::Status ready = WaitFor(fd, POLLIN, deadline, wake_fd);
      if (!ready.ok()) return ready;
      continue;
    }
    return ErrnoStatus("recv", errno);
  }
  return absl::OkStatus();
}

absl::Status BindUdpPair(UniqueFd* ipv4, UniqueFd* ipv6, uint16_t* port) {
  absl::Status last = absl::OkStatus();
  for (int attempt = 0; attempt < 64; ++attempt) {
    absl::StatusOr<UniqueFd> v4 = BindUdp(AddressFamily::kIPv4, 0);
    if (!v4.ok()) return v4.status();
    absl::StatusOr<Endpoint> local = LocalEndpoint(v4->get());
    if (!local.ok()) return local.status();
    absl::StatusOr<UniqueFd> v6 = BindUdp(AddressFamily::kIPv6, local->port());
    if (!v6.ok() && absl::IsFailedPrecondition(v6.status()) &&
        absl::StrContains(v6.status().message(), "in use")) {
      last = v6.status();
      continue;  // That port is taken on ::1; try another.
    }
    *ipv4 = std::move(*v4);
    if (v6.ok()) *ipv6 = std::move(*v6);  // No ::1 on this host: IPv4 only.
    *port = local->port();
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("no port free on both 127.0.0.1 and ::1 after 64 tries: ", last.message()));
}

}  // namespace netrig::internal
