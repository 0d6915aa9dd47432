// Command lines netrig prints for a person to paste into a shell: replay lines, `rerun:` lines,
// libFuzzer invocations. Each word is quoted only when it needs to be, so the common line stays
// readable (`netrig replay artifacts/findings/udp-1.json`) and an odd path still pastes safely.
//
// Example:
//   netrig::ShellLine({"./my netrig", "replay", "it's.json"});
//   // "'./my netrig' replay 'it'\''s.json'"
#ifndef NETRIG_HARNESS_BASE_SHELL_LINE_H_
#define NETRIG_HARNESS_BASE_SHELL_LINE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace netrig {

// `word` as one POSIX shell word: unchanged when it holds only characters no shell treats
// specially, else in single quotes (an empty word is '').
std::string QuoteForShell(absl::string_view word);

// The words quoted and joined by single spaces.
std::string ShellLine(const std::vector<std::string>& words);

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_SHELL_LINE_H_
