// summary.html of a nightly run directory (NightlyHtml, declared in nightly_summary.h).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "harness/base/markup.h"
#include "harness/base/svg_chart.h"
#include "harness/findings/nightly_summary.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr size_t kMaxLinesPerChart = 10;

std::string E(absl::string_view text) { return MarkupEscape(text); }

// A link to `path`: relative when it lies under `out_dir`, so the directory can move. Never a
// scheme ("javascript:x" becomes "./javascript:x", a file name).
std::string Href(const std::string& path, const std::string& out_dir) {
  if (path.empty()) return "";
  std::string link = path;
  std::error_code error;
  const fs::path relative = fs::path(path).lexically_relative(out_dir);
  if (!out_dir.empty() && !relative.empty() && !absl::StartsWith(relative.string(), "..") &&
      fs::path(path).is_absolute()) {
    link = relative.string();
  }
  if (!absl::StartsWith(link, "/") && !absl::StartsWith(link, "./") &&
      !absl::StartsWith(link, "../")) {
    link = absl::StrCat("./", link);
  }
  return link;
}

std::string Link(const std::string& path, const std::string& out_dir, const std::string& text) {
  if (path.empty()) return E(text);
  return absl::StrCat("<a href=\"", E(Href(path, out_dir)), "\">", E(text), "</a>");
}

