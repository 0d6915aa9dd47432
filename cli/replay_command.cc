// `netrig replay FILE`: reruns a stress finding file (harness/findings/replay.h) with its
// recorded arguments and seeds, as a child of this very binary, and says whether it reproduced;
// `--promote NAME` then copies a confirmed finding into corpora/regressions/; `--minimize` shrinks
// it first (harness/findings/minimize.h).
//
// A finding file is data, not authority: its arguments are read as the workload's own option
// table reads a file (OptionTable::ParseRecorded): only workload options are taken, output paths
// and --allow_remote are dropped (and said so), NUL bytes and unknown flags refuse the file, a
// recorded --duration is capped at --max_duration, and the workload's validation (loopback
// targets and peers only) applies. What runs, and what --promote writes, is the cleaned list.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/command.h"
#include "harness/base/file_io.h"
#include "harness/base/program_name.h"
#include "harness/base/shell_line.h"
#include "harness/findings/child_process.h"
#include "harness/findings/finding_file.h"
#include "harness/findings/minimize.h"
#include "harness/findings/replay.h"
#include "harness/workloads/http/http_stress.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig::cli {
namespace {

struct ReplayCommandOptions {
  int times = 3;
  int check_determinism = 0;
  bool seed_replay = false;
  std::string expect;
  std::string promote;
  std::string promote_expect = "clean";
  std::string regressions_dir = "corpora/regressions";
  absl::Duration run_timeout = absl::ZeroDuration();
  absl::Duration max_duration = absl::Minutes(5);
  bool minimize = false;
  std::string minimized;
  int minimize_candidates = 40;
};

const OptionTable<ReplayCommandOptions>& ReplayTable() {
  using O = ReplayCommandOptions;
  static const auto* const table = new OptionTable<O>(
      OptionTable<O>()
          .Int("times", &O::times, 1, 1000,
               "Runs: with --expect=reproduce at most this many, stopping at the first that\n"
               "reproduces; with --expect=clean exactly this many, all of which must be clean.")
          .Int("check_determinism", &O::check_determinism, 0, 1000,
               "N > 0: check a controlled finding's determinism instead: N runs, each compared\n"
               "with the recorded schedule; prints how many followed it and why the others may\n"
               "not have (control leakage). Exit 0 when all N did, else 1.")
          .Bool("seed_replay", &O::seed_replay,
                "Replay a controlled finding by its seeds only, even when the file records its\n"
                "schedule (version 2); without it such a finding replays strictly.")
          .Choice("expect", &O::expect, {"reproduce", "clean"},
                  "reproduce (exit 0 when some run reproduces the finding, else 1) or clean (exit\n"
                  "0 when no run has any violation, else 1). A run that times out fails both.\n"
                  "Unset: the file's \"expect\" field, else reproduce.")
          .String("promote", &O::promote,
                  "After confirming that the finding reproduces, copy it (its cleaned arguments)\n"
                  "to --regressions_dir/NAME.json with \"expect\" set to --promote_expect (CTest\n"
                  "then replays it under label replay).",
                  "NAME")
          .Choice("promote_expect", &O::promote_expect, {"clean", "reproduce"},
                  "The expectation a promoted regression records: clean for a real bug (the test\n"
                  "fails until the bug is fixed, then keeps it fixed), reproduce for a seeded bug.")
          .String("regressions_dir", &O::regressions_dir, "Where --promote writes.", "DIR")
          .Duration("run_timeout", &O::run_timeout, absl::ZeroDuration(), absl::Hours(24),
                    "Per-run timeout; 0: three times the (capped) --duration plus a minute.")
          .Duration("max_duration", &O::max_duration, absl::Seconds(1), absl::Hours(24),
                    "A recorded --duration above this is capped to it (and said so).")
          .Bool("minimize", &O::minimize,
                "Shrink the finding while it still reproduces (fewer operations, threads and\n"
                "tasks in flight, no faults, fewer PCT change points, optional behaviours off;\n"
                "each candidate gets --times runs) and write the smallest to --minimized: its\n"
                "own run's file, with its own schedule, which replays strictly.",
                OptionRole::kAction)
          .String("minimized", &O::minimized,
                  "Where --minimize writes; never over an existing file. Default: FILE with\n"
                  "\".min.json\" in place of \".json\".",
                  "FILE", OptionRole::kOutput)
          .Int("minimize_candidates", &O::minimize_candidates, 1, 1000,
               "--minimize: candidates tried at most."));
  return *table;
}

// The recorded arguments of `finding`, cleaned by the option table of its workload.
template <typename T>
absl::StatusOr<std::vector<std::string>> CleanRecorded(const OptionTable<T>& table,
                                                       absl::Status (*validate)(const T&),
                                                       const Finding& finding,
                                                       absl::Duration max_duration,
                                                       std::vector<std::string>* notes) {
  T options;
  options.finding_dir.clear();
  // The cap comes first: a recorded duration past the table's own limit is still capped, not
  // refused.
  std::vector<std::string> recorded = finding.args;
  for (std::string& arg : recorded) {
    absl::string_view value = arg;
    absl::Duration duration;
    if (absl::ConsumePrefix(&value, "--duration=") && absl::ParseDuration(value, &duration) &&
        duration > max_duration) {
      notes->push_back(absl::StrCat("capped --duration at ", absl::FormatDuration(max_duration),
                                    " (recorded ", option_internal::Shorten(value),
                                    "; --max_duration raises the cap)"));
      arg = absl::StrCat("--duration=", absl::FormatDuration(max_duration));
    }
  }
  std::vector<std::string> dropped;
  if (absl::Status parsed = table.ParseRecorded(recorded, options, &dropped); !parsed.ok()) {
    return parsed;
  }
  for (const std::string& arg : dropped) {
    notes->push_back(absl::StrCat("dropped ", arg,
                                  ": a finding file gives only workload options; outputs and "
                                  "--allow_remote come from your own command line"));
  }
  if (!options.seed.has_value()) options.seed = finding.seed;
  if (options.perturb && !options.perturb_seed.has_value()) {
    options.perturb_seed = finding.perturb_seed;
  }
  if (absl::Status valid = validate(options); !valid.ok()) return valid;
  return table.Render(options);
}

absl::StatusOr<std::vector<std::string>> CleanFindingArgs(const Finding& finding,
                                                          absl::Duration max_duration,
                                                          std::vector<std::string>* notes) {
  if (finding.command == "udp") {
    return CleanRecorded(UdpOptionTable(), &ValidateUdpStressOptions, finding, max_duration, notes);
  }
  if (finding.command == "http") {
    return CleanRecorded(HttpOptionTable(), &ValidateHttpStressOptions, finding, max_duration,
                         notes);
  }
  return absl::InvalidArgumentError(absl::StrCat("finding command ",
                                                 option_internal::Quote(finding.command),
                                                 " is not a stress subcommand (udp, http)"));
}

// Where --minimize writes by default: "x.json" -> "x.min.json" (else ".min.json" appended).
std::string MinimizedPath(const std::string& path) {
  absl::string_view stem = path;
  absl::ConsumeSuffix(&stem, ".json");
  return absl::StrCat(stem, ".min.json");
}

// The size of a run, as the summary shows it: its operation bound and schedule length.
std::string SizeOf(const Finding& finding) {
  std::string operations = "unbounded";
  for (const std::string& arg : finding.args) {
    absl::string_view value = arg;
    if (absl::ConsumePrefix(&value, "--operations=") && value != "0") {
      operations = std::string(value);
    }
  }
  std::string size = absl::StrCat("--operations ", operations);
  if (finding.schedule.has_value()) {
    absl::StrAppend(&size, ", ", finding.schedule->steps.size(), " scheduling choices");
  }
  return size;
}

int RunMinimize(const std::string& path, const Finding& finding, const ReplayOptions& replay,
                const ReplayCommandOptions& flags) {
  if (!flags.promote.empty() || flags.check_determinism > 0 || flags.expect == kExpectClean) {
    PrintError("replay",
               "--minimize shrinks a finding that reproduces: not with --promote, "
               "--check_determinism or --expect=clean (minimize first, then promote the result)");
    return kExitUsage;
  }
  const std::string out = flags.minimized.empty() ? MinimizedPath(path) : flags.minimized;
  std::error_code exists_error;
  if (out == kStdoutPath || std::filesystem::exists(out, exists_error)) {
    PrintError("replay", absl::StrCat(out, out == kStdoutPath ? " is standard output" : " exists",
                                      "; --minimized names another file"));
    return kExitUsage;
  }
  // Before the candidates run, not after: a path that cannot be written must not cost them.
  if (absl::Status writable = CheckWritable(out); !writable.ok()) {
    PrintError("replay", absl::StrCat("--minimized: ", writable.message()));
    return kExitUsage;
  }
  MinimizeOptions options;
  options.replay = replay;
  options.max_candidates = flags.minimize_candidates;
  absl::StatusOr<MinimizeResult> result = MinimizeFinding(finding, options);
  if (!result.ok()) {
    if (absl::IsFailedPrecondition(result.status())) {
      std::printf("netrig replay: not minimized: %s\n", result.status().message().data());
      return kExitFinding;
    }
    PrintError("replay",
               absl::StrCat(option_internal::Shorten(path), ": ", result.status().message()));
    return kExitUsage;
  }
  if (result->interrupted) {
    std::printf("netrig replay: minimizing interrupted; nothing written\n");
    return InterruptedExit(SIGINT);
  }
  std::printf("netrig replay: minimized: %d of %zu candidate change(s) kept\n", result->kept,
              result->steps.size());
  for (const MinimizeStep& step : result->steps) {
    if (step.kept) std::printf("  %s\n", step.change.c_str());
  }
  std::printf("netrig replay: %s -> %s\n", SizeOf(finding).c_str(),
              SizeOf(result->smallest).c_str());
  if (result->replays_strictly.has_value()) {
    std::printf("netrig replay: the smallest replayed strictly: %s\n",
                *result->replays_strictly ? "REPRODUCED" : "did not reproduce (see above)");
  }
  if (absl::Status written = WriteFindingFile(out, result->smallest); !written.ok()) {
    PrintError("replay", written.message());
    return kExitUsage;
  }
  std::printf("netrig replay: wrote %s; replay it: %s replay %s\n", out.c_str(),
              ProgramName().c_str(), QuoteForShell(out).c_str());
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

std::string ReplayFlagsHelp() { return ReplayTable().Help(); }

int RunReplay(const std::vector<std::string>& args) {
  ReplayCommandOptions flags;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("replay", ReplayTable(), args, flags);
  if (!positional) return kExitUsage;
  if (positional->size() != 1) {
    PrintError("replay",
               "usage: netrig replay FILE [--times N] [--expect reproduce|clean] [--promote NAME] "
               "[--check_determinism N]");
    return kExitUsage;
  }
  const std::string path = (*positional)[0];
  absl::StatusOr<Finding> finding = ReadFindingFile(path);
  if (!finding.ok()) {
    PrintError("replay", absl::StrCat("bad finding file: ", finding.status().message()));
    return kExitUsage;
  }
  std::vector<std::string> notes;
  absl::StatusOr<std::vector<std::string>> cleaned =
      CleanFindingArgs(*finding, flags.max_duration, &notes);
  if (!cleaned.ok()) {
    PrintError("replay",
               absl::StrCat(path, ": its arguments are refused: ", cleaned.status().message()));
    return kExitUsage;
  }
  finding->args = *std::move(cleaned);
  ReplayOptions options;
  options.times = flags.times;
  options.check_determinism = flags.check_determinism;
  options.strict = !flags.seed_replay;
  // Promotion needs a reproduction, whatever the file or --expect say.
  options.expect = flags.promote.empty() ? flags.expect : std::string(kExpectReproduce);
  options.run_timeout = flags.run_timeout;
  options.log = stdout;
  InterruptFlag interrupt;
  options.interrupts = interrupt.counter();
  std::printf("netrig replay %s: %s, %zu recorded violation(s), signature \"%s\"\n",
              option_internal::Shorten(path).c_str(), finding->command.c_str(),
              finding->violations.size(),
              option_internal::Shorten(FindingSignature(*finding)).c_str());
  if (finding->schedule.has_value()) {
    std::printf(
        "netrig replay: recorded schedule: %s seed %llu, %zu choices over %zu threads, "
        "%zu events, trace %s: %s\n",
        std::string(ScheduleStrategyName(finding->schedule->strategy)).c_str(),
        static_cast<unsigned long long>(finding->schedule->seed), finding->schedule->steps.size(),
        finding->schedule->threads.size(), finding->schedule->events.size(),
        RecordedTraceHash(*finding).c_str(),
        flags.seed_replay ? "replaying by seed (--seed_replay)" : "replaying strictly");
  }
  for (const std::string& note : notes) std::printf("netrig replay: %s\n", note.c_str());
  std::fflush(stdout);
  if (flags.minimize) return RunMinimize(path, *finding, options, flags);
  absl::StatusOr<ReplayResult> result = ReplayFinding(*finding, options);
  if (!result.ok()) {
    PrintError("replay",
               absl::StrCat(option_internal::Shorten(path), ": ", result.status().message()));
    return kExitUsage;
  }
  const size_t runs = result->runs.size();
  if (result->interrupted) {
    std::printf("netrig replay: interrupted after %zu run(s)\n", runs);
    return InterruptedExit(SIGINT);
  }
  if (result->timed_out) {
    std::printf("netrig replay: a run TIMED OUT: a hang fails the replay whatever it expects\n");
  }
  if (flags.check_determinism > 0) {
    const std::string recorded = RecordedTraceHash(*finding);
    std::printf(
        "netrig replay: determinism: %d of %zu run(s) followed the recorded schedule "
        "(trace %s; %d strict), %d reproduced the finding\n",
        result->same_schedule, runs, recorded.c_str(), result->strict_runs, result->reproductions);
    for (size_t i = 0; i < runs; ++i) {
      const ReplayRun& run = result->runs[i];
      if (run.trace_hash == recorded) continue;
      std::printf("  run %zu: trace %s: %s\n", i + 1,
                  run.trace_hash.empty() ? "unknown" : run.trace_hash.c_str(),
                  DivergenceCause(run).c_str());
    }
    std::fflush(stdout);
    return result->passed ? kExitOk : kExitFinding;
  }
  if (result->expect == kExpectClean) {
    std::printf("netrig replay: expect clean: %s (%zu run(s)%s)\n",
                result->passed ? "CLEAN, the fix holds" : "NOT CLEAN, a violation came back", runs,
                result->reproduced ? ", the recorded violation reproduced" : "");
  } else {
    std::printf("netrig replay: expect reproduce: %s after %zu run(s)\n",
                result->passed ? "REPRODUCED" : "DID NOT REPRODUCE", runs);
  }
  if (!flags.promote.empty()) {
    if (!result->passed) {
      std::printf("netrig replay: not promoted: the finding did not reproduce\n");
      return kExitFinding;
    }
    Finding promoted = *finding;
    if (!promoted.exit_code.has_value()) promoted.exit_code = result->runs.back().child.exit_code;
    absl::StatusOr<std::string> written = PromoteFinding(std::move(promoted), flags.regressions_dir,
                                                         flags.promote, flags.promote_expect);
    if (!written.ok()) {
      PrintError("replay", written.status().message());
      return kExitUsage;
    }
    std::printf(
        "netrig replay: promoted to %s (expect %s); commit it, CTest replays it as "
        "replay.regression.<name> after the next configure\n",
        written->c_str(), flags.promote_expect.c_str());
  }
  std::fflush(stdout);
  return result->passed ? kExitOk : kExitFinding;
}

}  // namespace netrig::cli
