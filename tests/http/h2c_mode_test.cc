// HttpSessionOptions::h2c_mode in the reference libcurl session, and the h2c probe, against the
// embedded server (which accepts both prior knowledge and Upgrade and counts how each connection
// began: an upgraded connection counts as HTTP/1.1 and HTTP/2, a prior-knowledge one as HTTP/2
// only). nghttpd, which accepts prior knowledge only, is tests/workloads/nghttpd_integration_test.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/h2c_probe.h"
#include "harness/http/curl/session.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"
#include "tests/support/ports.h"

namespace netrig {
namespace {

class H2cModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.default_body_bytes = 10;
    server_ = std::make_unique<HttpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    server_->Stop();
    EXPECT_TRUE(CurlLiveObjects().AllZero());
  }

  // Runs `rounds` rounds of `parallel` h2c tasks at once in one session with `mode`; returns
  // every result.
  std::vector<HttpResult> Run(H2cMode mode, int rounds, int parallel) {
    auto client = NewCurlClient();
    EXPECT_TRUE(client.ok()) << client.status();
    HttpSessionOptions session_options;
    session_options.h2c_mode = mode;
    auto session = (*client)->NewSession(session_options);
    EXPECT_TRUE(session.ok()) << session.status();
    Mutex mu;
    CondVar done;
    std::vector<HttpResult> results;
    for (int round = 0; round < rounds; ++round) {
      for (int i = 0; i < parallel; ++i) {
        HttpRequest request;
        request.url = server_->url() + "/";
        request.version = HttpVersion::kH2cPriorKnowledge;
        request.timeout = absl::Seconds(10);
        auto task = (*session)->MakeTask(request, [&](const HttpResult& result) {
          MutexLock lock(&mu);
          results.push_back(result);
          done.SignalAll();
        });
        EXPECT_TRUE(task.ok()) << task.status();
        (*task)->Resume();
      }
      MutexLock lock(&mu);
      const absl::Time deadline = absl::Now() + absl::Seconds(20);
      while (results.size() < static_cast<size_t>((round + 1) * parallel) &&
             absl::Now() < deadline) {
        done.WaitWithTimeout(&mu, absl::Milliseconds(100));
      }
    }
    (*session)->FinishTasksAndInvalidate();
    EXPECT_TRUE((*session)->WaitUntilInvalidated(absl::Seconds(30)));
    MutexLock lock(&mu);
    return results;
  }

  std::unique_ptr<HttpServer> server_;
};

// libcurl 7.88 fails prior-knowledge transfers that reuse a connection: each gets its own.
TEST_F(H2cModeTest, PriorKnowledgeGivesEveryH2cTaskAConnectionOfItsOwn) {
  const std::vector<HttpResult> results = Run(H2cMode::kPriorKnowledge, 3, 8);
  ASSERT_EQ(results.size(), 24u);
  std::set<uint64_t> connections;
  for (const HttpResult& result : results) {
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.version, HttpVersion::kH2cPriorKnowledge);
    connections.insert(result.connection_id);
  }
  EXPECT_EQ(connections.size(), 24u);
  const HttpServerStats stats = server_->Stats();
  EXPECT_EQ(stats.http1_connections, 0u);  // Never an Upgrade.
  EXPECT_EQ(stats.http2_connections, 24u);
}

// Never the preface unasked: every h2c connection began as HTTP/1.1 with an Upgrade, and later
// tasks multiplex onto upgraded connections.
TEST_F(H2cModeTest, UpgradeOpensEveryH2cConnectionWithAnUpgrade) {
  const std::vector<HttpResult> results = Run(H2cMode::kUpgrade, 3, 8);
  ASSERT_EQ(results.size(), 24u);
  std::set<uint64_t> connections;
  for (const HttpResult& result : results) {
    EXPECT_TRUE(result.ok()) << result.error_message;
    connections.insert(result.connection_id);
  }
  const HttpServerStats stats = server_->Stats();
  EXPECT_GE(stats.http2_connections, 1u);
  EXPECT_EQ(stats.http1_connections, stats.http2_connections);  // Each one upgraded.
  EXPECT_LT(connections.size(), 24u);                           // Some tasks shared a connection.
}

// The default: the first connection by prior knowledge, the tasks after it multiplexed onto it.
TEST_F(H2cModeTest, EitherOpensTheFirstConnectionByPriorKnowledge) {
  const std::vector<HttpResult> results = Run(H2cMode::kEither, 3, 1);
  ASSERT_EQ(results.size(), 3u);
  for (const HttpResult& result : results) {
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.version, HttpVersion::kH2cPriorKnowledge);
    EXPECT_EQ(result.connection_id, results[0].connection_id);
  }
  EXPECT_EQ(server_->Stats().http1_connections, 0u);
  EXPECT_EQ(server_->Stats().http2_connections, 1u);
}

TEST_F(H2cModeTest, ProbeOfTheEmbeddedServerFindsBoth) {
  const H2cProbe probe = ProbeH2c(server_->url() + "/", absl::Seconds(2));
  SCOPED_TRACE(probe.Describe());
  EXPECT_TRUE(probe.prior_knowledge);
  EXPECT_TRUE(probe.upgrade);
  EXPECT_EQ(probe.mode, H2cMode::kEither);
  EXPECT_EQ(probe.Describe(), "prior knowledge: HTTP/2 200; Upgrade: HTTP/2 200 -> both");
}

TEST_F(H2cModeTest, ProbeOfAClosedPortFindsNoAnswer) {
  const H2cProbe probe =
      ProbeH2c(absl::StrCat("http://127.0.0.1:", testing::ClosedTcpPort(), "/"), absl::Seconds(2));
  EXPECT_FALSE(probe.prior_knowledge);
  EXPECT_FALSE(probe.upgrade);
  EXPECT_FALSE(probe.upgrade_declined);
  EXPECT_EQ(probe.prior_knowledge_answer.rfind("failed (", 0), 0u) << probe.Describe();
  EXPECT_EQ(probe.mode, H2cMode::kPriorKnowledge);
}

TEST(H2cModeNamesTest, RoundTrip) {
  for (H2cMode mode : {H2cMode::kPriorKnowledge, H2cMode::kUpgrade, H2cMode::kEither}) {
    absl::StatusOr<H2cMode> parsed = ParseH2cMode(H2cModeName(mode));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_FALSE(ParseH2cMode("probe").ok());  // The workload's, resolved before sessions exist.
}

}  // namespace
}  // namespace netrig
