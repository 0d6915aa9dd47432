// The run's page: one self-contained HTML file drawn from a stress run's JSON report (inline SVG
// and CSS; no script, no network, so it opens in any CI artifact viewer). `netrig udp --html`
// and `netrig http --html` write it at the end of a run; `netrig report RUN.json -o PAGE.html`
// draws it later from a report or a finding file alone, so older runs and findings can be
// looked at too.
//
// What the page shows, each where the report has it:
//   - the verdict (exit status, violations by kind, inconclusive or interrupted);
//   - a timeline per second (the report's "series", run_series.h): operations started and
//     succeeded, errors by kind, work in flight, injected faults by kind, bands where the path
//     was down or the flow source asleep, and each violation as a mark linking to its row;
//   - latency: the histogram and the percentile curve from p50 to p99.99 on log scales (from
//     each operation's intended start in open loop);
//   - the violations with their messages; the workload's accounting (UDP: sent, delivered,
//     dropped by fault, rejected by limit, harness losses; HTTP: tasks and errors by kind);
//   - the configuration: arguments, seeds, and the exact replay command.
// A report without a series (written before netrig recorded one) still renders, saying "no
// per-second series in this report". The report is other people's data: every string is
// escaped (markup.h), every field is read by type, a field of the wrong type is shown as absent,
// and lists are bounded, so no report can break the page or inject markup into it.
//
// Example:
//   std::string page = netrig::RenderHtmlReport(result.report, {.source = "this run"});
//   absl::StatusOr<netrig::LoadedReport> loaded = netrig::LoadRunReport("run.json");
//   if (loaded.ok()) page = netrig::RenderHtmlReport(loaded->report, loaded->options);
#ifndef NETRIG_HARNESS_DRIVE_HTML_REPORT_H_
#define NETRIG_HARNESS_DRIVE_HTML_REPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace netrig {

struct HtmlReportOptions {
  std::string source = "";        // Where the report came from, for the footer: "this run", a path.
  std::string finding_path = "";  // Drawn from a finding file: `netrig replay PATH` reruns it.
};

// The page for `report` (a stress run's JSON report, any version).
std::string RenderHtmlReport(const nlohmann::json& report, const HtmlReportOptions& options = {});

struct LoadedReport {
  nlohmann::json report;
  HtmlReportOptions options;
};

// Reads `path`: a JSON report (--json) or a finding file (its embedded report). Errors
// (InvalidArgument, NotFound, OutOfRange ...) name the path and say what is wrong: not JSON,
// too large or deep (json_input.h bounds), not an object, not a netrig run report.
absl::StatusOr<LoadedReport> LoadRunReport(const std::string& path);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_HTML_REPORT_H_
