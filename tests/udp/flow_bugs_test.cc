// The seeded-bug flows really carry their bug, and the reference flows under the same steps do
// not. (The driver-level tests that netrig *finds* each bug come with `netrig udp`.)
#include <net/if.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/base/mutex.h"
#include "harness/udp/peers/echo_server.h"
#include "harness/udp/flow.h"

namespace netrig {
namespace {

std::unique_ptr<Flow> Open(const char* name) {
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow(name, {});
  EXPECT_TRUE(flow.ok()) << name << ": " << flow.status();
  return flow.ok() ? *std::move(flow) : nullptr;
}

size_t ReadCount(Flow& flow, size_t want, absl::Duration timeout) {
  size_t got = 0;
  const absl::Time deadline = absl::Now() + timeout;
  while (got < want && absl::Now() < deadline) {
    absl::StatusOr<std::vector<Datagram>> batch = flow.Read(64, absl::Milliseconds(50));
    if (!batch.ok()) break;
    got += batch->size();
  }
  return got;
}

class FlowBugs : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start({});
    ASSERT_TRUE(echo.ok()) << echo.status();
    echo_ = *std::move(echo);
  }
  std::unique_ptr<EchoServer> echo_;
};

// (a) story 2: a 120-byte datagram to an address endpoint is "too large"; the oracle disagrees.
TEST_F(FlowBugs, AddressTooLargeRejectsSmallDatagramsTheOracleSaysFit) {
  for (const char* name : {"socket", "bug-address-too-large"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<Flow> flow = Open(name);
    ASSERT_NE(flow, nullptr);
    WriteResult address_form = flow->Write({{echo_->ipv4_endpoint(), std::string(120, 'q')}})[0];
    WriteResult host_form =
        flow->Write({{Endpoint::Host("localhost", echo_->port()), std::string(120, 'q')}})[0];
    EXPECT_TRUE(host_form.accepted()) << host_form.error;
    if (std::string(name) == "socket") {
      EXPECT_TRUE(address_form.accepted()) << address_form.error;
      continue;
    }
    ASSERT_TRUE(address_form.rejected());
    DatagramRejection rejection;
    rejection.message = std::string(address_form.error.message());
    absl::StatusOr<RejectionJudgement> judgement =
        JudgeRejection(120, AddressFamily::kIPv4, DatagramPath::Loopback(), rejection);
    ASSERT_TRUE(judgement.ok());
    EXPECT_EQ(judgement->finding, RejectionFinding::kRejectedDatagramThatFits)
        << judgement->message;
  }
}

// (b) a scoped IPv6 endpoint is mangled on write.
TEST_F(FlowBugs, ScopeMangleRejectsScopedEndpoints) {
  const unsigned lo = if_nametoindex("lo");
  if (lo == 0 || !echo_->ipv6_endpoint()) GTEST_SKIP() << "needs interface lo and ::1";
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  const Endpoint scoped = Endpoint::IPv6(loopback, echo_->port(), lo);
  for (const char* name : {"socket", "bug-scope-mangle"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<Flow> flow = Open(name);
    ASSERT_NE(flow, nullptr);
    EXPECT_TRUE(flow->Write({{*echo_->ipv6_endpoint(), "unscoped"}})[0].accepted());
    WriteResult r = flow->Write({{scoped, "scoped"}})[0];
    if (std::string(name) == "socket") {
      EXPECT_TRUE(r.accepted()) << r.error;
      EXPECT_EQ(ReadCount(*flow, 2, absl::Seconds(5)), 2u);
    } else {
      EXPECT_TRUE(r.rejected());
      EXPECT_EQ(ReadCount(*flow, 2, absl::Milliseconds(300)), 1u);
    }
  }
}

// (d) story 5: accepted while waiting, never sent.
TEST_F(FlowBugs, WaitingDropAcceptsAndLoses) {
  for (const char* name : {"socket", "bug-waiting-drop"}) {
    SCOPED_TRACE(name);
    std::unique_ptr<Flow> flow = Open(name);
    ASSERT_NE(flow, nullptr);
    flow->OnPathEvent(PathEvent::kPathLost);
    std::vector<Datagram> out(5, Datagram{echo_->ipv4_endpoint(), "while waiting"});
    size_t accepted = 0;
    for (const WriteResult& r : flow->Write(out)) accepted += r.accepted();
    flow->OnPathEvent(PathEvent::kPathBack);
    const size_t arrived = ReadCount(*flow, accepted, absl::Milliseconds(500));
    if (std::string(name) == "socket") {
      EXPECT_EQ(accepted, 0u);  // visible failure
    } else {
      EXPECT_EQ(accepted, 5u);
      EXPECT_EQ(arrived, 0u);  // silent loss
    }
  }
}

// (e) story 4: after three sleep/wake cycles the source hands out nothing new.
TEST_F(FlowBugs, SleepWakeSourceStopsHandingOutFlows) {
  for (const char* name : {"socket", "bug-sleep-wake-source"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<std::unique_ptr<FlowSource>> source = CreateFlowSource(name, {});
    ASSERT_TRUE(source.ok()) << source.status();
    std::atomic<int> handed{0};
    Mutex mu;
    std::vector<std::unique_ptr<Flow>> flows;
    ASSERT_TRUE((*source)
                    ->Start([&](std::unique_ptr<Flow> flow, const Endpoint&) {
                      MutexLock lock(&mu);
                      flows.push_back(std::move(flow));
                      ++handed;
                    })
                    .ok());
    const Endpoint to = (*source)->LocalEndpoints().at(0);
    std::vector<std::unique_ptr<Flow>> clients;
    int cycles_that_worked = 0;
    for (int cycle = 0; cycle < 5; ++cycle) {
      (*source)->Sleep();
      (*source)->Wake();
      clients.push_back(Open("socket"));
      ASSERT_TRUE(clients.back()->Write({{to, "new peer"}})[0].accepted());
      const absl::Time deadline = absl::Now() + absl::Seconds(2);
      while (handed.load() <= cycle && absl::Now() < deadline)
        absl::SleepFor(absl::Milliseconds(5));
      if (handed.load() > cycle)
        ++cycles_that_worked;
      else
        break;
    }
    (*source)->Stop();
    EXPECT_EQ(cycles_that_worked, std::string(name) == "socket" ? 5 : 3);
  }
}

// (c) a read in flight when Close() frees the buffers: ASan reports a heap use-after-free.
TEST(FlowBugsDeathTest, CloseRaceUseAfterFreeIsCaughtByAsan) {
#if !defined(NETRIG_ASAN)
  GTEST_SKIP() << "the use-after-free is only safe to provoke under ASan";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto race = [](const char* name) {
    std::unique_ptr<Flow> flow = Open(name);
    std::thread reader([&] { (void)flow->Read(8, absl::Seconds(5)); });
    absl::SleepFor(absl::Milliseconds(100));  // the reader is waiting in poll()
    flow->Close();
    reader.join();
  };
  race("socket");  // the reference survives the same interleaving
  EXPECT_DEATH(race("bug-close-race-uaf"), "heap-use-after-free");
#endif
}

}  // namespace
}  // namespace netrig
