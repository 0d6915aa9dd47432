#include "harness/findings/nightly_summary.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "harness/base/file_io.h"
#include "harness/base/markup.h"
#include "harness/base/program_name.h"
#include "harness/findings/finding_file.h"
#include "harness/findings/json_input.h"
#include "harness/findings/stack_signature.h"
#include "nlohmann/json.hpp"

namespace netrig {
namespace {

namespace fs = std::filesystem;

// The whole of a regular file (empty when it cannot be read: the summary says what it found,
// and a file it cannot read is not a finding). Bounded: a nightly directory is other people's.
std::string ReadAll(const fs::path& path) {
  absl::StatusOr<std::string> text = ReadFileLimited(path.string(), kMaxJsonFileBytes);
  return text.ok() ? *std::move(text) : std::string();
}

std::vector<fs::path> FilesUnder(const fs::path& dir, absl::string_view extension, bool recursive) {
  std::vector<fs::path> files;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return files;
  if (recursive) {
    for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
         it.increment(error)) {
      if (it->is_regular_file(error) && it->path().extension().string() == extension) {
        files.push_back(it->path());
      }
    }
  } else {
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
      if (it->is_regular_file(error) && it->path().extension().string() == extension) {
        files.push_back(it->path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string XmlUnescape(absl::string_view text) {
  return absl::StrReplaceAll(
      text, {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}});
}

// The value of attribute `name` in the start tag `tag` ("<testcase name=\"x\" ...>").
std::string Attribute(absl::string_view tag, absl::string_view name) {
  const std::string key = absl::StrCat(" ", name, "=\"");
  const size_t at = tag.find(key);
  if (at == absl::string_view::npos) return "";
  const size_t start = at + key.size();
  const size_t end = tag.find('"', start);
  return XmlUnescape(tag.substr(start, end == absl::string_view::npos ? 0 : end - start));
}

}  // namespace

void NightlyCollector::Add(const std::string& signature, const std::string& source,
                           const std::string& where, const std::string& detail,
                           const std::string& replay) {
  auto [it, inserted] = index_.try_emplace(signature, summary_.findings.size());
  if (inserted) {
    summary_.findings.push_back({signature, source, {where}, detail, 0, replay});
    where_seen_.emplace_back();
    where_seen_.back().insert(where);
    return;
  }
  NightlyFinding& finding = summary_.findings[it->second];
  if (finding.replay.empty()) finding.replay = replay;
  if (!where_seen_[it->second].insert(where).second) return;
  if (finding.where.size() < kMaxPlacesShown) {
    finding.where.push_back(where);
  } else {
    ++finding.more_places;
  }
}

void NightlyCollector::StepsText(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields = absl::StrSplit(line, '\t');
    fields.resize(5);
    for (std::string& field : fields) field = Abbreviate(field, 500);
    NightlyStep step{fields[0], fields[1], 0, fields[3], fields[4]};
    if (!absl::SimpleAtod(fields[2], &step.seconds) || !std::isfinite(step.seconds)) {
      step.seconds = 0;
    }
    summary_.steps.push_back(std::move(step));
  }
}

void NightlyCollector::JunitText(const std::string& file, absl::string_view xml) {
  JunitSuite suite;
  suite.name = Abbreviate(fs::path(file).stem().string(), 200);  // "asan-replay"
  // One pass: every search is bounded by the next <testcase, so a file of 100,000 cases is read
  // in linear time.
  size_t at = xml.find("<testcase ");
  while (at != absl::string_view::npos) {
    const size_t next = xml.find("<testcase ", at + 1);
    const size_t limit = next == absl::string_view::npos ? xml.size() : next;
    const absl::string_view block = xml.substr(at, limit - at);
    at = next;
    const size_t tag_end = block.find('>');
    if (tag_end == absl::string_view::npos) continue;
    const absl::string_view tag = block.substr(0, tag_end);
    JunitCase test;
    test.status = Abbreviate(Attribute(tag, "status"), 32);
    if (test.status == "disabled" || test.status == "notrun") continue;
    test.name = Abbreviate(Attribute(tag, "name"), 300);
    double seconds = 0;
    if (absl::SimpleAtod(Attribute(tag, "time"), &seconds) && std::isfinite(seconds)) {
      test.seconds = seconds;
    }
    ++summary_.tests_run;
    if (test.status == "fail") {
      ++summary_.tests_failed;
      std::string output;
      const size_t out_start = block.find("<system-out>", tag_end);
      if (out_start != absl::string_view::npos) {
        const size_t out_end = block.find("</system-out>", out_start);
        output = XmlUnescape(block.substr(
            out_start + 12,
            (out_end == absl::string_view::npos ? block.size() : out_end) - out_start - 12));
      }
      const SanitizerReport report = ParseSanitizerReport(output);
      const std::string where = absl::StrCat(suite.name, ": ", test.name);
      // The suite is "<preset>-<label>": the test reruns alone in its preset's build.
      const std::string replay =
          absl::StrCat("ctest --preset ", suite.name.substr(0, suite.name.find('-')), " -R '^",
                       absl::StrReplaceAll(test.name, {{"'", ""}, {".", "\\."}}), "$'");
      if (report.found()) {
        Add(ComputeStackSignature(report).text, "sanitizer", where, file, replay);
      } else {
        Add(absl::StrCat("test failed: ", test.name), "test", where, file, replay);
      }
      test.output = Abbreviate(output, 64 << 10);
    }
    suite.cases.push_back(std::move(test));
  }
  summary_.junit_suites.push_back(std::move(suite));
}

void NightlyCollector::FuzzSessionText(const std::string& target_dir, absl::string_view text,
                                       const std::string& raw_dir) {
  absl::StatusOr<nlohmann::json> json = ParseJsonBounded(text);
  if (!json.ok() || !json->is_object()) return;
  const std::string target = Abbreviate(StringField(*json, "target").value_or(target_dir), 100);
  const auto crashes = json->find("crashes");
  if (crashes != json->end() && crashes->is_array()) {
    for (const nlohmann::json& crash : *crashes) {
      const std::string signature =
          Abbreviate(StringField(crash, "signature").value_or("unknown"), 500);
      const int64_t count = IntField(crash, "count", 0, int64_t{1} << 40).value_or(1);
      const std::string dir = Abbreviate(StringField(crash, "dir").value_or(""), 500);
      Add(signature, "fuzz", absl::StrCat("fuzz ", target, " (x", count, ")"),
          absl::StrCat(dir, "/report.md"),
          Abbreviate(StringField(crash, "replay_command").value_or(""), 1000));
    }
  }
  NightlyFuzzTarget fuzz;
  fuzz.target = target;
  fuzz.corpus_files = UnsignedField(*json, "corpus_files_after")
                          .value_or(UnsignedField(*json, "corpus_files_before").value_or(0));
  fuzz.new_inputs = UnsignedField(*json, "new_inputs").value_or(0);
  fuzz.coverage = UnsignedField(*json, "coverage").value_or(0);
  fuzz.features = UnsignedField(*json, "features").value_or(0);
  fuzz.execs_per_second = UnsignedField(*json, "execs_per_second").value_or(0);
  const auto seconds = json->find("fuzzing_seconds");
  if (seconds != json->end() && seconds->is_number() && std::isfinite(seconds->get<double>())) {
    fuzz.seconds = seconds->get<double>();
  }
  fuzz.crashes_unique = IntField(*json, "crashes_unique", 0, int64_t{1} << 40).value_or(0);
  summary_.fuzz_targets.push_back(std::move(fuzz));
  if (IntField(*json, "crashes_left_raw", 1, int64_t{1} << 40).has_value()) {
    Add(absl::StrCat("fuzz ", target, ": untriaged crashes"), "fuzz", absl::StrCat("fuzz ", target),
        raw_dir);
  }
}

void NightlyCollector::StressFindingText(const std::string& file, absl::string_view text) {
  absl::StatusOr<Finding> finding = ParseFindingText(text);
  if (!finding.ok()) {
    StressReportText(file, text);
    return;
  }
  Add(FindingSignature(*finding), "stress", fs::path(file).parent_path().filename().string(), file,
      FindingReplayCommand(file));
}

void NightlyCollector::StressReportText(const std::string& file, absl::string_view text) {
  absl::StatusOr<nlohmann::json> json = ParseJsonBounded(text);
  if (!json.ok() || !json->is_object() || !StringField(*json, "command").has_value() ||
      json->contains("tool")) {
    return;
  }
  NightlyStressRun run;
  const fs::path path(file);
  run.name = Abbreviate(path.stem().string(), 200);
  run.report = file;
  fs::path page = path;
  page.replace_extension(".html");
  std::error_code error;
  if (fs::is_regular_file(page, error)) run.page = page.string();
  run.subject = Abbreviate(StringField(*json, "subject").value_or(""), 200);
  const auto tally = json->find("tally");
  if (tally != json->end()) run.unit = Abbreviate(StringField(*tally, "unit").value_or(""), 50);
  const auto rate = json->find("operations_per_sec");
  if (rate != json->end() && rate->is_number() && std::isfinite(rate->get<double>())) {
    run.operations_per_sec = rate->get<double>();
  }
  // Per second of the unit the page shows (datagrams, tasks), from the series when it has one.
  const auto series = json->find("series");
  if (series != json->end() && series->is_object()) {
    const auto started = series->find("started");
    const auto duration = json->find("duration_s");
    if (started != series->end() && started->is_array() && duration != json->end() &&
        duration->is_number() && duration->get<double>() > 0) {
      double total = 0;
      for (const nlohmann::json& n : *started) {
        if (n.is_number()) total += n.get<double>();
      }
      if (std::isfinite(total)) run.operations_per_sec = total / duration->get<double>();
    }
  }
  run.violations = UnsignedField(*json, "violation_count").value_or(0);
  run.exit_code = IntField(*json, "exit_code", -1, 255).value_or(-1);
  summary_.stress_runs.push_back(std::move(run));
}

void NightlyCollector::StressLogText(const std::string& file, absl::string_view text) {
  const SanitizerReport report = ParseSanitizerReport(text);
  if (!report.found()) return;
  Add(ComputeStackSignature(report).text, "sanitizer", fs::path(file).stem().string(), file);
}

NightlySummary NightlyCollector::Take() {
  index_.clear();
  where_seen_.clear();
  return std::move(summary_);
}

namespace {

void CollectFuzz(const fs::path& fuzz_dir, NightlyCollector& collector) {
  std::error_code error;
  if (!fs::is_directory(fuzz_dir, error)) return;
  for (fs::directory_iterator it(fuzz_dir, error), end; !error && it != end; it.increment(error)) {
    const fs::path session = it->path() / "last_session.json";
    if (!fs::is_regular_file(session, error)) continue;
    collector.FuzzSessionText(it->path().filename().string(), ReadAll(session),
                              (it->path() / "raw").string());
  }
}

void CollectStress(const fs::path& stress_dir, NightlyCollector& collector) {
  for (const fs::path& file : FilesUnder(stress_dir, ".json", /*recursive=*/true)) {
    collector.StressFindingText(file.string(), ReadAll(file));
  }
  for (const fs::path& file : FilesUnder(stress_dir, ".log", /*recursive=*/true)) {
    collector.StressLogText(file.string(), ReadAll(file));
  }
}

}  // namespace

int NightlySummary::failed_steps() const {
  return static_cast<int>(std::count_if(steps.begin(), steps.end(), [](const NightlyStep& step) {
    return step.status == "fail" || step.status == "timeout";
  }));
}

absl::StatusOr<NightlySummary> CollectNightly(const std::string& out_dir) {
  std::error_code error;
  if (!fs::is_directory(out_dir, error)) {
    return absl::NotFoundError(absl::StrCat(Abbreviate(out_dir), " is not a directory"));
  }
  const fs::path dir(out_dir);
  NightlyCollector collector;
  if (fs::is_regular_file(dir / "steps.tsv", error))
    collector.StepsText(ReadAll(dir / "steps.tsv"));
  for (const fs::path& file : FilesUnder(dir / "junit", ".xml", /*recursive=*/false)) {
    collector.JunitText(file.string(), ReadAll(file));
  }
  CollectFuzz(dir / "fuzz", collector);
  CollectStress(dir / "stress", collector);
  return collector.Take();
}

std::string NightlyMarkdown(const NightlySummary& summary) {
  std::string md = absl::StrFormat(
      "# netrig nightly: %s\n\n%d finding(s), %d failed or timed-out step(s), %d/%d tests "
      "failed.\n\n",
      summary.clean()            ? "clean"
      : summary.findings.empty() ? "FAILED STEPS"
                                 : "FINDINGS",
      summary.findings.size(), summary.failed_steps(), summary.tests_failed, summary.tests_run);
  if (!summary.findings.empty()) {
    absl::StrAppend(&md, "## Findings (deduplicated by signature)\n\n");
    for (size_t i = 0; i < summary.findings.size(); ++i) {
      const NightlyFinding& finding = summary.findings[i];
      absl::StrAppend(
          &md, i + 1, ". **", finding.source, "** `", finding.signature, "`\n",
          "   - seen in: ", absl::StrJoin(finding.where, "; "),
          finding.more_places > 0 ? absl::StrCat(" and ", finding.more_places, " more places") : "",
          "\n", "   - details: ", finding.detail, "\n",
          finding.replay.empty() ? "" : absl::StrCat("   - replay: `", finding.replay, "`\n"));
    }
    absl::StrAppend(&md, "\n");
  }
  absl::StrAppend(&md,
                  "## Steps\n\n| step | status | seconds | log | note |\n|---|---|---|---|---|\n");
  for (const NightlyStep& step : summary.steps) {
    absl::StrAppend(&md, "| ", step.name, " | ", step.status, " | ",
                    absl::StrFormat("%.0f", step.seconds), " | ", step.log, " | ", step.note,
                    " |\n");
  }
  return md;
}

std::string NightlyJunit(const NightlySummary& summary) {
  // Written from what was parsed, every string escaped: the inputs may be malformed, the output
  // is always well-formed XML.
  std::string body;
  int tests = summary.tests_run;
  int failures = summary.tests_failed;
  for (const JunitSuite& suite : summary.junit_suites) {
    int suite_failures = 0;
    for (const JunitCase& test : suite.cases) suite_failures += test.status == "fail";
    absl::StrAppendFormat(&body, "<testsuite name=\"%s\" tests=\"%d\" failures=\"%d\">\n",
                          MarkupEscape(suite.name), suite.cases.size(), suite_failures);
    for (const JunitCase& test : suite.cases) {
      absl::StrAppendFormat(&body, "  <testcase name=\"%s\" classname=\"%s\" time=\"%.3f\"",
                            MarkupEscape(test.name), MarkupEscape(suite.name), test.seconds);
      if (test.status == "fail") {
        absl::StrAppend(&body, ">\n    <failure message=\"failed\"/>\n    <system-out>",
                        MarkupEscape(test.output), "</system-out>\n  </testcase>\n");
      } else {
        absl::StrAppend(&body, "/>\n");
      }
    }
    absl::StrAppend(&body, "</testsuite>\n");
  }
  absl::StrAppendFormat(&body, "<testsuite name=\"nightly.steps\" tests=\"%d\" failures=\"%d\">\n",
                        summary.steps.size(), summary.failed_steps());
  for (const NightlyStep& step : summary.steps) {
    absl::StrAppendFormat(&body,
                          "  <testcase name=\"%s\" classname=\"nightly.steps\" time=\"%.1f\"",
                          MarkupEscape(step.name), step.seconds);
    if (step.status == "fail" || step.status == "timeout") {
      absl::StrAppend(&body, ">\n    <failure message=\"", MarkupEscape(step.status), ": ",
                      MarkupEscape(step.log), "\"/>\n  </testcase>\n");
    } else if (step.status == "skipped") {
      absl::StrAppend(&body, ">\n    <skipped message=\"", MarkupEscape(step.note),
                      "\"/>\n  </testcase>\n");
    } else {
      absl::StrAppend(&body, "/>\n");
    }
  }
  absl::StrAppend(&body, "</testsuite>\n");
  absl::StrAppendFormat(&body,
                        "<testsuite name=\"nightly.findings\" tests=\"%d\" failures=\"%d\">\n",
                        summary.findings.size(), summary.findings.size());
  for (const NightlyFinding& finding : summary.findings) {
    absl::StrAppend(&body, "  <testcase name=\"", MarkupEscape(finding.signature),
                    "\" classname=\"nightly.findings.", MarkupEscape(finding.source),
                    "\">\n    <failure message=\"",
                    MarkupEscape(absl::StrJoin(finding.where, "; ")), "\">",
                    MarkupEscape(finding.detail), "</failure>\n  </testcase>\n");
  }
  absl::StrAppend(&body, "</testsuite>\n");
  tests += static_cast<int>(summary.steps.size() + summary.findings.size());
  failures += summary.failed_steps() + static_cast<int>(summary.findings.size());
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                      absl::StrFormat("<testsuites name=\"netrig nightly\" tests=\"%d\" "
                                      "failures=\"%d\">\n",
                                      tests, failures),
                      body, "</testsuites>\n");
}

}  // namespace netrig
