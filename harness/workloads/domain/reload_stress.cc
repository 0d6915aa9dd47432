#include "harness/workloads/domain/reload_stress.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "harness/domain/domain_matcher.h"
#include "harness/domain/domain_name.h"
#include "harness/domain/domain_oracle.h"
#include "harness/drive/seeds.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

// Base names: plain, multi-label public suffix, a single label, an internationalized one
// (written in the A-label form; Respell also writes it in Unicode).
constexpr const char* kBases[] = {"example.com", "example.net", "corp.example",
                                  "shop.co.uk",  "internal",    "xn--bcher-kva.example"};
constexpr const char* kIdnALabel = "xn--bcher-kva";
constexpr const char* kIdnUnicode =
    "b\xc3\xbc"
    "cher";
constexpr const char* kIpHosts[] = {"10.0.0.1", "[::1]", "::1", "127.1", "10.0.0.2"};
constexpr const char* kIpPatterns[] = {"10.0.0.1", "::1", "[::1]", "127.0.0.1"};

size_t Pick(OperationRandom& rng, size_t n) { return static_cast<size_t>(rng() % n); }
bool Chance(OperationRandom& rng, int percent) { return static_cast<int>(rng() % 100) < percent; }

// Another spelling of the same name: case, trailing dot, Unicode for the IDN label.
std::string Respell(std::string name, OperationRandom& rng) {
  if (Chance(rng, 40)) name = absl::StrReplaceAll(name, {{kIdnALabel, kIdnUnicode}});
  switch (Pick(rng, 4)) {
    case 0:
      break;
    case 1:
      absl::AsciiStrToUpper(&name);
      break;
    case 2:
      for (size_t i = 0; i < name.size(); ++i) {
        if (i == 0 || name[i - 1] == '.') name[i] = absl::ascii_toupper(name[i]);
      }
      break;
    case 3:
      name += ".";
      break;
  }
  return name;
}

std::string MatchPattern(OperationRandom& rng) {
  const std::string base = kBases[Pick(rng, std::size(kBases))];
  const size_t kind = Pick(rng, 20);
  if (kind < 8) return Respell("*." + base, rng);
  if (kind < 14) return Respell(base, rng);
  if (kind < 16) return Respell("*.cdn." + base, rng);
  if (kind < 17) return "*";
  if (kind < 19) return kIpPatterns[Pick(rng, std::size(kIpPatterns))];
  return Respell("ads." + base, rng);
}

std::string ExceptPattern(OperationRandom& rng) {
  const std::string base = kBases[Pick(rng, std::size(kBases))];
  switch (Pick(rng, 7)) {
    case 0:
      return Respell("ads." + base, rng);
    case 1:
      return Respell("*.ads." + base, rng);
    case 2:
      return Respell("*.cdn." + base, rng);
    case 3:
      return Respell(base, rng);
    case 4:
      return Respell("www." + base, rng);
    case 5:
      return Respell("*." + base, rng);
    default:
      return kIpPatterns[Pick(rng, std::size(kIpPatterns))];
  }
}

std::string Describe(const DomainConfig& config) {
  return absl::StrCat("match [", absl::StrJoin(config.match, ","), "] except [",
                      absl::StrJoin(config.except, ","),
                      "] --bare=", BareName(config.semantics.bare),
                      " --wildcard=", WildcardName(config.semantics.wildcard));
}

std::string Shown(absl::string_view host) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(host), "\"");
}

struct Prepared {
  DomainUniverse universe;
  std::vector<DomainRules> rules;                       // Parsed rule_sets.
  std::vector<std::vector<AcceptableAnswers>> answers;  // [rule set][host]
};

