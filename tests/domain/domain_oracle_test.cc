// The oracle (domain/domain_oracle.h): the README's semantics, one case per rule, the reasons it
// gives, and the judge that compares a matcher's answer with it.
#include "harness/domain/domain_oracle.h"

#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

DomainRules Rules(std::vector<std::string> match, std::vector<std::string> except = {},
                  DomainSemantics semantics = {}) {
  absl::StatusOr<DomainRules> rules = ParseDomainConfig({match, except, semantics});
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *rules : DomainRules{};
}

DomainExplanation Explain(const DomainRules& rules, const std::string& host) {
  absl::StatusOr<HostName> name = NormalizeHost(host);
  EXPECT_TRUE(name.ok()) << host;
  return ExplainRoute(rules, *name);
}

struct Case {
  std::string host;
  Route route;
  std::string pattern;
};

void ExpectRoutes(const DomainRules& rules, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    const DomainExplanation why = Explain(rules, c.host);
    EXPECT_EQ(why.route, c.route) << c.host << ": " << why.reason;
    EXPECT_EQ(why.pattern, c.pattern) << c.host << ": " << why.reason;
  }
}

constexpr Route kHandle = Route::kHandle;
constexpr Route kBypass = Route::kBypass;

TEST(DomainOracle, WildcardsMatchBelowTheNameAtLabelBoundaries) {
  ExpectRoutes(Rules({"*.example.com"}), {{"www.example.com", kHandle, "*.example.com"},
                                          {"a.b.example.com", kHandle, "*.example.com"},
                                          {"example.com", kBypass, ""},
                                          {"badexample.com", kBypass, ""},
                                          {"example.com.evil", kBypass, ""}});
}

TEST(DomainOracle, BareNamesCoverThemselvesOrTheirSubtree) {
  ExpectRoutes(Rules({"example.com"}),
               {{"example.com", kHandle, "example.com"}, {"www.example.com", kBypass, ""}});
  DomainSemantics subtree;
  subtree.bare = DomainSemantics::Bare::kSubtree;
  ExpectRoutes(Rules({"example.com"}, {}, subtree), {{"example.com", kHandle, "example.com"},
                                                     {"www.example.com", kHandle, "example.com"},
                                                     {"badexample.com", kBypass, ""}});
}

TEST(DomainOracle, OneLabelWildcardsStopAtOneLabel) {
  DomainSemantics one;
  one.wildcard = DomainSemantics::Wildcard::kOneLabel;
  ExpectRoutes(Rules({"*.example.com"}, {}, one),
               {{"www.example.com", kHandle, "*.example.com"}, {"a.b.example.com", kBypass, ""}});
}

TEST(DomainOracle, ExceptionsWinOverMatches) {
  const DomainRules rules = Rules({"*.example.com", "ads.example.com"}, {"ads.example.com"});
  ExpectRoutes(rules, {{"ads.example.com", kBypass, "ads.example.com"},
                       {"x.ads.example.com", kHandle, "*.example.com"},
                       {"www.example.com", kHandle, "*.example.com"}});
  const DomainExplanation why = Explain(rules, "ADS.example.com.");
  EXPECT_EQ(why.rule, DecisionRule::kException);
  EXPECT_THAT(why.reason, HasSubstr("exceptions win over matches"));
}

TEST(DomainOracle, SpellingsOfTheSameNameAreEqual) {
  ExpectRoutes(Rules({"*.B\xc3\x9c"
                      "CHER.example."}),
               {{"www.xn--bcher-kva.example", kHandle,
                 "*.B\xc3\x9c"
                 "CHER.example."},
                {"WWW.b\xc3\xbc"
                 "cher.EXAMPLE.",
                 kHandle,
                 "*.B\xc3\x9c"
                 "CHER.example."}});
}

