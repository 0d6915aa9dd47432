// summary.html of a nightly directory: steps, findings with replay commands, fuzz coverage,
// stress runs with their pages, and trends across nights.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/findings/fuzz_session.h"
#include "harness/findings/nightly_summary.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& needle) {
  return testing::CountOccurrences(text, needle);
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A night: `coverage` edges and `corpus` files for endpoint_parse, a udp stress run at
// `rate` datagrams/s, and, with `finding`, a stress finding file.
fs::path MakeNight(const fs::path& root, const std::string& name, int coverage, int corpus,
                   double rate, bool finding) {
  const fs::path dir = root / name;
  Write(dir / "steps.tsv",
        "build asan\tpass\t100\tlogs/build-asan.log\t\n"
        "stress asan udp\tfinding\t61\tstress/asan-udp.log\t\n"
        "fuzz endpoint_parse\tskipped\t0\t\tbudget exhausted\n");
  Write(dir / "fuzz/endpoint_parse/last_session.json",
        absl::StrCat(R"({"target": "endpoint_parse", "coverage": )", coverage,
                     R"(, "features": 900, "corpus_files_before": 10, "corpus_files_after": )",
                     corpus, R"(, "new_inputs": 4, "execs_per_second": 5000,
                     "fuzzing_seconds": 60, "crashes_unique": 0, "crashes": []})"));
  Write(dir / "stress/asan-udp.json",
        absl::StrCat(R"({"command": "udp", "subject": "socket", "duration_s": 2, "exit_code": )",
                     finding ? 1 : 0, R"(, "violation_count": )", finding ? 1 : 0,
                     R"(, "tally": {"unit": "datagrams"}, "series": {"started": [)", rate, ", ",
                     rate, "]}}"));
  Write(dir / "stress/asan-udp.html", "<!DOCTYPE html>");
  if (finding) {
    Write(dir / "stress/asan-udp/udp-socket-1-silent_loss.json",
          R"({"tool": "netrig", "version": 1, "command": "udp", "args": ["--seed=1"],
              "seed": 1, "violations": [{"kind": "silent_loss", "message": "<b>lost</b>"}]})");
  }
  return dir;
}

class NightlyHtmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / absl::StrCat("nightly_html_", getpid());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(NightlyHtmlTest, ShowsStepsFindingsWithReplayFuzzCoverageAndStressPages) {
  const fs::path dir = MakeNight(root_, "night-3", 1234, 17, 5000, /*finding=*/true);
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir.string());
  ASSERT_TRUE(summary.ok()) << summary.status();
  const std::string page = NightlyHtml(*summary, "night-3", dir.string(), {});
  EXPECT_THAT(page, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(page, HasSubstr("FINDINGS: 1 finding(s)"));
  EXPECT_THAT(page, HasSubstr("<td>build asan</td><td class=\"pass\">pass</td>"));
  EXPECT_THAT(page, HasSubstr("<td>stress asan udp</td><td class=\"fail\">finding</td>"));
  EXPECT_THAT(page, HasSubstr("<td class=\"skipped\">skipped</td>"));
  // The finding, with the command that replays it.
  EXPECT_THAT(page, HasSubstr("<code>udp silent_loss</code>"));
  EXPECT_THAT(
      page, HasSubstr(absl::StrCat("<code>netrig replay ",
                                   (dir / "stress/asan-udp/udp-socket-1-silent_loss.json").string(),
                                   "</code>")));
  // Fuzzing: corpus size and coverage.
  EXPECT_THAT(page, HasSubstr("<tr><td>endpoint_parse</td><td class=\"n\">17</td><td "
                              "class=\"n\">4</td><td class=\"n\">1234</td><td "
                              "class=\"n\">900</td>"));
  // The stress run: its rate and relative links to its page and report.
  EXPECT_THAT(page, HasSubstr("5000 datagrams/s"));
  EXPECT_THAT(page, HasSubstr("<a href=\"./stress/asan-udp.html\">page</a>"));
  EXPECT_THAT(page, HasSubstr("<a href=\"./stress/asan-udp.json\">JSON</a>"));
  EXPECT_THAT(page, Not(HasSubstr("id=\"trends\"")));  // no previous nights
}

