// The seeded-bug catalogue (check/seeded_bugs.h) and the three registries agree: every seeded
// flow, client and matcher is registered, every registered "bug-..." is catalogued, and each is
// found by a detector the catalogues know, in the preset that has it.
#include "harness/check/seeded_bugs.h"

#include <set>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "harness/check/violation_kinds.h"
#include "harness/domain/domain_matcher.h"
#include "harness/http/http_client.h"
#include "harness/udp/flow.h"

namespace netrig {
namespace {

TEST(SeededBugCatalogue, AgreesWithTheFlowClientAndMatcherRegistries) {
  std::set<std::string> catalogued[3];  // udp, http, domain
  for (const SeededBug& bug : SeededBugs()) {
    ASSERT_TRUE(bug.half == "udp" || bug.half == "http" || bug.half == "domain") << bug.name;
    catalogued[bug.half == "http" ? 1 : bug.half == "domain" ? 2 : 0].insert(std::string(bug.name));
    if (bug.half == "udp") {
      EXPECT_NE(FindFlow(bug.name), nullptr) << bug.name << " is not a registered flow";
    } else if (bug.half == "domain") {
      EXPECT_TRUE(MakeDomainMatcher(bug.name).ok()) << bug.name << " is not a registered matcher";
    } else {
      EXPECT_TRUE(MakeHttpClient(bug.name).ok()) << bug.name << " is not a registered client";
    }
    const bool sanitizer = bug.found_as == "asan" || bug.found_as == "tsan";
    EXPECT_TRUE(sanitizer || IsKnownViolationKind(bug.found_as))
        << bug.name << ": " << bug.found_as;
    EXPECT_EQ(bug.preset, sanitizer ? bug.found_as : "any") << bug.name;
    EXPECT_FALSE(bug.story.empty() || bug.summary.empty()) << bug.name;
  }
  for (const FlowRegistration* flow : RegisteredFlows()) {
    if (absl::StartsWith(flow->name, "bug-")) {
      EXPECT_EQ(catalogued[0].count(flow->name), 1u) << flow->name << " is not catalogued";
    }
  }
  for (const HttpClientEntry& client : HttpClientNames()) {
    if (absl::StartsWith(client.name, "bug-")) {
      EXPECT_EQ(catalogued[1].count(client.name), 1u) << client.name << " is not catalogued";
    }
  }
  for (const DomainMatcherRegistration* matcher : DomainMatcherRegistry().All()) {
    if (absl::StartsWith(matcher->name, "bug-")) {
      EXPECT_EQ(catalogued[2].count(matcher->name), 1u) << matcher->name << " is not catalogued";
    }
  }
  EXPECT_GE(catalogued[0].size(), 5u);
  EXPECT_GE(catalogued[2].size(), 5u);
  EXPECT_GE(catalogued[1].size(), 4u);
}

}  // namespace
}  // namespace netrig
