// `netrig domains`: what a domain matcher decides for each HOST under a match and an exception
// list, with the oracle's reason (and the two side by side when the matcher is not netrig's
// own); `--stress` judges a matcher over generated rules and under reloads
// (workloads/domain/reload_stress.h).
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "harness/check/violation.h"
#include "harness/domain/domain_matcher.h"
#include "harness/domain/domain_name.h"
#include "harness/domain/domain_oracle.h"
#include "harness/workloads/domain/reload_stress.h"
#include "nlohmann/json.hpp"

namespace netrig::cli {
namespace {

struct DomainsOptions {
  std::string matcher = "reference";
  std::string match;
  std::string except;
  DomainSemantics::Bare bare = DomainSemantics::Bare::kExact;
  DomainSemantics::Wildcard wildcard = DomainSemantics::Wildcard::kAnyDepth;
  bool json = false;
  bool list = false;
  bool stress = false;
  std::optional<uint64_t> seed;
  int threads = 4;
  absl::Duration time = absl::Seconds(10);
  absl::Duration reload_interval = absl::Microseconds(100);
};

const OptionTable<DomainsOptions>& DomainsTable() {
  using Bare = DomainSemantics::Bare;
  using Wildcard = DomainSemantics::Wildcard;
  static const auto* const table = new OptionTable<DomainsOptions>(
      OptionTable<DomainsOptions>()
          .String("matcher", &DomainsOptions::matcher,
                  "The registered domain matcher to ask (--list); \"reference\" is netrig's own.",
                  "NAME")
          .String("match", &DomainsOptions::match,
                  "Comma-separated match patterns: example.com, *.example.com, *, 10.0.0.1.",
                  "LIST")
          .String(
              "except", &DomainsOptions::except,
              "Comma-separated exception patterns (same forms); an exception wins over a match.",
              "LIST")
          .Enum("bare", &DomainsOptions::bare,
                {{"exact", Bare::kExact}, {"subtree", Bare::kSubtree}},
                "Whether a bare name (example.com) also covers the names below it.")
          .Enum("wildcard", &DomainsOptions::wildcard,
                {{"any_depth", Wildcard::kAnyDepth}, {"one_label", Wildcard::kOneLabel}},
                "Whether *.example.com covers a.b.example.com (any_depth) or one label only.")
          .Bool("json", &DomainsOptions::json,
                "Print one JSON object per host (keys host, canonical, route, pattern, rule,\n"
                "reason, matcher_route, matcher_pattern, agrees, error).",
                OptionRole::kOutput)
          .Bool("list", &DomainsOptions::list, "List the registered domain matchers and exit.",
                OptionRole::kAction)
          .Bool("stress", &DomainsOptions::stress,
                "Judge the matcher over generated rules and hosts, quietly, across reloads and\n"
                "with reloads under load (no HOST, --match or --except).")
          .Seed("seed", &DomainsOptions::seed, "--stress: the seed of rules, hosts and reloads.")
          .Int("threads", &DomainsOptions::threads, 1, 64, "--stress: lookup threads.")
          .Duration("time", &DomainsOptions::time, absl::Milliseconds(1), absl::Hours(24),
                    "--stress: how long lookups run under reloads.")
          .Duration("reload_interval", &DomainsOptions::reload_interval, absl::ZeroDuration(),
                    absl::Seconds(10), "--stress: pause between two reloads."));
  return *table;
}

int ListMatchers() {
  for (const DomainMatcherRegistration* entry : DomainMatcherRegistry().All()) {
    std::printf("%-24s %s\n", entry->name.c_str(), entry->description.c_str());
  }
  return kExitOk;
}

int RunStress(const DomainsOptions& options) {
  DomainStressOptions stress;
  stress.matcher = options.matcher;
  stress.seed = options.seed;
  stress.threads = options.threads;
  stress.duration = options.time;
  stress.reload_interval = options.reload_interval;
  ViolationLog violations;
  absl::StatusOr<DomainStressResult> result = RunDomainStress(stress, violations);
  if (!result.ok()) {
    PrintError("domains", result.status().message());
    return kExitUsage;
  }
  std::fflush(stdout);
  return violations.empty() ? kExitOk : kExitFinding;
}

nlohmann::ordered_json ToJson(absl::string_view host, const absl::StatusOr<HostName>& canonical,
                              const std::optional<DomainExplanation>& why,
                              const absl::StatusOr<DomainDecision>& answer, bool agrees) {
  nlohmann::ordered_json out;
  out["host"] = std::string(host);
  out["canonical"] = canonical.ok() ? nlohmann::ordered_json(canonical->text) : nullptr;
  out["route"] = why ? nlohmann::ordered_json(std::string(RouteName(why->route))) : nullptr;
  out["pattern"] = why && !why->pattern.empty() ? nlohmann::ordered_json(why->pattern) : nullptr;
  out["rule"] = why ? nlohmann::ordered_json(std::string(DecisionRuleName(why->rule))) : nullptr;
  out["reason"] = why ? nlohmann::ordered_json(why->reason) : nullptr;
  out["matcher_route"] =
      answer.ok() ? nlohmann::ordered_json(std::string(RouteName(answer->route))) : nullptr;
  out["matcher_pattern"] =
      answer.ok() && !answer->pattern.empty() ? nlohmann::ordered_json(answer->pattern) : nullptr;
  out["agrees"] = agrees;
  out["error"] = canonical.ok() ? nullptr : nlohmann::ordered_json(canonical.status().message());
  return out;
}

}  // namespace

std::string DomainsFlagsHelp() { return DomainsTable().Help(); }

int RunDomains(const std::vector<std::string>& raw_args) {
  DomainsOptions options;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("domains", DomainsTable(), raw_args, options);
  if (!positional) return kExitUsage;
  if (options.list) return ListMatchers();
  if (options.stress) {
    if (!positional->empty() || !options.match.empty() || !options.except.empty()) {
      PrintError("domains",
                 "--stress makes its own rules and hosts: give no HOST, --match or "
                 "--except");
      return kExitUsage;
    }
    return RunStress(options);
  }
  if (positional->empty()) {
    PrintError("domains",
               "needs at least one HOST (e.g. netrig domains --match='*.example.com' "
               "--except=ads.example.com www.example.com)");
    return kExitUsage;
  }
  DomainConfig config;
  config.semantics = {options.bare, options.wildcard};
  absl::StatusOr<std::vector<std::string>> match = SplitPatternList(options.match);
  absl::StatusOr<std::vector<std::string>> except = SplitPatternList(options.except);
  if (!match.ok() || !except.ok()) {
    PrintError("domains", (match.ok() ? except : match).status().message());
    return kExitUsage;
  }
  config.match = *std::move(match);
  config.except = *std::move(except);
  absl::StatusOr<DomainRules> rules = ParseDomainConfig(config);
  if (!rules.ok()) {
    PrintError("domains", rules.status().message());
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<DomainMatcher>> matcher = MakeDomainMatcher(options.matcher);
  if (!matcher.ok()) {
    PrintError("domains", matcher.status().message());
    return kExitUsage;
  }
  if (absl::Status ok = (*matcher)->Configure(config); !ok.ok()) {
    PrintError("domains", absl::StrCat("matcher '", options.matcher,
                                       "' refused rules the oracle accepts: ", ok.message()));
    return kExitFinding;
  }
  const bool side_by_side = options.matcher != "reference";
  int invalid = 0;
  int disagreements = 0;
  std::vector<std::string> errors;
  for (const std::string& host : *positional) {
    const absl::StatusOr<HostName> canonical = NormalizeHost(host);
    const absl::StatusOr<DomainDecision> answer = (*matcher)->Decide(host);
    std::optional<DomainExplanation> why;
    std::optional<std::string> mismatch;
    if (canonical.ok()) {
      why = ExplainRoute(*rules, *canonical);
      mismatch = CompareWithOracle(*rules, host, answer);
    } else {
      ++invalid;
      errors.emplace_back(canonical.status().message());
    }
    if (mismatch) ++disagreements;
    if (options.json) {
      std::printf("%s\n",
                  ToJson(host, canonical, why, answer, !mismatch)
                      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                      .c_str());
      continue;
    }
    if (!why) continue;
    std::string line = absl::StrCat(host, " -> ", RouteName(why->route), " (", why->reason, ")");
    if (side_by_side && answer.ok()) {
      absl::StrAppend(&line, "; ", options.matcher, ": ", RouteName(answer->route),
                      answer->pattern.empty() ? "" : absl::StrCat(" by \"", answer->pattern, "\""));
    }
    if (mismatch) absl::StrAppend(&line, "\n  DISAGREES: ", *mismatch);
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
  for (const std::string& error : errors) PrintError("domains", error);
  if (invalid > 0) {
    std::fprintf(stderr, "netrig domains: %d of %zu hosts are invalid\n", invalid,
                 positional->size());
    return kExitUsage;
  }
  if (disagreements > 0) {
    std::fprintf(stderr,
                 "netrig domains: matcher '%s' disagrees with the oracle on %d of %zu hosts\n",
                 options.matcher.c_str(), disagreements, positional->size());
    return kExitFinding;
  }
  return kExitOk;
}

}  // namespace netrig::cli
