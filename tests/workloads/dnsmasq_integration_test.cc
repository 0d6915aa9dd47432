// `netrig udp --peer_protocol=dns` against a real DNS server: dnsmasq (Debian's dnsmasq-base,
// installed by scripts/bootstrap) on 127.0.0.1 and a free unprivileged port, no configuration
// file, no DHCP, no upstream, answering every name under example.test itself, over UDP and TCP.
// The test starts it and stops it on every path out; skipped, saying why, when dnsmasq is not
// installed or cannot start.
//   (a) dnsmasq as a UDP --peer of the reference `socket` flow: no violation, answers come back;
//   (b) dnsmasq as the DNS-over-TCP upstream (--dns_upstream) of the `dns-proxy` flow: the same.
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "harness/workloads/udp/udp_stress.h"
#include "tests/support/run_netrig.h"
#include "tests/support/server_process.h"

namespace netrig {
namespace {

// dnsmasq's command line for `port`: foreground, no configuration file, answering example.test.
std::vector<std::string> DnsmasqArgs(const std::string& dnsmasq, int port) {
  std::vector<std::string> args = {dnsmasq,
                                   "--keep-in-foreground",
                                   "--conf-file=/dev/null",  // no configuration file
                                   "--no-resolv",
                                   "--no-hosts",
                                   "--no-poll",
                                   "--address=/example.test/127.0.0.1",
                                   absl::StrCat("--port=", port),
                                   "--listen-address=127.0.0.1",
                                   "--bind-interfaces",
                                   "--pid-file=",
                                   "--log-facility=-"};  // stderr: the server's log
  // As root dnsmasq would switch to "nobody"; stay the user we are.
  const passwd* user = getpwuid(geteuid());
  if (user != nullptr) args.push_back(absl::StrCat("--user=", user->pw_name));
  return args;
}

class DnsmasqIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dnsmasq = testing::FindExecutable(
        {"/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq", "/usr/bin/dnsmasq"});
    if (dnsmasq.empty()) {
      GTEST_SKIP() << "dnsmasq is not installed (scripts/bootstrap installs dnsmasq-base)";
    }
    dir_ = absl::StrCat(::testing::TempDir(), "/netrig_dnsmasq_", getpid(), "_",
                        absl::ToUnixMicros(absl::Now()));
    std::filesystem::create_directories(dir_);
    // UDP and TCP are bound together: once the port accepts TCP, UDP is served too.
    if (!server_.Start([&](int port) { return DnsmasqArgs(dnsmasq, port); },
                       dir_ + "/dnsmasq.log")) {
      GTEST_SKIP() << "dnsmasq cannot start here: " << server_.error();
    }
    port_ = server_.port();
  }
  void TearDown() override {
    server_.Stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // `netrig udp` arguments parsed as the command line would be, then run in-process.
  absl::StatusOr<StressResult> Run(std::vector<std::string> args) {
    UdpStressOptions options;
    options.status_out = nullptr;
    options.summary_out = nullptr;
    options.finding_dir = "";
    args.insert(args.end(), {"--duration=2s", "--seed=7", "--peer_protocol=dns"});
    absl::StatusOr<std::vector<std::string>> parsed = UdpOptionTable().Parse(args, options);
    if (!parsed.ok()) return parsed.status();
    return RunUdpStress(options);
  }

  std::string dir_;
  int port_ = -1;
  testing::ServerProcess server_{"dnsmasq"};
};

uint64_t U(const nlohmann::json& report, const char* key) { return report.at(key).get<uint64_t>(); }

TEST_F(DnsmasqIntegrationTest, AsAUdpPeerOfTheSocketFlow) {
  // dnsmasq answers from one thread with a default-sized socket buffer: under load its socket
  // drops queries, which netrig reads from /proc/net/udp and does not blame on the flow. A rate
  // keeps the run short and light.
  absl::StatusOr<StressResult> result = Run(
      {"--flow=socket", absl::StrCat("--peer=127.0.0.1:", port_), "--family=ipv4", "--rate=3000"});
  ASSERT_TRUE(result.ok()) << result.status();
  SCOPED_TRACE("dnsmasq log:\n" + server_.log());
  EXPECT_EQ(result->violation_total, 0u) << result->DescribeViolations();
  const nlohmann::json& r = result->report;
  EXPECT_GT(U(r, "datagrams_delivered"), 1000u);
  EXPECT_EQ(U(r, "silent_loss"), U(r, "silent_loss_not_blamed"));
  EXPECT_EQ(U(r, "strays"), 0u);  // every answer matched a query of the flow that read it
}

TEST_F(DnsmasqIntegrationTest, AsTheDnsProxyFlowsUpstream) {
  absl::StatusOr<StressResult> result =
      Run({"--flow=dns-proxy", absl::StrCat("--dns_upstream=127.0.0.1:", port_)});
  ASSERT_TRUE(result.ok()) << result.status();
  SCOPED_TRACE("dnsmasq log:\n" + server_.log());
  EXPECT_EQ(result->violation_total, 0u) << result->DescribeViolations();
  const nlohmann::json& r = result->report;
  EXPECT_EQ(r.at("dns_upstream"), absl::StrCat("127.0.0.1:", port_));
  EXPECT_GT(U(r, "datagrams_delivered"), 1000u);  // dnsmasq closes a TCP connection every 100
  EXPECT_EQ(U(r, "silent_loss"), 0u);             // queries: the flow reconnects and resends
}

}  // namespace
}  // namespace netrig
