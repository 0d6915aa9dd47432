#include "harness/base/file_io.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "harness/base/unique_fd.h"

namespace netrig {
namespace {

// How long a write in place waits for a reader to open a FIFO.
constexpr int kFifoReaderWaitMs = 30'000;

absl::Status Errno(int error, absl::string_view step, absl::string_view path) {
  return absl::ErrnoToStatus(error, absl::StrCat(step, " ", path));
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseNameOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// Writes all of `contents` to `fd`. A reader that goes away gives EPIPE, not a SIGPIPE that
// would kill the process: SIGPIPE is blocked on this thread for the write and a pending one is
// consumed afterwards.
absl::Status WriteAll(int fd, absl::string_view contents, absl::string_view path) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  int error = 0;
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (error == EPIPE) {
    const timespec no_wait = {0, 0};
    sigtimedwait(&pipe_only, nullptr, &no_wait);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (error != 0) return Errno(error, "write", path);
  return absl::OkStatus();
}

// Opens an existing non-regular file for writing without blocking forever on a FIFO that has
// no reader yet.
absl::StatusOr<UniqueFd> OpenInPlace(const std::string& path) {
  for (int waited_ms = 0;; waited_ms += 50) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (fd.valid()) {
      const int flags = ::fcntl(fd.get(), F_GETFL);
      if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
      return fd;
    }
    if (errno != ENXIO || waited_ms >= kFifoReaderWaitMs) {
      if (errno == ENXIO) {
        return absl::DeadlineExceededError(
            absl::StrCat("open ", path, ": no process opened the FIFO for reading within 30 s"));
      }
      return Errno(errno, "open", path);
    }
    const timespec pause = {0, 50'000'000};
    nanosleep(&pause, nullptr);
  }
}

absl::Status WriteInPlace(const std::string& path, absl::string_view contents) {
  absl::StatusOr<UniqueFd> fd = OpenInPlace(path);
  if (!fd.ok()) return fd.status();
  if (absl::Status written = WriteAll(fd->get(), contents, path); !written.ok()) return written;
  if (::close(fd->Release()) != 0 && errno != EINTR) return Errno(errno, "close", path);
  return absl::OkStatus();
}

// A new, empty temporary file next to `target` (O_EXCL, so never someone else's file), with
// the mode a new file would get under the process umask.
absl::StatusOr<std::pair<UniqueFd, std::string>> CreateTemporaryNextTo(const std::string& target) {
  static std::atomic<uint64_t> counter{0};
  const std::string dir = DirectoryOf(target);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string temporary =
        absl::StrCat(dir, "/.", BaseNameOf(target), ".tmp.", ::getpid(), ".",
                     counter.fetch_add(1, std::memory_order_relaxed));
    UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0666));
    if (fd.valid()) return std::make_pair(std::move(fd), temporary);
    if (errno != EEXIST) return Errno(errno, "create a temporary file in", dir);
  }
  return absl::AlreadyExistsError(absl::StrCat("create a temporary file in ", dir,
                                               ": 100 candidate names already exist"));
}

// Writes to a temporary file and renames it over `target`, which is a regular file or absent.
// `existing_mode` (0: none) is kept on the new file.
absl::Status ReplaceRegular(const std::string& target, mode_t existing_mode,
                            absl::string_view contents) {
  absl::StatusOr<std::pair<UniqueFd, std::string>> created = CreateTemporaryNextTo(target);
  if (!created.ok()) return created.status();
  auto& [fd, temporary] = *created;
  auto fail = [&temporary](absl::Status status) {
    ::unlink(temporary.c_str());
    return status;
  };
  if (existing_mode != 0) ::fchmod(fd.get(), existing_mode & 07777);
  if (absl::Status written = WriteAll(fd.get(), contents, temporary); !written.ok()) {
    return fail(written);
  }
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return fail(Errno(errno, "fsync", temporary));
  if (::close(fd.Release()) != 0 && errno != EINTR) return fail(Errno(errno, "close", temporary));
  // Replace only what is still a regular file (or still absent): the path may have changed
  // since it was looked at.
  struct stat now {};
  if (::lstat(target.c_str(), &now) == 0 && !S_ISREG(now.st_mode)) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("write ", target, ": it became ", KindOf(now.st_mode), "; not replaced")));
  }
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    return fail(Errno(errno, absl::StrCat("rename ", temporary, " to"), target));
  }
  return absl::OkStatus();
}

// What WriteFileAtomically does with `path`, after following links.
struct Destination {
  enum Kind { kStdout, kInPlace, kReplace } kind = kReplace;
  std::string path;  // The file written or replaced (a symbolic link resolved).
  mode_t existing_mode = 0;
};

