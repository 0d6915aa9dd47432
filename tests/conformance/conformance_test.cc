// The conformance suites (harness/conformance) instantiated for netrig's own reference clients,
// exactly as a user instantiates them for theirs: the socket and dns-proxy flows, the libcurl
// session and the raw-socket client (HTTP/1.1 only) must hold every property.
// (conformance_bugs_test.cc shows the suites fail for clients that break a property.)
#include <memory>
#include <thread>

#include "gtest/gtest.h"
#include "harness/conformance/bounded_threads.h"
#include "harness/conformance/flow_conformance.h"
#include "harness/conformance/http_client_conformance.h"
#include "harness/conformance/not_applicable.h"

namespace netrig::conformance {
namespace {

FlowConformanceOptions DnsProxyClaims() {
  FlowConformanceOptions claims;
  claims.peer = FlowPeer::kDnsUpstream;
  return claims;
}

INSTANTIATE_FLOW_CONFORMANCE(Socket, "socket");
INSTANTIATE_FLOW_CONFORMANCE(DnsProxy, "dns-proxy", DnsProxyClaims());
INSTANTIATE_FLOW_CONFORMANCE(Null, "null");  // The harness ceiling keeps the contract too.
HttpClientConformanceOptions Http1Only() {
  HttpClientConformanceOptions claims;
  claims.versions = {HttpVersion::kHttp11};
  return claims;
}

INSTANTIATE_HTTP_CLIENT_CONFORMANCE(Curl, "curl");
INSTANTIATE_HTTP_CLIENT_CONFORMANCE(RawSocket, "raw-socket", Http1Only());

TEST(NotApplicable, IsToldApartFromFailures) {
  EXPECT_TRUE(IsNotApplicable(NotApplicable("no ::1 here")));
  EXPECT_EQ(NotApplicable("no ::1 here").message(), "no ::1 here");
  EXPECT_FALSE(IsNotApplicable(absl::UnavailableError("no ::1 here")));
  EXPECT_FALSE(IsNotApplicable(absl::OkStatus()));
}

TEST(BoundedThreads, JoinsWhatReturnsAndGivesUpOnWhatBlocks) {
  internal::BoundedThreads quick;
  quick.Start([] {});
  quick.Start([] {});
  EXPECT_TRUE(quick.JoinWithin(absl::Seconds(30)));
  EXPECT_EQ(quick.Finished(), 2);

  // A thread blocked past the deadline is reported (and detached, released afterwards).
  auto release = std::make_shared<std::atomic<bool>>(false);
  internal::BoundedThreads stuck;
  stuck.Start([release] {
    while (!release->load()) absl::SleepFor(absl::Milliseconds(1));
  });
  EXPECT_FALSE(stuck.JoinWithin(absl::Milliseconds(50)));
  EXPECT_EQ(stuck.Finished(), 0);
  release->store(true);
}

TEST(Conformance, CasesNameEveryProperty) {
  const std::vector<FlowConformanceCase> flow_cases = FlowConformanceCases("socket");
  ASSERT_EQ(flow_cases.size(), FlowProperties().size());
  EXPECT_EQ(flow_cases[0].flow, "socket");
  const std::vector<HttpClientConformanceCase> http_cases = HttpClientConformanceCases("curl");
  ASSERT_EQ(http_cases.size(), HttpProperties().size());
  EXPECT_EQ(http_cases[0].client, "curl");
}

TEST(Conformance, UnknownNamesFailWithTheRegistrysAnswer) {
  const absl::Status flow = CheckFlowCloseWakesBlockedReads("no-such-flow", {});
  EXPECT_TRUE(absl::IsNotFound(flow)) << flow;
  EXPECT_NE(flow.message().find("socket"), absl::string_view::npos) << flow;  // the known flows
  const absl::Status client = CheckHttpCancelBeforeResume("no-such-client", {});
  EXPECT_TRUE(absl::IsNotFound(client)) << client;
}

}  // namespace
}  // namespace netrig::conformance
