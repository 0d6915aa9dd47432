// The flow kit (harness/udp/flow_kit.h) on its own: destinations in every encoding, send errors
// named with their limits, loopback refusal, the IPv4-mapped conversions and the in-flight gate.
// (netrig's socket flow and examples/' flow run on it under `netrig udp` in the workload tests.)
#include "harness/udp/flow_kit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

Endpoint Parse(const std::string& text) {
  absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(text);
  EXPECT_TRUE(endpoint.ok()) << text << ": " << endpoint.status();
  return *endpoint;
}

std::string Text(const SocketAddress& address) {
  absl::StatusOr<Endpoint> endpoint = Endpoint::FromSockaddr(address.get(), address.length);
  return endpoint.ok() ? endpoint->ToString() : std::string(endpoint.status().message());
}

TEST(ResolveDestination, AddressesGoOutAsTheyAreAndIPv4MappedAsIPv4) {
  absl::StatusOr<SocketAddress> v4 = ResolveDestination(Parse("127.0.0.1:5000"), true);
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(Text(*v4), "127.0.0.1:5000");
  absl::StatusOr<SocketAddress> v6 = ResolveDestination(Parse("[::1]:5000"), true);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(Text(*v6), "[::1]:5000");
  absl::StatusOr<SocketAddress> mapped = ResolveDestination(Parse("[::ffff:127.0.0.2]:53"), true);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ(mapped->storage.ss_family, AF_INET);
  EXPECT_EQ(Text(*mapped), "127.0.0.2:53");
}

TEST(ResolveDestination, HostNamesAreResolvedWithTheirPort) {
  absl::StatusOr<SocketAddress> host = ResolveDestination(Parse("localhost:7"), true);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_TRUE(IsLoopbackAddress(*host));
  EXPECT_THAT(Text(*host), ::testing::EndsWith(":7"));
}

TEST(ResolveDestination, RefusesRedactedAndOffMachineDestinations) {
  absl::StatusOr<SocketAddress> redacted =
      ResolveDestination(Endpoint::Redacted(AddressFamily::kIPv4, "e5b4bb04", 443), true);
  EXPECT_EQ(redacted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(redacted.status().message(), HasSubstr("redacted"));
  absl::StatusOr<SocketAddress> remote = ResolveDestination(Parse("192.0.2.1:53"), true);
  EXPECT_EQ(remote.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(remote.status().message(), HasSubstr("192.0.2.1:53"));
  // A mapped remote address is judged as the IPv4 address it is.
  EXPECT_EQ(ResolveDestination(Parse("[::ffff:192.0.2.1]:53"), true).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Allowed when the flow is not loopback-only.
  EXPECT_TRUE(ResolveDestination(Parse("192.0.2.1:53"), false).ok());
}

TEST(FlowKit, IPv4MappedConversionsRoundTrip) {
  absl::StatusOr<SocketAddress> v4 = Parse("127.0.0.1:4242").ToSockaddr();
  ASSERT_TRUE(v4.ok());
  const SocketAddress mapped = MapToIPv6(*v4);
  EXPECT_EQ(mapped.storage.ss_family, AF_INET6);
  EXPECT_EQ(Text(mapped), "[::ffff:127.0.0.1]:4242");
  EXPECT_TRUE(IsLoopbackAddress(mapped));
  EXPECT_EQ(Text(UnmapIPv4Mapped(mapped)), "127.0.0.1:4242");
  // Plain IPv6 is left alone both ways.
  absl::StatusOr<SocketAddress> v6 = Parse("[::1]:1").ToSockaddr();
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(Text(MapToIPv6(*v6)), "[::1]:1");
  EXPECT_EQ(Text(UnmapIPv4Mapped(*v6)), "[::1]:1");
}

TEST(SendErrorResult, EmsgsizeOverTheFamilyMaximumNamesIt) {
  const Datagram datagram{Parse("127.0.0.1:9"), std::string(kIPv4MaxPayload + 1, 'x')};
  absl::StatusOr<SocketAddress> to = datagram.endpoint.ToSockaddr();
  ASSERT_TRUE(to.ok());
  const WriteResult result = SendErrorResult(EMSGSIZE, datagram, *to);
  EXPECT_TRUE(result.rejected());
  EXPECT_EQ(result.limit_kind, DatagramLimitKind::kFamilyMaximum);
  EXPECT_EQ(result.limit_bytes, kIPv4MaxPayload);
  EXPECT_THAT(result.error.message(), HasSubstr("family maximum"));
}

TEST(SendErrorResult, EmsgsizeUnderItNamesTheRoutesPathMtuLimit) {
  const Datagram datagram{Parse("[::1]:9"), std::string(30000, 'x')};
  absl::StatusOr<SocketAddress> to = datagram.endpoint.ToSockaddr();
  ASSERT_TRUE(to.ok());
  absl::StatusOr<int> mtu = RouteMtu(*to);
  if (!mtu.ok()) GTEST_SKIP() << "no route MTU towards ::1 here: " << mtu.status();
  const WriteResult result = SendErrorResult(EMSGSIZE, datagram, *to);
  EXPECT_TRUE(result.rejected());
  EXPECT_EQ(result.limit_kind, DatagramLimitKind::kPathMtuDontFragment);
  // The route MTU less the IPv6 and UDP headers.
  EXPECT_EQ(result.limit_bytes, static_cast<uint64_t>(*mtu) - kIPv6HeaderBytes - kUdpHeaderBytes);
}

TEST(SendErrorResult, OtherErrorsAreRejectionsWithoutALimit) {
  const Datagram datagram{Parse("127.0.0.1:9"), "hello"};
  absl::StatusOr<SocketAddress> to = datagram.endpoint.ToSockaddr();
  ASSERT_TRUE(to.ok());
  const WriteResult result = SendErrorResult(ECONNREFUSED, datagram, *to);
  EXPECT_TRUE(result.rejected());
  EXPECT_EQ(result.limit_kind, DatagramLimitKind::kNone);
  EXPECT_THAT(result.error.message(), HasSubstr("127.0.0.1:9"));
}

TEST(InFlightGate, CloseRefusesNewEntriesAndWaitsForThoseInside) {
  InFlightGate gate;
  std::atomic<bool> left{false};
  auto inside = std::make_unique<InFlightScope>(&gate);
  ASSERT_TRUE(inside->entered());
  EXPECT_TRUE(gate.Close());
  EXPECT_FALSE(gate.Close());  // Only the first Close() does the closing work.
  EXPECT_FALSE(InFlightScope(&gate).entered());
  std::thread leaver([&] {
    left.store(true);
    inside.reset();
  });
  gate.WaitIdle();
  EXPECT_TRUE(left.load());  // WaitIdle returned only after the scope inside had left.
  leaver.join();
}

}  // namespace
}  // namespace netrig
