#include "harness/domain/domain_oracle.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace netrig {
namespace {

std::vector<absl::string_view> Labels(absl::string_view name) { return absl::StrSplit(name, '.'); }

// Labels `host` has beyond `suffix` when every label of `suffix` equals the corresponding
// rightmost label of `host` (compared whole, so label boundaries hold); -1 otherwise.
int LabelsBeyond(absl::string_view host, absl::string_view suffix) {
  const std::vector<absl::string_view> h = Labels(host);
  const std::vector<absl::string_view> s = Labels(suffix);
  if (s.size() > h.size()) return -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (h[h.size() - 1 - i] != s[s.size() - 1 - i]) return -1;
  }
  return static_cast<int>(h.size() - s.size());
}

// Higher is more specific: an IP or exact name over a wildcard, then more labels.
int Specificity(const DomainPattern& pattern) {
  switch (pattern.kind) {
    case PatternKind::kIpLiteral:
      return 1 << 20;
    case PatternKind::kEverything:
      return 0;
    case PatternKind::kExact:
      return 2 * static_cast<int>(Labels(pattern.name).size()) + 1;
    case PatternKind::kWildcard:
      return 2 * static_cast<int>(Labels(pattern.name).size());
  }
  return 0;
}

struct Cover {
  const DomainPattern* pattern = nullptr;
  std::string how;
};

std::optional<Cover> MostSpecificCover(const std::vector<DomainPattern>& list,
                                       const DomainSemantics& semantics, const HostName& host) {
  std::optional<Cover> best;
  for (const DomainPattern& pattern : list) {
    std::string how;
    if (!PatternCovers(pattern, semantics, host, &how)) continue;
    if (!best || Specificity(pattern) > Specificity(*best->pattern)) {
      best = Cover{&pattern, std::move(how)};
    }
  }
  return best;
}

std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(text), "\"");
}

std::string LabelCount(int n) { return absl::StrCat(n, n == 1 ? " label" : " labels"); }

}  // namespace

absl::string_view DecisionRuleName(DecisionRule rule) {
  switch (rule) {
    case DecisionRule::kException:
      return "exception";
    case DecisionRule::kMatch:
      return "match";
    case DecisionRule::kNoPattern:
      return "no_pattern";
  }
  return "?";
}

bool PatternCovers(const DomainPattern& pattern, const DomainSemantics& semantics,
                   const HostName& host, std::string* why) {
  auto say = [why](bool covers, std::string text) {
    if (why != nullptr) *why = std::move(text);
    return covers;
  };
  if (host.kind == HostKind::kIpLiteral) {
    if (pattern.kind != PatternKind::kIpLiteral) {
      return say(false, "an IP literal is never covered by a name pattern");
    }
    return pattern.name == host.text ? say(true, "the same IP address")
                                     : say(false, "another IP address");
  }
  switch (pattern.kind) {
    case PatternKind::kIpLiteral:
      return say(false, "an IP pattern covers only that IP literal");
    case PatternKind::kEverything:
      return say(true, "\"*\" covers every host name");
    case PatternKind::kExact: {
      const int beyond = LabelsBeyond(host.text, pattern.name);
      if (beyond == 0) return say(true, "the same name");
      if (beyond < 0) return say(false, "not this name or a name below it");
      if (semantics.bare == DomainSemantics::Bare::kSubtree) {
        return say(true, absl::StrCat(LabelCount(beyond), " below it (--bare=subtree)"));
      }
      return say(false, "a name below it, and a bare name covers only itself (--bare=exact)");
    }
    case PatternKind::kWildcard: {
      const int beyond = LabelsBeyond(host.text, pattern.name);
      if (beyond < 0) return say(false, "not a name below it at a label boundary");
      if (beyond == 0) return say(false, "a wildcard covers only names below, not the name itself");
      if (beyond > 1 && semantics.wildcard == DomainSemantics::Wildcard::kOneLabel) {
        return say(false, absl::StrCat(LabelCount(beyond), " below it, and --wildcard=one_label"));
      }
      return say(true, absl::StrCat(LabelCount(beyond), " below ", pattern.name));
    }
  }
  return say(false, "?");
}

