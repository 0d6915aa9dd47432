// `netrig udp --peer_protocol=dns` (harness/workloads/udp/dns_query.h): the driver's datagrams are
// DNS queries and every answer is matched to its query by DNS id and question. Correct paths (the
// in-process DNS responder through the fault relay, the dns-proxy flow over its in-process
// DNS-over-TCP upstream) give no violation; a loopback DNS responder written here that answers
// some queries with a wrong id, or with another query's question, is caught as
// corrupted_datagram. dnsmasq itself is in dnsmasq_integration_test.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/udp/peers/dns_upstream.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

UdpStressOptions ShortDns(absl::string_view flow) {
  UdpStressOptions options;
  options.flow = std::string(flow);
  options.peer_protocol = PeerProtocol::kDns;
  options.duration = absl::Milliseconds(1500);
  options.seed = 1234;
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.path_events = absl::Milliseconds(300);
  options.finding_dir = "";
  return options;
}

uint64_t U(const nlohmann::json& report, const char* key) { return report.at(key).get<uint64_t>(); }

// A loopback UDP DNS responder on 127.0.0.1: every query comes back as its own response (QR set)
// after `tamper` has had its way with it (the query's index among those received, the bytes).
class LoopbackDnsResponder {
 public:
  explicit LoopbackDnsResponder(std::function<void(uint64_t, std::string&)> tamper)
      : tamper_(std::move(tamper)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return;
    const int buffer = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackDnsResponder() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  uint16_t port() const { return port_; }
  uint64_t tampered() const { return tampered_.load(); }

 private:
  void Serve() {
    std::string buffer(65536, '\0');
    uint64_t index = 0;
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      const ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0) continue;
      std::string answer = MakeDnsResponse(absl::string_view(buffer.data(), n));
      const std::string before = answer;
      tamper_(index++, answer);
      if (answer != before) tampered_.fetch_add(1);
      ::sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from),
               from_length);
    }
  }

  std::function<void(uint64_t, std::string&)> tamper_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> tampered_{0};
};

UdpStressOptions AgainstResponder(const LoopbackDnsResponder& responder) {
  UdpStressOptions options = ShortDns("socket");
  options.peers = {Endpoint::IPv4({127, 0, 0, 1}, responder.port())};
  options.family = FamilyChoice::kIPv4;
  options.path_events = absl::ZeroDuration();
  options.sleep_wake = false;
  options.bounce = 0;
  return options;
}

TEST(UdpDnsPeers, InProcessResponderThroughTheFaultRelayHasNoViolation) {
  absl::StatusOr<StressResult> result = RunUdpStress(ShortDns("socket"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->violation_total, 0u) << result->DescribeViolations();
  const nlohmann::json& r = result->report;
  EXPECT_EQ(r.at("peer_protocol"), "dns");
  EXPECT_GT(U(r, "datagrams_delivered"), 100u);
  EXPECT_GT(U(r, "datagrams_dropped_by_fault"), 0u);  // the default mix, truncation aside
  EXPECT_EQ(U(r, "datagrams_truncated_by_fault"), 0u);
  EXPECT_EQ(U(r, "silent_loss"), 0u);
}

TEST(UdpDnsPeers, DnsProxyFlowOverItsInProcessUpstreamHasNoViolation) {
  UdpStressOptions options = ShortDns("dns-proxy");
  options.dns_max_query = 65535;  // over TCP every size the framing carries
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->violation_total, 0u) << result->DescribeViolations();
  EXPECT_GT(U(result->report, "datagrams_delivered"), 100u);
  // Sizes up to 65535 reach the family maximum, which the proxy names when it rejects.
  EXPECT_GT(result->report.at("rejected_true_limit").at("family_maximum").get<uint64_t>(), 0u);
}

TEST(UdpDnsPeers, ACorrectLoopbackResponderGivesNoViolation) {
  LoopbackDnsResponder responder([](uint64_t, std::string&) {});
  ASSERT_NE(responder.port(), 0);
  absl::StatusOr<StressResult> result = RunUdpStress(AgainstResponder(responder));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->violation_total, 0u) << result->DescribeViolations();
  EXPECT_GT(U(result->report, "datagrams_delivered"), 100u);
}

