#include "harness/udp/peers/fault_relay.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/udp/flow.h"
#include "harness/udp/peers/echo_server.h"
#include "harness/udp/socket_util.h"

namespace netrig {
namespace {

RelayFaults EveryFault() {
  RelayFaults faults;
  faults.drop = 0.1;
  faults.duplicate = 0.1;
  faults.reorder = 0.1;
  faults.delay = 0.1;
  faults.truncate = 0.1;
  faults.max_delay = absl::Milliseconds(5);
  faults.mtu_payload = 1000;
  return faults;
}

TEST(DecideFaults, IsAPureFunctionOfSeedDirectionAndIndex) {
  const RelayFaults faults = EveryFault();
  int differing = 0;
  for (uint64_t index = 0; index < 2000; ++index) {
    for (RelayDirection direction : {RelayDirection::kToPeer, RelayDirection::kToClient}) {
      const FaultDecision a = DecideFaults(faults, 42, direction, index, 500);
      const FaultDecision b = DecideFaults(faults, 42, direction, index, 500);
      EXPECT_EQ(a.drop, b.drop);
      EXPECT_EQ(a.duplicate, b.duplicate);
      EXPECT_EQ(a.reorder, b.reorder);
      EXPECT_EQ(a.delay, b.delay);
      EXPECT_EQ(a.truncate_to, b.truncate_to);
      if (a.truncate_to) {
        EXPECT_LT(*a.truncate_to, 500u);
      }
      EXPECT_LE(a.delay, faults.max_delay);
    }
    const FaultDecision other = DecideFaults(faults, 43, RelayDirection::kToPeer, index, 500);
    const FaultDecision mine = DecideFaults(faults, 42, RelayDirection::kToPeer, index, 500);
    if (other.drop != mine.drop || other.duplicate != mine.duplicate) ++differing;
  }
  EXPECT_GT(differing, 100);  // another seed makes other choices
  // The rates come out near the probabilities (binomial, n = 2000, p = 0.1: 200 +- ~40).
  int drops = 0;
  for (uint64_t index = 0; index < 2000; ++index) {
    drops += DecideFaults(faults, 7, RelayDirection::kToPeer, index, 10).drop;
  }
  EXPECT_GT(drops, 120);
  EXPECT_LT(drops, 280);
  // No fault configured: no decision.
  const FaultDecision none = DecideFaults(RelayFaults{}, 1, RelayDirection::kToPeer, 5, 100);
  EXPECT_FALSE(none.drop || none.duplicate || none.reorder || none.truncate_to);
}

struct RunResult {
  RelayCounters to_peer;
  RelayCounters to_client;
  uint64_t accepted = 0;
  uint64_t read_back = 0;
};

// Sends `count` datagrams one by one through a relay to an echo server and reads what comes back.
RunResult RunThroughRelay(uint64_t seed, const RelayFaults& faults, int count, bool ipv6,
                          int path_down_from = -1, int path_down_to = -1) {
  RunResult result;
  absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start({.threads = 1});
  EXPECT_TRUE(echo.ok()) << echo.status();
  if (!echo.ok()) return result;
  if (ipv6 && !(*echo)->ipv6_endpoint()) return result;
  RelayOptions options;
  options.peer = ipv6 ? *(*echo)->ipv6_endpoint() : (*echo)->ipv4_endpoint();
  options.faults = faults;
  options.seed = seed;
  absl::StatusOr<std::unique_ptr<FaultRelay>> relay = FaultRelay::Start(options);
  EXPECT_TRUE(relay.ok()) << relay.status();
  if (!relay.ok()) return result;
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("socket", {});
  EXPECT_TRUE(flow.ok()) << flow.status();
  if (!flow.ok()) return result;
  for (int i = 0; i < count; ++i) {
    if (i == path_down_from) (*relay)->SetPathUp(false);
    if (i == path_down_to) (*relay)->SetPathUp(true);
    const size_t size = 200 + (i * 37) % 1200;  // some above the 1000-byte clamp
    std::vector<WriteResult> written = (*flow)->Write(
        {{(*relay)->endpoint(), std::string(size, static_cast<char>('a' + i % 26))}});
    result.accepted += written[0].accepted();
    // One at a time, so arrival order (and so every decision) is the same in every run.
    const absl::Time deadline = absl::Now() + absl::Seconds(2);
    while ((*relay)->counters(RelayDirection::kToPeer).received < static_cast<uint64_t>(i + 1) &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Microseconds(100));
    }
  }
  // Let every echo come back and every held datagram leave.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  uint64_t last_total = ~0ULL;
  while (absl::Now() < deadline) {
    (*relay)->Drain(absl::Seconds(1));
    absl::StatusOr<std::vector<Datagram>> got = (*flow)->Read(256, absl::Milliseconds(100));
    if (got.ok()) result.read_back += got->size();
    const RelayCounters c = (*relay)->counters(RelayDirection::kToClient);
    const uint64_t total = c.received + c.delivered + c.duplicates + result.read_back;
    if (got.ok() && got->empty() && total == last_total && c.received == (*echo)->echoed() &&
        c.in_flight == 0) {
      break;
    }
    last_total = total;
  }
  (*relay)->Stop();
  result.to_peer = (*relay)->counters(RelayDirection::kToPeer);
  result.to_client = (*relay)->counters(RelayDirection::kToClient);
  return result;
}

TEST(FaultRelay, AccountsForEveryDatagram) {
  for (bool ipv6 : {false, true}) {
    SCOPED_TRACE(ipv6 ? "ipv6" : "ipv4");
    const RunResult r = RunThroughRelay(1234, EveryFault(), 300, ipv6, 100, 130);
    if (r.accepted == 0) GTEST_SKIP() << "no ::1 on this host";
    EXPECT_EQ(r.accepted, 300u);
    EXPECT_EQ(r.to_peer.received, 300u) << r.to_peer.ToString();
    for (const RelayCounters& c : {r.to_peer, r.to_client}) {
      SCOPED_TRACE(c.ToString());
      EXPECT_TRUE(c.Balanced());
      EXPECT_EQ(c.in_flight, 0u);
      EXPECT_EQ(c.send_errors, 0u);
      EXPECT_EQ(c.dropped_by_fault, c.dropped_random + c.dropped_mtu + c.dropped_path_down);
      EXPECT_EQ(c.dropped_by_kernel, 0u);  // one datagram at a time never fills a buffer
    }
    EXPECT_GE(r.to_peer.dropped_path_down, 30u);
    EXPECT_GT(r.to_peer.dropped_mtu, 0u);
    EXPECT_GT(r.to_peer.dropped_random, 0u);
    EXPECT_GT(r.to_peer.duplicates, 0u);
    EXPECT_GT(r.to_peer.truncated, 0u);
    EXPECT_GT(r.to_peer.delayed + r.to_peer.reordered, 0u);
    // What the echo got back is what the relay received back; what reached the flow is every
    // delivered datagram and duplicate of the return direction.
    EXPECT_EQ(r.read_back, r.to_client.delivered + r.to_client.duplicates);
  }
}

TEST(FaultRelay, SameSeedSameDecisions) {
  const RunResult a = RunThroughRelay(99, EveryFault(), 200, false);
  const RunResult b = RunThroughRelay(99, EveryFault(), 200, false);
  EXPECT_EQ(a.to_peer.ToString(), b.to_peer.ToString());
  const RunResult c = RunThroughRelay(100, EveryFault(), 200, false);
  EXPECT_NE(a.to_peer.ToString(), c.to_peer.ToString());
}

// With a fault key, each datagram meets the same faults whatever order datagrams arrive in:
// decisions follow the datagram's identity, not its arrival index.
std::vector<int> DroppedIds(const std::vector<int>& order, bool keyed) {
  absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start({.threads = 1});
  EXPECT_TRUE(echo.ok()) << echo.status();
  if (!echo.ok()) return {};
  Mutex mu;
  std::vector<int> dropped;
  RelayOptions options;
  options.peer = (*echo)->ipv4_endpoint();
  options.faults.drop = 0.3;
  options.seed = 77;
  options.on_fault = [&](RelayDirection direction, absl::string_view payload, const char*) {
    if (direction != RelayDirection::kToPeer) return;
    MutexLock lock(&mu);
    dropped.push_back(std::stoi(std::string(payload.substr(3))));
  };
  if (keyed) {
    options.fault_key = [](absl::string_view payload) -> std::optional<uint64_t> {
      return std::stoull(std::string(payload.substr(3)));
    };
  }
  absl::StatusOr<std::unique_ptr<FaultRelay>> relay = FaultRelay::Start(options);
  EXPECT_TRUE(relay.ok()) << relay.status();
  if (!relay.ok()) return {};
  absl::StatusOr<std::unique_ptr<Flow>> flow = CreateFlow("socket", {});
  EXPECT_TRUE(flow.ok()) << flow.status();
  for (size_t i = 0; i < order.size(); ++i) {
    (*flow)->Write({{(*relay)->endpoint(), absl::StrCat("id:", order[i])}});
    const uint64_t want = i + 1;
    const absl::Time deadline = absl::Now() + absl::Seconds(2);
    while ((*relay)->counters(RelayDirection::kToPeer).received < want && absl::Now() < deadline) {
      absl::SleepFor(absl::Microseconds(100));
    }
  }
  (*relay)->Stop();
  MutexLock lock(&mu);
  std::sort(dropped.begin(), dropped.end());
  return dropped;
}

TEST(FaultRelay, KeyedDecisionsFollowTheDatagramNotItsArrivalOrder) {
  std::vector<int> forward(100);
  for (int i = 0; i < 100; ++i) forward[i] = i;
  const std::vector<int> backward(forward.rbegin(), forward.rend());
  const std::vector<int> keyed = DroppedIds(forward, /*keyed=*/true);
  EXPECT_GT(keyed.size(), 10u);
  EXPECT_EQ(DroppedIds(backward, /*keyed=*/true), keyed);
  // By arrival index instead, the reversed order drops other datagrams.
  EXPECT_NE(DroppedIds(backward, /*keyed=*/false), DroppedIds(forward, /*keyed=*/false));
}

TEST(FaultRelay, PassesEverythingWithoutFaults) {
  const RunResult r = RunThroughRelay(5, RelayFaults{}, 100, false);
  EXPECT_EQ(r.to_peer.delivered, 100u) << r.to_peer.ToString();
  EXPECT_EQ(r.to_client.delivered, 100u) << r.to_client.ToString();
  EXPECT_EQ(r.read_back, 100u);
}

// The relay thread is held inside a fault callback while a sender floods the relay's front socket:
// what the kernel drops at the full buffer is counted, and every datagram sent is either read by
// the relay or counted as a kernel drop.
TEST(FaultRelay, CountsWhatTheKernelDropsWhileTheRelayIsBusy) {
  absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start({.threads = 1});
  ASSERT_TRUE(echo.ok()) << echo.status();
  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  RelayOptions options;
  options.peer = (*echo)->ipv4_endpoint();
  options.faults.drop = 1;  // every datagram goes through on_fault
  options.on_fault = [&](RelayDirection, absl::string_view, const char*) {
    if (holding.exchange(true)) return;
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  absl::StatusOr<std::unique_ptr<FaultRelay>> relay = FaultRelay::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  absl::StatusOr<internal::UniqueFd> sender = internal::BindUdp(AddressFamily::kIPv4, 0);
  ASSERT_TRUE(sender.ok()) << sender.status();
  absl::StatusOr<SocketAddress> to = (*relay)->endpoint().ToSockaddr();
  ASSERT_TRUE(to.ok());
  const std::string payload(60000, 'x');
  auto send = [&] {
    return ::sendto(sender->get(), payload.data(), payload.size(), 0, to->get(), to->length) ==
           static_cast<ssize_t>(payload.size());
  };
  ASSERT_TRUE(send());
  const absl::Time held_by = absl::Now() + absl::Seconds(10);
  while (!holding.load() && absl::Now() < held_by) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_TRUE(holding.load());
  // 24 MB against the front socket's buffer of at most 8 MiB (the relay asks for 4; the kernel
  // doubles it).
  uint64_t sent = 1;
  for (int i = 0; i < 400; ++i) sent += send();
  release.store(true);

  RelayCounters c;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    absl::SleepFor(absl::Milliseconds(20));
    c = (*relay)->counters(RelayDirection::kToPeer);
  } while (c.received + c.dropped_by_kernel < sent && absl::Now() < deadline);
  EXPECT_GT(c.dropped_by_kernel, 0u) << c.ToString();
  EXPECT_EQ(c.received + c.dropped_by_kernel, sent) << c.ToString();
  EXPECT_TRUE(c.Balanced()) << c.ToString();
}

TEST(FaultRelay, RefusesNonLoopbackPeers) {
  RelayOptions options;
  options.peer = *Endpoint::Parse("192.0.2.1:53");
  EXPECT_EQ(FaultRelay::Start(options).status().code(), absl::StatusCode::kPermissionDenied);
  options.peer = Endpoint::Host("localhost", 53);
  EXPECT_EQ(FaultRelay::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace netrig
