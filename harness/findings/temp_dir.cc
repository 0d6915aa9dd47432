#include "harness/findings/temp_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace netrig {

absl::StatusOr<std::unique_ptr<ScopedTempDir>> ScopedTempDir::Create(absl::string_view prefix) {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  if (error) base = "/tmp";
  std::string pattern = (base / absl::StrCat(prefix, "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("create a temporary directory ", pattern));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    const int saved = errno;
    std::filesystem::remove_all(pattern, error);
    return absl::ErrnoToStatus(saved, "pipe for the temporary directory's janitor");
  }
  const pid_t janitor = fork();
  if (janitor < 0) {
    const int saved = errno;
    close(fds[0]);
    close(fds[1]);
    std::filesystem::remove_all(pattern, error);
    return absl::ErrnoToStatus(saved, "fork the temporary directory's janitor");
  }
  if (janitor == 0) {
    // The janitor. Only async-signal-safe calls until exec: the parent may have threads.
    setsid();  // A terminal's hangup or Ctrl-C must not take it before it has cleaned up.
    const int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    dup2(fds[0], 3);
    close_range(4, ~0U, 0);  // Holds no one else's pipe open.
    char byte;
    for (;;) {
      const ssize_t n = read(3, &byte, 1);
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
    execl("/bin/rm", "rm", "-rf", "--", pattern.c_str(), static_cast<char*>(nullptr));
    _exit(0);
  }
  close(fds[0]);
  return std::unique_ptr<ScopedTempDir>(new ScopedTempDir(pattern, janitor, fds[1]));
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  close(janitor_pipe_);
  while (waitpid(janitor_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace netrig
