#include "harness/base/shell_line.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace netrig {

std::string QuoteForShell(absl::string_view word) {
  constexpr absl::string_view kPlain =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,+@%";
  if (!word.empty() && word.find_first_not_of(kPlain) == absl::string_view::npos) {
    return std::string(word);
  }
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";  // End the quote, an escaped quote, reopen.
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

std::string ShellLine(const std::vector<std::string>& words) {
  std::vector<std::string> quoted;
  quoted.reserve(words.size());
  for (const std::string& word : words) quoted.push_back(QuoteForShell(word));
  return absl::StrJoin(quoted, " ");
}

}  // namespace netrig
