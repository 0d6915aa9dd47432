#include "harness/domain/domain_rules.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "harness/base/option_table.h"
#include "harness/domain/domain_name.h"

namespace netrig {
namespace {

absl::Status InvalidPattern(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid pattern \"", option_internal::Shorten(text), "\": ", why));
}

absl::Status ParseList(const std::vector<std::string>& texts, absl::string_view list,
                       std::vector<DomainPattern>& out) {
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<DomainPattern> pattern = ParseDomainPattern(texts[i]);
    if (!pattern.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(list, " pattern ", i + 1, ": ", pattern.status().message()));
    }
    out.push_back(*std::move(pattern));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view RouteName(Route route) { return route == Route::kHandle ? "handle" : "bypass"; }

absl::string_view BareName(DomainSemantics::Bare bare) {
  return bare == DomainSemantics::Bare::kExact ? "exact" : "subtree";
}

absl::string_view WildcardName(DomainSemantics::Wildcard wildcard) {
  return wildcard == DomainSemantics::Wildcard::kAnyDepth ? "any_depth" : "one_label";
}

absl::StatusOr<DomainPattern> ParseDomainPattern(absl::string_view text) {
  if (text == "*") return DomainPattern{std::string(text), PatternKind::kEverything, ""};
  if (absl::StartsWith(text, ".")) {
    return InvalidPattern(text,
                          "a leading dot means different things in different products; write "
                          "\"*.NAME\" (names below) or \"NAME\" (the name)");
  }
  PatternKind kind = PatternKind::kExact;
  absl::string_view name = text;
  if (absl::StartsWith(text, "*.")) {
    kind = PatternKind::kWildcard;
    name.remove_prefix(2);
  }
  if (absl::StrContains(name, '*')) {
    return InvalidPattern(text, "\"*\" may only be the whole leftmost label (\"*.example.com\")");
  }
  absl::StatusOr<HostName> host = NormalizeHost(name);
  if (!host.ok()) return InvalidPattern(text, host.status().message());
  if (host->kind == HostKind::kIpLiteral) {
    if (kind == PatternKind::kWildcard) {
      return InvalidPattern(text, "a wildcard cannot stand before an IP address");
    }
    kind = PatternKind::kIpLiteral;
  }
  return DomainPattern{std::string(text), kind, std::move(host->text)};
}

absl::StatusOr<DomainRules> ParseDomainConfig(const DomainConfig& config) {
  DomainRules rules;
  rules.semantics = config.semantics;
  if (absl::Status ok = ParseList(config.match, "match", rules.match); !ok.ok()) return ok;
  if (absl::Status ok = ParseList(config.except, "except", rules.except); !ok.ok()) return ok;
  return rules;
}

absl::StatusOr<std::vector<std::string>> SplitPatternList(absl::string_view text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty pattern in list \"", option_internal::Shorten(text), "\""));
    }
    out.emplace_back(item);
  }
  return out;
}

}  // namespace netrig
