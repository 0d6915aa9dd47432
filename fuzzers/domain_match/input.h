// The domain_match fuzzer's input: a small line format, so that corpus files read as what they
// test and libFuzzer's dictionary tokens (real-world names, Unicode forms, wildcards) land in
// patterns and hosts whole.
//
//   bare subtree          optional: semantics (default: bare exact, wildcard any_depth)
//   wildcard one_label
//   m *.example.com       a match pattern
//   x ads.example.com     an exception
//   h WWW.Example.COM.    a host to decide
//
// Lines end with '\n'; unknown lines are ignored; at most kMaxItems patterns and hosts, each at
// most kMaxItemBytes (longer ones are cut), so that one input stays cheap.
#ifndef NETRIG_FUZZERS_DOMAIN_MATCH_INPUT_H_
#define NETRIG_FUZZERS_DOMAIN_MATCH_INPUT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "harness/domain/domain_rules.h"

namespace netrig::internal::domain_match_fuzzer {

inline constexpr size_t kMaxItems = 32;
inline constexpr size_t kMaxItemBytes = 320;

struct Input {
  DomainConfig config;
  std::vector<std::string> hosts;
};

Input ParseInput(absl::string_view data);
std::string FormatInput(const Input& input);

}  // namespace netrig::internal::domain_match_fuzzer

#endif  // NETRIG_FUZZERS_DOMAIN_MATCH_INPUT_H_
