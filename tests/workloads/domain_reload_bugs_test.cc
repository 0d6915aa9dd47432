// Seeded domain-matcher bugs (check/seeded_bugs.h, half "domain"): the reload stress finds each
// within 60 s with the catalogued violation kind, the reference matcher runs clean under the same
// options, and the domain_match fuzzer's corpus replay finds every bug a single thread can show.
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/check/seeded_bugs.h"
#include "harness/check/violation.h"
#include "harness/findings/child_process.h"
#include "harness/workloads/domain/reload_stress.h"
#include "tests/support/paths.h"

namespace netrig {
namespace {

DomainStressOptions Options(const std::string& matcher) {
  DomainStressOptions options;
  options.matcher = matcher;
  options.seed = 20261207;
  options.duration = absl::Seconds(60);
  options.summary_out = nullptr;
  return options;
}

std::vector<std::string> DomainBugs() {
  std::vector<std::string> names;
  for (const SeededBug& bug : SeededBugs()) {
    if (bug.half == "domain") names.emplace_back(bug.name);
  }
  return names;
}

class SeededDomainBug : public ::testing::TestWithParam<std::string> {};

TEST_P(SeededDomainBug, TheReloadStressFindsItWithinAMinute) {
  const SeededBug* bug = FindSeededBug(GetParam());
  ASSERT_NE(bug, nullptr);
  ViolationLog violations;
  const absl::Time start = absl::Now();
  absl::StatusOr<DomainStressResult> result = RunDomainStress(Options(GetParam()), violations);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_FALSE(violations.empty()) << GetParam() << " was not found";
  EXPECT_EQ(violations.Kept()[0].kind, bug->found_as) << violations.Kept()[0].message;
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));
}

TEST_P(SeededDomainBug, TheFuzzCorpusReplayFindsItUnlessItNeedsThreads) {
  const SeededBug* bug = FindSeededBug(GetParam());
  ASSERT_NE(bug, nullptr);
  ChildOptions child;
  child.argv = {testing::BinaryDir() + "/fuzzers/domain_match_replay",
                testing::SourceDir() + "/corpora/domain_match"};
  child.extra_env = {{"NETRIG_MATCHER", GetParam()}};
  child.timeout = absl::Seconds(120);
  child.output_path = ::testing::TempDir() + "/domain_match_replay_" + GetParam() + ".log";
  absl::StatusOr<ChildResult> run = RunChild(child);
  ASSERT_TRUE(run.ok()) << run.status();
  if (bug->found_as == "torn_reload") {
    EXPECT_TRUE(run->ok()) << run->Describe();  // One thread cannot tear a reload.
  } else {
    EXPECT_FALSE(run->ok()) << GetParam() << " passed the fuzz corpus";
  }
}

INSTANTIATE_TEST_SUITE_P(Bugs, SeededDomainBug, ::testing::ValuesIn(DomainBugs()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(ReferenceDomainMatcher, IsCleanUnderTheSameRun) {
  DomainStressOptions options = Options("reference");
  options.duration = absl::Seconds(3);
  ViolationLog violations;
  absl::StatusOr<DomainStressResult> result = RunDomainStress(options, violations);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(violations.empty()) << violations.Kept()[0].message;
  EXPECT_GT(result->loaded_reloads, 10u);
  EXPECT_GT(result->lookups_across_a_reload, 0u);
}

}  // namespace
}  // namespace netrig