TEST(DomainOracle, IpLiteralsMatchOnlyEqualIpPatterns) {
  const DomainRules rules = Rules({"*", "::1"});
  ExpectRoutes(rules, {{"10.0.0.1", kBypass, ""},
                       {"[::1]", kHandle, "::1"},
                       {"0:0::1", kHandle, "::1"},
                       {"127.1", kBypass, ""},
                       {"printer", kHandle, "*"}});
  EXPECT_THAT(Explain(rules, "10.0.0.1").reason, HasSubstr("IP literal"));
}

TEST(DomainOracle, TheMostSpecificPatternIsNamed) {
  ExpectRoutes(Rules({"*", "*.example.com", "*.www.example.com", "www.example.com"}),
               {{"www.example.com", kHandle, "www.example.com"},
                {"a.www.example.com", kHandle, "*.www.example.com"},
                {"b.example.com", kHandle, "*.example.com"},
                {"other.net", kHandle, "*"}});
}

TEST(DomainOracle, InvalidPatternsAreRefusedWithTheirPosition) {
  for (const auto& [pattern, why] : std::vector<std::pair<std::string, std::string>>{
           {"foo*.example.com", "whole leftmost label"},
           {"*.*.example.com", "whole leftmost label"},
           {".example.com", "leading dot"},
           {"*.10.0.0.1", "IP address"},
           {"a..b", "empty label"},
           {"xn--zz.com", "IDNA"}}) {
    absl::StatusOr<DomainRules> rules = ParseDomainConfig({{"ok.com", pattern}, {}, {}});
    ASSERT_FALSE(rules.ok()) << pattern;
    EXPECT_THAT(std::string(rules.status().message()), HasSubstr("match pattern 2")) << pattern;
    EXPECT_THAT(std::string(rules.status().message()), HasSubstr(why)) << pattern;
  }
  EXPECT_FALSE(SplitPatternList("a.com,,b.com").ok());
  EXPECT_EQ(SplitPatternList("")->size(), 0u);
  EXPECT_EQ(SplitPatternList("a.com,*.b.com")->size(), 2u);
}

TEST(CompareWithOracle, AcceptsAnyCoveringPatternOfTheDecidingList) {
  const DomainRules rules = Rules({"*.example.com", "www.example.com"}, {"ads.example.com"});
  EXPECT_EQ(
      CompareWithOracle(rules, "www.example.com", DomainDecision{Route::kHandle, "*.example.com"}),
      std::nullopt);
  EXPECT_EQ(CompareWithOracle(rules, "www.example.com",
                              DomainDecision{Route::kHandle, "www.example.com"}),
            std::nullopt);
  EXPECT_EQ(CompareWithOracle(rules, "nowhere.net", DomainDecision{Route::kBypass, ""}),
            std::nullopt);
  // Any answer for a host the oracle refuses.
  EXPECT_EQ(CompareWithOracle(rules, "a..b", DomainDecision{Route::kHandle, "x"}), std::nullopt);
}

TEST(CompareWithOracle, NamesWhatIsWrong) {
  const DomainRules rules = Rules({"*.example.com"}, {"ads.example.com"});
  EXPECT_THAT(
      CompareWithOracle(rules, "ads.example.com", DomainDecision{Route::kHandle, "*.example.com"})
          .value_or(""),
      HasSubstr("the oracle says bypass"));
  EXPECT_THAT(
      CompareWithOracle(rules, "ads.example.com", DomainDecision{Route::kBypass, "*.example.com"})
          .value_or(""),
      HasSubstr("is not a covering exception pattern"));
  EXPECT_THAT(
      CompareWithOracle(rules, "www.example.com", DomainDecision{Route::kHandle, ""}).value_or(""),
      HasSubstr("is not named"));
  EXPECT_THAT(
      CompareWithOracle(rules, "nowhere.net", DomainDecision{Route::kBypass, "x"}).value_or(""),
      HasSubstr("no pattern covers it"));
  EXPECT_THAT(
      CompareWithOracle(rules, "www.example.com", absl::InvalidArgumentError("nope")).value_or(""),
      HasSubstr("refused the valid host"));
}

}  // namespace
}  // namespace netrig
