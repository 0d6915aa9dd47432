#include "harness/findings/nightly_summary.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "harness/findings/finding_file.h"
#include "harness/findings/stack_signature.h"
#include "nlohmann/json.hpp"

namespace netrig {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
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

std::string XmlEscape(absl::string_view text) {
  return absl::StrReplaceAll(
      text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}, {"'", "&apos;"}});
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

class Collector {
 public:
  void Add(const std::string& signature, const std::string& source, const std::string& where,
           const std::string& detail) {
    for (NightlyFinding& finding : summary_.findings) {
      if (finding.signature == signature) {
        if (std::find(finding.where.begin(), finding.where.end(), where) == finding.where.end()) {
          finding.where.push_back(where);
        }
        return;
      }
    }
    summary_.findings.push_back({signature, source, {where}, detail});
  }

  void Steps(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> fields = absl::StrSplit(line, '\t');
      fields.resize(5);
      NightlyStep step{fields[0], fields[1], 0, fields[3], fields[4]};
      absl::SimpleAtod(fields[2], &step.seconds);
      summary_.steps.push_back(std::move(step));
    }
  }

  void Junit(const fs::path& file) {
    summary_.junit_files.push_back(file.string());
    const std::string xml = ReadAll(file);
    const std::string where_prefix = file.stem().string();  // "asan-replay"
    for (size_t at = xml.find("<testcase "); at != std::string::npos;
         at = xml.find("<testcase ", at + 1)) {
      const size_t tag_end = xml.find('>', at);
      if (tag_end == std::string::npos) break;
      const absl::string_view tag(xml.data() + at, tag_end - at);
      const std::string status = Attribute(tag, "status");
      if (status == "disabled" || status == "notrun") continue;
      ++summary_.tests_run;
      if (status != "fail") continue;
      ++summary_.tests_failed;
      const std::string name = Attribute(tag, "name");
      size_t end = xml.find("</testcase>", tag_end);
      if (end == std::string::npos) end = xml.size();
      std::string output;
      const size_t out_start = xml.find("<system-out>", tag_end);
      if (out_start != std::string::npos && out_start < end) {
        const size_t out_end = xml.find("</system-out>", out_start);
        output = XmlUnescape(absl::string_view(xml).substr(
            out_start + 12, (out_end == std::string::npos ? end : out_end) - out_start - 12));
      }
      const SanitizerReport report = ParseSanitizerReport(output);
      const std::string where = absl::StrCat(where_prefix, ": ", name);
      if (report.found()) {
        Add(ComputeStackSignature(report).text, "sanitizer", where, file.string());
      } else {
        Add(absl::StrCat("test failed: ", name), "test", where, file.string());
      }
    }
  }

  void Fuzz(const fs::path& fuzz_dir) {
    std::error_code error;
    if (!fs::is_directory(fuzz_dir, error)) return;
    for (fs::directory_iterator it(fuzz_dir, error), end; !error && it != end;
         it.increment(error)) {
      const fs::path session = it->path() / "last_session.json";
      if (!fs::is_regular_file(session, error)) continue;
      const nlohmann::json json =
          nlohmann::json::parse(ReadAll(session), nullptr, /*allow_exceptions=*/false);
      if (!json.is_object() || !json.contains("crashes")) continue;
      const std::string target = json.value("target", it->path().filename().string());
      for (const auto& crash : json["crashes"]) {
        Add(crash.value("signature", "unknown"), "fuzz",
            absl::StrCat("fuzz ", target, " (x", crash.value("count", 1), ")"),
            absl::StrCat(crash.value("dir", ""), "/report.md"));
      }
      if (json.value("crashes_left_raw", 0) > 0) {
        Add(absl::StrCat("fuzz ", target, ": untriaged crashes"), "fuzz",
            absl::StrCat("fuzz ", target), (it->path() / "raw").string());
      }
    }
  }

  void Stress(const fs::path& stress_dir) {
    for (const fs::path& file : FilesUnder(stress_dir, ".json", /*recursive=*/true)) {
      const nlohmann::json json =
          nlohmann::json::parse(ReadAll(file), nullptr, /*allow_exceptions=*/false);
      if (!json.is_object() || json.value("tool", "") != "netrig") continue;
      absl::StatusOr<Finding> finding = FindingFromJson(json);
      if (!finding.ok()) continue;
      Add(FindingSignature(*finding), "stress", file.parent_path().filename().string(),
          file.string());
    }
    for (const fs::path& file : FilesUnder(stress_dir, ".log", /*recursive=*/true)) {
      const SanitizerReport report = ParseSanitizerReport(ReadAll(file));
      if (!report.found()) continue;
      Add(ComputeStackSignature(report).text, "sanitizer", file.stem().string(), file.string());
    }
  }

  NightlySummary Take() { return std::move(summary_); }

 private:
  NightlySummary summary_;
};

}  // namespace

