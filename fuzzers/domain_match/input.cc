#include "fuzzers/domain_match/input.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace netrig::internal::domain_match_fuzzer {

Input ParseInput(absl::string_view data) {
  Input input;
  for (absl::string_view line : absl::StrSplit(data, '\n')) {
    absl::string_view item = line;
    if (line == "bare subtree") {
      input.config.semantics.bare = DomainSemantics::Bare::kSubtree;
    } else if (line == "wildcard one_label") {
      input.config.semantics.wildcard = DomainSemantics::Wildcard::kOneLabel;
    } else if (absl::ConsumePrefix(&item, "m ")) {
      if (input.config.match.size() < kMaxItems) {
        input.config.match.emplace_back(item.substr(0, kMaxItemBytes));
      }
    } else if (absl::ConsumePrefix(&item, "x ")) {
      if (input.config.except.size() < kMaxItems) {
        input.config.except.emplace_back(item.substr(0, kMaxItemBytes));
      }
    } else if (absl::ConsumePrefix(&item, "h ")) {
      if (input.hosts.size() < kMaxItems) input.hosts.emplace_back(item.substr(0, kMaxItemBytes));
    }
  }
  return input;
}

std::string FormatInput(const Input& input) {
  std::string out;
  if (input.config.semantics.bare == DomainSemantics::Bare::kSubtree) out += "bare subtree\n";
  if (input.config.semantics.wildcard == DomainSemantics::Wildcard::kOneLabel) {
    out += "wildcard one_label\n";
  }
  for (const std::string& p : input.config.match) absl::StrAppend(&out, "m ", p, "\n");
  for (const std::string& p : input.config.except) absl::StrAppend(&out, "x ", p, "\n");
  for (const std::string& h : input.hosts) absl::StrAppend(&out, "h ", h, "\n");
  return out;
}

}  // namespace netrig::internal::domain_match_fuzzer