TEST(UdpDnsPeers, AnAnswerWithAWrongIdIsCaught) {
  LoopbackDnsResponder responder([](uint64_t index, std::string& answer) {
    if (index % 50 == 7 && answer.size() > 2) answer[1] = static_cast<char>(answer[1] ^ 0x21);
  });
  ASSERT_NE(responder.port(), 0);
  UdpStressOptions options = AgainstResponder(responder);
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GT(responder.tampered(), 0u);
  ASSERT_TRUE(result->HasViolation("corrupted_datagram")) << result->DescribeViolations();
  EXPECT_THAT(result->DescribeViolations(), HasSubstr("its id is 0x"));
}

TEST(UdpDnsPeers, AnAnswerCarryingAnotherQueryIsQuestionIsCaught) {
  // Every 50th answer carries the question of the query before it, under its own id.
  auto previous = std::make_shared<std::string>();
  LoopbackDnsResponder responder([previous](uint64_t index, std::string& answer) {
    const std::string mine = answer;
    if (index % 50 == 9 && !previous->empty() && previous->size() >= 2) {
      std::string swapped = *previous;
      swapped[0] = mine[0];
      swapped[1] = mine[1];
      answer = swapped;
    }
    *previous = mine;
  });
  ASSERT_NE(responder.port(), 0);
  UdpStressOptions options = AgainstResponder(responder);
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GT(responder.tampered(), 0u);
  ASSERT_TRUE(result->HasViolation("corrupted_datagram")) << result->DescribeViolations();
  EXPECT_THAT(result->DescribeViolations(), HasSubstr("query with this question was sent with"));
}

TEST(UdpDnsPeers, OptionsAreChecked) {
  UdpStressOptions options = ShortDns("dns-proxy");
  ASSERT_TRUE(
      UdpOptionTable()
          .Parse({"--peer_protocol=dns", "--dns_upstream=127.0.0.1:5353", "--dns_max_query=512"},
                 options)
          .ok());
  EXPECT_TRUE(ValidateUdpStressOptions(options).ok());
  const std::vector<std::string> args = UdpOptionTable().Render(options);
  EXPECT_THAT(args, ::testing::Contains("--dns_upstream=127.0.0.1:5353"));
  EXPECT_THAT(args, ::testing::Contains("--peer_protocol=dns"));

  UdpStressOptions echo = ShortDns("dns-proxy");
  echo.peer_protocol = PeerProtocol::kEcho;
  echo.dns_upstream = *Endpoint::Parse("127.0.0.1:5353");
  EXPECT_THAT(std::string(ValidateUdpStressOptions(echo).message()),
              HasSubstr("needs --peer_protocol=dns"));
  EXPECT_THAT(UdpOptionTable().Render(ShortDns("socket")),
              ::testing::Not(::testing::Contains(HasSubstr("dns_upstream"))));

  UdpStressOptions remote = options;
  remote.dns_upstream = *Endpoint::Parse("192.0.2.53:53");
  EXPECT_EQ(ValidateUdpStressOptions(remote).code(), absl::StatusCode::kPermissionDenied);
  remote.allow_remote = true;
  EXPECT_TRUE(ValidateUdpStressOptions(remote).ok());

  UdpStressOptions host = options;
  host.dns_upstream = Endpoint::Host("localhost", 53);
  EXPECT_THAT(std::string(ValidateUdpStressOptions(host).message()), HasSubstr("numeric"));

  UdpStressOptions tiny = options;
  tiny.dns_max_query = 100;
  EXPECT_THAT(std::string(ValidateUdpStressOptions(tiny).message()), HasSubstr("111 bytes"));
  UdpStressOptions big = options;
  big.size = 600;
  EXPECT_THAT(std::string(ValidateUdpStressOptions(big).message()), HasSubstr("--size=600"));
  UdpStressOptions zone = options;
  zone.dns_zone = "no_underscores.test";
  EXPECT_THAT(std::string(ValidateUdpStressOptions(zone).message()), HasSubstr("--dns_zone"));
}

}  // namespace
}  // namespace netrig
