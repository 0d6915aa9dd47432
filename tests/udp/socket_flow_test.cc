#include "harness/udp/socket_flow.h"

#include <net/if.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/udp/peers/echo_server.h"
#include "harness/udp/flow.h"
#include "tests/support/flow_reads.h"

namespace netrig {
namespace {

using ::netrig::testing::ReadAtLeast;
using ::testing::HasSubstr;

std::unique_ptr<Flow> OpenFlow(const FlowOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("socket", options);
  EXPECT_TRUE(flow.ok()) << flow.status();
  return flow.ok() ? *std::move(flow) : nullptr;
}

std::unique_ptr<EchoServer> StartEcho() {
  absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start({.threads = 3});
  EXPECT_TRUE(echo.ok()) << echo.status();
  return echo.ok() ? *std::move(echo) : nullptr;
}

struct Encoding {
  std::string name;
  Endpoint endpoint;
  // The endpoint replies come back from (the echo server's real address).
  Endpoint reply_from;
};

// Every encoding of the echo server's address that a loopback flow can send to.
std::vector<Encoding> Encodings(const EchoServer& echo) {
  const uint16_t port = echo.port();
  const Endpoint v4 = echo.ipv4_endpoint();
  std::vector<Encoding> out;
  out.push_back({"ipv4", v4, v4});
  out.push_back({"ipv4 text", *Endpoint::Parse(absl::StrCat("127.0.0.1:", port)), v4});
  SocketAddress raw = *v4.ToSockaddr();
  out.push_back({"ipv4 raw sockaddr",
                 *Endpoint::FromSockaddr(absl::MakeConstSpan(
                     reinterpret_cast<const uint8_t*>(&raw.storage), raw.length)),
                 v4});
  out.push_back(
      {"ipv4-mapped ipv6", *Endpoint::Parse(absl::StrCat("[::ffff:127.0.0.1]:", port)), v4});
  if (echo.ipv6_endpoint()) {
    const Endpoint v6 = *echo.ipv6_endpoint();
    out.push_back({"ipv6", v6, v6});
    out.push_back({"ipv6 dot port", *Endpoint::Parse(absl::StrCat("::1.", port)), v6});
    SocketAddress raw6 = *v6.ToSockaddr();
    out.push_back({"ipv6 raw sockaddr",
                   *Endpoint::FromSockaddr(absl::MakeConstSpan(
                       reinterpret_cast<const uint8_t*>(&raw6.storage), raw6.length)),
                   v6});
    const unsigned lo = if_nametoindex("lo");
    if (lo != 0) {
      std::array<uint8_t, 16> loopback{};
      loopback[15] = 1;
      out.push_back({"ipv6 scoped", Endpoint::IPv6(loopback, port, lo), v6});
    }
  }
  // localhost resolves to 127.0.0.1 or ::1; the echo server listens on the same port on both.
  out.push_back({"host", Endpoint::Host("localhost", port), v4});
  return out;
}

TEST(SocketFlow, EchoesInEveryEncoding) {
  std::unique_ptr<EchoServer> echo = StartEcho();
  ASSERT_NE(echo, nullptr);
  std::unique_ptr<Flow> flow = OpenFlow();
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->state(), FlowState::kReady);
  for (const Encoding& encoding : Encodings(*echo)) {
    SCOPED_TRACE(encoding.name + " " + encoding.endpoint.ToString());
    std::vector<Datagram> out;
    for (int i = 0; i < 5; ++i) {
      out.push_back({encoding.endpoint, absl::StrCat(encoding.name, " #", i)});
    }
    std::vector<WriteResult> results = flow->Write(out);
    ASSERT_EQ(results.size(), out.size());
    for (const WriteResult& r : results) EXPECT_TRUE(r.accepted()) << r.error;
    std::vector<Datagram> in = ReadAtLeast(*flow, out.size());
    ASSERT_EQ(in.size(), out.size());
    std::vector<std::string> payloads;
    for (const Datagram& d : in) {
      payloads.push_back(d.payload);
      EXPECT_FALSE(d.truncated);
      if (encoding.name == "host") {
        EXPECT_EQ(d.endpoint.port(), echo->port());
      } else {
        EXPECT_EQ(d.endpoint, encoding.reply_from) << d.endpoint.ToString();
      }
      EXPECT_EQ(d.endpoint.kind(), EndpointKind::kAddress);
    }
    std::vector<std::string> expected;
    for (const Datagram& d : out) expected.push_back(d.payload);
    EXPECT_THAT(payloads, ::testing::UnorderedElementsAreArray(expected));
  }
}

TEST(SocketFlow, EchoesEndpointExactlyAsRead) {
  std::unique_ptr<EchoServer> echo = StartEcho();
  ASSERT_NE(echo, nullptr);
  std::unique_ptr<Flow> client = OpenFlow();
  std::unique_ptr<Flow> server = OpenFlow();
  ASSERT_NE(client, nullptr);
  ASSERT_NE(server, nullptr);
  // The client writes to the server flow; the server writes back with the endpoint it read.
  for (const Endpoint& to : server->LocalEndpoints()) {
    SCOPED_TRACE(to.ToString());
    ASSERT_TRUE(client->Write({{to, "query"}})[0].accepted());
    std::vector<Datagram> queries = ReadAtLeast(*server, 1);
    ASSERT_EQ(queries.size(), 1u);
    EXPECT_EQ(queries[0].endpoint.kind(), EndpointKind::kAddress);
    WriteResult back = server->Write({{queries[0].endpoint, "response"}})[0];
    EXPECT_TRUE(back.accepted()) << back.error;
    std::vector<Datagram> responses = ReadAtLeast(*client, 1);
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].payload, "response");
    EXPECT_EQ(responses[0].endpoint, to);
  }
}

