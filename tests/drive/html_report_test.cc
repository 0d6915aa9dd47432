#include "harness/drive/html_report.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"
#include "tests/support/scratch_dir.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& needle) {
  return testing::CountOccurrences(text, needle);
}

// The <svg> element whose class attribute is `css_class`.
std::string Chart(const std::string& page, const std::string& css_class) {
  const size_t at = page.find(absl::StrCat("class=\"", css_class, "\""));
  if (at == std::string::npos) return "";
  return page.substr(at, page.find("</svg>", at) - at);
}

// The (x, y) pixel pairs of the polyline titled `name` in `svg`.
std::vector<std::pair<double, double>> Points(const std::string& svg, const std::string& name) {
  std::vector<std::pair<double, double>> points;
  const size_t title = svg.find(absl::StrCat("<title>", name, "</title></polyline>"));
  if (title == std::string::npos) return points;
  const size_t start = svg.rfind("points=\"", title) + 8;
  std::string list = svg.substr(start, svg.find('"', start) - start);
  double x = 0, y = 0;
  int used = 0;
  const char* p = list.c_str();
  while (std::sscanf(p, "%lf,%lf%n", &x, &y, &used) == 2) {
    points.emplace_back(x, y);
    p += used;
  }
  return points;
}

// A udp run of 2.1 s: a path-down band from 0.5 s to 1 s, a violation at 1.5 s whose message
// holds markup, a last interval of 0.1 s.
nlohmann::json KnownReport() {
  return nlohmann::json::parse(R"json({
    "command": "udp", "subject": "socket", "seed": 42, "exit_code": 1,
    "args": ["--flow=socket", "--seed=42", "--duration=2s"],
    "replay": "netrig udp --flow=socket --seed=42 --duration=2s",
    "mode": "open_loop", "rate_target": 200, "duration_s": 2.1, "stop_reason": "violation",
    "violation_count": 1, "violation_counts": {"silent_loss": 1},
    "violations": [{"kind": "silent_loss",
                    "message": "<script>alert(1)</script> 3 datagrams of flow 7 never came back",
                    "at": "2023-11-14T22:13:21.5+00:00"}],
    "datagrams_sent": 305, "datagrams_delivered": 290, "datagrams_dropped_by_fault": 12,
    "rejected_true_limit": {"family_maximum": 2, "path_mtu_dont_fragment": 1, "buffer": 0},
    "silent_loss": 3,
    "harness_losses": {"relay_kernel_drops": 0, "echo_kernel_drops": 0, "echo_send_errors": 0},
    "latency_us": {"count": 100, "p50": 100, "p90": 1000, "p99": 5000, "p999": 5000,
                   "max": 5000, "mean": 400,
                   "buckets": [[100, 50], [1000, 40], [5000, 10]]},
    "series": {"version": 1, "origin": "2023-11-14T22:13:20+00:00", "interval_s": 1,
               "unit": "datagrams", "in_flight_unit": "bytes",
               "t_s": [1.0, 2.0, 2.1], "started": [100, 200, 5], "succeeded": [95, 190, 5],
               "in_flight": [1000, 2000, 0],
               "errors": {"silent_loss": [0, 3, 0]}, "faults": {"drop": [4, 8, 0]},
               "bands": {"path_down": [[0.5, 1.0]]}, "bands_dropped": 0}
  })json");
}

TEST(HtmlReportTest, DrawsTheSeriesOfAKnownReport) {
  const std::string page = RenderHtmlReport(KnownReport(), {.source = "test"});
  EXPECT_THAT(page, HasSubstr("<!DOCTYPE html>"));
  const std::string rates = Chart(page, "chart timeline rates");
  ASSERT_FALSE(rates.empty());
  EXPECT_THAT(rates, HasSubstr("datagrams/s"));
  // Two points: the last interval (0.1 s) is too short for a rate.
  const auto started = Points(rates, "started");
  ASSERT_EQ(started.size(), 2u);
  EXPECT_LT(started[1].second, started[0].second);  // 200/s is drawn above 100/s
  EXPECT_LT(started[0].first, started[1].first);
  const auto succeeded = Points(rates, "succeeded");
  ASSERT_EQ(succeeded.size(), 2u);
  EXPECT_GT(succeeded[0].second, started[0].second);  // 95/s below 100/s
  EXPECT_EQ(Points(Chart(page, "chart timeline errors"), "silent_loss").size(), 2u);
  EXPECT_EQ(Points(Chart(page, "chart timeline faults"), "drop").size(), 2u);
  EXPECT_EQ(Points(Chart(page, "chart timeline in-flight"), "in flight").size(), 3u);
  EXPECT_THAT(Chart(page, "chart timeline in-flight"), HasSubstr("in flight (bytes)"));
  // The path-down band on every timeline chart.
  EXPECT_EQ(Count(page, "<rect class=\"band\""), 4u);
  EXPECT_THAT(page, HasSubstr("<title>path down</title>"));
}

