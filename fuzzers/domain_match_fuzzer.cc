// Fuzz target: a domain matcher (NETRIG_MATCHER, default "reference") judged against the oracle
// (harness/domain/domain_oracle.h) on structure-aware inputs: match and exception lists and hosts
// in the line format of fuzzers/domain_match/input.h, mutated at the level of labels
// (fuzzers/domain_match/mutator.h) as well as bytes.
//
// Properties (a violation prints the input's rules, the host and both answers, and aborts):
//   - rules the oracle accepts, the matcher accepts; every host the oracle accepts is answered
//     with the oracle's route and a pattern of the deciding list that covers the host (domain
//     routing's domain_mismatch);
//   - the canonical form of a host is a fixed point and a name is covered by the pattern that
//     spells it exactly (the oracle's own consistency).
// The matcher persists across inputs and is reconfigured for each, as a product reloads rules.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "fuzzers/domain_match/input.h"
#include "fuzzers/domain_match/mutator.h"
#include "harness/base/no_coverage.h"
#include "harness/base/option_table.h"
#include "harness/domain/domain_matcher.h"
#include "harness/domain/domain_name.h"
#include "harness/domain/domain_oracle.h"

namespace {

using netrig::internal::domain_match_fuzzer::FormatInput;
using netrig::internal::domain_match_fuzzer::Input;
using netrig::internal::domain_match_fuzzer::ParseInput;

std::string matcher_name = "reference";
netrig::DomainMatcher* matcher = nullptr;

[[noreturn]] NETRIG_NO_COVERAGE void Violation(const char* property, const std::string& detail,
                                               const Input& input) {
  std::fprintf(stderr, "domain_match: property violated: %s\n  matcher: %s\n  %s\n  input:\n%s",
               property, matcher_name.c_str(), detail.c_str(), FormatInput(input).c_str());
  std::abort();
}

void Init() {
  if (matcher != nullptr) return;
  if (const char* name = std::getenv("NETRIG_MATCHER"); name != nullptr && *name != '\0') {
    matcher_name = name;
  }
  absl::StatusOr<std::unique_ptr<netrig::DomainMatcher>> made =
      netrig::MakeDomainMatcher(matcher_name);
  if (!made.ok()) {
    std::fprintf(stderr, "domain_match: NETRIG_MATCHER=%s: %s\n",
                 netrig::option_internal::Quote(matcher_name).c_str(),
                 made.status().ToString().c_str());
    std::exit(2);
  }
  matcher = made->release();
}

void CheckOracleConsistency(const netrig::HostName& host, const Input& input) {
  absl::StatusOr<netrig::HostName> again = netrig::NormalizeHost(host.text);
  if (!again.ok() || *again != host) {
    Violation("the canonical form of a host is a fixed point",
              absl::StrCat(host.text, " -> ", again.ok() ? again->text : again.status().ToString()),
              input);
  }
  if (host.kind != netrig::HostKind::kName) return;
  absl::StatusOr<netrig::DomainPattern> exact = netrig::ParseDomainPattern(host.text);
  if (!exact.ok() || !netrig::PatternCovers(*exact, {}, host)) {
    Violation("a name is covered by the pattern that spells it", host.text, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  Init();
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  return netrig::internal::domain_match_fuzzer::MutateInput(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Init();
  const Input input = ParseInput(absl::string_view(reinterpret_cast<const char*>(data), size));
  const absl::StatusOr<netrig::DomainRules> rules = netrig::ParseDomainConfig(input.config);
  const absl::Status configured = matcher->Configure(input.config);
  if (!rules.ok()) return 0;  // The oracle refuses these rules; a matcher may accept them.
  if (!configured.ok()) {
    Violation("rules the oracle accepts are accepted", configured.ToString(), input);
  }
  for (const std::string& host : input.hosts) {
    const absl::StatusOr<netrig::HostName> canonical = netrig::NormalizeHost(host);
    if (!canonical.ok()) {
      (void)matcher->Decide(host);  // Must not crash; any answer is allowed.
      continue;
    }
    CheckOracleConsistency(*canonical, input);
    if (std::optional<std::string> mismatch =
            netrig::CompareWithOracle(*rules, host, matcher->Decide(host))) {
      Violation("the matcher answers as the oracle", *mismatch, input);
    }
  }
  return 0;
}