Prepared Prepare(uint64_t seed, int rule_sets) {
  Prepared out;
  out.universe = GenerateDomainUniverse(seed, rule_sets);
  std::vector<HostName> hosts;
  for (const std::string& host : out.universe.hosts) hosts.push_back(*NormalizeHost(host));
  for (const DomainConfig& config : out.universe.rule_sets) {
    out.rules.push_back(*ParseDomainConfig(config));
    std::vector<AcceptableAnswers>& row = out.answers.emplace_back();
    for (const HostName& host : hosts) row.push_back(AcceptableAnswersFor(out.rules.back(), host));
  }
  return out;
}

void Say(FILE* out, const std::string& line) {
  if (out != nullptr) std::fprintf(out, "%s\n", line.c_str());
}

// Phase 1: a fresh matcher per rule set.
bool QuietPhase(const DomainStressOptions& options, const Prepared& prepared,
                DomainStressResult& result, ViolationLog& violations) {
  const DomainUniverse& universe = prepared.universe;
  for (size_t set = 0; set < universe.rule_sets.size(); ++set) {
    std::unique_ptr<DomainMatcher> matcher = *MakeDomainMatcher(options.matcher);
    if (absl::Status ok = matcher->Configure(universe.rule_sets[set]); !ok.ok()) {
      violations.Report("domain_mismatch",
                        absl::StrCat("refused valid rules (", Describe(universe.rule_sets[set]),
                                     "): ", ok.message()));
      return false;
    }
    for (size_t h = 0; h < universe.hosts.size(); ++h) {
      ++result.quiet_lookups;
      const absl::StatusOr<DomainDecision> answer = matcher->Decide(universe.hosts[h]);
      if (!answer.ok()) {
        violations.Report("domain_mismatch",
                          absl::StrCat("refused the valid host ", Shown(universe.hosts[h]), ": ",
                                       answer.status().message()));
        return false;
      }
      if (!prepared.answers[set][h].Accepts(*answer)) {
        violations.Report("domain_mismatch",
                          absl::StrCat(DescribeWrongAnswer(Shown(universe.hosts[h]),
                                                           prepared.answers[set][h], *answer),
                                       "; rules: ", Describe(universe.rule_sets[set])));
        return false;
      }
    }
  }
  return true;
}

// Phase 2: one matcher reconfigured through every rule set; each answer after Configure()
// returned must be the new rules'.
bool ReloadPhase(const DomainStressOptions& options, const Prepared& prepared,
                 DomainStressResult& result, ViolationLog& violations) {
  const DomainUniverse& universe = prepared.universe;
  std::unique_ptr<DomainMatcher> matcher = *MakeDomainMatcher(options.matcher);
  const size_t sets = universe.rule_sets.size();
  for (size_t step = 0; step <= sets; ++step) {
    const size_t set = step % sets;
    if (absl::Status ok = matcher->Configure(universe.rule_sets[set]); !ok.ok()) {
      violations.Report("domain_mismatch",
                        absl::StrCat("refused valid rules on reload: ", ok.message()));
      return false;
    }
    for (size_t h = 0; h < universe.hosts.size(); ++h) {
      ++result.reload_lookups;
      const absl::StatusOr<DomainDecision> answer = matcher->Decide(universe.hosts[h]);
      if (answer.ok() && prepared.answers[set][h].Accepts(*answer)) continue;
      const size_t previous = (set + sets - 1) % sets;
      violations.Report(
          "torn_reload",
          absl::StrCat("after Configure() of rule set ", set, " returned: ",
                       answer.ok() ? DescribeWrongAnswer(Shown(universe.hosts[h]),
                                                         prepared.answers[set][h], *answer)
                                   : std::string(answer.status().message()),
                       step > 0 && answer.ok() && prepared.answers[previous][h].Accepts(*answer)
                           ? " (the answer of the rules before the reload)"
                           : "",
                       "; rules: ", Describe(universe.rule_sets[set])));
      return false;
    }
  }
  return true;
}

