// The seeded-bug domain matchers (check/seeded_bugs.h has what each does and what must find it).
// Each is the oracle's own decision procedure with one defect a real matcher has had, so that a
// finding names that defect and nothing else.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "harness/base/mutex.h"
#include "harness/check/seeded_bugs.h"
#include "harness/domain/domain_matcher.h"
#include "harness/domain/domain_name.h"
#include "harness/domain/domain_oracle.h"
#include "harness/sched/schedule_point.h"

namespace netrig {
namespace {

// Rules held as one immutable snapshot; subclasses change how a host is read, how a pattern is
// tested or in which order the lists are consulted.
class SeededMatcher : public DomainMatcher {
 public:
  SeededMatcher() : rules_(std::make_shared<const DomainRules>()) {}

  absl::Status Configure(const DomainConfig& config) override {
    absl::StatusOr<DomainRules> parsed = ParseDomainConfig(config);
    if (!parsed.ok()) return parsed.status();
    auto shared = std::make_shared<const DomainRules>(*std::move(parsed));
    MutexLock lock(&mu_);
    rules_ = std::move(shared);
    return absl::OkStatus();
  }

  absl::StatusOr<DomainDecision> Decide(absl::string_view host_text) override {
    absl::StatusOr<HostName> host = ReadHost(host_text);
    if (!host.ok()) return host.status();
    const DomainRules rules = Snapshot();
    return DecideWith(rules, *host);
  }

 protected:
  virtual DomainRules Snapshot() {
    MutexLock lock(&mu_);
    return *rules_;
  }
  virtual absl::StatusOr<HostName> ReadHost(absl::string_view text) { return NormalizeHost(text); }
  virtual bool Covers(const DomainPattern& pattern, const DomainSemantics& semantics,
                      const HostName& host) {
    return PatternCovers(pattern, semantics, host);
  }
  virtual DomainDecision DecideWith(const DomainRules& rules, const HostName& host) {
    if (const DomainPattern* except = FirstCover(rules.except, rules.semantics, host)) {
      return {Route::kBypass, except->text};
    }
    if (const DomainPattern* match = FirstCover(rules.match, rules.semantics, host)) {
      return {Route::kHandle, match->text};
    }
    return {Route::kBypass, ""};
  }

  const DomainPattern* FirstCover(const std::vector<DomainPattern>& list,
                                  const DomainSemantics& semantics, const HostName& host) {
    for (const DomainPattern& pattern : list) {
      if (Covers(pattern, semantics, host)) return &pattern;
    }
    return nullptr;
  }

 private:
  Mutex mu_;
  std::shared_ptr<const DomainRules> rules_ ABSL_GUARDED_BY(mu_);
};

// An ASCII host is taken as given (only its trailing dot dropped): no case folding.
class CaseSensitive : public SeededMatcher {
  absl::StatusOr<HostName> ReadHost(absl::string_view text) override {
    absl::StatusOr<HostName> host = NormalizeHost(text);
    if (!host.ok() || host->kind != HostKind::kName) return host;
    if (std::all_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
      host->text = std::string(absl::StripSuffix(text, "."));
    }
    return host;
  }
};

// A wildcard (and a subtree bare name) tested by a plain string suffix.
class SuffixNoBoundary : public SeededMatcher {
  bool Covers(const DomainPattern& pattern, const DomainSemantics& semantics,
              const HostName& host) override {
    if (host.kind == HostKind::kName && pattern.kind == PatternKind::kWildcard) {
      return host.text.size() > pattern.name.size() && absl::EndsWith(host.text, pattern.name);
    }
    return PatternCovers(pattern, semantics, host);
  }
};

// Match list first: once a match applies, the exceptions are never looked at.
class ExceptionIgnored : public SeededMatcher {
  DomainDecision DecideWith(const DomainRules& rules, const HostName& host) override {
    if (const DomainPattern* match = FirstCover(rules.match, rules.semantics, host)) {
      return {Route::kHandle, match->text};
    }
    if (const DomainPattern* except = FirstCover(rules.except, rules.semantics, host)) {
      return {Route::kBypass, except->text};
    }
    return {Route::kBypass, ""};
  }
};

// The trailing dot is kept as part of the name.
class TrailingDot : public SeededMatcher {
  absl::StatusOr<HostName> ReadHost(absl::string_view text) override {
    absl::StatusOr<HostName> host = NormalizeHost(text);
    if (host.ok() && host->kind == HostKind::kName && absl::EndsWith(text, ".")) {
      host->text += ".";
    }
    return host;
  }
};

// A reload parses and publishes the match list, then parses and publishes the exceptions, each
// under its own lock: a lookup in between sees the new matches with the old exceptions.
class TornReload : public SeededMatcher {
  absl::Status Configure(const DomainConfig& config) override {
    absl::StatusOr<DomainRules> matches = ParseDomainConfig({config.match, {}, config.semantics});
    if (!matches.ok()) return matches.status();
    {
      MutexLock lock(&lists_mu_);
      match_ = std::move(matches->match);
      semantics_ = config.semantics;
    }
    SchedulePoint("domain.reload.between_lists");
    absl::StatusOr<DomainRules> exceptions =
        ParseDomainConfig({{}, config.except, config.semantics});
    if (!exceptions.ok()) return exceptions.status();
    MutexLock lock(&lists_mu_);
    except_ = std::move(exceptions->except);
    return absl::OkStatus();
  }
  DomainRules Snapshot() override {
    MutexLock lock(&lists_mu_);
    return DomainRules{match_, except_, semantics_};
  }

  Mutex lists_mu_;
  std::vector<DomainPattern> match_ ABSL_GUARDED_BY(lists_mu_);
  std::vector<DomainPattern> except_ ABSL_GUARDED_BY(lists_mu_);
  DomainSemantics semantics_ ABSL_GUARDED_BY(lists_mu_);
};

template <typename T>
DomainMatcherRegistration Seeded(absl::string_view name) {
  const SeededBug* bug = FindSeededBug(name);
  return {std::string(name), bug == nullptr ? "" : std::string(bug->summary),
          [] { return std::make_unique<T>(); }};
}

}  // namespace

namespace internal {

void RegisterBuiltinBugMatchers(const Registry<DomainMatcherRegistration>::Adder& add) {
  (void)add(Seeded<CaseSensitive>("bug-case-sensitive"));
  (void)add(Seeded<SuffixNoBoundary>("bug-suffix-no-boundary"));
  (void)add(Seeded<ExceptionIgnored>("bug-exception-ignored"));
  (void)add(Seeded<TrailingDot>("bug-trailing-dot"));
  (void)add(Seeded<TornReload>("bug-torn-reload"));
}

}  // namespace internal
}  // namespace netrig