constexpr char kStyle[] = R"css(
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1100px; color: #222; padding: 0 12px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.verdict { font-size: 16px; padding: 8px 12px; border-radius: 4px; }
.verdict.ok { background: #e6f4ea; } .verdict.bad { background: #fce8e6; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { background: #e6f4ea; } .fail, .timeout, .finding { background: #fce8e6; }
.skipped { background: #f1f3f4; }
code { word-break: break-all; }
svg { display: block; margin: 6px 0; font-size: 11px; } svg .title { font-weight: bold; }
.note { color: #666; font-size: 13px; }
)css";

struct Night {
  std::string label;
  const NightlySummary* summary;
};

// A trend chart: one line per name, a point per night that has it.
std::string TrendChart(const std::string& title, const std::string& css,
                       const std::vector<Night>& nights,
                       const std::map<std::string, std::vector<double>>& values) {
  ChartSpec spec;
  spec.title = title;
  spec.css_class = absl::StrCat("chart trend ", css);
  spec.height = 200;
  spec.x_min = -0.3;
  spec.x_max = static_cast<double>(nights.size()) - 0.7;
  for (size_t i = 0; i < nights.size(); ++i) {
    spec.x_ticks.push_back(
        {static_cast<double>(i), nights[i].label.substr(0, 24)});  // labels stay short
  }
  std::vector<ChartLine> lines;
  for (const auto& [name, series] : values) {
    if (lines.size() >= kMaxLinesPerChart) break;
    ChartLine line{.name = name, .color = kPalette[lines.size() % std::size(kPalette)]};
    for (size_t i = 0; i < series.size(); ++i) {
      line.x.push_back(static_cast<double>(i));
      line.y.push_back(series[i]);
    }
    lines.push_back(std::move(line));
  }
  return SvgChart(spec, lines);
}

std::string Trends(const std::vector<Night>& nights) {
  const double nan = std::nan("");
  std::map<std::string, std::vector<double>> outcome, tests, coverage, corpus, rates;
  for (size_t i = 0; i < nights.size(); ++i) {
    const NightlySummary& s = *nights[i].summary;
    auto set = [&](std::map<std::string, std::vector<double>>& map, const std::string& name,
                   double value) {
      std::vector<double>& series = map[name];
      series.resize(nights.size(), nan);
      series[i] = value;
    };
    set(outcome, "findings", static_cast<double>(s.findings.size()));
    set(outcome, "failed steps", s.failed_steps());
    set(tests, "tests run", s.tests_run);
    set(tests, "tests failed", s.tests_failed);
    for (const NightlyFuzzTarget& fuzz : s.fuzz_targets) {
      if (fuzz.coverage > 0) set(coverage, fuzz.target, static_cast<double>(fuzz.coverage));
      set(corpus, fuzz.target, static_cast<double>(fuzz.corpus_files));
    }
    for (const NightlyStressRun& run : s.stress_runs) {
      set(rates, absl::StrCat(run.name, run.unit.empty() ? "" : absl::StrCat(" (", run.unit, ")")),
          run.operations_per_sec);
    }
  }
  std::string out =
      absl::StrCat("<section id=\"trends\">\n<h2>Trends over ", nights.size(), " nights</h2>\n");
  absl::StrAppend(&out, TrendChart("findings and failed steps", "findings", nights, outcome),
                  TrendChart("tests", "tests", nights, tests),
                  TrendChart("fuzz coverage (libFuzzer cov: edges)", "coverage", nights, coverage),
                  TrendChart("fuzz corpus files", "corpus", nights, corpus),
                  TrendChart("stress rates (per second)", "rates", nights, rates));
  absl::StrAppend(&out,
                  "<table class=\"nights\"><tr><th>night</th><th>findings</th>"
                  "<th>failed steps</th><th>tests failed/run</th></tr>\n");
  for (const Night& night : nights) {
    absl::StrAppendFormat(&out,
                          "<tr><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td>"
                          "<td class=\"n\">%d/%d</td></tr>\n",
                          E(night.label), night.summary->findings.size(),
                          night.summary->failed_steps(), night.summary->tests_failed,
                          night.summary->tests_run);
  }
  absl::StrAppend(&out, "</table>\n</section>\n");
  return out;
}

}  // namespace

std::string NightlyHtml(const NightlySummary& summary, const std::string& label,
                        const std::string& out_dir, const std::vector<NightlyNight>& previous) {
  const std::string title = absl::StrCat("netrig nightly ", label);
  std::string page = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">\n<title>",
      E(title), "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n<h1>", E(title),
      "</h1>\n");
  absl::StrAppendFormat(
      &page,
      "<p class=\"verdict %s\">%s: %d finding(s), %d failed or timed-out step(s), %d/%d "
      "tests failed</p>\n",
      summary.clean() ? "ok" : "bad",
      summary.clean()            ? "clean"
      : summary.findings.empty() ? "FAILED STEPS"
                                 : "FINDINGS",
      summary.findings.size(), summary.failed_steps(), summary.tests_failed, summary.tests_run);
  absl::StrAppend(&page,
                  "<nav><a href=\"#findings\">findings</a> · <a href=\"#steps\">steps</a> · "
                  "<a href=\"#fuzzing\">fuzzing</a> · <a href=\"#stress\">stress runs</a>",
                  previous.empty() ? "" : " · <a href=\"#trends\">trends</a>", "</nav>\n");

  absl::StrAppend(&page, "<section id=\"findings\">\n<h2>Findings (deduplicated)</h2>\n");
  if (summary.findings.empty()) {
    absl::StrAppend(&page, "<p>none</p>\n");
  } else {
    absl::StrAppend(&page,
                    "<table class=\"findings\"><tr><th>#</th><th>source</th>"
                    "<th>signature</th><th>seen in</th><th>replay</th></tr>\n");
    for (size_t i = 0; i < summary.findings.size(); ++i) {
      const NightlyFinding& finding = summary.findings[i];
      absl::StrAppend(
          &page, "<tr id=\"finding-", i + 1, "\"><td class=\"n\">", i + 1, "</td><td>",
          E(finding.source), "</td><td><code>", E(finding.signature), "</code><br>",
          Link(finding.detail, out_dir, "details"), "</td><td>",
          E(absl::StrJoin(finding.where, "; ")),
          finding.more_places > 0 ? absl::StrCat(" and ", finding.more_places, " more") : "",
          "</td><td>",
          finding.replay.empty() ? "" : absl::StrCat("<code>", E(finding.replay), "</code>"),
          "</td></tr>\n");
    }
    absl::StrAppend(&page, "</table>\n");
  }
  absl::StrAppend(&page, "</section>\n");

  absl::StrAppend(&page,
                  "<section id=\"steps\">\n<h2>Steps</h2>\n<table class=\"steps\"><tr>"
                  "<th>step</th><th>status</th><th>seconds</th><th>log</th><th>note</th>"
                  "</tr>\n");
  double total = 0;
  for (const NightlyStep& step : summary.steps) {
    total += step.seconds;
    const std::string status_class =
        step.status == "pass"                                                           ? "pass"
        : step.status == "fail" || step.status == "timeout" || step.status == "finding" ? "fail"
                                                                                        : "skipped";
    absl::StrAppendFormat(&page,
                          "<tr><td>%s</td><td class=\"%s\">%s</td><td class=\"n\">%.0f</td>"
                          "<td>%s</td><td>%s</td></tr>\n",
                          E(step.name), status_class, E(step.status), step.seconds,
                          Link(step.log, out_dir, step.log.empty() ? "" : "log"), E(step.note));
  }
  absl::StrAppendFormat(&page, "</table>\n<p class=\"note\">%d steps, %.0f s in all.</p>\n",
                        summary.steps.size(), total);
  absl::StrAppend(&page, "</section>\n");

  absl::StrAppend(&page, "<section id=\"fuzzing\">\n<h2>Fuzzing</h2>\n");
  if (summary.fuzz_targets.empty()) {
    absl::StrAppend(&page, "<p>no fuzz sessions in this run</p>\n");
  } else {
    absl::StrAppend(&page,
                    "<table class=\"fuzz\"><tr><th>target</th><th>corpus files</th>"
                    "<th>new inputs</th><th>coverage (cov)</th><th>features (ft)</th>"
                    "<th>exec/s</th><th>seconds</th><th>unique crashes</th></tr>\n");
    for (const NightlyFuzzTarget& fuzz : summary.fuzz_targets) {
      absl::StrAppendFormat(
          &page,
          "<tr><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td>"
          "<td class=\"n\">%s</td><td class=\"n\">%d</td><td class=\"n\">%.0f</td>"
          "<td class=\"n\">%d</td></tr>\n",
          E(fuzz.target), fuzz.corpus_files, fuzz.new_inputs,
          fuzz.coverage > 0 ? absl::StrCat(fuzz.coverage) : "?",
          fuzz.features > 0 ? absl::StrCat(fuzz.features) : "?", fuzz.execs_per_second,
          fuzz.seconds, fuzz.crashes_unique);
    }
    absl::StrAppend(&page, "</table>\n");
  }
  absl::StrAppend(&page, "</section>\n");

  absl::StrAppend(&page, "<section id=\"stress\">\n<h2>Stress runs</h2>\n");
  if (summary.stress_runs.empty()) {
    absl::StrAppend(&page, "<p>no stress run reports in this run</p>\n");
  } else {
    absl::StrAppend(&page,
                    "<table class=\"stress\"><tr><th>run</th><th>subject</th>"
                    "<th>exit</th><th>violations</th><th>rate</th><th>page</th>"
                    "<th>report</th></tr>\n");
    for (const NightlyStressRun& run : summary.stress_runs) {
      absl::StrAppendFormat(
          &page,
          "<tr><td>%s</td><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td>"
          "<td class=\"n\">%.0f %s/s</td><td>%s</td><td>%s</td></tr>\n",
          E(run.name), E(run.subject), run.exit_code, run.violations, run.operations_per_sec,
          E(run.unit.empty() ? "operations" : run.unit), Link(run.page, out_dir, "page"),
          Link(run.report, out_dir, "JSON"));
    }
    absl::StrAppend(&page, "</table>\n");
  }
  absl::StrAppend(&page, "</section>\n");

  if (!previous.empty()) {
    std::vector<Night> nights;
    for (const NightlyNight& night : previous) nights.push_back({night.label, &night.summary});
    nights.push_back({label, &summary});
    absl::StrAppend(&page, Trends(nights));
  }
  absl::StrAppend(&page,
                  "<footer class=\"note\">Written by netrig findings. Self-contained: no "
                  "script, no network.</footer>\n</body>\n</html>\n");
  return page;
}

}  // namespace netrig
