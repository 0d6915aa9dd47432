// The endpoint comparisons the `netrig udp` driver uses to tell whether a datagram came back from
// where it was sent (harness/workloads/udp/stress_encodings.h).
#include "harness/workloads/udp/stress_encodings.h"

#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "harness/net/endpoint.h"

namespace netrig::internal::udp_stress {
namespace {

Endpoint Parsed(const std::string& text) {
  absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(text);
  EXPECT_TRUE(endpoint.ok()) << text << ": " << endpoint.status();
  return endpoint.ok() ? *endpoint : Endpoint::Host("parse-failed", 0);
}

TEST(StressEncodings, EveryEncodingHasAName) {
  for (int e = 0; e < kEncodingCount; ++e) EXPECT_STRNE(EncodingName(e), "unknown encoding");
  EXPECT_STREQ(EncodingName(kEncodingCount), "unknown encoding");
  EXPECT_LE(kEncodingCount, 16);  // the id state keeps the encoding in 4 bits
}

TEST(StressEncodings, IsMappedOnlyForIPv4MappedIPv6) {
  EXPECT_TRUE(IsMapped(Parsed("[::ffff:127.0.0.1]:53")));
  EXPECT_FALSE(IsMapped(Parsed("127.0.0.1:53")));
  EXPECT_FALSE(IsMapped(Parsed("[::1]:53")));
  EXPECT_FALSE(IsMapped(Parsed("localhost:53")));
}

TEST(StressEncodings, SameAddressIgnoresMappingAndScope) {
  EXPECT_TRUE(SameAddress(Parsed("127.0.0.1:4000"), Parsed("[::ffff:127.0.0.1]:4000")));
  EXPECT_TRUE(SameAddress(Parsed("[::1]:4000"), Parsed("[::1%lo]:4000")));
  EXPECT_FALSE(SameAddress(Parsed("127.0.0.1:4000"), Parsed("127.0.0.1:4001")));
  EXPECT_FALSE(SameAddress(Parsed("127.0.0.1:4000"), Parsed("127.0.0.2:4000")));
  EXPECT_FALSE(SameAddress(Parsed("127.0.0.1:4000"), Parsed("[::1]:4000")));
  // A host name reaches no address bytes of its own.
  EXPECT_FALSE(SameAddress(Parsed("localhost:4000"), Parsed("localhost:4000")));
  EXPECT_TRUE(UnmappedAddress(Parsed("localhost:4000")).empty());
  EXPECT_EQ(UnmappedAddress(Parsed("[::ffff:10.1.2.3]:1")).size(), 4u);
}

}  // namespace
}  // namespace netrig::internal::udp_stress
