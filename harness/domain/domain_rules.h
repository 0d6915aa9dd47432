// Domain-pattern rules: a match list and an exception list of patterns, and the semantics that
// real products choose differently. A proxy or content filter handles a connection when its host
// is covered by a match pattern and by no exception (exceptions win).
//
// Pattern forms (README, "Domain-pattern routing"):
//   example.com      the name itself; with Semantics::bare == kSubtree also every name below it
//   *.example.com    every name below example.com (at a label boundary: never badexample.com,
//                    never example.com itself); with wildcard == kOneLabel only one label below
//   *                every host name (never an IP literal)
//   10.0.0.1, ::1    that IP literal only (compared as addresses: `[::1]` and `::1` are equal)
// Names in patterns are normalized as hosts are (domain_name.h): case, trailing dot, Unicode
// versus A-labels do not matter. `*` only as a whole leftmost label; `.example.com` is refused
// (products disagree on what it means; write `*.example.com` or `example.com`).
//
// Example:
//   absl::StatusOr<netrig::DomainRules> rules = netrig::ParseDomainRules(
//       "*.example.com,example.net", "ads.example.com", netrig::DomainSemantics{});
//   // rules->match[0].kind == netrig::PatternKind::kWildcard, rules->match[0].name ==
//   "example.com"
#ifndef NETRIG_HARNESS_DOMAIN_DOMAIN_RULES_H_
#define NETRIG_HARNESS_DOMAIN_DOMAIN_RULES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace netrig {

// Where real products differ; the defaults are the strictest reading.
struct DomainSemantics {
  // Does a bare `example.com` also cover `www.example.com`?
  enum class Bare { kExact, kSubtree } bare = Bare::kExact;
  // Does `*.example.com` cover `a.b.example.com`?
  enum class Wildcard { kAnyDepth, kOneLabel } wildcard = Wildcard::kAnyDepth;

  friend bool operator==(const DomainSemantics&, const DomainSemantics&) = default;
};

absl::string_view BareName(DomainSemantics::Bare bare);              // "exact", "subtree"
absl::string_view WildcardName(DomainSemantics::Wildcard wildcard);  // "any_depth", "one_label"

enum class PatternKind { kExact, kWildcard, kEverything, kIpLiteral };

struct DomainPattern {
  std::string text;  // As written in the list.
  PatternKind kind = PatternKind::kExact;
  // Canonical name (kExact: the name; kWildcard: the part after "*."; kIpLiteral: the address;
  // kEverything: empty).
  std::string name;
};

// What a user's configuration holds: both lists as written, and the semantics.
struct DomainConfig {
  std::vector<std::string> match;
  std::vector<std::string> except;
  DomainSemantics semantics;
};

// The same, parsed.
struct DomainRules {
  std::vector<DomainPattern> match;
  std::vector<DomainPattern> except;
  DomainSemantics semantics;
};

// What a matcher decides for one host.
enum class Route { kHandle, kBypass };
absl::string_view RouteName(Route route);  // "handle", "bypass"

struct DomainDecision {
  Route route = Route::kBypass;
  // The pattern that decided, as written in its list; empty when none did (no pattern covers the
  // host, so it is bypassed).
  std::string pattern;
};

// InvalidArgument naming the pattern and why.
absl::StatusOr<DomainPattern> ParseDomainPattern(absl::string_view text);
// InvalidArgument naming the list ("match" or "except"), the pattern's position and why.
absl::StatusOr<DomainRules> ParseDomainConfig(const DomainConfig& config);
// A comma-separated list as the command line gives it; empty items are refused ("a,,b"), an
// empty text is an empty list.
absl::StatusOr<std::vector<std::string>> SplitPatternList(absl::string_view text);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DOMAIN_DOMAIN_RULES_H_