// Phase 3: lookups under reloads.
void LoadedPhase(const DomainStressOptions& options, const Prepared& prepared, uint64_t seed,
                 DomainStressResult& result, ViolationLog& violations) {
  const DomainUniverse& universe = prepared.universe;
  const size_t sets = universe.rule_sets.size();
  const uint64_t sequence_seed = DeriveSeed(seed, "reload_sequence");
  auto set_of_reload = [&](uint64_t k) {
    return static_cast<size_t>(DeriveSeed(sequence_seed, k) % sets);
  };

  std::unique_ptr<DomainMatcher> matcher = *MakeDomainMatcher(options.matcher);
  (void)matcher->Configure(universe.rule_sets[set_of_reload(0)]);
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> completed{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> lookups{0};
  std::atomic<uint64_t> across{0};

  const ScheduleOptions saved = CurrentSchedule();
  if (options.perturb) {
    ConfigureSchedule({.mode = ScheduleMode::kPerturb, .seed = DeriveSeed(seed, "perturb")});
  }
  std::vector<Thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back(absl::StrCat("domain.look", t), [&, t] {
      OperationRandom rng(DeriveSeed(DeriveSeed(seed, "lookups"), static_cast<uint64_t>(t)));
      uint64_t mine = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const size_t h = Pick(rng, universe.hosts.size());
        const uint64_t first = completed.load(std::memory_order_acquire);
        const absl::StatusOr<DomainDecision> answer = matcher->Decide(universe.hosts[h]);
        const uint64_t last = started.load(std::memory_order_acquire);
        ++mine;
        if (last != first) across.fetch_add(1, std::memory_order_relaxed);
        if (!answer.ok()) {
          violations.Report("domain_mismatch",
                            absl::StrCat("refused the valid host ", Shown(universe.hosts[h]),
                                         " under load: ", answer.status().message()));
          stop.store(true);
          break;
        }
        bool accepted = false;
        for (uint64_t k = first; k <= last && k < first + 4 * sets && !accepted; ++k) {
          accepted = prepared.answers[set_of_reload(k)][h].Accepts(*answer);
        }
        if (accepted) continue;
        const size_t newest = set_of_reload(last);
        std::optional<uint64_t> older;
        for (uint64_t k = first; k-- > (first >= 8 ? first - 8 : 0) && !older;) {
          if (prepared.answers[set_of_reload(k)][h].Accepts(*answer)) older = k;
        }
        violations.Report(
            "torn_reload",
            absl::StrCat(
                "a lookup that began after reload #", first,
                " had returned and ended before reload #", last + 1,
                " began answered as none of the rules in force meanwhile (#", first, "..#", last,
                ") would", older ? absl::StrCat(" (rules #", *older, ", older, would)") : "", ": ",
                DescribeWrongAnswer(Shown(universe.hosts[h]), prepared.answers[newest][h], *answer),
                "; rules #", last, ": ", Describe(universe.rule_sets[newest]),
                first == last ? ""
                              : absl::StrCat("; rules #", first, ": ",
                                             Describe(universe.rule_sets[set_of_reload(first)]))));
        stop.store(true);
        break;
      }
      lookups.fetch_add(mine, std::memory_order_relaxed);
    });
  }
  threads.emplace_back("domain.reload", [&] {
    for (uint64_t k = 1; !stop.load(std::memory_order_relaxed); ++k) {
      started.store(k, std::memory_order_release);
      (void)matcher->Configure(universe.rule_sets[set_of_reload(k)]);
      completed.store(k, std::memory_order_release);
      if (options.reload_interval > absl::ZeroDuration()) absl::SleepFor(options.reload_interval);
    }
  });
  const absl::Time deadline = absl::Now() + options.duration;
  while (!stop.load() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  stop.store(true);
  for (Thread& thread : threads) thread.join();
  ConfigureSchedule(saved);
  result.loaded_lookups = lookups.load();
  result.loaded_reloads = completed.load();
  result.lookups_across_a_reload = across.load();
}

}  // namespace

