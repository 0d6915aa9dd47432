// `netrig http --target` against a real server: nginx (Debian's nginx-light,
// installed by scripts/bootstrap) with the configuration in tests/workloads/nginx/nginx.conf.in on
// a free loopback port, a temporary prefix for every path, in the foreground as the current user.
// netrig must run 3 s against it with no violation and complete tasks. nginx is stopped on every
// path out of the test. Skipped when nginx is not installed.
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

extern char** environ;

namespace netrig {
namespace {

std::string FindNginx() {
  for (const char* candidate : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

// A port the kernel just handed out on 127.0.0.1 (free a moment ago; nginx binds it next).
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

// nginx in the foreground (daemon off, master_process off); the destructor stops it.
class NginxProcess {
 public:
  ~NginxProcess() { Stop(); }

  // Writes the configuration into `prefix` and starts nginx on `port`; true once it accepts.
  bool Start(const std::string& nginx, const std::string& prefix, int port) {
    std::string config =
        testing::ReadFileForTest(testing::SourceDir() + "/tests/workloads/nginx/nginx.conf.in");
    if (config.empty()) {
      error_ = "tests/workloads/nginx/nginx.conf.in is missing";
      return false;
    }
    config = absl::StrReplaceAll(config, {{"@PREFIX@", prefix}, {"@PORT@", absl::StrCat(port)}});
    std::ofstream(prefix + "/nginx.conf") << config;
    error_log_ = prefix + "/error.log";
    std::vector<std::string> args = {
        nginx, "-p", prefix, "-e", error_log_, "-c", prefix + "/nginx.conf"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      error_ = "posix_spawn(nginx) failed";
      return false;
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (Accepts(port)) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "nginx exited at start-up: " + testing::ReadFileForTest(error_log_);
        return false;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    error_ = "nginx did not accept within 10 s: " + testing::ReadFileForTest(error_log_);
    return false;
  }

  // SIGTERM (fast shutdown), then SIGKILL if it lingers.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    pid_ = -1;
  }

  const std::string& error() const { return error_; }
  std::string error_log() const { return testing::ReadFileForTest(error_log_); }

 private:
  pid_t pid_ = -1;
  std::string error_;
  std::string error_log_;
};

TEST(NginxIntegrationTest, NetrigHttpTargetRunsCleanAgainstNginx) {
  const std::string nginx = FindNginx();
  if (nginx.empty())
    GTEST_SKIP() << "nginx is not installed (scripts/bootstrap installs nginx-light)";

  const std::string prefix = absl::StrCat(::testing::TempDir(), "/netrig_nginx_", getpid(), "_",
                                          absl::ToUnixMicros(absl::Now()));
  std::filesystem::remove_all(prefix);
  std::filesystem::create_directories(prefix);
  NginxProcess server;
  int port = -1;
  bool started = false;
  for (int attempt = 0; attempt < 3 && !started; ++attempt) {  // The port may be taken meanwhile.
    port = FreeLoopbackPort();
    ASSERT_GT(port, 0);
    started = server.Start(nginx, prefix, port);
  }
  ASSERT_TRUE(started) << server.error();

  ChildOptions options;
  options.argv = {testing::NetrigBinary(),
                  "http",
                  absl::StrCat("--target=http://127.0.0.1:", port, "/"),
                  "--duration=3s",
                  absl::StrCat("--json=", prefix, "/report.json"),
                  absl::StrCat("--finding_dir=", prefix, "/findings")};
  options.output_path = prefix + "/netrig.txt";
  options.timeout = absl::Seconds(90);
  absl::StatusOr<ChildResult> run = RunChild(options);
  server.Stop();
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string output = testing::ReadFileForTest(options.output_path);
  SCOPED_TRACE(output + "\nnginx error log:\n" + server.error_log());
  EXPECT_TRUE(run->ok()) << run->Describe();

  const std::string text = testing::ReadFileForTest(prefix + "/report.json");
  ASSERT_FALSE(text.empty()) << "no JSON report";
  const nlohmann::json report = nlohmann::json::parse(text, nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_GT(report["tasks_completed"].get<uint64_t>(), 0u);
  EXPECT_EQ(report["violations"].size(), 0u) << report["violations"].dump();
  EXPECT_EQ(report["target"], absl::StrCat("http://127.0.0.1:", port, "/"));
  EXPECT_TRUE(report["server"].is_null());  // The embedded server was not used.
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
