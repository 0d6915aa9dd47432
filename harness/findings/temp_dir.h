// ScopedTempDir: a private temporary directory that is removed when it goes out of scope, and
// also when this process dies in a way no destructor runs (SIGKILL, a crash): a small janitor
// process, started with the directory, waits on a pipe only this process can close and removes
// the directory when it reads end-of-file. `netrig replay` keeps its children's finding files in
// one, so killing it leaves nothing behind.
//
// Example:
//   absl::StatusOr<std::unique_ptr<netrig::ScopedTempDir>> dir =
//       netrig::ScopedTempDir::Create("netrig-replay");
//   if (!dir.ok()) return dir.status();
//   WriteFile((*dir)->path() + "/x", ...);
#ifndef NETRIG_HARNESS_FINDINGS_TEMP_DIR_H_
#define NETRIG_HARNESS_FINDINGS_TEMP_DIR_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace netrig {

class ScopedTempDir {
 public:
  // A new directory named PREFIX-XXXXXX under $TMPDIR (or /tmp).
  static absl::StatusOr<std::unique_ptr<ScopedTempDir>> Create(absl::string_view prefix);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  // The janitor's process id (for tests).
  pid_t janitor() const { return janitor_; }

 private:
  ScopedTempDir(std::string path, pid_t janitor, int janitor_pipe)
      : path_(std::move(path)), janitor_(janitor), janitor_pipe_(janitor_pipe) {}
  std::string path_;
  pid_t janitor_;
  int janitor_pipe_;  // Write end; closing it (or dying) tells the janitor to clean up.
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_TEMP_DIR_H_