DomainUniverse GenerateDomainUniverse(uint64_t seed, int rule_sets) {
  DomainUniverse out;
  OperationRandom rng(DeriveSeed(seed, "domain_universe"));
  for (const char* base : kBases) {
    for (const std::string& form :
         {std::string(base), absl::StrCat("www.", base), absl::StrCat("a.b.", base),
          absl::StrCat("bad", base), absl::StrCat("ads.", base), absl::StrCat("x.ads.", base),
          absl::StrCat("cdn.", base), absl::StrCat("img.cdn.", base)}) {
      out.hosts.push_back(form);
      out.hosts.push_back(Respell(form, rng));
    }
  }
  for (const char* ip : kIpHosts) out.hosts.emplace_back(ip);
  // Only hosts the oracle accepts: the phases judge answers, not refusals.
  out.hosts.erase(std::remove_if(out.hosts.begin(), out.hosts.end(),
                                 [](const std::string& host) { return !NormalizeHost(host).ok(); }),
                  out.hosts.end());
  std::sort(out.hosts.begin(), out.hosts.end());
  out.hosts.erase(std::unique(out.hosts.begin(), out.hosts.end()), out.hosts.end());

  for (int i = 0; i < rule_sets; ++i) {
    DomainConfig& config = out.rule_sets.emplace_back();
    for (size_t n = 1 + Pick(rng, 5); n > 0; --n) config.match.push_back(MatchPattern(rng));
    for (size_t n = Pick(rng, 4); n > 0; --n) config.except.push_back(ExceptPattern(rng));
    config.semantics.bare =
        Chance(rng, 30) ? DomainSemantics::Bare::kSubtree : DomainSemantics::Bare::kExact;
    config.semantics.wildcard = Chance(rng, 30) ? DomainSemantics::Wildcard::kOneLabel
                                                : DomainSemantics::Wildcard::kAnyDepth;
  }
  return out;
}

absl::StatusOr<DomainStressResult> RunDomainStress(const DomainStressOptions& options,
                                                   ViolationLog& violations) {
  if (absl::StatusOr<std::unique_ptr<DomainMatcher>> probe = MakeDomainMatcher(options.matcher);
      !probe.ok()) {
    return probe.status();
  }
  DomainStressResult result;
  result.seed = options.seed.has_value() ? *options.seed : FreshSeed();
  const Prepared prepared = Prepare(result.seed, std::max(1, options.rule_sets));
  result.hosts = prepared.universe.hosts.size();
  FILE* out = options.summary_out;
  Say(out,
      absl::StrCat("domains: matcher ", options.matcher, ", seed ", result.seed, ", ",
                   prepared.universe.rule_sets.size(), " rule sets x ", result.hosts, " hosts"));
  if (QuietPhase(options, prepared, result, violations)) {
    Say(out, absl::StrCat("  quiet:      ", result.quiet_lookups,
                          " lookups (a fresh matcher per rule set), all as the oracle says"));
    if (ReloadPhase(options, prepared, result, violations)) {
      Say(out, absl::StrCat("  reloads:    ", result.reload_lookups,
                            " lookups after reloads returned, all with the new rules"));
      LoadedPhase(options, prepared, result.seed, result, violations);
      Say(out,
          absl::StrCat("  under load: ", result.loaded_lookups, " lookups on ", options.threads,
                       " threads during ", result.loaded_reloads, " reloads (",
                       result.lookups_across_a_reload, " lookups overlapped a reload)"));
    }
  }
  for (const Violation& violation : violations.Kept()) {
    Say(out, absl::StrCat("VIOLATION ", violation.kind, ": ", violation.message));
  }
  Say(out, absl::StrCat(violations.empty() ? "clean" : "FINDING",
                        ": replay with netrig domains --stress --matcher=", options.matcher,
                        " --seed=", result.seed));
  return result;
}

}  // namespace netrig
