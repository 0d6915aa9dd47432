// The DomainMatcher registry and the reference matcher: registered like any plug-in, agrees with
// the oracle over generated rules and hosts (many seeds), keeps its rules when given invalid ones.
#include "harness/domain/domain_matcher.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/domain/domain_oracle.h"
#include "harness/workloads/domain/reload_stress.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

class AlwaysHandle : public DomainMatcher {
 public:
  absl::Status Configure(const DomainConfig&) override { return absl::OkStatus(); }
  absl::StatusOr<DomainDecision> Decide(absl::string_view) override {
    return DomainDecision{Route::kHandle, "*"};
  }
};
NETRIG_REGISTER_DOMAIN_MATCHER("test-always-handle", "handles everything",
                               [] { return std::make_unique<AlwaysHandle>(); });

TEST(DomainMatcherRegistry, FindsBuiltInsAndUserMatchers) {
  EXPECT_TRUE(MakeDomainMatcher("reference").ok());
  EXPECT_TRUE(MakeDomainMatcher("test-always-handle").ok());
  absl::StatusOr<std::unique_ptr<DomainMatcher>> missing = MakeDomainMatcher("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("reference"));
}

TEST(ReferenceMatcher, AgreesWithTheOracleOverGeneratedRules) {
  int compared = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const DomainUniverse universe = GenerateDomainUniverse(seed, 16);
    for (const DomainConfig& config : universe.rule_sets) {
      std::unique_ptr<DomainMatcher> matcher = *MakeDomainMatcher("reference");
      ASSERT_TRUE(matcher->Configure(config).ok());
      const DomainRules rules = *ParseDomainConfig(config);
      for (const std::string& host : universe.hosts) {
        const std::optional<std::string> mismatch =
            CompareWithOracle(rules, host, matcher->Decide(host));
        EXPECT_EQ(mismatch, std::nullopt) << "seed " << seed;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 20000);
}

TEST(ReferenceMatcher, KeepsItsRulesWhenGivenInvalidOnes) {
  std::unique_ptr<DomainMatcher> matcher = MakeReferenceDomainMatcher();
  EXPECT_EQ(matcher->Decide("www.example.com")->route, Route::kBypass);  // No rules yet.
  ASSERT_TRUE(matcher->Configure({{"*.example.com"}, {}, {}}).ok());
  EXPECT_FALSE(matcher->Configure({{"foo*.com"}, {}, {}}).ok());
  absl::StatusOr<DomainDecision> decision = matcher->Decide("WWW.example.com.");
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(decision->route, Route::kHandle);
  EXPECT_EQ(decision->pattern, "*.example.com");
  EXPECT_FALSE(matcher->Decide("a..b").ok());
}

TEST(GenerateDomainUniverse, IsDeterministicAndSitsOnBoundaries) {
  const DomainUniverse a = GenerateDomainUniverse(7, 8);
  const DomainUniverse b = GenerateDomainUniverse(7, 8);
  ASSERT_EQ(a.hosts, b.hosts);
  ASSERT_EQ(a.rule_sets.size(), 8u);
  for (size_t i = 0; i < a.rule_sets.size(); ++i) {
    EXPECT_EQ(a.rule_sets[i].match, b.rule_sets[i].match);
    EXPECT_TRUE(ParseDomainConfig(a.rule_sets[i]).ok());
  }
  EXPECT_THAT(a.hosts, ::testing::Contains("badexample.com"));
  EXPECT_THAT(a.hosts, ::testing::Contains("a.b.example.com"));
  EXPECT_THAT(a.hosts, ::testing::Contains("[::1]"));
}

}  // namespace
}  // namespace netrig
