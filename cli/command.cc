// Helpers every subcommand shares (cli/command.h).
#include "cli/command.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace netrig::cli {

bool NoPositionalArgs(absl::string_view command, const std::vector<std::string>& positional) {
  if (positional.empty()) return true;
  PrintError(command, absl::StrCat("takes no positional arguments (got ",
                                   option_internal::Quote(positional[0]), ")"));
  return false;
}

void PrintError(absl::string_view command, absl::string_view message) {
  // One line, printable, bounded: a path or value from someone else may hold a terminal escape
  // sequence, a newline or a megabyte.
  constexpr size_t kMaxBytes = 600;
  std::string text;
  for (char c : message.substr(0, kMaxBytes)) {
    if (absl::ascii_isprint(static_cast<unsigned char>(c))) {
      text.push_back(c);
    } else {
      absl::StrAppend(&text, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  if (message.size() > kMaxBytes) absl::StrAppend(&text, "... (", message.size(), " bytes)");
  std::fprintf(stderr, "error: netrig %s: %s\n", std::string(command).c_str(), text.c_str());
}

}  // namespace netrig::cli
