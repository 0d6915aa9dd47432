// PeerSocketDrops (udp/socket_util.h): the drop count of a socket netrig does not own, read from
// /proc/net/udp{,6}, must agree with the socket's own SO_MEMINFO count, also for a dual-stack
// socket receiving IPv4, and must say "unknown" rather than 0 when no socket is visible.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "harness/net/endpoint.h"
#include "harness/udp/socket_util.h"

namespace netrig {
namespace {

// Fills `fd`'s small receive buffer past full from another socket; returns the port.
uint16_t Overflow(int fd, int family) {
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const uint16_t port =
      ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                              : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  const int sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(port);
  const std::string payload(1000, 'x');
  for (int i = 0; i < 200; ++i) {
    ::sendto(sender, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof(to));
  }
  ::close(sender);
  return port;
}

TEST(PeerSocketDrops, AgreesWithTheSocketsOwnCount) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const uint16_t port = Overflow(fd, AF_INET);
  const uint64_t own = internal::KernelDrops(fd);
  ASSERT_GT(own, 0u);
  const std::optional<uint64_t> read =
      internal::PeerSocketDrops(Endpoint::IPv4({127, 0, 0, 1}, port));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, own);
  // The same peer in its IPv4-mapped spelling is the same socket.
  absl::StatusOr<Endpoint> mapped = Endpoint::Parse("[::ffff:127.0.0.1]:" + std::to_string(port));
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(internal::PeerSocketDrops(*mapped), read);
  ::close(fd);
}

TEST(PeerSocketDrops, ADualStackSocketReceivingIPv4IsFound) {
  const int fd = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int off = 0;
  ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr.s6_addr[10] = 0xff;
  address.sin6_addr.s6_addr[11] = 0xff;
  address.sin6_addr.s6_addr[12] = 127;
  address.sin6_addr.s6_addr[15] = 1;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const uint16_t port = Overflow(fd, AF_INET6);
  const uint64_t own = internal::KernelDrops(fd);
  ASSERT_GT(own, 0u);
  EXPECT_EQ(internal::PeerSocketDrops(Endpoint::IPv4({127, 0, 0, 1}, port)), own);
  ::close(fd);
}

TEST(PeerSocketDrops, NoVisibleSocketIsUnknownNotZero) {
  // A port nothing listens on any more: bound, read, closed.
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  EXPECT_EQ(internal::PeerSocketDrops(Endpoint::IPv4({127, 0, 0, 1}, ntohs(address.sin_port))),
            std::nullopt);
  EXPECT_EQ(internal::PeerSocketDrops(Endpoint::Host("localhost", 53)), std::nullopt);
}

}  // namespace
}  // namespace netrig
