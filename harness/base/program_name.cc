#include "harness/base/program_name.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "harness/base/shell_line.h"

namespace netrig {
namespace {

std::string& Name() {
  static auto* const name = new std::string("netrig");
  return *name;
}

}  // namespace

void SetProgramName(absl::string_view argv0) {
  if (argv0.empty()) return;
  if (argv0 == "/proc/self/exe") {
    // How `replay` starts its runs: printed, the link would name whatever program reads it.
    char path[4096];
    const ssize_t length = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (length > 0) {
      Name() = std::string(path, static_cast<size_t>(length));
      return;
    }
  }
  Name() = std::string(argv0);
}

const std::string& ProgramName() { return Name(); }

std::string FindingReplayCommand(absl::string_view path, absl::string_view program) {
  return ShellLine(
      {std::string(program.empty() ? ProgramName() : program), "replay", std::string(path)});
}

}  // namespace netrig
