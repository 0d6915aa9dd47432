// The nightly summary: findings from JUnit output, fuzz sessions, stress finding files and logs,
// deduplicated by signature across presets; Markdown and merged JUnit.
#include "harness/findings/nightly_summary.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/findings/finding_file.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kEscapedAsan[] =
    "==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n"
    "    #0 0x1 in netrig::Session::Complete(int) /src/session.cc:10:3\n"
    "    #1 0x2 in netrig::Task::Finish() /src/task.cc:5:1\n"
    "SUMMARY: AddressSanitizer: heap-use-after-free";

std::string Junit(const std::string& pid_marker) {
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"(empty)\" tests=\"3\">\n"
      "  <testcase name=\"http.Session.Cancel\" status=\"fail\">\n"
      "    <failure message=\"Failed\"/>\n    <system-out>noise &lt;x&gt;\n==",
      pid_marker, kEscapedAsan + 3,
      "\n</system-out>\n  </testcase>\n"
      "  <testcase name=\"net.Endpoint.Parse\" status=\"run\"><system-out>ok</system-out>"
      "</testcase>\n"
      "  <testcase name=\"udp.Flow.Plain\" status=\"fail\"><failure message=\"Failed\"/>"
      "<system-out>Expected 1, got 2</system-out></testcase>\n</testsuite>\n");
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

class NightlySummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / absl::StrCat("nightly_", getpid());
    fs::remove_all(dir_);
    Write(dir_ / "steps.tsv",
          "build asan\tpass\t100\tlogs/build-asan.log\t\n"
          "ctest asan unit\tfail\t20.5\tlogs/ctest-asan-unit.log\t\n"
          "stress tsan udp\ttimeout\t90\tlogs/stress.log\tkilled\n"
          "fuzz endpoint_parse\tskipped\t0\t\tbudget exhausted\n");
    Write(dir_ / "junit/asan-unit.xml", Junit("123"));
    Write(dir_ / "junit/fuzz-unit.xml", Junit("456"));  // The same bugs, another preset.
    Write(dir_ / "fuzz/endpoint_parse/last_session.json",
          R"({"target": "endpoint_parse", "crashes": [{"signature": "asan SEGV | netrig::Parse",
              "dir": "/x/crashes/asan-segv-1", "count": 3}], "crashes_left_raw": 0})");
    Finding finding;
    finding.command = "udp";
    finding.violations = nlohmann::json::array({{{"kind", "silent_loss"}}});
    ASSERT_TRUE(fs::create_directories(dir_ / "stress/asan-udp"));
    ASSERT_TRUE(WriteFindingFile((dir_ / "stress/asan-udp/finding-1.json").string(), finding).ok());
    Write(dir_ / "stress/tsan-udp/finding-7.json", FindingToJson(finding).dump());
    Write(dir_ / "stress/tsan-http.log",
          "WARNING: ThreadSanitizer: data race (pid=9)\n  Write of size 8 at 0x1 by thread T2:\n"
          "    #0 netrig::Ledger::Close() /src/ledger.cc:3:1 (netrig+0x1)\n"
          "  Previous read of size 8 at 0x1 by main thread:\n"
          "    #0 netrig::Ledger::Count() /src/ledger.cc:9:1 (netrig+0x2)\n"
          "SUMMARY: ThreadSanitizer: data race\n");
    Write(dir_ / "stress/asan-http.log", "all fine\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(NightlySummaryTest, DeduplicatesAcrossPresetsAndSources) {
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir_.string());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->steps.size(), 4u);
  EXPECT_EQ(summary->failed_steps(), 2);
  EXPECT_EQ(summary->tests_run, 6);
  EXPECT_EQ(summary->tests_failed, 4);
  EXPECT_FALSE(summary->clean());
  ASSERT_EQ(summary->findings.size(), 5u);
  const NightlyFinding& uaf = summary->findings[0];
  EXPECT_EQ(uaf.source, "sanitizer");
  EXPECT_EQ(uaf.signature,
            "asan heap-use-after-free | netrig::Session::Complete | netrig::Task::Finish");
  EXPECT_THAT(uaf.where,
              ElementsAre("asan-unit: http.Session.Cancel", "fuzz-unit: http.Session.Cancel"));
  EXPECT_EQ(summary->findings[1].signature, "test failed: udp.Flow.Plain");
  EXPECT_EQ(summary->findings[1].where.size(), 2u);
  EXPECT_EQ(summary->findings[2].source, "fuzz");
  EXPECT_EQ(summary->findings[2].signature, "asan SEGV | netrig::Parse");
  EXPECT_EQ(summary->findings[3].signature, "udp silent_loss");
  EXPECT_THAT(summary->findings[3].where, ElementsAre("asan-udp", "tsan-udp"));
  EXPECT_EQ(summary->findings[4].signature,
            "tsan data race | netrig::Ledger::Close ~ netrig::Ledger::Count");
}

TEST_F(NightlySummaryTest, MarkdownAndJunit) {
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir_.string());
  ASSERT_TRUE(summary.ok()) << summary.status();
  const std::string markdown = NightlyMarkdown(*summary);
  EXPECT_THAT(markdown, HasSubstr("# netrig nightly: FINDINGS"));
  EXPECT_THAT(markdown, HasSubstr("5 finding(s), 2 failed or timed-out step(s), 4/6 tests failed"));
  EXPECT_THAT(markdown, HasSubstr("| stress tsan udp | timeout | 90 |"));
  const std::string junit = NightlyJunit(*summary);
  EXPECT_THAT(junit,
              HasSubstr("<testsuites name=\"netrig nightly\" tests=\"15\" failures=\"11\">"));
  EXPECT_THAT(junit, HasSubstr("<testsuite name=\"asan-unit\""));
  EXPECT_THAT(junit, HasSubstr("<skipped message=\"budget exhausted\"/>"));
  EXPECT_THAT(junit, HasSubstr("name=\"udp silent_loss\""));
  EXPECT_EQ(junit.find("<?xml", 1), std::string::npos) << "embedded XML declarations";
}

TEST(NightlySummary, EmptyDirectoryIsClean) {
  const fs::path dir = fs::path(::testing::TempDir()) / absl::StrCat("nightly_empty_", getpid());
  fs::create_directories(dir);
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir.string());
  ASSERT_TRUE(summary.ok());
  EXPECT_TRUE(summary->clean());
  EXPECT_THAT(NightlyMarkdown(*summary), HasSubstr("clean"));
  EXPECT_FALSE(CollectNightly((dir / "missing").string()).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace netrig
