#include "harness/udp/dns_proxy.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/udp/flow.h"
#include "harness/udp/peers/dns_upstream.h"
#include "tests/support/flow_reads.h"

namespace netrig {
namespace {

using ::netrig::testing::ReadAtLeast;

std::string Query(uint16_t id, size_t size) {
  std::string q(std::max<size_t>(size, 12), '\0');
  q[0] = static_cast<char>(id >> 8);
  q[1] = static_cast<char>(id & 0xff);
  for (size_t i = 12; i < q.size(); ++i) q[i] = static_cast<char>('a' + i % 26);
  return q;
}

TEST(DnsWire, ResponseSetsQrBitAndKeepsSize) {
  const std::string query = Query(0x1234, 40);
  const std::string response = MakeDnsResponse(query);
  ASSERT_EQ(response.size(), query.size());
  EXPECT_EQ(static_cast<uint8_t>(response[2]) & 0x80, 0x80);
  EXPECT_EQ(response.substr(3), query.substr(3));
  EXPECT_EQ(MakeDnsResponse("ab"), "ab");
}

// An upstream that closes each connection after three answers (dnsmasq does after 100): the flow
// connects again and resends what is unanswered, so every query is answered once, in order.
TEST(DnsProxyFlow, AnUpstreamClosingItsConnectionsLosesNoQuery) {
  absl::StatusOr<std::unique_ptr<DnsUpstream>> upstream =
      DnsUpstream::Start({.max_queries_per_connection = 3});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  FlowOptions options;
  options.dns_upstream = (*upstream)->ipv4_endpoint();
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("dns-proxy", options);
  ASSERT_TRUE(flow.ok()) << flow.status();
  std::vector<Datagram> queries;
  for (int i = 0; i < 20; ++i) {
    queries.push_back({*Endpoint::Parse(absl::StrCat("127.0.0.1:", 1000 + i)),
                       Query(static_cast<uint16_t>(i), 40 + i)});
  }
  for (const WriteResult& r : (*flow)->Write(queries)) EXPECT_TRUE(r.accepted()) << r.error;
  std::vector<Datagram> responses = ReadAtLeast(**flow, queries.size());
  ASSERT_EQ(responses.size(), queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    EXPECT_EQ(responses[i].endpoint, queries[i].endpoint);
    EXPECT_EQ(responses[i].payload, MakeDnsResponse(queries[i].payload));
  }
  EXPECT_GE((*upstream)->connections(), 7u);
  EXPECT_EQ((*flow)->state(), FlowState::kReady);
  (*flow)->Close();
}

TEST(DnsProxyFlow, RoundTripKeepsEveryEndpointExactlyAsWritten) {
  absl::StatusOr<std::unique_ptr<DnsUpstream>> upstream = DnsUpstream::Start({});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  for (bool ipv6 : {false, true}) {
    if (ipv6 && !(*upstream)->ipv6_endpoint()) continue;
    FlowOptions options;
    options.dns_upstream = ipv6 ? *(*upstream)->ipv6_endpoint() : (*upstream)->ipv4_endpoint();
    absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("dns-proxy", options);
    ASSERT_TRUE(flow.ok()) << flow.status();
    const std::vector<Endpoint> endpoints = {
        *Endpoint::Parse("192.0.2.53:53"), *Endpoint::Parse("[fe80::1%7]:53"),
        *Endpoint::Parse("fe80::7:afff:fea1:edb8%en5.54442"), Endpoint::Host("dns.example", 53),
        *Endpoint::Parse("IPv4#e5b4bb04:443")};
    std::vector<Datagram> queries;
    for (size_t i = 0; i < endpoints.size(); ++i) {
      queries.push_back({endpoints[i], Query(static_cast<uint16_t>(i), 50 + 40 * i)});
    }
    for (const WriteResult& r : (*flow)->Write(queries)) EXPECT_TRUE(r.accepted()) << r.error;
    std::vector<Datagram> responses = ReadAtLeast(**flow, queries.size());
    ASSERT_EQ(responses.size(), queries.size());
    for (size_t i = 0; i < queries.size(); ++i) {
      EXPECT_EQ(responses[i].endpoint, queries[i].endpoint);
      EXPECT_EQ(responses[i].endpoint.ToString(), queries[i].endpoint.ToString());
      EXPECT_EQ(responses[i].payload, MakeDnsResponse(queries[i].payload));
    }
    // A datagram above the family maximum is rejected naming it.
    WriteResult big =
        (*flow)->Write({{*Endpoint::Parse("127.0.0.1:53"), std::string(65508, 'x')}})[0];
    EXPECT_TRUE(big.rejected());
    EXPECT_EQ(big.limit_kind, DatagramLimitKind::kFamilyMaximum);
    EXPECT_EQ(big.limit_bytes, kIPv4MaxPayload);
    // Waiting: visible rejection, then back.
    (*flow)->OnPathEvent(PathEvent::kPathLost);
    EXPECT_EQ((*flow)->state(), FlowState::kWaiting);
    EXPECT_EQ((*flow)->Write(queries)[0].error.code(), absl::StatusCode::kUnavailable);
    (*flow)->OnPathEvent(PathEvent::kPathBack);
    EXPECT_TRUE((*flow)->Write({queries[0]})[0].accepted());
    EXPECT_EQ(ReadAtLeast(**flow, 1).size(), 1u);
    (*flow)->Close();
    EXPECT_TRUE(absl::IsCancelled((*flow)->Read(1, absl::Seconds(1)).status()));
  }
  EXPECT_GE((*upstream)->queries(), 12u);
}

TEST(DnsProxyFlow, NeedsAnUpstream) {
  EXPECT_EQ(CreateFlow("dns-proxy", {}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DnsProxy, AnswersClientsThroughASocketFlow) {
  absl::StatusOr<std::unique_ptr<DnsUpstream>> upstream = DnsUpstream::Start({});
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  absl::StatusOr<std::unique_ptr<Flow>> server = CreateFlow("socket", {});
  absl::StatusOr<std::unique_ptr<Flow>> client = CreateFlow("socket", {});
  ASSERT_TRUE(server.ok() && client.ok());
  Mutex mu;
  std::vector<std::string> written_to;
  int rejected = 0;
  DnsProxy::Options options;
  options.upstream = (*upstream)->ipv4_endpoint();
  options.on_write = [&](const Datagram& response, const WriteResult& result) {
    MutexLock lock(&mu);
    written_to.push_back(response.endpoint.ToString());
    if (result.rejected()) ++rejected;
  };
  absl::StatusOr<std::unique_ptr<DnsProxy>> proxy = DnsProxy::Start(server->get(), options);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  std::vector<Datagram> queries;
  for (const Endpoint& to : (*server)->LocalEndpoints()) {
    for (uint16_t id = 0; id < 10; ++id) queries.push_back({to, Query(id, 50 + 15 * id)});
  }
  for (const WriteResult& r : (*client)->Write(queries)) EXPECT_TRUE(r.accepted()) << r.error;
  std::vector<Datagram> responses = ReadAtLeast(**client, queries.size());
  EXPECT_EQ(responses.size(), queries.size());
  std::vector<std::string> expected, got;
  for (const Datagram& q : queries) expected.push_back(MakeDnsResponse(q.payload));
  for (const Datagram& r : responses) got.push_back(r.payload);
  EXPECT_THAT(got, ::testing::UnorderedElementsAreArray(expected));
  (*proxy)->Stop();
  EXPECT_EQ((*proxy)->queries(), queries.size());
  EXPECT_EQ((*proxy)->responses_written(), queries.size());
  EXPECT_EQ((*proxy)->upstream_errors(), 0u);
  MutexLock lock(&mu);
  EXPECT_EQ(rejected, 0);
  EXPECT_EQ(written_to.size(), queries.size());
}

}  // namespace
}  // namespace netrig
