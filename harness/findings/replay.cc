#include "harness/findings/replay.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "harness/base/exit_codes.h"
#include "harness/base/program_name.h"
#include "harness/base/shell_line.h"
#include "harness/findings/json_input.h"
#include "harness/findings/temp_dir.h"

namespace netrig {
namespace {

constexpr int kTailLines = 30;

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string output = text.str();
  std::vector<absl::string_view> all = absl::StrSplit(output, '\n');
  if (!all.empty() && all.back().empty()) all.pop_back();
  const size_t first = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string tail;
  for (size_t i = first; i < all.size(); ++i) absl::StrAppend(&tail, all[i], "\n");
  return tail;
}

// The violation kinds in the finding files the child wrote into `dir`.
std::vector<std::string> KindsWritten(const std::string& dir) {
  std::vector<std::string> kinds;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".json") continue;
    absl::StatusOr<Finding> written = ReadFindingFile(entry.path().string());
    if (!written.ok()) continue;
    for (std::string& kind : ViolationKinds(written->violations)) kinds.push_back(kind);
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  return kinds;
}

// The first finding file the child wrote into `dir` that parses; empty if none.
std::optional<Finding> FindingWritten(const std::string& dir) {
  std::error_code error;
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".json") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  for (const std::string& path : paths) {
    absl::StatusOr<Finding> written = ReadFindingFile(path);
    if (written.ok()) return *std::move(written);
  }
  return std::nullopt;
}

// The controlled schedule's trace hash in a finding's report ("" when it ran uncontrolled).
std::string TraceHashOf(const nlohmann::json& report) {
  if (!report.is_object() || !report.contains("schedule")) return "";
  const nlohmann::json& schedule = report["schedule"];
  if (!schedule.is_object() || !schedule.contains("trace_hash") ||
      !schedule["trace_hash"].is_string()) {
    return "";
  }
  return schedule["trace_hash"].get<std::string>();
}

// The schedule of the report the child wrote to `path` (null when none).
nlohmann::json ScheduleWritten(const std::string& path) {
  absl::StatusOr<nlohmann::json> report = ReadJsonFile(path, kMaxFindingFileBytes);
  if (!report.ok() || !report->is_object() || !report->contains("schedule")) return nullptr;
  return (*report)["schedule"];
}

// The schedule report of the finding file the child wrote into `dir` (null if none): a run that
// a sanitizer ended writes no report, only a finding with its schedule so far.
nlohmann::json ScheduleInFindings(const std::string& dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".json") continue;
    absl::StatusOr<Finding> written = ReadFindingFile(entry.path().string());
    if (written.ok() && written->report.is_object() && written->report.contains("schedule")) {
      return written->report["schedule"];
    }
  }
  return nullptr;
}

// A leak finding replays with the slow unwinder on every allocation, so that LeakSanitizer's
// report walks through libraries built without frame pointers (glibc's thread-exit list, libcurl)
// instead of stopping after two frames. It makes allocation-heavy runs about 5x slower, too much
// for every run but right for the one that must show where a leak was allocated. A value the user
// set in ASAN_OPTIONS wins.
std::vector<std::pair<std::string, std::string>> LeakReplayEnvironment() {
  const char* current = std::getenv("ASAN_OPTIONS");
  const std::string options = current == nullptr ? "" : current;
  if (absl::StrContains(options, "fast_unwind_on_malloc")) return {};
  return {{"ASAN_OPTIONS", options.empty() ? "fast_unwind_on_malloc=0"
                                           : absl::StrCat(options, ":fast_unwind_on_malloc=0")}};
}

}  // namespace