TEST(HtmlReportTest, MarksEachViolationAtItsTimeAndLinksToItsRow) {
  const std::string page = RenderHtmlReport(KnownReport());
  EXPECT_EQ(Count(page, "<a class=\"mark\" href=\"#violation-1\">"), 4u);
  EXPECT_THAT(page, HasSubstr("<tr id=\"violation-1\">"));
  EXPECT_THAT(page, HasSubstr("1.500 s"));  // its time since traffic started
  // The mark is drawn halfway between the 1 s and 2 s points of the rate chart.
  const std::string rates = Chart(page, "chart timeline rates");
  const auto started = Points(rates, "started");
  ASSERT_EQ(started.size(), 2u);
  const std::string prefix = "href=\"#violation-1\"><line x1=\"";
  const size_t mark = rates.find(prefix);
  ASSERT_NE(mark, std::string::npos);
  const double x = std::stod(rates.substr(mark + prefix.size()));
  EXPECT_NEAR(x, (started[0].first + started[1].first) / 2, 1.0);
}

TEST(HtmlReportTest, ShowsTheReplayCommandTheConfigurationAndTheAccounting) {
  const std::string page = RenderHtmlReport(KnownReport());
  EXPECT_THAT(page, HasSubstr("<pre class=\"replay\">netrig udp --flow=socket --seed=42 "
                              "--duration=2s</pre>"));
  EXPECT_THAT(page, HasSubstr("<li><code>--duration=2s</code></li>"));
  EXPECT_THAT(page, HasSubstr("exit 1: violations found (1 violation: silent_loss 1)"));
  EXPECT_THAT(page, HasSubstr("<h2>Datagram accounting</h2>"));
  EXPECT_THAT(page, HasSubstr("<tr><th>dropped by fault</th><td class=\"n\">12</td></tr>"));
  EXPECT_THAT(page, HasSubstr("<tr><th>harness losses: relay kernel drops</th>"));
  EXPECT_THAT(page, HasSubstr("intended start"));  // open loop
}

TEST(HtmlReportTest, DrawsTheLatencyCurveAndHistogramFromTheBuckets) {
  const std::string page = RenderHtmlReport(KnownReport());
  const std::string curve = Chart(page, "chart latency percentiles");
  const auto points = Points(curve, "latency");
  ASSERT_GT(points.size(), 10u);
  // Monotonic: higher percentiles are never faster (smaller pixel y is higher).
  for (size_t i = 1; i < points.size(); ++i) EXPECT_LE(points[i].second, points[i - 1].second);
  EXPECT_THAT(curve, HasSubstr(">p99.99</text>"));
  const std::string histogram = Chart(page, "chart latency histogram");
  const size_t bars = histogram.find("<g class=\"series bars\"");
  ASSERT_NE(bars, std::string::npos);
  EXPECT_EQ(Count(histogram.substr(bars, histogram.find("</g>", bars) - bars), "<rect x="), 3u);
}

