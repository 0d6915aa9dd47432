// Helpers every subcommand shares (stress/command.h).
#include "stress/command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace netrig::cli {

bool NoPositionalArgs(absl::string_view command, const std::vector<std::string>& positional) {
  if (positional.empty()) return true;
  PrintError(command, absl::StrCat("takes no positional arguments (got ",
                                   option_internal::Quote(positional[0]), ")"));
  return false;
}

void PrintError(absl::string_view command, absl::string_view message) {
  constexpr size_t kMaxBytes = 600;
  std::string text(message.substr(0, kMaxBytes));
  if (message.size() > kMaxBytes) absl::StrAppend(&text, "... (", message.size(), " bytes)");
  std::fprintf(stderr, "error: netrig %s: %s\n", std::string(command).c_str(), text.c_str());
}

}  // namespace netrig::cli
