#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "harness/base/file_io.h"
#include "harness/findings/fuzz_session_internal.h"
#include "harness/findings/json_input.h"

namespace netrig::internal::fuzz_session {

bool IsDirectory(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool IsExecutableFile(const std::string& path) {
  std::error_code error;
  return fs::is_regular_file(path, error) && access(path.c_str(), X_OK) == 0;
}

std::string ReadFileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileLimited(path, kMaxJsonFileBytes);
  return text.ok() ? *std::move(text) : std::string();
}

absl::Status WriteTextFile(const std::string& path, absl::string_view text) {
  return WriteFileAtomically(path, text);
}

std::vector<fs::path> FilesIn(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error)
    return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  return absl::OkStatus();
}

// Empties `to` (creating it) and copies the regular files of `from` into it.
absl::Status FreshCopy(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::remove_all(to, error);
  if (absl::Status made = MakeDirs(to); !made.ok()) return made;
  for (const fs::path& file : FilesIn(from)) {
    fs::copy_file(file, fs::path(to) / file.filename(), fs::copy_options::overwrite_existing,
                  error);
    if (error)
      return absl::UnavailableError(
          absl::StrCat("cannot copy ", file.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace netrig::internal::fuzz_session
