// Fuzz target: netrig's own input readers, over the files other people and fuzzers hand it. A
// nightly job runs netrig as root on finding files, session records and options files it did not
// write; this target holds those readers to "malformed input is an error, never a crash".
//
// Input: the first byte picks the reader (modulo 6), the rest is the file's text:
//   0  a finding file (ParseFindingText), then its recorded arguments through the workload's
//      option table as `netrig replay` reads them (OptionTable::ParseRecorded); and the same text
//      as a run report or finding file drawn into the run's HTML page (`netrig report`)
//   1  a nightly steps.tsv
//   2  a ctest JUnit XML file
//   3  a fuzz session's last_session.json
//   4  a stress finding file and a stress log, as `netrig findings` reads a nightly directory
//   5  a libFuzzer .options file
//
// Properties: nothing crashes, throws or reads out of bounds (ASan, UBSan); a finding file that
// parses turns back into JSON that parses to the same Finding; recorded arguments that pass the
// allow-list render to arguments that hold no output path and no --allow_remote, that the table
// reads back to the same rendering, and that carry no NUL byte; every summary line is bounded;
// no HTML page (the run's, summary.html) carries markup from its input (no "<script").
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "harness/base/no_coverage.h"
#include "harness/drive/html_report.h"
#include "harness/findings/finding_file.h"
#include "harness/findings/fuzz_session.h"
#include "harness/findings/json_input.h"
#include "harness/findings/nightly_summary.h"
#include "harness/workloads/http/http_stress.h"
#include "harness/workloads/udp/udp_stress.h"

namespace {

[[noreturn]] NETRIG_NO_COVERAGE void Fail(const char* what, absl::string_view detail) {
  std::fprintf(stderr, "netrig_inputs: property broken: %s: %.*s\n", what,
               static_cast<int>(std::min<size_t>(detail.size(), 400)), detail.data());
  std::abort();
}

// What `netrig replay` runs must hold no output path, no remote opt-in and no NUL, and must
// read back to itself.
template <typename T>
NETRIG_NO_COVERAGE void CheckRecorded(const netrig::OptionTable<T>& table,
                                      const std::vector<std::string>& recorded) {
  T options;
  std::vector<std::string> dropped;
  if (!table.ParseRecorded(recorded, options, &dropped).ok()) return;
  const std::vector<std::string> rendered = table.Render(options);
  for (const std::string& arg : rendered) {
    if (arg.find('\0') != std::string::npos) Fail("NUL in a rendered argument", arg);
    for (const char* forbidden : {"--json", "--finding_dir", "--allow_remote", "--list_flows"}) {
      if (absl::StartsWith(arg, forbidden)) Fail("a non-workload option was rendered", arg);
    }
  }
  T again;
  if (!table.Parse(rendered, again).ok()) Fail("rendered arguments do not parse", "");
  if (table.Render(again) != rendered) Fail("rendering is not a fixed point", "");
}

// The pages netrig writes put no markup from their inputs into the page.
NETRIG_NO_COVERAGE void CheckPage(const std::string& page, const char* what) {
  if (absl::StrContains(page, "<script") || absl::StrContains(page, "<img")) {
    Fail("markup from the input reached the page", what);
  }
}

NETRIG_NO_COVERAGE void CheckSummary(const netrig::NightlySummary& summary) {
  for (const netrig::NightlyFinding& finding : summary.findings) {
    if (finding.where.size() > netrig::kMaxPlacesShown) Fail("unbounded places", finding.signature);
  }
  // Rendering must not throw or crash either.
  (void)netrig::NightlyMarkdown(summary);
  CheckPage(netrig::NightlyHtml(summary, "night", "/out", {{"before", summary}}), "summary.html");
}

// The text as `netrig report` reads a run report or a finding file, drawn into the run's page.
void RunPage(absl::string_view text) {
  absl::StatusOr<nlohmann::json> json = netrig::ParseJsonBounded(text);
  if (!json.ok()) return;
  CheckPage(netrig::RenderHtmlReport(*json, {.source = "input"}), "the run's page");
  if (json->is_object() && json->contains("report")) {
    CheckPage(netrig::RenderHtmlReport((*json)["report"], {.finding_path = "finding.json"}),
              "a finding's page");
  }
}

void FindingFile(absl::string_view text) {
  RunPage(text);
  absl::StatusOr<netrig::Finding> finding = netrig::ParseFindingText(text);
  if (!finding.ok()) return;
  const std::string json = netrig::FindingToJson(*finding).dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  absl::StatusOr<netrig::Finding> again = netrig::ParseFindingText(json);
  if (!again.ok()) Fail("a parsed finding does not parse again", again.status().message());
  (void)netrig::FindingSignature(*again);
  if (finding->command == "udp") CheckRecorded(netrig::UdpOptionTable(), finding->args);
  if (finding->command == "http") CheckRecorded(netrig::HttpOptionTable(), finding->args);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  netrig::NightlyCollector collector;
  switch (data[0] % 6) {
    case 0:
      FindingFile(text);
      return 0;
    case 1:
      collector.StepsText(text);
      break;
    case 2:
      collector.JunitText("junit/asan-unit.xml", text);
      break;
    case 3:
      collector.FuzzSessionText("endpoint_parse", text, "fuzz/endpoint_parse/raw");
      break;
    case 4:
      collector.StressFindingText("stress/asan/udp-finding.json", text);
      collector.StressLogText("stress/asan/udp.log", text);
      break;
    case 5:
      (void)netrig::ParseLibFuzzerOptions(text, "corpora/target.options");
      return 0;
  }
  CheckSummary(collector.Take());
  return 0;
}
