// `netrig http --target` against a real server: nginx (Debian's nginx-light,
// installed by scripts/bootstrap) with the configuration in tests/workloads/nginx/nginx.conf.in on
// a free loopback port, a temporary prefix for every path, in the foreground as the current user.
// netrig (HTTP/1.1 and h2c tasks, session churn) must run 3 s against it with no violation and
// no failed task. nginx is stopped on every path out of the test (tests/support/server_process.h).
// Skipped when nginx is not installed.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "harness/findings/child_process.h"
#include "nlohmann/json.hpp"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"
#include "tests/support/server_process.h"

namespace netrig {
namespace {

// Writes the configuration into `prefix` for `port` and returns nginx's command line.
std::vector<std::string> NginxCommand(const std::string& nginx, const std::string& prefix,
                                      int port) {
  std::string config =
      testing::ReadFileForTest(testing::SourceDir() + "/tests/workloads/nginx/nginx.conf.in");
  config = absl::StrReplaceAll(config, {{"@PREFIX@", prefix}, {"@PORT@", absl::StrCat(port)}});
  std::ofstream(prefix + "/nginx.conf") << config;
  return {nginx, "-p", prefix, "-e", prefix + "/error.log", "-c", prefix + "/nginx.conf"};
}

TEST(NginxIntegrationTest, NetrigHttpTargetRunsCleanAgainstNginx) {
  const std::string nginx =
      testing::FindExecutable({"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"});
  if (nginx.empty())
    GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs nginx-light)";
  ASSERT_FALSE(
      testing::ReadFileForTest(testing::SourceDir() + "/tests/workloads/nginx/nginx.conf.in")
          .empty())
      << "tests/workloads/nginx/nginx.conf.in is missing";

  const std::string prefix = absl::StrCat(::testing::TempDir(), "/netrig_nginx_", getpid(), "_",
                                          absl::ToUnixMicros(absl::Now()));
  std::filesystem::remove_all(prefix);
  std::filesystem::create_directories(prefix);
  testing::ServerProcess server("nginx");
  if (!server.Start([&](int port) { return NginxCommand(nginx, prefix, port); },
                    prefix + "/error.log")) {
    GTEST_SKIP() << "nginx cannot start here: " << server.error();
  }
  const int port = server.port();

  ChildOptions options;
  options.argv = {testing::NetrigBinary(), "http",
                  absl::StrCat("--target=http://127.0.0.1:", port, "/"),
                  // Both versions, and a new session every 200 tasks: with h2c opened by prior
                  // knowledge every session's first h2c connection failed against this
                  // HTTP/1.1-only nginx, and tasks with it (README, "Real servers").
                  "--http=mixed", "--tasks_per_session=200", "--duration=3s",
                  absl::StrCat("--json=", prefix, "/report.json"),
                  absl::StrCat("--finding_dir=", prefix, "/findings")};
  options.output_path = prefix + "/netrig.txt";
  options.timeout = absl::Seconds(90);
  absl::StatusOr<ChildResult> run = RunChild(options);
  server.Stop();
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string output = testing::ReadFileForTest(options.output_path);
  SCOPED_TRACE(output + "\nnginx error log:\n" + server.log());
  EXPECT_TRUE(run->ok()) << run->Describe();

  const std::string text = testing::ReadFileForTest(prefix + "/report.json");
  ASSERT_FALSE(text.empty()) << "no JSON report";
  const nlohmann::json report = nlohmann::json::parse(text, nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_GT(report["tasks_completed"].get<uint64_t>(), 0u);
  EXPECT_EQ(report["violations"].size(), 0u) << report["violations"].dump();
  EXPECT_EQ(report["target"], absl::StrCat("http://127.0.0.1:", port, "/"));
  EXPECT_TRUE(report["server"].is_null());  // The embedded server was not used.
  // The probe found no HTTP/2: h2c tasks ask with an Upgrade, which nginx answers in HTTP/1.1.
  EXPECT_EQ(report["h2c_mode"]["used"], "upgrade") << report["h2c_mode"].dump();
  // nginx answers every request: nothing but cancellations may fail.
  EXPECT_EQ(report["tasks_failed"].get<uint64_t>(), 0u) << report["errors_by_kind"].dump();
  std::filesystem::remove_all(prefix);
}

TEST(NginxIntegrationTest, RemoteTargetIsRefusedWithUsageExit) {
  ChildOptions options;
  options.argv = {testing::NetrigBinary(), "http", "--target=http://192.0.2.1/", "--duration=1s"};
  options.output_path = absl::StrCat(::testing::TempDir(), "/netrig_remote_", getpid(), ".txt");
  options.timeout = absl::Seconds(30);
  absl::StatusOr<ChildResult> run = RunChild(options);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->exited);
  EXPECT_EQ(run->exit_code, 2);
  EXPECT_NE(testing::ReadFileForTest(options.output_path).find("--allow_remote"),
            std::string::npos);
}

}  // namespace
}  // namespace netrig
