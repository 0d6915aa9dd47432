#include "tests/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/ports.h"
#include "tests/support/run_netrig.h"

extern char** environ;

namespace netrig::testing {

std::string FindExecutable(std::initializer_list<const char*> candidates) {
  for (const char* candidate : candidates) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

bool ServerProcess::Start(const std::function<std::vector<std::string>(int port)>& argv_for,
                          const std::string& log_path) {
  log_path_ = log_path;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = ClosedTcpPort();
    if (port_ <= 0) {
      error_ = "no free loopback port";
      return false;
    }
    if (StartOnce(argv_for(port_))) return true;
  }
  return false;
}

bool ServerProcess::StartOnce(const std::vector<std::string>& args) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& arg : copy) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    error_ = absl::StrCat("posix_spawn(", name_, ") failed");
    return false;
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (LoopbackTcpAccepts(port_)) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      error_ = absl::StrCat(name_, " exited at start-up: ", log());
      return false;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  Stop();
  error_ = absl::StrCat(name_, " did not accept within 10 s: ", log());
  return false;
}

void ServerProcess::Stop() {
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

std::string ServerProcess::log() const { return ReadFileForTest(log_path_); }

}  // namespace netrig::testing
