#include "harness/domain/domain_matcher.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/domain/domain_name.h"
#include "harness/sched/schedule_point.h"

namespace netrig {
namespace {

// The rules compiled into tables keyed by canonical name; a lookup walks the host's suffixes
// (one hash lookup per label) instead of trying every pattern.
struct CompiledRules {
  struct Side {
    // Pattern text by canonical name; the first pattern of a name wins.
    absl::flat_hash_map<std::string, std::string> exact;
    absl::flat_hash_map<std::string, std::string> wildcard;
    absl::flat_hash_map<std::string, std::string> ip;
    std::string everything;  // The "*" pattern's text, empty when absent.
  };
  DomainSemantics semantics;
  Side match;
  Side except;
};

void Compile(const std::vector<DomainPattern>& list, CompiledRules::Side& side) {
  for (const DomainPattern& pattern : list) {
    switch (pattern.kind) {
      case PatternKind::kExact:
        side.exact.try_emplace(pattern.name, pattern.text);
        break;
      case PatternKind::kWildcard:
        side.wildcard.try_emplace(pattern.name, pattern.text);
        break;
      case PatternKind::kIpLiteral:
        side.ip.try_emplace(pattern.name, pattern.text);
        break;
      case PatternKind::kEverything:
        if (side.everything.empty()) side.everything = pattern.text;
        break;
    }
  }
}

// The text of a pattern of `side` covering `host`, or nullptr.
const std::string* FindCover(const CompiledRules::Side& side, const DomainSemantics& semantics,
                             const HostName& host) {
  if (host.kind == HostKind::kIpLiteral) {
    auto it = side.ip.find(host.text);
    return it == side.ip.end() ? nullptr : &it->second;
  }
  absl::string_view suffix = host.text;
  for (int depth = 0;; ++depth) {
    if (depth == 0 || semantics.bare == DomainSemantics::Bare::kSubtree) {
      if (auto it = side.exact.find(suffix); it != side.exact.end()) return &it->second;
    }
    if (depth == 1 || (depth > 1 && semantics.wildcard == DomainSemantics::Wildcard::kAnyDepth)) {
      if (auto it = side.wildcard.find(suffix); it != side.wildcard.end()) return &it->second;
    }
    const size_t dot = suffix.find('.');
    if (dot == absl::string_view::npos) break;
    suffix.remove_prefix(dot + 1);
  }
  return side.everything.empty() ? nullptr : &side.everything;
}

class ReferenceMatcher : public DomainMatcher {
 public:
  ReferenceMatcher() : rules_(std::make_shared<const CompiledRules>()) {}

  absl::Status Configure(const DomainConfig& config) override {
    absl::StatusOr<DomainRules> parsed = ParseDomainConfig(config);
    if (!parsed.ok()) return parsed.status();
    auto compiled = std::make_shared<CompiledRules>();
    compiled->semantics = parsed->semantics;
    Compile(parsed->match, compiled->match);
    Compile(parsed->except, compiled->except);
    // One pointer swap: a lookup holds either the old table or the new one, never parts of both.
    MutexLock lock(&mu_);
    rules_ = std::move(compiled);
    return absl::OkStatus();
  }

  absl::StatusOr<DomainDecision> Decide(absl::string_view host_text) override {
    absl::StatusOr<HostName> host = NormalizeHost(host_text);
    if (!host.ok()) return host.status();
    std::shared_ptr<const CompiledRules> rules;
    {
      MutexLock lock(&mu_);
      rules = rules_;
    }
    SchedulePoint("domain.decide");
    if (const std::string* except = FindCover(rules->except, rules->semantics, *host)) {
      return DomainDecision{Route::kBypass, *except};
    }
    if (const std::string* match = FindCover(rules->match, rules->semantics, *host)) {
      return DomainDecision{Route::kHandle, *match};
    }
    return DomainDecision{Route::kBypass, ""};
  }

 private:
  Mutex mu_;
  std::shared_ptr<const CompiledRules> rules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<DomainMatcher> MakeReferenceDomainMatcher() {
  return std::make_unique<ReferenceMatcher>();
}

Registry<DomainMatcherRegistration>& DomainMatcherRegistry() {
  static auto* const registry = new Registry<DomainMatcherRegistration>(
      "domain matcher", [](const Registry<DomainMatcherRegistration>::Adder& add) {
        (void)add({"reference",
                   "netrig's matcher: canonical names (libidn2) in suffix tables, one lookup per "
                   "label; judged by the oracle like any other",
                   &MakeReferenceDomainMatcher});
        internal::RegisterBuiltinBugMatchers(add);
      });
  return *registry;
}

absl::StatusOr<std::unique_ptr<DomainMatcher>> MakeDomainMatcher(absl::string_view name) {
  const DomainMatcherRegistration* entry = DomainMatcherRegistry().Find(name);
  if (entry == nullptr) return DomainMatcherRegistry().NotFound(name);
  std::unique_ptr<DomainMatcher> matcher = entry->make();
  if (matcher == nullptr) {
    return absl::InternalError(absl::StrCat("domain matcher '", name, "' made no matcher"));
  }
  return matcher;
}

}  // namespace netrig