TEST(SocketFlow, SizeLimitsNameTheFamilyMaximum) {
  std::unique_ptr<EchoServer> echo = StartEcho();
  ASSERT_NE(echo, nullptr);
  std::unique_ptr<Flow> flow = OpenFlow();
  ASSERT_NE(flow, nullptr);
  struct Case {
    Endpoint to;
    uint64_t maximum;
  };
  std::vector<Case> cases = {{echo->ipv4_endpoint(), kIPv4MaxPayload}};
  if (echo->ipv6_endpoint()) cases.push_back({*echo->ipv6_endpoint(), kIPv6MaxPayload});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.to.ToString());
    std::vector<Datagram> out = {{c.to, std::string(c.maximum, 'a')},
                                 {c.to, std::string(c.maximum + 1, 'b')}};
    std::vector<WriteResult> results = flow->Write(out);
    ASSERT_EQ(results.size(), 2u);
    EXPECT_TRUE(results[0].accepted()) << results[0].error;
    ASSERT_TRUE(results[1].rejected());
    EXPECT_EQ(results[1].limit_kind, DatagramLimitKind::kFamilyMaximum);
    EXPECT_EQ(results[1].limit_bytes, c.maximum);
    EXPECT_THAT(results[1].error.message(), HasSubstr(absl::StrCat(c.maximum)));
    // The oracle agrees that the claim names the true limit.
    DatagramRejection rejection;
    rejection.claimed_kind = results[1].limit_kind;
    rejection.claimed_limit_bytes = results[1].limit_bytes;
    rejection.message = std::string(results[1].error.message());
    absl::StatusOr<RejectionJudgement> judgement =
        JudgeRejection(c.maximum + 1, c.to.family(), DatagramPath::Loopback(), rejection);
    ASSERT_TRUE(judgement.ok()) << judgement.status();
    EXPECT_EQ(judgement->finding, RejectionFinding::kTrueLimit) << judgement->message;
    std::vector<Datagram> in = ReadAtLeast(*flow, 1);
    ASSERT_EQ(in.size(), 1u);
    EXPECT_EQ(in[0].payload.size(), c.maximum);
  }
}

TEST(SocketFlow, RejectsUnsendableEndpointsVisibly) {
  std::unique_ptr<Flow> flow = OpenFlow();
  ASSERT_NE(flow, nullptr);
  std::vector<Datagram> out = {
      {*Endpoint::Parse("IPv4#e5b4bb04:443"), "redacted"},
      {*Endpoint::Parse("192.0.2.1:53"), "not loopback"},
  };
  std::vector<WriteResult> results = flow->Write(out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].rejected());
  EXPECT_EQ(results[0].limit_kind, DatagramLimitKind::kNone);
  EXPECT_THAT(results[0].error.message(), HasSubstr("redacted"));
  EXPECT_TRUE(results[1].rejected());
  EXPECT_EQ(results[1].error.code(), absl::StatusCode::kPermissionDenied);
}