std::vector<std::string> ViolationKinds(const nlohmann::json& violations) {
  std::vector<std::string> kinds;
  if (!violations.is_array()) return kinds;
  for (const auto& violation : violations) {
    if (violation.is_object() && violation.contains("kind") && violation["kind"].is_string()) {
      kinds.push_back(violation["kind"].get<std::string>());
    }
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  return kinds;
}

absl::StatusOr<std::string> ResolveExpectation(const Finding& finding,
                                               absl::string_view requested) {
  std::string expect(requested.empty() ? absl::string_view(finding.expect) : requested);
  if (expect.empty()) expect = std::string(kExpectReproduce);
  if (expect != kExpectReproduce && expect != kExpectClean) {
    return absl::InvalidArgumentError(
        absl::StrCat("expectation must be \"reproduce\" or \"clean\", got \"", expect, "\""));
  }
  return expect;
}

absl::Duration DefaultRunTimeout(const Finding& finding) {
  absl::Duration duration = absl::ZeroDuration();
  bool found = false;
  for (const std::string& arg : finding.args) {
    absl::string_view value = arg;
    if (!absl::ConsumePrefix(&value, "--duration=")) continue;
    found = absl::ParseDuration(value, &duration);  // The last one counts, as for the child.
  }
  if (!found) return absl::Minutes(5);
  return 3 * duration + absl::Minutes(1);
}

bool RunReproduces(const Finding& finding, const ChildResult& child,
                   const std::vector<std::string>& kinds) {
  if (!child.exited || child.timed_out) return false;
  if (finding.exit_code.has_value() && IsSanitizerExit(*finding.exit_code)) {
    return child.exit_code == *finding.exit_code;
  }
  if (child.exit_code != 1) return false;
  for (const std::string& wanted : ViolationKinds(finding.violations)) {
    if (!std::binary_search(kinds.begin(), kinds.end(), wanted)) return false;
  }
  return true;
}

std::string RecordedTraceHash(const Finding& finding) {
  if (finding.schedule.has_value()) return absl::StrFormat("%016x", finding.schedule->Hash());
  return TraceHashOf(finding.report);
}

absl::StatusOr<ReplayResult> ReplayFinding(const Finding& finding, const ReplayOptions& options) {
  absl::StatusOr<std::string> expect = ResolveExpectation(finding, options.expect);
  if (!expect.ok()) return expect.status();
  if (options.times < 1) return absl::InvalidArgumentError("times must be at least 1");
  const bool check = options.check_determinism > 0;
  const std::string recorded_trace = RecordedTraceHash(finding);
  if (check && recorded_trace.empty()) {
    return absl::InvalidArgumentError(
        "the finding ran without --schedule: there is no recorded schedule to compare with");
  }
  const int times = check ? options.check_determinism : options.times;
  if (finding.command != "udp" && finding.command != "http") {
    return absl::InvalidArgumentError(absl::StrCat("finding command \"", finding.command,
                                                   "\" is not a stress subcommand (udp, http)"));
  }
  const bool want_clean = *expect == kExpectClean;
  // The children's finding files go here; removed even if this process is killed.
  absl::StatusOr<std::unique_ptr<ScopedTempDir>> work = ScopedTempDir::Create("netrig-replay");
  if (!work.ok()) return work.status();
  const std::string& work_dir = (*work)->path();
  // Strict replay: the child reads the recorded schedule from its own copy of the finding.
  bool strict = options.strict && finding.schedule.has_value();
  const std::string schedule_path = work_dir + "/schedule.json";
  if (strict) {
    if (absl::Status written = WriteFindingFile(schedule_path, finding); !written.ok()) {
      return written;
    }
  }

  ReplayResult result;
  result.expect = *expect;
  const absl::Duration timeout =
      options.run_timeout > absl::ZeroDuration() ? options.run_timeout : DefaultRunTimeout(finding);
  const std::vector<std::string> recorded_kinds = ViolationKinds(finding.violations);
  absl::Status error = absl::OkStatus();
  for (int attempt = 1; attempt <= times; ++attempt) {
    const std::string run_dir = absl::StrCat(work_dir, "/run-", attempt);
    std::error_code ignored;
    std::filesystem::create_directories(run_dir, ignored);
    ChildOptions child;
    child.argv = FindingReplayArgv(finding, options.netrig_binary);
    // Appended last, so they win over any recorded value: the child's finding goes where we
    // read it, not into the user's artifacts.
    child.argv.push_back(absl::StrCat("--finding_dir=", run_dir, "/findings"));
    // The report too: it carries the schedule (trace, leakage) of a clean run as well.
    child.argv.push_back(absl::StrCat("--json=", run_dir, "/report.json"));
    if (strict) child.argv.push_back(absl::StrCat("--replay_schedule=", schedule_path));
    child.output_path = run_dir + "/output.txt";
    child.timeout = timeout;
    child.kill_grace = absl::Seconds(10);
    child.interrupts = options.interrupts;
    // Any interrupt since `netrig replay` started stops it, also one that came before this run
    // began (it was lost, and the run went on to its whole --duration).
    child.interrupts_baseline = 0;
    if (std::binary_search(recorded_kinds.begin(), recorded_kinds.end(), "leak")) {
      child.extra_env = LeakReplayEnvironment();
    }
    if (options.log != nullptr) {
      // The line a person can paste: this program by the name it was started with, not the
      // /proc/self/exe the child is started through.
      std::vector<std::string> shown = child.argv;
      if (!shown.empty() && shown[0] == "/proc/self/exe") shown[0] = ProgramName();
      std::fprintf(options.log, "replay %d/%d: %s\n", attempt, times, ShellLine(shown).c_str());
      std::fflush(options.log);
    }
    absl::StatusOr<ChildResult> ran = RunChild(child);
    if (!ran.ok()) {
      error = ran.status();
      break;
    }
    ReplayRun run;
    run.child = *ran;
    run.output_tail = Tail(child.output_path, kTailLines);
    if (run.child.exited && run.child.exit_code == kExitUsage) {
      error = absl::InvalidArgumentError(
          absl::StrCat("netrig ", finding.command, " rejected the recorded arguments (exit 2):\n",
                       run.output_tail));
      break;
    }
    run.violation_kinds = KindsWritten(run_dir + "/findings");
    run.written = FindingWritten(run_dir + "/findings");
    nlohmann::json schedule = ScheduleWritten(run_dir + "/report.json");
    if (!schedule.is_object()) schedule = ScheduleInFindings(run_dir + "/findings");
    if (schedule.is_object()) {
      run.trace_hash = schedule.value("trace_hash", "");
      run.watchdog_handoffs = schedule.value("watchdog_handoffs", uint64_t{0});
      run.uncontrolled_enables = schedule.value("uncontrolled_enables", uint64_t{0});
      const nlohmann::json replayed = schedule.value("strict_replay", nlohmann::json());
      if (replayed.is_object()) {
        run.strict = true;
        run.replayed_steps = replayed.value("replayed_steps", uint64_t{0});
        run.recorded_steps = replayed.value("recorded_steps", uint64_t{0});
        const nlohmann::json divergence = replayed.value("divergence", nlohmann::json());
        if (divergence.is_object()) run.divergence = divergence.value("text", "");
      }
    }
    if (!recorded_trace.empty() && run.trace_hash == recorded_trace) ++result.same_schedule;
    run.reproduced = RunReproduces(finding, run.child, run.violation_kinds);
    result.reproductions += run.reproduced ? 1 : 0;
    result.strict_runs += run.strict ? 1 : 0;
    run.clean = run.child.ok() && !run.child.timed_out;
    result.reproduced |= run.reproduced;
    result.any_violation |= !run.clean && !run.child.timed_out;
    result.timed_out |= run.child.timed_out;
    result.interrupted |= run.child.interrupted;
    if (options.log != nullptr) {
      std::string tail = run.output_tail;
      if (!tail.empty() && tail.back() != '\n') tail.push_back('\n');
      std::fprintf(options.log, "%s", tail.c_str());
      // A controlled run: say whether the replay followed the recorded schedule.
      std::string schedule_note;
      if (run.strict) {
        absl::StrAppend(&schedule_note, ", strict replay ",
                        run.divergence.empty()
                            ? absl::StrCat("followed all ", run.recorded_steps, " choices")
                            : absl::StrCat("DIVERGED ", run.divergence, " (", run.replayed_steps,
                                           " of ", run.recorded_steps, " choices followed)"));
      } else if (strict) {
        absl::StrAppend(&schedule_note, ", strict replay unknown (no schedule in the report)");
      }
      if (!recorded_trace.empty()) {
        absl::StrAppend(
            &schedule_note,
            run.trace_hash == recorded_trace
                ? absl::StrCat(", same schedule (trace ", recorded_trace, ")")
            : run.trace_hash.empty()
                ? absl::StrCat(", schedule trace unknown (recorded ", recorded_trace, ")")
                : absl::StrCat(", schedule DIVERGED (trace ", run.trace_hash, ", recorded ",
                               recorded_trace, "; ", LeakageCause(run), ")"));
      }
      std::fprintf(options.log, "replay %d/%d: %s, violation kinds [%s] (recorded [%s])%s: %s\n",
                   attempt, times, run.child.Describe().c_str(),
                   absl::StrJoin(run.violation_kinds, ", ").c_str(),
                   absl::StrJoin(recorded_kinds, ", ").c_str(), schedule_note.c_str(),
                   run.child.timed_out ? "TIMED OUT (a hang)"
                   : run.reproduced    ? "REPRODUCED"
                   : run.clean         ? "clean"
                                       : "violation, but not the recorded one");
      std::fflush(options.log);
    }
    // A strict run that could not follow its recording: the next runs replay by seed (a
    // determinism check keeps every run strict: that is what it measures).
    const bool fall_back = strict && !check && !run.divergence.empty();
    result.runs.push_back(std::move(run));
    if (fall_back) {
      strict = false;
      if (options.log != nullptr && attempt < times) {
        std::fprintf(options.log,
                     "replay: the recorded schedule could not be followed; falling back to seed "
                     "replay for the remaining run(s)\n");
        std::fflush(options.log);
      }
    }
    if (result.interrupted || result.timed_out) break;
    if (!check && !want_clean && result.reproduced) break;
  }
  if (!error.ok()) return error;
  result.passed = !result.interrupted && !result.timed_out &&
                  (check        ? result.same_schedule == times
                   : want_clean ? !result.any_violation
                                : result.reproduced);
  return result;
}

std::string DivergenceCause(const ReplayRun& run) {
  std::string strict;
  if (!run.divergence.empty()) {
    strict = absl::StrCat("strict replay diverged ", run.divergence, " (", run.replayed_steps,
                          " of ", run.recorded_steps, " recorded choices followed); ");
  }
  return absl::StrCat(strict, LeakageCause(run));
}

std::string LeakageCause(const ReplayRun& run) {
  if (run.watchdog_handoffs > 0) {
    return absl::StrCat(run.watchdog_handoffs,
                        " watchdog handoff(s): a thread blocked where the scheduler could not see");
  }
  if (run.uncontrolled_enables > 0) {
    return absl::StrCat(run.uncontrolled_enables,
                        " wake-up(s) from threads netrig does not control");
  }
  return "no control leakage recorded: timing the scheduler does not own (a real-clock timer, as "
         "libcurl's, or the kernel)";
}

absl::StatusOr<std::string> PromoteFinding(Finding finding, const std::string& dir,
                                           absl::string_view name, absl::string_view expect) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
               c == '-';
      })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "regression name \"", name, "\" must be letters, digits, '.', '_' and '-' only"));
  }
  if (expect != kExpectReproduce && expect != kExpectClean) {
    return absl::InvalidArgumentError(
        absl::StrCat("expectation must be \"reproduce\" or \"clean\", got \"", expect, "\""));
  }
  std::string file_name(name);
  if (!absl::EndsWith(file_name, ".json")) file_name += ".json";
  const std::string path = (std::filesystem::path(dir) / file_name).string();
  std::error_code error;
  if (std::filesystem::exists(path, error)) {
    return absl::AlreadyExistsError(absl::StrCat(path, " already exists; choose another name"));
  }
  std::filesystem::create_directories(dir, error);
  finding.expect = std::string(expect);
  if (absl::Status written = WriteFindingFile(path, finding); !written.ok()) return written;
  return path;
}

}  // namespace netrig
