// The `null` flow (harness's ceiling): echo, the size limits a correct flow names, loopback-only,
// the waiting state, Close() waking a read, and a clean `netrig udp --flow null` run.
#include "harness/udp/null_flow.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "harness/net/datagram_oracle.h"
#include "harness/udp/flow.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig {
namespace {

std::unique_ptr<Flow> NullFlow(const FlowOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("null", options);
  EXPECT_TRUE(flow.ok()) << flow.status();
  return *std::move(flow);
}

Datagram To(absl::string_view endpoint, size_t bytes) {
  absl::StatusOr<Endpoint> parsed = Endpoint::Parse(endpoint);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return Datagram{*parsed, std::string(bytes, 'x')};
}

TEST(NullFlow, EchoesWhatItAcceptsTaggedAsWritten) {
  auto flow = NullFlow();
  const std::vector<Datagram> out = {To("127.0.0.1:9000", 100), To("[::ffff:127.0.0.1]:9001", 7),
                                     To("[::1]:9002", 65000)};
  const std::vector<WriteResult> results = flow->Write(out);
  ASSERT_EQ(results.size(), 3u);
  for (const WriteResult& r : results) EXPECT_TRUE(r.accepted()) << r.error;
  absl::StatusOr<std::vector<Datagram>> in = flow->Read(16, absl::Seconds(1));
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*in)[i].endpoint.ToString(), out[i].endpoint.ToString());
    EXPECT_EQ((*in)[i].payload, out[i].payload);
  }
}

TEST(NullFlow, RejectsWhatTheOracleSaysDoesNotFitNamingItsLimit) {
  FlowOptions options;
  options.dont_fragment = true;
  auto flow = NullFlow(options);
  const std::vector<WriteResult> results = flow->Write(std::vector<Datagram>{
      To("127.0.0.1:9000", kIPv4MaxPayload + 1), To("[::1]:9000", 65488), To("[::1]:9000", 65489)});
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].rejected());
  EXPECT_EQ(results[0].limit_kind, DatagramLimitKind::kFamilyMaximum);
  EXPECT_EQ(results[0].limit_bytes, kIPv4MaxPayload);
  EXPECT_TRUE(results[1].accepted());
  ASSERT_TRUE(results[2].rejected());
  EXPECT_EQ(results[2].limit_kind, DatagramLimitKind::kPathMtuDontFragment);
  EXPECT_EQ(results[2].limit_bytes, 65488u);
}

TEST(NullFlow, RefusesNonLoopbackAndWritesWhileWaiting) {
  auto flow = NullFlow();
  EXPECT_TRUE(flow->Write(std::vector<Datagram>{To("192.0.2.1:53", 10)})[0].rejected());
  flow->OnPathEvent(PathEvent::kPathLost);
  EXPECT_EQ(flow->state(), FlowState::kWaiting);
  const WriteResult waiting = flow->Write(std::vector<Datagram>{To("127.0.0.1:53", 10)})[0];
  EXPECT_TRUE(waiting.rejected());
  EXPECT_EQ(waiting.error.code(), absl::StatusCode::kUnavailable);
  flow->OnPathEvent(PathEvent::kPathBack);
  EXPECT_TRUE(flow->Write(std::vector<Datagram>{To("127.0.0.1:53", 10)})[0].accepted());
}

TEST(NullFlow, CloseWakesABlockedRead) {
  auto flow = NullFlow();
  absl::Status read_status;
  std::thread reader([&] { read_status = flow->Read(1, absl::Seconds(30)).status(); });
  absl::SleepFor(absl::Milliseconds(50));
  flow->Close();
  reader.join();
  EXPECT_EQ(read_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(flow->state(), FlowState::kClosed);
  EXPECT_EQ(flow->Write(std::vector<Datagram>{To("127.0.0.1:53", 10)})[0].error.code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(NullFlow, AStressRunIsClean) {
  UdpStressOptions options;
  options.flow = "null";
  options.duration = absl::Milliseconds(1500);
  options.seed = 1234;
  options.path_events = absl::Milliseconds(300);
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.finding_dir = "";
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->DescribeViolations() << result->inconclusive;
  EXPECT_TRUE(result->report["live_objects_at_end"].empty())
      << result->report["live_objects_at_end"].dump();
}

}  // namespace
}  // namespace netrig
