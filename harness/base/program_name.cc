#include "harness/base/program_name.h"

#include "absl/strings/str_cat.h"

namespace netrig {
namespace {

std::string& Name() {
  static auto* const name = new std::string("netrig");
  return *name;
}

}  // namespace

void SetProgramName(absl::string_view argv0) {
  if (!argv0.empty()) Name() = std::string(argv0);
}

const std::string& ProgramName() { return Name(); }

std::string FindingReplayCommand(absl::string_view path, absl::string_view program) {
  return absl::StrCat(program.empty() ? ProgramName() : program, " replay ", path);
}

}  // namespace netrig
