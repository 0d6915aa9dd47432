// `netrig domains` as a user runs it: decisions with reasons, JSON, a matcher that disagrees
// (exit 1), invalid patterns and hosts (exit 2, a clear message), --list and --stress.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunNetrig;

TEST(DomainsCommand, PrintsEachDecisionAndItsReason) {
  const testing::CommandRun run =
      RunNetrig({"domains", "--match=*.example.com", "--except=ads.example.com", "WWW.Example.com.",
                 "ads.example.com", "badexample.com"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("WWW.Example.com. -> handle (match pattern \"*.example.com\""));
  EXPECT_THAT(run.out, HasSubstr("ads.example.com -> bypass (exception \"ads.example.com\""));
  EXPECT_THAT(run.out, HasSubstr("badexample.com -> bypass (no pattern covers badexample.com)"));
}

TEST(DomainsCommand, SemanticsAreSelectable) {
  const testing::CommandRun exact =
      RunNetrig({"domains", "--match=example.com", "www.example.com"});
  EXPECT_THAT(exact.out, HasSubstr("-> bypass"));
  const testing::CommandRun subtree =
      RunNetrig({"domains", "--match=example.com", "--bare=subtree", "www.example.com"});
  EXPECT_THAT(subtree.out, HasSubstr("-> handle"));
  const testing::CommandRun one_label =
      RunNetrig({"domains", "--match=*.example.com", "--wildcard=one_label", "a.b.example.com"});
  EXPECT_THAT(one_label.out, HasSubstr("-> bypass"));
}

TEST(DomainsCommand, JsonHasOneObjectPerHost) {
  const testing::CommandRun run =
      RunNetrig({"domains", "--json", "--match=*.example.com", "A.example.com", "a..b"});
  EXPECT_EQ(run.exit_code, 2);
  std::vector<nlohmann::json> lines;
  size_t start = 0;
  for (size_t end; (end = run.out.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(nlohmann::json::parse(run.out.substr(start, end - start)));
  }
  ASSERT_EQ(lines.size(), 2u) << run.out;
  EXPECT_EQ(lines[0]["canonical"], "a.example.com");
  EXPECT_EQ(lines[0]["route"], "handle");
  EXPECT_EQ(lines[0]["pattern"], "*.example.com");
  EXPECT_EQ(lines[0]["rule"], "match");
  EXPECT_EQ(lines[0]["agrees"], true);
  EXPECT_TRUE(lines[1]["route"].is_null());
  EXPECT_THAT(lines[1]["error"].get<std::string>(), HasSubstr("empty label"));
}

TEST(DomainsCommand, AMatcherThatDisagreesExitsOne) {
  const testing::CommandRun run =
      RunNetrig({"domains", "--matcher=bug-suffix-no-boundary", "--match=*.example.com",
                 "badexample.com", "www.example.com"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("DISAGREES"));
  EXPECT_THAT(run.err, HasSubstr("disagrees with the oracle on 1 of 2 hosts"));
  const testing::CommandRun agrees = RunNetrig(
      {"domains", "--matcher=bug-suffix-no-boundary", "--match=*.example.com", "www.example.com"});
  EXPECT_EQ(agrees.exit_code, 0) << agrees.out << agrees.err;
}

TEST(DomainsCommand, InvalidInputsExitTwoWithAClearMessage) {
  const testing::CommandRun pattern = RunNetrig({"domains", "--match=foo*.com", "a.com"});
  EXPECT_EQ(pattern.exit_code, 2);
  EXPECT_THAT(pattern.err, HasSubstr("match pattern 1: invalid pattern \"foo*.com\""));
  const testing::CommandRun host =
      RunNetrig({"domains", "--match=a.com", "a.com", std::string("\x1b[2J.com")});
  EXPECT_EQ(host.exit_code, 2);
  EXPECT_THAT(host.out, HasSubstr("a.com -> handle"));  // Valid hosts are still answered.
  EXPECT_THAT(host.err, HasSubstr("invalid host"));
  EXPECT_THAT(host.err, Not(HasSubstr("\x1b")));
  EXPECT_EQ(RunNetrig({"domains", "--match=a.com"}).exit_code, 2);
  EXPECT_EQ(RunNetrig({"domains", "--match=a.com,,b.com", "a.com"}).exit_code, 2);
  EXPECT_EQ(RunNetrig({"domains", "--matcher=nope", "a.com"}).exit_code, 2);
  EXPECT_EQ(RunNetrig({"domains", "--stress", "a.com"}).exit_code, 2);
}

TEST(DomainsCommand, ListsMatchers) {
  const testing::CommandRun run = RunNetrig({"domains", "--list"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("reference"));
  EXPECT_THAT(run.out, HasSubstr("bug-torn-reload"));
}

TEST(DomainsCommand, StressJudgesTheReferenceCleanAndFindsABug) {
  const testing::CommandRun clean = RunNetrig({"domains", "--stress", "--seed=5", "--time=300ms"});
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_THAT(clean.out, HasSubstr("clean: replay with netrig domains --stress "
                                   "--matcher=reference --seed=5"));
  const testing::CommandRun finding = RunNetrig(
      {"domains", "--stress", "--seed=5", "--time=300ms", "--matcher=bug-exception-ignored"});
  EXPECT_EQ(finding.exit_code, 1) << finding.out << finding.err;
  EXPECT_THAT(finding.out, HasSubstr("VIOLATION domain_mismatch"));
}

}  // namespace
}  // namespace netrig
