// Seeded bugs (check/seeded_bugs.h): `netrig udp` must find every "bug-*" flow in the registry
// within 60 s, and the reference flows must give no finding under the same run options. The
// close/read use-after-free needs ASan: in the asan preset the netrig binary runs it as a child
// and must exit 81 (ASan's report); other presets skip it, saying why.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/check/seeded_bugs.h"
#include "harness/check/violation.h"
#include "harness/findings/child_process.h"
#include "harness/udp/flow.h"
#include "harness/workloads/udp/udp_stress.h"
#include "tests/support/paths.h"

namespace netrig {
namespace {

constexpr absl::Duration kFindWithin = absl::Seconds(60);

// The same run for every flow: short, seeded, every provocation on, stop at the first finding.
UdpStressOptions RunOptions(absl::string_view flow) {
  UdpStressOptions options;
  options.flow = std::string(flow);
  options.duration = absl::Seconds(8);
  options.seed = 20261128;
  options.path_events = absl::Milliseconds(300);
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.finding_dir = "";
  return options;
}

std::vector<std::string> BugFlows() {
  std::vector<std::string> names;
  for (const SeededBug& bug : SeededBugs()) {
    if (bug.half == "udp") names.push_back(std::string(bug.name));
  }
  return names;
}

bool NeedsAsan(absl::string_view name) {
  const SeededBug* bug = FindSeededBug(name);
  return bug != nullptr && bug->found_as == "asan";
}

// The violation each seeded bug must produce (check/seeded_bugs.h).
std::string ExpectedKind(absl::string_view name) {
  const SeededBug* bug = FindSeededBug(name);
  return bug == nullptr ? "" : std::string(bug->found_as);
}

class SeededBugFlow : public ::testing::TestWithParam<std::string> {};

TEST_P(SeededBugFlow, FoundWithinSixtySeconds) {
  const std::string& name = GetParam();
  if (NeedsAsan(name)) {
#ifndef NETRIG_ASAN
    GTEST_SKIP() << name << " is a heap use-after-free: only ASan sees it; it runs in the asan "
                 << "preset (this build has no ASan)";
#else
    // A crash takes the process down: run the netrig binary as a child.
    ChildOptions child;
    const UdpStressOptions options = RunOptions(name);
    child.argv = {testing::NetrigBinary(), "udp", "--finding_dir="};
    UdpStressOptions resolved = options;
    ResolveSeeds(resolved);
    for (const std::string& arg : UdpOptionTable().Render(resolved)) child.argv.push_back(arg);
    child.output_path = absl::StrCat(::testing::TempDir(), "/", name, ".log");
    child.timeout = kFindWithin;
    absl::StatusOr<ChildResult> result = RunChild(child);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_FALSE(result->timed_out) << "not found within " << kFindWithin;
    EXPECT_TRUE(result->exited) << result->Describe();
    EXPECT_EQ(result->exit_code, 81) << "expected ASan's exit code; " << result->Describe()
                                     << "; output in " << child.output_path;
    return;
#endif
  }
  const UdpStressOptions options = RunOptions(name);
  const absl::Time start = absl::Now();
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1) << "netrig did not find " << name;
  EXPECT_LE(took, kFindWithin);
  const std::string expected = ExpectedKind(name);
  if (!expected.empty()) {
    const auto counts = result->violation_counts;
    const bool found = std::any_of(counts.begin(), counts.end(),
                                   [&](const auto& kind) { return kind.first == expected; });
    EXPECT_TRUE(found) << name << " should be found as " << expected << "; got:\n"
                       << result->DescribeViolations();
  }
  std::printf("[ figures  ] %s found in %.1fs: %s\n", name.c_str(), absl::ToDoubleSeconds(took),
              result->violations.empty() ? "" : result->violations[0].kind.c_str());
}

INSTANTIATE_TEST_SUITE_P(Registry, SeededBugFlow, ::testing::ValuesIn(BugFlows()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return absl::StrReplaceAll(info.param, {{"-", "_"}});
                         });

class ReferenceFlow : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceFlow, NoFindingUnderTheSameRun) {
  const UdpStressOptions options = RunOptions(GetParam());
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->violation_total, 0u) << result->DescribeViolations();
  EXPECT_GT(result->report.at("datagrams_delivered").get<uint64_t>(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Registry, ReferenceFlow, ::testing::Values("socket", "dns-proxy"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return absl::StrReplaceAll(info.param, {{"-", "_"}});
                         });

}  // namespace
}  // namespace netrig
