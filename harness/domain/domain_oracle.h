// The reference oracle of domain-pattern routing: what the rules (domain_rules.h) decide for a
// host, and why, written as plainly as possible (every pattern of both lists is tried against the
// host, label by label) so that it can judge faster matchers: the reference matcher, the seeded
// bugs and a user's own (`netrig domains`, the domain_match fuzzer, the reload stress).
//
// The decision: an IP literal is covered only by an equal IP pattern; a name by the patterns of
// domain_rules.h. If an exception covers the host it is bypassed (exceptions win); else if a
// match pattern covers it, it is handled; else it is bypassed. When several patterns of the
// deciding list cover the host, the most specific one is named (an exact name before a wildcard,
// a longer name before a shorter one, then the first in the list); a matcher may name any one of
// them.
//
// Example:
//   netrig::DomainRules rules = *netrig::ParseDomainConfig({{"*.example.com"}, {}, {}});
//   netrig::DomainExplanation why = netrig::ExplainRoute(rules,
//   *netrig::NormalizeHost("A.example.com"));
//   // why.route == netrig::Route::kHandle, why.pattern == "*.example.com",
//   // why.reason == "match pattern \"*.example.com\" covers a.example.com (1 label below ...)"
#ifndef NETRIG_HARNESS_DOMAIN_DOMAIN_ORACLE_H_
#define NETRIG_HARNESS_DOMAIN_DOMAIN_ORACLE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/domain/domain_name.h"
#include "harness/domain/domain_rules.h"

namespace netrig {

// Why a decision was taken; the closed set the README lists.
enum class DecisionRule {
  kException,  // An exception covers the host (it wins over any match).
  kMatch,      // A match pattern covers the host and no exception does.
  kNoPattern,  // No pattern of either list covers the host.
};
absl::string_view DecisionRuleName(DecisionRule rule);  // "exception", "match", "no_pattern"

struct DomainExplanation {
  Route route = Route::kBypass;
  DecisionRule rule = DecisionRule::kNoPattern;
  std::string pattern;  // The deciding pattern as written; empty for kNoPattern.
  std::string reason;   // One sentence a person can check by hand.
};

// Whether `pattern` covers `host` under `semantics`; when `why` is given, says how or why not.
bool PatternCovers(const DomainPattern& pattern, const DomainSemantics& semantics,
                   const HostName& host, std::string* why = nullptr);

DomainExplanation ExplainRoute(const DomainRules& rules, const HostName& host);

// Every answer a correct matcher may give for one host: the oracle's route, naming any pattern
// of the deciding list that covers the host (none when no pattern covers it).
struct AcceptableAnswers {
  DomainExplanation explanation;
  std::vector<std::string> patterns;  // Empty for DecisionRule::kNoPattern.

  bool Accepts(const DomainDecision& answer) const;
};
AcceptableAnswers AcceptableAnswersFor(const DomainRules& rules, const HostName& host);

// Judges a matcher's answer for `host_input` (as the matcher was given it) against the oracle:
// nullopt when it agrees, else a sentence saying what differs. A host the oracle refuses may be
// answered anyhow (a matcher may be more lenient); a valid host must not be refused; the route
// must be the oracle's; the named pattern must be one of the deciding list that covers the host
// (empty exactly when no pattern covers it).
std::optional<std::string> CompareWithOracle(const DomainRules& rules, absl::string_view host_input,
                                             const absl::StatusOr<DomainDecision>& answer);
// The sentence CompareWithOracle gives for an answer `acceptable` does not accept.
std::string DescribeWrongAnswer(absl::string_view host_shown, const AcceptableAnswers& acceptable,
                                const DomainDecision& answer);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DOMAIN_DOMAIN_ORACLE_H_
