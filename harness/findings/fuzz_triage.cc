#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session.h"
#include "harness/findings/fuzz_session_internal.h"
#include "harness/findings/json_input.h"
#include "harness/findings/stack_signature.h"
#include "nlohmann/json.hpp"

namespace netrig::internal::fuzz_session {
namespace {

// The section of a fuzzer's output that is the report: from its header to SUMMARY, at most
// 200 lines.
std::string ReportExcerpt(absl::string_view log, const SanitizerReport& report) {
  if (!report.found()) return std::string(log.substr(0, 4000));
  const size_t start = log.find(report.header);
  absl::string_view rest = start == absl::string_view::npos ? log : log.substr(start);
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(rest, '\n')) {
    lines.push_back(line);
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "SUMMARY:") ||
        lines.size() >= 200) {
      break;
    }
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace

Reproduction Session::Reproduce(const std::string& input, const std::string& log_name) const {
  Reproduction reproduction;
  std::vector<std::string> argv = {target_.fuzzer_binary};
  argv.insert(argv.end(), repro_flags_.begin(), repro_flags_.end());
  argv.push_back(input);
  absl::StatusOr<ChildResult> result = RunChild(
      Child(argv, log_name, absl::Seconds(TimeoutPerInput(repro_flags_) + 30), /*echo=*/false));
  if (result.ok()) reproduction.result = *result;
  const std::string log = ReadFileOrEmpty((fs::path(base_dir_) / log_name).string());
  reproduction.report = ParseSanitizerReport(log);
  reproduction.signature = ComputeStackSignature(reproduction.report, options_.signature_frames);
  reproduction.excerpt = ReportExcerpt(log, reproduction.report);
  return reproduction;
}

std::string Session::ReplayLine(const std::string& input) const {
  std::vector<std::string> argv = {target_.fuzzer_binary};
  argv.insert(argv.end(), repro_flags_.begin(), repro_flags_.end());
  argv.push_back(input);
  return ShellLine(argv);
}

void Session::StoreNewCrash(const fs::path& raw, const Reproduction& reproduction,
                            CrashRecord* record) {
  const fs::path dir(record->dir);
  const std::string name = raw.filename().string();
  std::string input = (dir / "input").string();
  std::string minimization = "not minimized (timeouts and out-of-memory inputs are kept whole)";
  if (absl::StartsWith(name, "crash-") || absl::StartsWith(name, "leak-")) {
    const std::string minimized = (dir / "input.minimized").string();
    std::vector<std::string> argv = {target_.fuzzer_binary};
    argv.insert(argv.end(), repro_flags_.begin(), repro_flags_.end());
    argv.push_back("-minimize_crash=1");
    argv.push_back(absl::StrCat(
        "-max_total_time=", std::max<int64_t>(1, absl::ToInt64Seconds(options_.minimize_time))));
    argv.push_back(absl::StrCat("-exact_artifact_path=", minimized));
    argv.push_back(raw.string());
    RunChild(Child(argv, "minimize.log", options_.minimize_time + absl::Seconds(60), false))
        .IgnoreError();
    std::error_code error;
    if (fs::is_regular_file(minimized, error)) {
      const Reproduction again = Reproduce(minimized, "reproduce-minimized.log");
      if (again.signature.id == reproduction.signature.id) {
        fs::rename(minimized, input, error);
        minimization = absl::StrFormat("minimized from %d to %d bytes", fs::file_size(raw, error),
                                       fs::file_size(input, error));
      } else {
        fs::remove(minimized, error);
        minimization = "the minimized input gave another signature; kept the original";
      }
    } else {
      minimization = "minimization produced nothing; kept the original";
    }
  }
  std::error_code error;
  if (!fs::exists(input, error)) fs::copy_file(raw, input, error);
  record->input = input;
  record->replay_command = ReplayLine(input);
  WriteTextFile((dir / "replay.sh").string(),
                absl::StrCat("#!/bin/sh\n", record->replay_command, "\n"))
      .IgnoreError();
  chmod((dir / "replay.sh").c_str(), 0755);
  const std::string replay_runner = absl::StrCat(options_.paths.root, "/build/<preset>/fuzzers/",
                                                 target_.name, "_replay ", input);
  WriteTextFile((dir / "report.md").string(),
                absl::StrCat("# ", target_.name, ": ", reproduction.signature.text, "\n\n",
                             "- first input: ", name, " (", minimization, ")\n",
                             "- replay (libFuzzer binary): `", record->replay_command, "`\n",
                             "- replay (any preset, TSan included): `", replay_runner, "`\n\n",
                             "```\n", reproduction.excerpt, "\n```\n"))
      .IgnoreError();
}

void Session::Triage() {
  for (const fs::path& raw : FilesIn(raw_dir_)) {
    const std::string name = raw.filename().string();
    if (!(absl::StartsWith(name, "crash-") || absl::StartsWith(name, "leak-") ||
          absl::StartsWith(name, "timeout-") || absl::StartsWith(name, "oom-"))) {
      continue;  // slow-unit-* and anything else: not a finding.
    }
    if (InterruptedAgain()) {
      ++summary_.crashes_left_raw;
      continue;
    }
    ++summary_.crashes_total;
    const Reproduction reproduction = Reproduce(raw.string(), "reproduce.log");
    std::error_code error;
    if (!reproduction.report.found() && reproduction.result.ok()) {
      ++summary_.crashes_unreproduced;
      const fs::path unreproduced = fs::path(crashes_dir_) / "unreproduced";
      fs::create_directories(unreproduced, error);
      fs::rename(raw, unreproduced / name, error);
      continue;
    }
    CrashRecord* record = RecordFor(reproduction.signature);
    const fs::path dir(record->dir);
    const bool first_time = !fs::exists(dir / "crash.json", error);
    fs::create_directories(dir / "originals", error);
    if (first_time) {
      record->new_in_session = true;
      StoreNewCrash(raw, reproduction, record);
    }
    fs::rename(raw, dir / "originals" / name, error);
    UpdateCrashJson(reproduction, record);
  }
}

CrashRecord* Session::RecordFor(const StackSignature& signature) {
  for (CrashRecord& record : summary_.crashes) {
    if (record.id == signature.id) return &record;
  }
  CrashRecord record;
  record.id = signature.id;
  record.signature = signature.text;
  record.dir = (fs::path(crashes_dir_) / signature.id).string();
  summary_.crashes.push_back(record);
  return &summary_.crashes.back();
}

void Session::UpdateCrashJson(const Reproduction& reproduction, CrashRecord* record) {
  const std::string path = (fs::path(record->dir) / "crash.json").string();
  absl::StatusOr<nlohmann::json> read = ParseJsonBounded(ReadFileOrEmpty(path));
  nlohmann::json json = read.ok() ? *std::move(read) : nlohmann::json();
  if (!json.is_object()) {
    json = {{"target", target_.name},
            {"id", record->id},
            {"signature", record->signature},
            {"tool", reproduction.report.tool},
            {"kind", reproduction.report.kind},
            {"frames", reproduction.signature.frames},
            {"input", record->input},
            {"replay_command", record->replay_command},
            {"count", 0},
            {"first_seen", absl::FormatTime(absl::Now())}};
  }
  record->count = static_cast<int>(IntField(json, "count", 0, 1 << 30).value_or(0)) + 1;
  json["count"] = record->count;
  json["last_seen"] = absl::FormatTime(absl::Now());
  record->input = StringField(json, "input").value_or(record->input);
  record->replay_command = StringField(json, "replay_command").value_or(record->replay_command);
  WriteTextFile(path, json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n")
      .IgnoreError();
}

}  // namespace netrig::internal::fuzz_session

namespace netrig {

nlohmann::json CrashRecord::ToJson() const {
  return {{"id", id},
          {"signature", signature},
          {"dir", dir},
          {"input", input},
          {"replay_command", replay_command},
          {"count", count},
          {"new", new_in_session}};
}

}  // namespace netrig