TEST(SocketFlow, WaitingRejectsWritesVisiblyAndLeavesOnPathBack) {
  std::unique_ptr<EchoServer> echo = StartEcho();
  ASSERT_NE(echo, nullptr);
  std::unique_ptr<Flow> flow = OpenFlow();
  ASSERT_NE(flow, nullptr);
  flow->OnPathEvent(PathEvent::kPathLost);
  EXPECT_EQ(flow->state(), FlowState::kWaiting);
  std::vector<WriteResult> results = flow->Write({{echo->ipv4_endpoint(), "while waiting"}});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].rejected());
  EXPECT_EQ(results[0].error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(results[0].error.message(), HasSubstr("waiting"));
  flow->OnPathEvent(PathEvent::kPathBack);
  EXPECT_EQ(flow->state(), FlowState::kReady);
  ASSERT_TRUE(flow->Write({{echo->ipv4_endpoint(), "after"}})[0].accepted());
  std::vector<Datagram> in = ReadAtLeast(*flow, 1);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].payload, "after");
}

TEST(SocketFlow, CloseWakesBlockedReadsAndRejectsLaterWrites) {
  std::unique_ptr<Flow> flow = OpenFlow();
  ASSERT_NE(flow, nullptr);
  std::atomic<int> cancelled{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      absl::StatusOr<std::vector<Datagram>> got = flow->Read(8, absl::Seconds(30));
      if (absl::IsCancelled(got.status())) ++cancelled;
    });
  }
  absl::SleepFor(absl::Milliseconds(50));
  flow->Close();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(cancelled.load(), 3);
  EXPECT_EQ(flow->state(), FlowState::kClosed);
  std::vector<WriteResult> results = flow->Write({{*Endpoint::Parse("127.0.0.1:9"), "late"}});
  EXPECT_EQ(results[0].error.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::IsCancelled(flow->Read(1, absl::ZeroDuration()).status()));
  flow->Close();  // idempotent
}

TEST(SocketFlow, ConcurrentReadWriteCloseFromThreads) {
  std::unique_ptr<EchoServer> echo = StartEcho();
  ASSERT_NE(echo, nullptr);
  const int64_t live_before = kLiveFlows.live();
  for (int round = 0; round < 20; ++round) {
    std::unique_ptr<Flow> flow = OpenFlow();
    ASSERT_NE(flow, nullptr);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> accepted{0}, received{0}, closed_rejections{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 2; ++w) {
      threads.emplace_back([&, w] {
        const Endpoint to =
            w == 0 || !echo->ipv6_endpoint() ? echo->ipv4_endpoint() : *echo->ipv6_endpoint();
        while (!stop.load()) {
          std::vector<Datagram> out(8, Datagram{to, std::string(100 + w, 'x')});
          for (const WriteResult& r : flow->Write(out)) {
            if (r.accepted()) ++accepted;
            if (r.error.code() == absl::StatusCode::kFailedPrecondition) ++closed_rejections;
          }
          if (flow->state() == FlowState::kClosed) return;
        }
      });
    }
    for (int r = 0; r < 2; ++r) {
      threads.emplace_back([&] {
        while (true) {
          absl::StatusOr<std::vector<Datagram>> got = flow->Read(32, absl::Milliseconds(100));
          if (!got.ok()) return;
          received += got->size();
        }
      });
    }
    threads.emplace_back([&] {
      flow->OnPathEvent(PathEvent::kPathLost);
      flow->OnPathEvent(PathEvent::kPathBack);
    });
    absl::SleepFor(absl::Milliseconds(5 + round));
    std::thread closer([&] { flow->Close(); });
    flow->Close();  // two closers at once
    closer.join();
    stop = true;
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(flow->state(), FlowState::kClosed);
    EXPECT_LE(received.load(), accepted.load() + 0);
  }
  EXPECT_EQ(kLiveFlows.live(), live_before);
}

TEST(FlowRegistry, KnowsBuiltinsAndRefusesDuplicates) {
  EXPECT_NE(FindFlow("socket"), nullptr);
  EXPECT_NE(FindFlow("dns-proxy"), nullptr);
  EXPECT_EQ(FindFlow("no-such-flow"), nullptr);
  absl::StatusOr<std::unique_ptr<Flow>> missing = CreateFlow("no-such-flow", {});
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("socket"));
  absl::Status again = RegisterFlow({"socket", "dup", FindFlow("socket")->flow, nullptr});
  EXPECT_TRUE(absl::IsAlreadyExists(again));
  // A fresh name each run (--gtest_repeat registers again).
  static int run = 0;
  const std::string name = absl::StrCat("test-registered-", ++run);
  ASSERT_TRUE(RegisterFlow({name, "from a test", FindFlow("socket")->flow, nullptr}).ok());
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow(name, {});
  EXPECT_TRUE(flow.ok()) << flow.status();
}

}  // namespace
}  // namespace netrig