int NightlySummary::failed_steps() const {
  return static_cast<int>(std::count_if(steps.begin(), steps.end(), [](const NightlyStep& step) {
    return step.status == "fail" || step.status == "timeout";
  }));
}

absl::StatusOr<NightlySummary> CollectNightly(const std::string& out_dir) {
  std::error_code error;
  if (!fs::is_directory(out_dir, error)) {
    return absl::NotFoundError(absl::StrCat(out_dir, " is not a directory"));
  }
  const fs::path dir(out_dir);
  Collector collector;
  if (fs::is_regular_file(dir / "steps.tsv", error)) collector.Steps(dir / "steps.tsv");
  for (const fs::path& file : FilesUnder(dir / "junit", ".xml", /*recursive=*/false)) {
    collector.Junit(file);
  }
  collector.Fuzz(dir / "fuzz");
  collector.Stress(dir / "stress");
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
      absl::StrAppend(&md, i + 1, ". **", finding.source, "** `", finding.signature, "`\n",
                      "   - seen in: ", absl::StrJoin(finding.where, "; "), "\n",
                      "   - details: ", finding.detail, "\n");
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
  std::string body;
  int tests = summary.tests_run;
  int failures = summary.tests_failed;
  for (const std::string& file : summary.junit_files) {
    std::string xml = ReadAll(file);
    if (absl::StartsWith(xml, "<?xml")) xml = xml.substr(xml.find("?>") + 2);
    const std::string stem = fs::path(file).stem().string();
    absl::StrReplaceAll({{"<testsuite name=\"(empty)\"",
                          absl::StrCat("<testsuite name=\"", XmlEscape(stem), "\"")}},
                        &xml);
    absl::StrAppend(&body, absl::StripAsciiWhitespace(xml), "\n");
  }
  absl::StrAppendFormat(&body, "<testsuite name=\"nightly.steps\" tests=\"%d\" failures=\"%d\">\n",
                        summary.steps.size(), summary.failed_steps());
  for (const NightlyStep& step : summary.steps) {
    absl::StrAppendFormat(&body,
                          "  <testcase name=\"%s\" classname=\"nightly.steps\" time=\"%.1f\"",
                          XmlEscape(step.name), step.seconds);
    if (step.status == "fail" || step.status == "timeout") {
      absl::StrAppend(&body, ">\n    <failure message=\"", XmlEscape(step.status), ": ",
                      XmlEscape(step.log), "\"/>\n  </testcase>\n");
    } else if (step.status == "skipped") {
      absl::StrAppend(&body, ">\n    <skipped message=\"", XmlEscape(step.note),
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
    absl::StrAppend(&body, "  <testcase name=\"", XmlEscape(finding.signature),
                    "\" classname=\"nightly.findings.", XmlEscape(finding.source),
                    "\">\n    <failure message=\"", XmlEscape(absl::StrJoin(finding.where, "; ")),
                    "\">", XmlEscape(finding.detail), "</failure>\n  </testcase>\n");
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