TEST(HtmlReportTest, EscapesEveryStringFromTheReport) {
  nlohmann::json report = KnownReport();
  report["subject"] = "<img src=x onerror=alert(1)>";
  report["args"].push_back("--x=\"><script>alert(2)</script>");
  report["replay"] = "netrig udp '</pre><script>alert(3)</script>'";
  report["series"]["errors"]["<svg onload=alert(4)>"] = {1, 1, 1};
  const std::string page = RenderHtmlReport(report);
  EXPECT_THAT(page, Not(HasSubstr("<script")));
  EXPECT_THAT(page, Not(HasSubstr("<img")));
  EXPECT_THAT(page, Not(HasSubstr("<svg onload")));
  EXPECT_THAT(page, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

TEST(HtmlReportTest, AnOlderReportWithoutSeriesStillRenders) {
  nlohmann::json report = KnownReport();
  report.erase("series");
  report["latency_us"].erase("buckets");
  const std::string page = RenderHtmlReport(report);
  EXPECT_THAT(page, HasSubstr("no per-second series in this report"));
  EXPECT_THAT(page, Not(HasSubstr("class=\"chart timeline")));
  EXPECT_THAT(page, HasSubstr("percentiles only"));
  EXPECT_EQ(Points(Chart(page, "chart latency percentiles"),
                   "latency (percentiles only: this report has no histogram)")
                .size(),
            4u);
  EXPECT_THAT(page, HasSubstr("<tr id=\"violation-1\">"));
  EXPECT_THAT(page, HasSubstr("2023-11-14T22:13:21.5+00:00"));  // no origin: the time as written
}

TEST(HtmlReportTest, FieldsOfTheWrongTypeAreAbsentNotFatal) {
  for (const char* text : {
           R"({"command": "udp", "series": "x", "violations": 5, "latency_us": []})",
           R"({"command": "http", "series": {"t_s": [1, "a", null, 1e308], "started": {}},
               "violations": [1, {"kind": 2, "at": "yesterday"}], "args": [1, [2]],
               "latency_us": {"buckets": [[1], ["a", 2], [-1, 5], [1e300, 1e300]]}})",
           R"({"command": "udp", "series": {"t_s": [], "bands": {"path_down": [[2, 1], 3]}}})",
           R"({"command": 7})",
           R"({"command": "udp", "exit_code": 1e300, "violation_count": -1e300,
               "series": {"t_s": [-1e308, 1e308], "started": [1e308, -1e308],
                          "in_flight": [1e308, -1e308], "bands": {"x": [[-1e308, 1e308]]}},
               "violations": [{"kind": "k", "at": "2023-01-01T00:00:00Z"}]})",
           R"([])",
       }) {
    const std::string page = RenderHtmlReport(nlohmann::json::parse(text));
    EXPECT_THAT(page, HasSubstr("</html>")) << text;
    EXPECT_THAT(page, Not(HasSubstr("nan"))) << text;
  }
}

std::string WriteFile(const testing::ScratchDir& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir.File(name);
  std::ofstream(path) << text;
  return path;
}

TEST(LoadRunReportTest, ReadsAReportAndAFindingFile) {
  testing::ScratchDir dir;
  absl::StatusOr<LoadedReport> run =
      LoadRunReport(WriteFile(dir, "run.json", KnownReport().dump()));
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->report["seed"], 42);
  EXPECT_TRUE(run->options.finding_path.empty());

  const nlohmann::json finding = {
      {"tool", "netrig"},       {"version", 1}, {"command", "udp"},
      {"args", {"--seed=42"}},  {"seed", 42},   {"violations", KnownReport()["violations"]},
      {"report", KnownReport()}};
  const std::string path = WriteFile(dir, "finding.json", finding.dump());
  absl::StatusOr<LoadedReport> loaded = LoadRunReport(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->options.finding_path, path);
  const std::string page = RenderHtmlReport(loaded->report, loaded->options);
  EXPECT_THAT(page, HasSubstr(absl::StrCat("netrig replay ", path, "</pre>")));
  EXPECT_THAT(page, HasSubstr("<a class=\"mark\" href=\"#violation-1\">"));
}

TEST(LoadRunReportTest, RefusesWhatIsNotARunReportWithAClearError) {
  testing::ScratchDir dir;
  struct Case {
    std::string name, text, error;
  };
  for (const Case& c : std::vector<Case>{
           {"broken.json", "{\"command\": ", "JSON"},
           {"array.json", "[1, 2]", "not a JSON object"},
           {"other.json", "{\"name\": \"x\"}", "no \"command\" field"},
           {"deep.json", std::string(100000, '['), "deep"},
           {"bad_finding.json", R"({"tool": "netrig", "report": 5})", "\"report\" is not"},
       }) {
    absl::StatusOr<LoadedReport> loaded = LoadRunReport(WriteFile(dir, c.name, c.text));
    ASSERT_FALSE(loaded.ok()) << c.name;
    EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(c.error)) << c.name;
  }
  EXPECT_EQ(LoadRunReport(dir.File("missing.json")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(LoadRunReport(dir.path()).ok());  // a directory
}

}  // namespace
}  // namespace netrig
