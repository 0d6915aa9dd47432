#include "harness/findings/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

extern char** environ;

namespace netrig {
namespace {

std::atomic<int> interrupts_seen{0};
struct sigaction previous_sigint;
struct sigaction previous_sigterm;

void OnInterrupt(int) { interrupts_seen.fetch_add(1, std::memory_order_acq_rel); }

// Our environment with `extra` added or replacing existing names.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const absl::string_view text(*entry);
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const auto& pair) {
      return text.size() > pair.first.size() && text[pair.first.size()] == '=' &&
             text.substr(0, pair.first.size()) == pair.first;
    });
    if (!replaced) env.emplace_back(text);
  }
  for (const auto& [name, value] : extra) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Copies what the child wrote since the last call to our stderr.
void Echo(int fd) {
  if (fd < 0) return;
  char buffer[8192];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) return;
    for (ssize_t done = 0; done < n;) {
      const ssize_t written = write(STDERR_FILENO, buffer + done, n - done);
      if (written <= 0) return;
      done += written;
    }
  }
}

class SpawnResources {
 public:
  SpawnResources() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attributes_);
  }
  ~SpawnResources() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attributes_);
  }
  posix_spawn_file_actions_t* actions() { return &actions_; }
  posix_spawnattr_t* attributes() { return &attributes_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attributes_;
};

}  // namespace

std::string ChildResult::Describe() const {
  std::string text = exited
                         ? absl::StrCat("exit ", exit_code)
                         : absl::StrCat("signal ", term_signal, " (", strsignal(term_signal), ")");
  if (timed_out) absl::StrAppend(&text, ", timed out after ", absl::FormatDuration(elapsed));
  if (interrupted) absl::StrAppend(&text, ", interrupted");
  return text;
}

absl::StatusOr<ChildResult> RunChild(const ChildOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("RunChild: empty argv");
  if (options.echo_output && options.output_path.empty()) {
    return absl::InvalidArgumentError("RunChild: echo_output needs output_path");
  }
  SpawnResources spawn;
  if (!options.output_path.empty()) {
    posix_spawn_file_actions_addopen(spawn.actions(), STDOUT_FILENO, options.output_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(spawn.actions(), STDOUT_FILENO, STDERR_FILENO);
  }
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(spawn.actions(), options.working_dir.c_str());
  }
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal_number : {SIGINT, SIGTERM, SIGPIPE, SIGALRM}) sigaddset(&defaults, signal_number);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigdefault(spawn.attributes(), &defaults);
  posix_spawnattr_setsigmask(spawn.attributes(), &empty_mask);
  posix_spawnattr_setpgroup(spawn.attributes(), 0);
  posix_spawnattr_setflags(spawn.attributes(),
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings = ChildEnvironment(options.extra_env);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);

  const absl::Time start = absl::Now();
  pid_t pid = -1;
  const int error =
      posix_spawnp(&pid, argv[0], spawn.actions(), spawn.attributes(), argv.data(), envp.data());
  if (error != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start `", absl::StrJoin(options.argv, " "), "`: ", strerror(error)));
  }

  int echo_fd = -1;
  if (options.echo_output) {
    // The child opens the file itself; wait briefly for it to appear.
    for (int attempt = 0; attempt < 200 && echo_fd < 0; ++attempt) {
      echo_fd = open(options.output_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (echo_fd < 0) absl::SleepFor(absl::Milliseconds(5));
    }
  }

  ChildResult result;
  const int interrupts_at_start =
      options.interrupts != nullptr ? options.interrupts->load(std::memory_order_acquire) : 0;
  const absl::Time deadline = start + options.timeout;
  absl::Time kill_at = absl::InfiniteFuture();
  bool escalated = false;
  int status = 0;
  for (;;) {
    const pid_t reaped = waitpid(pid, &status, WNOHANG);
    Echo(echo_fd);
    if (reaped == pid) break;
    if (reaped < 0 && errno != EINTR) {
      if (echo_fd >= 0) close(echo_fd);
      return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
    }
    const absl::Time now = absl::Now();
    const bool interrupt_now =
        options.interrupts != nullptr &&
        options.interrupts->load(std::memory_order_acquire) > interrupts_at_start;
    if (interrupt_now && !result.interrupted) {
      result.interrupted = true;
      kill(-pid, SIGINT);
      kill_at = std::min(kill_at, now + options.kill_grace);
      escalated = true;
    }
    if (now >= deadline && !result.timed_out) {
      result.timed_out = true;
      kill(-pid, SIGINT);
      kill_at = std::min(kill_at, now + options.kill_grace);
      escalated = true;
    }
    if (now >= kill_at) {
      kill(-pid, SIGKILL);
      kill_at = absl::InfiniteFuture();
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  Echo(echo_fd);
  if (echo_fd >= 0) close(echo_fd);
  // Workers the child left behind (libFuzzer fork mode) go with it.
  if (escalated) kill(-pid, SIGKILL);

  result.elapsed = absl::Now() - start;
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  return result;
}

InterruptFlag::InterruptFlag() {
  interrupts_seen.store(0, std::memory_order_release);
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = &OnInterrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &previous_sigint);
  sigaction(SIGTERM, &action, &previous_sigterm);
}

InterruptFlag::~InterruptFlag() {
  sigaction(SIGINT, &previous_sigint, nullptr);
  sigaction(SIGTERM, &previous_sigterm, nullptr);
}

const std::atomic<int>* InterruptFlag::counter() const { return &interrupts_seen; }

void InterruptFlag::Raise() { interrupts_seen.fetch_add(1, std::memory_order_acq_rel); }

}  // namespace netrig
