#include "harness/udp/flow_source.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/udp/flow.h"

namespace netrig {
namespace {

// Collects what a source hands out.
struct Collector {
  Mutex mu;
  CondVar changed;
  std::vector<std::unique_ptr<Flow>> flows ABSL_GUARDED_BY(mu);
  std::vector<std::string> peers ABSL_GUARDED_BY(mu);

  FlowSource::Handler Handler() {
    return [this](std::unique_ptr<Flow> flow, const Endpoint& peer) {
      MutexLock lock(&mu);
      flows.push_back(std::move(flow));
      peers.push_back(peer.ToString());
      changed.SignalAll();
    };
  }
  size_t count() {
    MutexLock lock(&mu);
    return flows.size();
  }
  // Waits until at least n flows arrived; false after `timeout`.
  bool WaitFor(size_t n, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    MutexLock lock(&mu);
    while (flows.size() < n) {
      if (absl::Now() >= deadline) return false;
      changed.WaitWithTimeout(&mu, deadline - absl::Now());
    }
    return true;
  }
};

std::unique_ptr<Flow> NewClient() {
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("socket", {});
  EXPECT_TRUE(flow.ok()) << flow.status();
  return flow.ok() ? *std::move(flow) : nullptr;
}

TEST(LoopbackFlowSource, OneFlowPerPeerAndRepliesReachThePeer) {
  absl::StatusOr<std::unique_ptr<FlowSource>> source = CreateFlowSource("socket", {});
  ASSERT_TRUE(source.ok()) << source.status();
  Collector collector;
  ASSERT_TRUE((*source)->Start(collector.Handler()).ok());
  const std::vector<Endpoint> listen = (*source)->LocalEndpoints();
  ASSERT_FALSE(listen.empty());
  std::vector<std::unique_ptr<Flow>> clients;
  size_t expected_flows = 0;
  for (const Endpoint& to : listen) {
    for (int c = 0; c < 3; ++c) {
      clients.push_back(NewClient());
      for (int i = 0; i < 4; ++i) {
        ASSERT_TRUE(clients.back()->Write({{to, absl::StrCat("hello ", i)}})[0].accepted());
      }
      ++expected_flows;
    }
  }
  ASSERT_TRUE(collector.WaitFor(expected_flows, absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(collector.count(), expected_flows);  // one per peer, not one per datagram
  MutexLock lock(&collector.mu);
  for (size_t f = 0; f < collector.flows.size(); ++f) {
    Flow& flow = *collector.flows[f];
    std::vector<Datagram> got;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (got.size() < 4 && absl::Now() < deadline) {
      absl::StatusOr<std::vector<Datagram>> batch = flow.Read(16, absl::Milliseconds(100));
      ASSERT_TRUE(batch.ok());
      for (Datagram& d : *batch) got.push_back(std::move(d));
    }
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].endpoint.ToString(), collector.peers[f]);
    // Reply to the endpoint exactly as read.
    ASSERT_TRUE(flow.Write({{got[0].endpoint, "reply"}})[0].accepted());
  }
  for (auto& client : clients) {
    absl::StatusOr<std::vector<Datagram>> reply = client->Read(4, absl::Seconds(5));
    ASSERT_TRUE(reply.ok());
    ASSERT_EQ(reply->size(), 1u);
    EXPECT_EQ((*reply)[0].payload, "reply");
  }
  (*source)->Stop();
}

TEST(LoopbackFlowSource, SleepParksNewPeersAndWakeHandsThemOut) {
  absl::StatusOr<std::unique_ptr<FlowSource>> source = CreateFlowSource("socket", {});
  ASSERT_TRUE(source.ok()) << source.status();
  Collector collector;
  ASSERT_TRUE((*source)->Start(collector.Handler()).ok());
  const Endpoint to = (*source)->LocalEndpoints().at(0);
  std::vector<std::unique_ptr<Flow>> clients;
  size_t expected = 0;
  for (int cycle = 0; cycle < 10; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    (*source)->Sleep();
    clients.push_back(NewClient());
    ASSERT_TRUE(clients.back()->Write({{to, "while asleep"}})[0].accepted());
    // Asleep: the new peer is parked, not handed out.
    absl::SleepFor(absl::Milliseconds(20));
    EXPECT_EQ(collector.count(), expected);
    (*source)->Wake();
    ++expected;
    ASSERT_TRUE(collector.WaitFor(expected, absl::Seconds(5)));
    // Awake: a peer arriving now is handed out too.
    clients.push_back(NewClient());
    ASSERT_TRUE(clients.back()->Write({{to, "awake"}})[0].accepted());
    ++expected;
    ASSERT_TRUE(collector.WaitFor(expected, absl::Seconds(5)));
  }
  (*source)->Stop();
  EXPECT_EQ(collector.count(), expected);
}

TEST(LoopbackFlowSource, ClosedFlowsAreCountedAndForgotten) {
  const int64_t flows_before = kLiveFlows.live();
  {
    absl::StatusOr<std::unique_ptr<FlowSource>> source = CreateFlowSource("socket", {});
    ASSERT_TRUE(source.ok()) << source.status();
    Collector collector;
    ASSERT_TRUE((*source)->Start(collector.Handler()).ok());
    const Endpoint to = (*source)->LocalEndpoints().at(0);
    std::unique_ptr<Flow> client = NewClient();
    ASSERT_TRUE(client->Write({{to, "one"}})[0].accepted());
    ASSERT_TRUE(collector.WaitFor(1, absl::Seconds(5)));
    {
      MutexLock lock(&collector.mu);
      collector.flows[0]->Close();
      EXPECT_TRUE(absl::IsCancelled(collector.flows[0]->Read(1, absl::Seconds(1)).status()));
    }
    // The same peer again: a new flow.
    ASSERT_TRUE(client->Write({{to, "two"}})[0].accepted());
    ASSERT_TRUE(collector.WaitFor(2, absl::Seconds(5)));
    (*source)->Stop();
  }
  EXPECT_EQ(kLiveFlows.live(), flows_before);
  EXPECT_EQ(kLiveFlowSources.live(), 0);
}

TEST(FlowRegistry, EveryBuiltinIsRegistered) {
  for (const char* name : {"socket", "dns-proxy", "bug-address-too-large", "bug-scope-mangle",
                           "bug-close-race-uaf", "bug-waiting-drop", "bug-sleep-wake-source"}) {
    const FlowRegistration* r = FindFlow(name);
    ASSERT_NE(r, nullptr) << name;
    EXPECT_FALSE(r->description.empty());
  }
  EXPECT_NE(FindFlow("socket")->source, nullptr);
  EXPECT_EQ(CreateFlowSource("dns-proxy", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace netrig
