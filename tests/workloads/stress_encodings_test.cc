// The endpoint comparisons the `netrig udp` driver uses to tell whether a datagram came back from
// where it was sent (harness/workloads/udp/stress_encodings.h).
#include "harness/workloads/udp/stress_encodings.h"

#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "harness/net/endpoint.h"

namespace netrig::internal::udp_stress {
namespace {

TEST(StressEncodings, EveryEncodingHasAName) {
  for (int e = 0; e < kEncodingCount; ++e) EXPECT_STRNE(EncodingName(e), "unknown encoding");
  EXPECT_STREQ(EncodingName(kEncodingCount), "unknown encoding");
  EXPECT_LE(kEncodingCount, 16);  // the id state keeps the encoding in 4 bits
}

}  // namespace
}  // namespace netrig::internal::udp_stress
