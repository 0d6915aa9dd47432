// `netrig udp` across a real MTU path (docs/field-notes.md story 6): two network
// namespaces joined by a veth pair at MTU 1500 and then 9000, a UDP echo peer in namespace B, the
// netrig binary running the socket flow in namespace A with don't-fragment and the oracle's path
// set to that MTU. No violation, and datagrams over the path limit are rejected naming the true
// limit. Needs root and iproute2; skipped (never passed) without.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "harness/net/test_namespace.h"
#include "nlohmann/json.hpp"
#include "tests/support/paths.h"

namespace netrig {
namespace {

// A UDP echo on namespace B's addresses (IPv4 and IPv6), until destroyed.
class NamespaceEcho {
 public:
  static absl::StatusOr<std::unique_ptr<NamespaceEcho>> Start(const TestNamespacePair& pair) {
    auto echo = std::unique_ptr<NamespaceEcho>(new NamespaceEcho);
    const TestNamespacePair::End& b = pair.end(NamespaceSide::kB);
    for (int domain : {AF_INET, AF_INET6}) {
      absl::StatusOr<int> fd = pair.SocketIn(NamespaceSide::kB, domain, SOCK_DGRAM);
      if (!fd.ok()) return fd.status();
      echo->fds_.push_back(*fd);
      sockaddr_storage address{};
      socklen_t length;
      if (domain == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&address);
        sin->sin_family = AF_INET;
        inet_pton(AF_INET, b.ipv4.c_str(), &sin->sin_addr);
        length = sizeof(sockaddr_in);
      } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&address);
        sin6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, b.ipv6.c_str(), &sin6->sin6_addr);
        length = sizeof(sockaddr_in6);
      }
      if (bind(*fd, reinterpret_cast<sockaddr*>(&address), length) != 0) {
        return absl::InternalError(absl::StrCat("bind in namespace B: ", std::strerror(errno)));
      }
      const int buffer = 4 << 20;
      setsockopt(*fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
      setsockopt(*fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
      getsockname(*fd, reinterpret_cast<sockaddr*>(&address), &length);
      echo->ports_.push_back(ntohs(domain == AF_INET
                                       ? reinterpret_cast<sockaddr_in*>(&address)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&address)->sin6_port));
    }
    echo->thread_ = std::thread([e = echo.get()] { e->Serve(); });
    return echo;
  }
  ~NamespaceEcho() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    for (int fd : fds_) close(fd);
  }
  uint16_t ipv4_port() const { return ports_[0]; }
  uint16_t ipv6_port() const { return ports_[1]; }

 private:
  NamespaceEcho() = default;
  void Serve() {
    std::vector<char> buffer(65536);
    while (!stop_.load()) {
      pollfd fds[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      for (const pollfd& p : fds) {
        if ((p.revents & POLLIN) == 0) continue;
        for (int i = 0; i < 64; ++i) {
          sockaddr_storage from{};
          socklen_t length = sizeof(from);
          const ssize_t n = recvfrom(p.fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&from), &length);
          if (n < 0) break;
          sendto(p.fd, buffer.data(), static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from),
                 length);
        }
      }
    }
  }

  std::vector<int> fds_;
  std::vector<uint16_t> ports_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class UdpMtuPath : public ::testing::TestWithParam<uint32_t> {};

TEST_P(UdpMtuPath, NetrigUdpAcrossTheVethPath) {
  if (absl::Status available = TestNamespacePair::CheckAvailable(); !available.ok()) {
    GTEST_SKIP() << available.message();
  }
  const uint32_t mtu = GetParam();
  absl::StatusOr<std::unique_ptr<TestNamespacePair>> pair = TestNamespacePair::Create({.mtu = mtu});
  if (pair.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << pair.status().message();
  }
  ASSERT_TRUE(pair.ok()) << pair.status();
  absl::StatusOr<std::unique_ptr<NamespaceEcho>> echo = NamespaceEcho::Start(**pair);
  ASSERT_TRUE(echo.ok()) << echo.status();
  const TestNamespacePair::End& a = (*pair)->end(NamespaceSide::kA);
  const TestNamespacePair::End& b = (*pair)->end(NamespaceSide::kB);
  const std::string json =
      absl::StrCat(::testing::TempDir(), "/udp_mtu_", mtu, "_", getpid(), ".json");
  const std::vector<std::string> argv = {
      testing::NetrigBinary(),
      "udp",
      absl::StrCat("--peer=", b.ipv4, ":", (*echo)->ipv4_port(), ",[", b.ipv6,
                   "]:", (*echo)->ipv6_port()),
      absl::StrCat("--bind=", a.ipv4, ",", a.ipv6),
      "--allow_remote",  // The namespace's own addresses, not loopback: this test's namespaces.
      absl::StrCat("--mtu=", mtu),
      "--dont_fragment=true",
      absl::StrCat("--scope_interface=", a.interface),
      "--duration=3s",
      "--seed=1500",
      "--path_events=400ms",
      "--finding_dir=",
      absl::StrCat("--json=", json),
  };
  absl::StatusOr<std::string> output = (*pair)->RunCommandIn(NamespaceSide::kA, argv);
  // A non-zero exit (a violation: 1) comes back as an error quoting the output.
  ASSERT_TRUE(output.ok()) << output.status();
  std::ifstream in(json);
  ASSERT_TRUE(in.good()) << "no report at " << json << "; output:\n" << *output;
  const nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_TRUE(report.at("violations").empty()) << report.at("violations").dump(2);
  EXPECT_EQ(report.at("path").get<std::string>(), absl::StrCat("MTU ", mtu, ", don't-fragment"));
  EXPECT_GT(report.at("datagrams_delivered").get<uint64_t>(), 0u) << *output;
  // Sizes just over the path limit (1472/1452 at 1500, 8972/8952 at 9000) were rejected by the
  // kernel, and the flow named the path MTU limit with its value (the oracle agreed).
  EXPECT_GT(report.at("rejected_true_limit").at("path_mtu_dont_fragment").get<uint64_t>(), 0u)
      << *output;
  EXPECT_EQ(report.at("wrongly_rejected").get<uint64_t>(), 0u);
  EXPECT_EQ(report.at("wrong_limit").get<uint64_t>(), 0u);
  EXPECT_EQ(report.at("silent_loss").get<uint64_t>(), 0u);
  std::printf(
      "[ figures  ] MTU %u: %llu datagrams sent, %llu delivered, %llu rejected at the "
      "path MTU limit, %llu at the family maximum\n",
      mtu, report.at("datagrams_sent").get<unsigned long long>(),
      report.at("datagrams_delivered").get<unsigned long long>(),
      report.at("rejected_true_limit").at("path_mtu_dont_fragment").get<unsigned long long>(),
      report.at("rejected_true_limit").at("family_maximum").get<unsigned long long>());
  std::remove(json.c_str());
}

INSTANTIATE_TEST_SUITE_P(Veth, UdpMtuPath, ::testing::Values(1500u, 9000u),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return absl::StrCat("Mtu", info.param);
                         });

}  // namespace
}  // namespace netrig
