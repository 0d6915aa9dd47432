#include "harness/findings/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace netrig {
namespace {

std::atomic<int> interrupts_seen{0};
struct sigaction previous_sigint;
struct sigaction previous_sigterm;
struct sigaction previous_sighup;

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

// argv[0] as execve wants it: a path, found in PATH when it has no slash. Empty: not found.
std::string ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", program);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

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
  const std::string program = ResolveProgram(options.argv[0]);
  if (program.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start `", options.argv[0], "`: not found in PATH"));
  }
  std::vector<std::string> argv_strings = options.argv;
  std::vector<std::string> env_strings = ChildEnvironment(options.extra_env);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);
  // The child reports a failed exec through this pipe; a successful exec closes it (CLOEXEC).
  int exec_error_pipe[2];
  if (pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe for the child's exec status");
  }

  const absl::Time start = absl::Now();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int saved = errno;
    close(exec_error_pipe[0]);
    close(exec_error_pipe[1]);
    return absl::ErrnoToStatus(saved, "fork");
  }
  if (pid == 0) {
    // The child. Only async-signal-safe calls until exec: the parent may have threads.
    setpgid(0, 0);  // Its own group: a terminal's Ctrl-C reaches only us; we forward it.
    // Dies with us: a `netrig replay` or `netrig fuzz` killed by SIGKILL leaves no orphan.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // We died before the line above.
    struct sigaction defaults = {};
    defaults.sa_handler = SIG_DFL;
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGALRM}) {
      sigaction(signal_number, &defaults, nullptr);
    }
    sigset_t empty_mask;
    sigemptyset(&empty_mask);
    sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    int error = 0;
    if (!options.output_path.empty()) {
      const int out = open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(out, STDERR_FILENO) < 0) error = errno;
      if (out > STDERR_FILENO) close(out);
    }
    if (error == 0 && !options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) {
      error = errno;
    }
    if (error == 0) {
      execve(program.c_str(), argv.data(), envp.data());
      error = errno;
    }
    (void)!write(exec_error_pipe[1], &error, sizeof(error));
    _exit(127);
  }
  close(exec_error_pipe[1]);
  int exec_error = 0;
  ssize_t got;
  do {
    got = read(exec_error_pipe[0], &exec_error, sizeof(exec_error));
  } while (got < 0 && errno == EINTR);
  close(exec_error_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof(exec_error))) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start `", absl::StrJoin(options.argv, " ").substr(0, 500),
                     "`: ", strerror(exec_error)));
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
      options.interrupts_baseline.has_value() ? *options.interrupts_baseline
      : options.interrupts != nullptr         ? options.interrupts->load(std::memory_order_acquire)
                                              : 0;
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
  sigaction(SIGHUP, &action, &previous_sighup);
}

InterruptFlag::~InterruptFlag() {
  sigaction(SIGINT, &previous_sigint, nullptr);
  sigaction(SIGTERM, &previous_sigterm, nullptr);
  sigaction(SIGHUP, &previous_sighup, nullptr);
}

const std::atomic<int>* InterruptFlag::counter() const { return &interrupts_seen; }

void InterruptFlag::Raise() { interrupts_seen.fetch_add(1, std::memory_order_acq_rel); }

}  // namespace netrig
