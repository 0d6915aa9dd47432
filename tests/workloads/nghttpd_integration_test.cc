// `netrig http --target --http h2c` against a server that speaks h2c only by prior knowledge:
// nghttpd (Debian's nghttp2-server, installed by scripts/bootstrap) with --no-tls on a free
// loopback port, serving a scratch directory, started and stopped by the test
// (tests/support/server_process.h, as the nginx test). With the reference client, the h2c probe
// must choose prior knowledge and a fault-free run must end with zero failed tasks and no
// violation. Skipped, saying why, when nghttpd is missing or cannot start.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "harness/findings/child_process.h"
#include "harness/http/curl/h2c_probe.h"
#include "harness/http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/server_process.h"

namespace netrig {
namespace {

class NghttpdIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string nghttpd = testing::FindExecutable(
        {"/usr/sbin/nghttpd", "/usr/bin/nghttpd", "/usr/local/bin/nghttpd"});
    if (nghttpd.empty()) {
      GTEST_SKIP() << "nghttpd is not installed (scripts/bootstrap installs nghttp2-server)";
    }
    std::ofstream(dir_.File("index.html")) << "ok";
    if (!server_.Start(
            [&](int port) {
              return std::vector<std::string>{
                  nghttpd, "--no-tls", "-a", "127.0.0.1", "-d", dir_.path(), absl::StrCat(port)};
            },
            dir_.File("nghttpd.log"))) {
      GTEST_SKIP() << "nghttpd did not start: " << server_.error();
    }
    url_ = absl::StrCat("http://127.0.0.1:", server_.port(), "/");
  }

  testing::ScratchDir dir_;
  testing::ServerProcess server_{"nghttpd"};
  std::string url_;
};

TEST_F(NghttpdIntegrationTest, ProbeFindsPriorKnowledgeOnly) {
  const H2cProbe probe = ProbeH2c(url_, absl::Seconds(2));
  SCOPED_TRACE(probe.Describe());
  EXPECT_TRUE(probe.prior_knowledge);
  EXPECT_FALSE(probe.upgrade);
  EXPECT_EQ(probe.mode, H2cMode::kPriorKnowledge);
}

TEST_F(NghttpdIntegrationTest, NetrigHttpH2cRunsWithoutAFailedTask) {
  ChildOptions options;
  options.argv = {testing::NetrigBinary(),
                  "http",
                  absl::StrCat("--target=", url_),
                  "--http=h2c",
                  "--faults=none",
                  "--duration=3s",
                  absl::StrCat("--json=", dir_.File("report.json")),
                  absl::StrCat("--finding_dir=", dir_.File("findings"))};
  options.output_path = dir_.File("netrig.txt");
  options.timeout = absl::Seconds(90);
  absl::StatusOr<ChildResult> run = RunChild(options);
  server_.Stop();
  ASSERT_TRUE(run.ok()) << run.status();
  SCOPED_TRACE(testing::ReadFileForTest(options.output_path) + "\nnghttpd log:\n" + server_.log());
  EXPECT_TRUE(run->ok()) << run->Describe();

  const nlohmann::json report =
      nlohmann::json::parse(testing::ReadFileForTest(dir_.File("report.json")), nullptr, false);
  ASSERT_TRUE(report.is_object()) << "no JSON report";
  EXPECT_EQ(report["violations"].size(), 0u) << report["violations"].dump();
  EXPECT_EQ(report["h2c_mode"]["asked"], "probe");
  EXPECT_EQ(report["h2c_mode"]["used"], "prior") << report["h2c_mode"].dump();
  // Only cancellations may end a task without success: nghttpd answers every request.
  EXPECT_EQ(report["tasks_failed"].get<uint64_t>(), 0u) << report["errors_by_kind"].dump();
  const nlohmann::json& h2c = report["by_version"]["asked_h2c"];
  EXPECT_GT(h2c["ok_over_h2c"].get<uint64_t>(), 0u);
  EXPECT_EQ(h2c["ok_over_http1.1"].get<uint64_t>(), 0u);  // nghttpd speaks no HTTP/1.1.
}

}  // namespace
}  // namespace netrig