TEST_F(NightlyHtmlTest, DrawsTrendsAcrossPreviousNights) {
  std::vector<NightlyNight> previous;
  int coverage = 1000;
  for (const std::string name : {"night-1", "night-2"}) {
    const fs::path dir = MakeNight(root_, name, coverage, 10, 4000, /*finding=*/false);
    coverage += 100;
    previous.push_back({name, *CollectNightly(dir.string())});
  }
  const fs::path dir = MakeNight(root_, "night-3", coverage, 12, 5000, /*finding=*/true);
  const std::string page =
      NightlyHtml(*CollectNightly(dir.string()), "night-3", dir.string(), previous);
  EXPECT_THAT(page, HasSubstr("<h2>Trends over 3 nights</h2>"));
  for (const char* chart : {"findings", "tests", "coverage", "corpus", "rates"}) {
    EXPECT_THAT(page, HasSubstr(absl::StrCat("class=\"chart trend ", chart, "\""))) << chart;
  }
  // One point per night on the coverage line, rising: pixel y falls.
  const size_t chart = page.find("class=\"chart trend coverage\"");
  const size_t line = page.find("<polyline", chart);
  const size_t start = page.find("points=\"", line) + 8;
  const std::string points = page.substr(start, page.find('"', start) - start);
  EXPECT_EQ(Count(points, ","), 3u);
  double x[3], y[3];
  ASSERT_EQ(std::sscanf(points.c_str(), "%lf,%lf %lf,%lf %lf,%lf", &x[0], &y[0], &x[1], &y[1],
                        &x[2], &y[2]),
            6);
  EXPECT_GT(y[0], y[1]);
  EXPECT_GT(y[1], y[2]);
  EXPECT_THAT(page, HasSubstr(">night-1</text>"));
  EXPECT_THAT(page, HasSubstr("<tr><td>night-3</td><td class=\"n\">1</td>"));
}

TEST_F(NightlyHtmlTest, EscapesEverythingAndLinksNeverCarryASchemeOrScript) {
  const fs::path dir = root_ / "hostile";
  Write(dir / "steps.tsv", "<script>alert(1)</script>\tfail\t1\tjavascript:alert(2)\t<b>x</b>\n");
  Write(dir / "fuzz/x/last_session.json",
        R"json({"target": "<img src=x>", "crashes": [{"signature": "asan <svg onload=y>",
            "dir": "javascript:alert(3)", "replay_command": "</code><script>z</script>"}]})json");
  const std::string page = NightlyHtml(*CollectNightly(dir.string()), "<night>", dir.string(), {});
  EXPECT_THAT(page, Not(HasSubstr("<script")));
  EXPECT_THAT(page, Not(HasSubstr("<img")));
  EXPECT_THAT(page, Not(HasSubstr("<svg onload")));
  EXPECT_THAT(page, Not(HasSubstr("href=\"javascript:")));
  EXPECT_THAT(page, HasSubstr("href=\"./javascript:alert(2)\""));
}

TEST(LibFuzzerStatsTest, ReadsCoverageAndFeaturesFromTheLastStatusLine) {
  const LibFuzzerStats stats = ParseLibFuzzerStats(
      "#2\tINITED cov: 12 ft: 13 corp: 1/1b exec/s: 0 rss: 30Mb\n"
      "#1024\tNEW    cov: 345 ft: 678 corp: 20/300b exec/s: 512 rss: 40Mb\n");
  EXPECT_EQ(stats.coverage, 345u);
  EXPECT_EQ(stats.features, 678u);
  EXPECT_EQ(stats.execs, 1024u);
}

TEST_F(NightlyHtmlTest, TheFindingsCommandWritesSummaryHtmlWithPreviousNights) {
  const fs::path old = MakeNight(root_, "night-1", 1000, 10, 4000, /*finding=*/false);
  const fs::path dir = MakeNight(root_, "night-2", 1100, 11, 4500, /*finding=*/false);
  const testing::CommandRun run =
      testing::RunNetrig({"findings", dir.string(), "--previous",
                          absl::StrCat(old.string(), ",", root_.string(), "/missing")});
  EXPECT_EQ(run.exit_code, 0) << run.err;         // a "finding" step status alone is not a failure
  EXPECT_THAT(run.err, HasSubstr("--previous"));  // the missing one, skipped with a warning
  const std::string page = testing::ReadFileForTest((dir / "summary.html").string());
  EXPECT_THAT(page, HasSubstr("<h2>Trends over 2 nights</h2>"));
  EXPECT_TRUE(fs::exists(dir / "summary.md"));
  EXPECT_TRUE(fs::exists(dir / "junit.xml"));
}

}  // namespace
}  // namespace netrig