DomainExplanation ExplainRoute(const DomainRules& rules, const HostName& host) {
  DomainExplanation out;
  if (std::optional<Cover> cover = MostSpecificCover(rules.except, rules.semantics, host)) {
    out.route = Route::kBypass;
    out.rule = DecisionRule::kException;
    out.pattern = cover->pattern->text;
    out.reason = absl::StrCat("exception ", Quoted(out.pattern), " covers ", host.text, " (",
                              cover->how, "); exceptions win over matches");
    return out;
  }
  if (std::optional<Cover> cover = MostSpecificCover(rules.match, rules.semantics, host)) {
    out.route = Route::kHandle;
    out.rule = DecisionRule::kMatch;
    out.pattern = cover->pattern->text;
    out.reason = absl::StrCat("match pattern ", Quoted(out.pattern), " covers ", host.text, " (",
                              cover->how, ") and no exception does");
    return out;
  }
  out.route = Route::kBypass;
  out.rule = DecisionRule::kNoPattern;
  out.reason = absl::StrCat("no pattern covers ", host.text,
                            host.kind == HostKind::kIpLiteral
                                ? " (an IP literal: only an equal IP pattern covers it)"
                                : "");
  return out;
}

bool AcceptableAnswers::Accepts(const DomainDecision& answer) const {
  if (answer.route != explanation.route) return false;
  if (patterns.empty()) return answer.pattern.empty();
  return std::find(patterns.begin(), patterns.end(), answer.pattern) != patterns.end();
}

AcceptableAnswers AcceptableAnswersFor(const DomainRules& rules, const HostName& host) {
  AcceptableAnswers out;
  out.explanation = ExplainRoute(rules, host);
  if (out.explanation.rule == DecisionRule::kNoPattern) return out;
  const std::vector<DomainPattern>& list =
      out.explanation.rule == DecisionRule::kException ? rules.except : rules.match;
  for (const DomainPattern& pattern : list) {
    if (PatternCovers(pattern, rules.semantics, host)) out.patterns.push_back(pattern.text);
  }
  return out;
}

std::optional<std::string> CompareWithOracle(const DomainRules& rules, absl::string_view host_input,
                                             const absl::StatusOr<DomainDecision>& answer) {
  const absl::StatusOr<HostName> host = NormalizeHost(host_input);
  if (!host.ok()) return std::nullopt;
  const std::string shown = Quoted(host_input.substr(0, 120));
  if (!answer.ok()) {
    return absl::StrCat("refused the valid host ", shown, " (", host->text,
                        "): ", answer.status().message());
  }
  const AcceptableAnswers acceptable = AcceptableAnswersFor(rules, *host);
  if (acceptable.Accepts(*answer)) return std::nullopt;
  return DescribeWrongAnswer(shown, acceptable, *answer);
}

std::string DescribeWrongAnswer(absl::string_view host_shown, const AcceptableAnswers& acceptable,
                                const DomainDecision& answer) {
  const DomainExplanation& expected = acceptable.explanation;
  if (answer.route != expected.route) {
    return absl::StrCat(host_shown, ": answered ", RouteName(answer.route),
                        answer.pattern.empty() ? "" : absl::StrCat(" by ", Quoted(answer.pattern)),
                        ", the oracle says ", RouteName(expected.route), ": ", expected.reason);
  }
  if (expected.rule == DecisionRule::kNoPattern) {
    return absl::StrCat(host_shown, ": named ", Quoted(answer.pattern),
                        " as deciding, but no pattern covers it: ", expected.reason);
  }
  return absl::StrCat(
      host_shown, ": ", RouteName(answer.route), " is right, but the deciding pattern ",
      answer.pattern.empty() ? "is not named" : Quoted(answer.pattern), " is not a covering ",
      DecisionRuleName(expected.rule), " pattern: ", expected.reason);
}

}  // namespace netrig