absl::StatusOr<Destination> Resolve(absl::string_view requested) {
  if (requested.empty()) return absl::InvalidArgumentError("empty output path");
  if (requested == kStdoutPath) return Destination{Destination::kStdout, "", 0};
  const std::string path(requested);
  struct stat followed {};
  if (::stat(path.c_str(), &followed) == 0) {
    if (S_ISDIR(followed.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat("write ", path, ": is a directory"));
    }
    if (!S_ISREG(followed.st_mode)) return Destination{Destination::kInPlace, path, 0};
    struct stat own {};
    if (::lstat(path.c_str(), &own) == 0 && S_ISLNK(own.st_mode)) {
      // Follow deliberately: replace the regular file the link points to, keep the link.
      char resolved[PATH_MAX];
      if (::realpath(path.c_str(), resolved) == nullptr) return Errno(errno, "resolve", path);
      return Destination{Destination::kReplace, resolved, followed.st_mode};
    }
    return Destination{Destination::kReplace, path, followed.st_mode};
  }
  if (errno != ENOENT) return Errno(errno, "stat", path);
  struct stat own {};
  if (::lstat(path.c_str(), &own) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("write ", path, ": is a symbolic link to a missing file; not followed"));
  }
  return Destination{Destination::kReplace, path, 0};
}

}  // namespace

absl::Status WriteFileAtomically(absl::string_view path, absl::string_view contents) {
  absl::StatusOr<Destination> destination = Resolve(path);
  if (!destination.ok()) return destination.status();
  switch (destination->kind) {
    case Destination::kStdout: {
      std::fflush(stdout);
      return WriteAll(STDOUT_FILENO, contents, "standard output");
    }
    case Destination::kInPlace:
      return WriteInPlace(destination->path, contents);
    case Destination::kReplace:
      return ReplaceRegular(destination->path, destination->existing_mode, contents);
  }
  return absl::InternalError("unreachable");
}

absl::Status CheckWritable(absl::string_view path) {
  absl::StatusOr<Destination> destination = Resolve(path);
  if (!destination.ok()) return destination.status();
  switch (destination->kind) {
    case Destination::kStdout:
      if (::fcntl(STDOUT_FILENO, F_GETFL) < 0) return Errno(errno, "check", "standard output");
      return absl::OkStatus();
    case Destination::kInPlace:
      // Not opened now: opening a FIFO would wait for its reader, and a device may act on open.
      if (::access(destination->path.c_str(), W_OK) != 0) {
        return Errno(errno, "check", destination->path);
      }
      return absl::OkStatus();
    case Destination::kReplace: {
      absl::StatusOr<std::pair<UniqueFd, std::string>> created =
          CreateTemporaryNextTo(destination->path);
      if (!created.ok()) return created.status();
      ::unlink(created->second.c_str());
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unreachable");
}

absl::Status PrepareOutputDirectory(absl::string_view dir) {
  if (dir.empty()) return absl::InvalidArgumentError("empty directory path");
  std::string path(dir);
  // mkdir -p, one component at a time.
  for (size_t at = path.find('/', 1); at != std::string::npos; at = path.find('/', at + 1)) {
    const std::string prefix = path.substr(0, at);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
      return Errno(errno, "create directory", prefix);
    }
  }
  if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) {
    return Errno(errno, "create directory", path);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Errno(errno, "stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("use ", path, " as a directory: it is ", KindOf(st.st_mode)));
  }
  absl::StatusOr<std::pair<UniqueFd, std::string>> created =
      CreateTemporaryNextTo(absl::StrCat(path, "/probe"));
  if (!created.ok()) return created.status();
  ::unlink(created->second.c_str());
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileLimited(absl::string_view requested, size_t max_bytes) {
  const std::string path(requested);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) return Errno(errno, "open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("read ", path, ": is ", KindOf(st.st_mode), ", not a regular file"));
  }
  auto too_large = [&] {
    return absl::OutOfRangeError(
        absl::StrCat("read ", path, ": larger than the limit of ", max_bytes, " bytes"));
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string contents;
  contents.resize(static_cast<size_t>(st.st_size) + 1);
  size_t done = 0;
  while (true) {
    if (done == contents.size()) {
      if (contents.size() > max_bytes) return too_large();  // It grew while being read.
      contents.resize(std::min(max_bytes + 1, contents.size() * 2 + 4096));
    }
    const ssize_t n = ::read(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno(errno, "read", path);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  if (done > max_bytes) return too_large();
  contents.resize(done);
  return contents;
}

}  // namespace netrig
