// The domain-matcher check (`netrig domains --stress`): a matcher judged against the oracle over
// generated rule sets and hosts, first quietly and then while its rules are reloaded under load.
//
// From the seed it draws `rule_sets` configurations (match and exception lists over a few base
// names, in varied spellings: case, trailing dots, Unicode and A-labels, wildcards, IP patterns,
// exceptions inside matches; semantics varied too) and a pool of hosts built to sit on every
// boundary of those patterns (the name itself, one and two labels below, the same text without a
// label boundary, other spellings, IP literals). Three phases, each stopping at the first
// violation:
//   1. quiet: a fresh matcher per rule set, every host decided once (domain_mismatch);
//   2. reloads: one matcher reconfigured through the rule sets in turn, every host decided after
//      each Configure() returned (torn_reload: the answer is not the new rules');
//   3. under load: `threads` threads decide hosts while one thread reloads rule sets (a seeded
//      sequence) until `duration` has passed. A lookup that began after reload #a had returned
//      and ended before reload #b+1 began must answer as one of rule sets a..b would
//      (torn_reload otherwise: a mix, or rules older than the last finished reload).
// Schedule points are perturbed (seeded) in phase 3 to widen the windows between reload steps.
//
// Example:
//   netrig::DomainStressOptions options;
//   options.matcher = "bug-torn-reload";
//   options.seed = 42;
//   netrig::ViolationLog violations;
//   netrig::DomainStressResult result = netrig::RunDomainStress(options, violations);
//   // violations.Kept()[0].kind == "torn_reload"
#ifndef NETRIG_HARNESS_WORKLOADS_DOMAIN_RELOAD_STRESS_H_
#define NETRIG_HARNESS_WORKLOADS_DOMAIN_RELOAD_STRESS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/check/violation.h"
#include "harness/domain/domain_rules.h"

namespace netrig {

struct DomainStressOptions {
  std::string matcher = "reference";
  std::optional<uint64_t> seed;                              // Empty: a fresh one, printed.
  int threads = 4;                                           // Lookup threads in phase 3.
  absl::Duration duration = absl::Seconds(10);               // Of phase 3.
  absl::Duration reload_interval = absl::Microseconds(100);  // Pause between reloads.
  int rule_sets = 24;
  bool perturb = true;
  FILE* summary_out = stdout;  // nullptr: silent.
};

struct DomainStressResult {
  uint64_t seed = 0;
  size_t hosts = 0;
  uint64_t quiet_lookups = 0;
  uint64_t reload_lookups = 0;
  uint64_t loaded_lookups = 0;
  uint64_t loaded_reloads = 0;
  uint64_t lookups_across_a_reload = 0;  // Phase-3 lookups that overlapped a reload.
};

// One generated rule set and host pool (what the phases use; tests and the fuzzer's seed corpus
// draw on it too).
struct DomainUniverse {
  std::vector<DomainConfig> rule_sets;
  std::vector<std::string> hosts;
};
DomainUniverse GenerateDomainUniverse(uint64_t seed, int rule_sets);

// NotFound for an unknown matcher; a rule set the matcher refuses is a domain_mismatch.
absl::StatusOr<DomainStressResult> RunDomainStress(const DomainStressOptions& options,
                                                   ViolationLog& violations);

}  // namespace netrig

#endif  // NETRIG_HARNESS_WORKLOADS_DOMAIN_RELOAD_STRESS_H_
