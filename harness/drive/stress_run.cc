#include "harness/drive/stress_run.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <iterator>
#include <map>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "harness/base/exit_codes.h"
#include "harness/base/file_io.h"
#include "harness/base/leak_check.h"
#include "harness/base/mutex.h"
#include "harness/base/program_name.h"
#include "harness/base/shell_line.h"
#include "harness/check/live_objects.h"
#include "harness/drive/html_report.h"
#include "harness/drive/report.h"
#include "harness/drive/run_series.h"
#include "harness/drive/seeds.h"
#include "harness/findings/finding_file.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

bool AlreadyReported(const ViolationLog& violations, absl::string_view kind) {
  for (const auto& [reported, count] : violations.CountsByKind()) {
    if (reported == kind && count > 0) return true;
  }
  return false;
}

// --leak_check_interval: quiet LeakSanitizer checks on a thread of their own while traffic runs.
// Their suspicions are only counted: RunStress decides after the run's objects are released.
class MidRunLeakChecks {
 public:
  MidRunLeakChecks(absl::Duration interval, LeakCheckLog* log) {
    if (interval <= absl::ZeroDuration() || !LeakChecksAvailable()) return;
    thread_ = Thread("stress.leak_check", [this, interval, log] {
      MutexLock lock(&mu_);
      absl::Time next = netrig::Now() + interval;
      while (!stop_) {
        if (netrig::Now() < next) {
          cv_.WaitWithTimeout(&mu_, next - netrig::Now());
          continue;
        }
        log->CheckQuietly();
        next = netrig::Now() + interval;
      }
    });
  }
  ~MidRunLeakChecks() { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    {
      MutexLock lock(&mu_);
      stop_ = true;
      cv_.Signal();
    }
    thread_.join();
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Thread thread_;
};

// The first stop signal of the run; 0 while none came.
std::atomic<int> first_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "read and written in a signal handler");

extern "C" void OnStopSignal(int signal_number) {
  int none = 0;
  first_stop_signal.compare_exchange_strong(none, signal_number);
  RequestStop();
}

// SIGINT, SIGTERM and SIGHUP stop the run instead of killing it, while this lives.
class ScopedStopSignals {
 public:
  explicit ScopedStopSignals(bool install) : installed_(install) {
    first_stop_signal.store(0);
    if (!installed_) return;
    struct sigaction action = {};
    action.sa_handler = &OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~ScopedStopSignals() {
    if (!installed_) return;
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
  }
  ScopedStopSignals(const ScopedStopSignals&) = delete;
  ScopedStopSignals& operator=(const ScopedStopSignals&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  const bool installed_;
  std::array<struct sigaction, 3> previous_{};
};

std::string SafeFileNamePart(absl::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    const bool safe = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    out.push_back(safe ? c : '_');
  }
  return out.empty() ? "unnamed" : out;
}

std::string FormatRate(double per_second) { return absl::StrCat(HumanCount(per_second), "/s"); }

ScheduleStrategy StrategyNamed(absl::string_view name) {
  if (name == "pct") return ScheduleStrategy::kPct;
  if (name == "pos") return ScheduleStrategy::kPos;
  return ScheduleStrategy::kRandom;
}

ControlledOptions ControlledSchedulerOptions(const StressOptions& options,
                                             const ScheduleTrace* recorded,
                                             ViolationLog* violations) {
  ControlledOptions controlled;
  if (recorded != nullptr) {
    controlled.replay = recorded->steps;
    controlled.replay_threads = recorded->threads;
    controlled.replay_points = recorded->points;
    controlled.replay_events = recorded->events;
  }
  controlled.strategy = StrategyNamed(options.schedule);
  controlled.seed = options.schedule_seed.value_or(0);
  controlled.pct_depth = options.pct_depth;
  controlled.pct_k = options.pct_steps;
  // A deadlock the schedule ran into is the client's: reported, then every thread runs free
  // (the real threads stay blocked; the run's watchdogs and timeouts take it from there).
  controlled.on_deadlock = [violations](const std::string& description) {
    violations->Report("deadlock", description);
  };
  return controlled;
}

// "perturbation seed N", "perturbation off" or "schedule pct seed N depth 3".
std::string ScheduleDescription(const StressOptions& options,
                                const std::optional<uint64_t>& perturb_seed) {
  if (options.schedule != "off") {
    return absl::StrCat(
        "schedule ", options.schedule, " seed ", options.schedule_seed.value_or(0),
        options.schedule == "pct" ? absl::StrCat(" depth ", options.pct_depth) : std::string());
  }
  return absl::StrCat("perturbation ",
                      perturb_seed.has_value() ? absl::StrCat("seed ", *perturb_seed) : "off");
}

// A strict replay's outcome: how far the recorded choices were followed, and where not.
nlohmann::json StrictReplayReport(const ScheduleTrace& trace, const ScheduleTrace* recorded) {
  if (recorded == nullptr) return nullptr;
  nlohmann::json divergence = nullptr;
  if (trace.diverged) {
    const ScheduleDivergence& detail = trace.divergence_detail;
    divergence = {{"step", detail.step},
                  {"expected_thread", detail.expected_thread},
                  {"expected_point", detail.expected_point},
                  {"actual", detail.actual},
                  {"enabled", detail.enabled},
                  {"text", trace.divergence}};
  }
  return {{"recorded_steps", recorded->steps.size()},
          {"replayed_steps", trace.replayed_steps},
          {"recorded_trace_hash", absl::StrFormat("%016x", recorded->Hash())},
          {"diverged", trace.diverged},
          {"divergence", divergence}};
}

nlohmann::json TraceReport(const StressOptions& options, const ScheduleTrace& trace,
                           const ScheduleTrace* recorded) {
  if (options.schedule == "off") return nullptr;
  return {{"strategy", options.schedule},
          {"seed", options.schedule_seed.value_or(0)},
          {"pct_depth", options.schedule == "pct" ? nlohmann::json(options.pct_depth) : nullptr},
          {"steps", trace.steps.size()},
          {"threads", trace.threads.size()},
          {"points", trace.points.size()},
          {"max_enabled", trace.max_enabled},
          {"watchdog_handoffs", trace.watchdog_handoffs},
          {"uncontrolled_enables", trace.uncontrolled_enables},
          {"trace_hash", absl::StrFormat("%016x", trace.Hash())},
          {"strict_replay", StrictReplayReport(trace, recorded)}};
}

// --json and --html must not name one file (the page would replace the report), nor both
// stdout.
absl::Status CheckDistinctOutputs(absl::string_view json, absl::string_view html) {
  if (json.empty() || html.empty()) return absl::OkStatus();
  bool same = json == html;
  if (!same && json != kStdoutPath && html != kStdoutPath) {
    std::error_code error_json, error_html;
    const std::filesystem::path a =
        std::filesystem::weakly_canonical(std::string(json), error_json);
    const std::filesystem::path b =
        std::filesystem::weakly_canonical(std::string(html), error_html);
    same = !error_json && !error_html && a == b;
  }
  if (!same) return absl::OkStatus();
  return absl::InvalidArgumentError(
      json == kStdoutPath ? "--json and --html cannot both go to stdout"
                          : "--json and --html name the same file; give the page its own name");
}

// A controlled run's last word when a sanitizer ends the process (NetrigBeforeSanitizerExit,
// called from base/sanitizer_defaults.cc): it writes the schedule so far as a finding file, so
// that a use-after-free the schedule ran into can be replayed strictly like any other finding.
std::atomic<std::function<void(int)>*> write_schedule_at_death{nullptr};

// Installs `write` for the scope of a controlled run.
class ScheduleAtDeath {
 public:
  explicit ScheduleAtDeath(std::function<void(int)> write) : write_(std::move(write)) {
    write_schedule_at_death.store(&write_);
  }
  ~ScheduleAtDeath() { write_schedule_at_death.store(nullptr); }
  ScheduleAtDeath(const ScheduleAtDeath&) = delete;
  ScheduleAtDeath& operator=(const ScheduleAtDeath&) = delete;

 private:
  std::function<void(int)> write_;
};

}  // namespace

void ResolveSeeds(StressOptions& options) {
  if (!options.seed.has_value()) options.seed = FreshSeed();
  if (options.perturb && !options.perturb_seed.has_value()) {
    options.perturb_seed = DeriveSeed(*options.seed, "perturb");
  }
  if (!options.perturb || options.schedule != "off") options.perturb_seed.reset();
  if (options.schedule != "off" && !options.schedule_seed.has_value()) {
    options.schedule_seed = DeriveSeed(*options.seed, "schedule");
  }
  if (options.schedule == "off") options.schedule_seed.reset();
  if (options.schedule == "portfolio") {
    const PortfolioMember member = PortfolioMemberFor(*options.schedule_seed);
    options.schedule = member.strategy;
    if (member.pct_depth > 0) options.pct_depth = member.pct_depth;
  }
}

PortfolioMember PortfolioMemberFor(uint64_t schedule_seed) {
  // No one strategy wins on every bug (the README's campaigns): PCT at a small depth finds the
  // shallow orderings, random and POS others. Its own derived seed, so that which member runs
  // does not correlate with the choices the member then makes from the schedule seed.
  static constexpr PortfolioMember kMembers[] = {
      {"random", 0}, {"pct", 1}, {"pct", 2}, {"pct", 3}, {"pos", 0}};
  return kMembers[DeriveSeed(schedule_seed, "portfolio") % std::size(kMembers)];
}

bool StressResult::HasViolation(absl::string_view kind) const {
  return std::any_of(violation_counts.begin(), violation_counts.end(),
                     [&](const auto& count) { return count.first == kind; });
}

std::string StressResult::DescribeViolations() const {
  std::string out;
  for (const Violation& violation : violations) {
    absl::StrAppend(&out, "[", violation.kind, "] ", violation.message, "\n");
  }
  if (violations.size() < violation_total) {
    absl::StrAppend(&out, "... ", violation_total - violations.size(), " more\n");
  }
  return out;
}

std::string FindingPath(absl::string_view dir, absl::string_view command, absl::string_view subject,
                        uint64_t seed, const std::vector<std::string>& kinds) {
  std::string kind_part;
  for (const std::string& kind : kinds) {
    absl::StrAppend(&kind_part, kind_part.empty() ? "" : "+", SafeFileNamePart(kind));
  }
  if (kind_part.empty()) kind_part = "finding";
  const std::string stem = absl::StrCat(dir, "/", SafeFileNamePart(command), "-",
                                        SafeFileNamePart(subject), "-", seed, "-", kind_part);
  std::string path = absl::StrCat(stem, ".json");
  std::error_code error;
  for (int n = 2; std::filesystem::symlink_status(path, error).type() !=
                      std::filesystem::file_type::not_found &&
                  n < 10000;
       ++n) {
    path = absl::StrCat(stem, "-", n, ".json");
  }
  return path;
}

absl::StatusOr<StressResult> RunStress(const StressOptions& options, absl::string_view command,
                                       std::vector<std::string> replay_args,
                                       StressWorkload& workload) {
  if (!options.seed.has_value()) {
    return absl::InvalidArgumentError("RunStress needs resolved seeds (call ResolveSeeds first)");
  }
  // Outputs first: a path that cannot be written must not cost a ten-minute run.
  if (!options.json.empty()) {
    if (absl::Status writable = CheckWritable(options.json); !writable.ok()) {
      return absl::Status(writable.code(), absl::StrCat("--json: ", writable.message()));
    }
  }
  if (!options.html.empty()) {
    if (absl::Status distinct = CheckDistinctOutputs(options.json, options.html); !distinct.ok()) {
      return distinct;
    }
    if (absl::Status writable = CheckWritable(options.html); !writable.ok()) {
      return absl::Status(writable.code(), absl::StrCat("--html: ", writable.message()));
    }
  }
  if (!options.record_schedule.empty()) {
    if (options.schedule == "off") {
      return absl::InvalidArgumentError("--record_schedule needs --schedule");
    }
    if (absl::Status writable = CheckWritable(options.record_schedule); !writable.ok()) {
      return absl::Status(writable.code(), absl::StrCat("--record_schedule: ", writable.message()));
    }
  }
  if (!options.finding_dir.empty()) {
    if (absl::Status ready = PrepareOutputDirectory(options.finding_dir); !ready.ok()) {
      return absl::Status(ready.code(), absl::StrCat("--finding_dir: ", ready.message()));
    }
  }
  // With the JSON or the page on stdout, stdout carries nothing else.
  FILE* const summary_out =
      (options.json == kStdoutPath || options.html == kStdoutPath) && options.summary_out == stdout
          ? stderr
          : options.summary_out;
  const uint64_t seed = *options.seed;
  const bool controlled = options.schedule != "off";
  // Strict replay: the schedule recorded in a finding file.
  std::optional<ScheduleTrace> recorded;
  if (!options.replay_schedule.empty()) {
    if (!controlled) {
      return absl::InvalidArgumentError(
          "--replay_schedule needs --schedule (the recorded strategy and seed)");
    }
    absl::StatusOr<Finding> file = ReadFindingFile(options.replay_schedule);
    if (!file.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--replay_schedule: ", file.status().message()));
    }
    if (!file->schedule.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--replay_schedule: ", options.replay_schedule,
                       " records no schedule (a version 1 file, or a run without --schedule)"));
    }
    recorded = std::move(file->schedule);
  }
  const ScheduleTrace* const recorded_schedule = recorded.has_value() ? &*recorded : nullptr;
  const std::optional<uint64_t> perturb_seed =
      options.perturb && !controlled ? options.perturb_seed : std::optional<uint64_t>();
  // Named after the running program: a user's binary knows flows and clients `netrig` does not.
  std::vector<std::string> replay_words = {ProgramName(), std::string(command)};
  replay_words.insert(replay_words.end(), replay_args.begin(), replay_args.end());
  const std::string replay = ShellLine(replay_words);
  nlohmann::json recipe = {
      {"command", command},
      {"args", replay_args},
      {"seed", seed},
      {"perturb_seed", perturb_seed.has_value() ? nlohmann::json(*perturb_seed) : nullptr},
      {"schedule", options.schedule},
      {"replay", replay}};
  // Shared, not a local: after a hang it must outlive this function (KeepAliveForWedgedThreads).
  const auto violations_owner = std::make_shared<ViolationLog>(recipe);
  ViolationLog& violations = *violations_owner;

  ClearStopRequest();
  ScopedStopSignals signals(options.handle_signals);
  const std::vector<std::pair<std::string, int64_t>> baseline = LiveObjectsSnapshot();
  const std::vector<std::pair<std::string, uint64_t>> created_before = LiveObjectsCreated();

  // Under controlled scheduling every thread the workload starts, from setup to teardown, is
  // run by the scheduler; this thread is its first.
  std::optional<ControlledScheduler> scheduler;
  ScheduleTrace trace;
  if (controlled) {
    scheduler.emplace(ControlledSchedulerOptions(options, recorded_schedule, &violations));
    scheduler->Begin();
  }
  std::optional<ScheduleAtDeath> schedule_at_death;
  if (controlled && (!options.finding_dir.empty() || !options.record_schedule.empty())) {
    schedule_at_death.emplace([&, command](int exit_code) {
      std::optional<ScheduleTrace> so_far = scheduler->Snapshot(absl::Milliseconds(500));
      if (!so_far.has_value()) return;
      Finding finding;
      finding.command = std::string(command);
      finding.args = replay_args;
      finding.seed = seed;
      finding.violations = nlohmann::json::array(
          {{{"kind", "sanitizer_report"},
            {"message", absl::StrCat("a sanitizer ended the run (exit ", exit_code,
                                     "); its report is in the run's output")}}});
      finding.report = {{"schedule", TraceReport(options, *so_far, recorded_schedule)},
                        {"exit_code", exit_code}};
      finding.exit_code = exit_code;
      finding.environment = BuildEnvironment();
      finding.schedule = *std::move(so_far);
      std::vector<std::string> paths;
      if (!options.record_schedule.empty()) paths.push_back(options.record_schedule);
      if (!options.finding_dir.empty()) {
        paths.push_back(FindingPath(options.finding_dir, command, workload.subject(), seed,
                                    {"sanitizer_report"}));
      }
      for (const std::string& path : paths) {
        if (WriteFindingFile(path, finding).ok()) {
          absl::FPrintF(stderr, "netrig %s: the schedule up to the sanitizer's report: %s\n",
                        command, path);
        }
      }
    });
  }
  auto end_control = [&] {
    schedule_at_death.reset();
    if (scheduler.has_value()) {
      trace = scheduler->End();
      scheduler.reset();
    }
  };

  const absl::Time setup_start = netrig::Now();
  StressContext context;
  context.seed = seed;
  context.perturb_seed = perturb_seed;
  context.violations = &violations;
  context.path_appears = setup_start + options.no_path_at_start;
  context.end = context.path_appears + options.duration;
  if (absl::Status ready = workload.Setup(context); !ready.ok()) {
    workload.Finish(DriveResult{}, /*interrupted=*/true);
    end_control();
    return ready;
  }
  if (summary_out != nullptr) {
    absl::FPrintF(summary_out, "netrig %s: %s, %s, seed %d, %s\n  replay: %s\n", command,
                  workload.Describe(),
                  options.rate > 0 ? absl::StrCat("open loop ", HumanCount(options.rate), "/s")
                                   : std::string("closed loop"),
                  seed, ScheduleDescription(options, perturb_seed), replay);
    std::fflush(summary_out);
  }

  const ScheduleOptions previous_schedule = CurrentSchedule();
  if (perturb_seed.has_value()) {
    ConfigureSchedule({.mode = ScheduleMode::kPerturb, .seed = *perturb_seed});
  }
  DriveOptions drive;
  drive.duration = options.no_path_at_start + options.duration;
  drive.threads = options.threads;
  drive.rate = options.rate;
  drive.max_operations = options.operations;
  drive.status_interval = options.status_interval;
  drive.status_out = options.status_out;
  drive.stop_on_violation = options.stop_on_violation;
  RunSeries series;
  drive.series = &series;
  workload.AdjustDrive(drive);
  LeakCheckLog leak_checks;
  // Under controlled scheduling a checking thread would be one more thread to schedule, and a
  // check's pause would differ between a run and its replay: the check after teardown suffices.
  MidRunLeakChecks mid_run_leak_checks(
      controlled ? absl::ZeroDuration() : options.leak_check_interval, &leak_checks);
  const DriveResult driven = Drive(drive, workload, &violations);
  const bool interrupted = StopRequested();
  mid_run_leak_checks.Stop();
  const absl::Time drain_start = netrig::Now();
  workload.Finish(driven, interrupted);
  const absl::Duration drain = netrig::Now() - drain_start;
  // Threads left blocked inside the client may still report into the log if they ever return.
  const bool wedged = workload.OperationsWedged();
  if (wedged) KeepAliveForWedgedThreads(violations_owner);
  end_control();
  ConfigureSchedule(previous_schedule);

  // Every object of the run is released now: what is still alive leaked. Every counter of the
  // program is checked, netrig's and the client's own alike (check/live_objects.h).
  nlohmann::json live_at_end = nlohmann::json::object();
  std::vector<std::string> live_parts;
  for (const auto& [type, change] : LiveObjectsChangedSince(baseline)) {
    if (change <= 0) continue;
    live_at_end[type] = change;
    live_parts.push_back(absl::StrCat(change, " ", type));
  }
  // After a `hang` the workload left the deadlocked client's objects alive on purpose.
  if (!live_parts.empty() && !AlreadyReported(violations, "hang")) {
    violations.Report("live_objects", absl::StrCat("objects still alive after every ", command,
                                                   " object of the run was released: ",
                                                   absl::StrJoin(live_parts, ", ")));
  }
  // The counters the run exercised, with how many objects of each it created: what the check
  // above covered.
  nlohmann::json live_counted = nlohmann::json::object();
  {
    const std::map<std::string, uint64_t> before(created_before.begin(), created_before.end());
    for (const auto& [type, created] : LiveObjectsCreated()) {
      const auto it = before.find(type);
      const uint64_t during = created - (it == before.end() ? 0 : it->second);
      if (during > 0) live_counted[type] = during;
    }
  }
  // Nothing of the run is in flight now: what LeakSanitizer finds unreachable leaked.
  if (leak_checks.Confirm()) {
    violations.Report("leak",
                      absl::StrCat("LeakSanitizer found leaked objects after every ", command,
                                   " object of the run was released (its "
                                   "report, with the allocation stacks, is above)"));
  }

  // The workload's report, then what every run reports.
  nlohmann::json report = nlohmann::json::object();
  std::vector<std::pair<std::string, std::string>> workload_rows;
  workload.AddReport(driven, report, workload_rows);
  const double seconds = std::max(absl::ToDoubleSeconds(driven.elapsed), 1e-9);
  const double achieved = static_cast<double>(driven.operations) / seconds;
  const bool open_loop = options.rate > 0;
  const bool rate_reached =
      !open_loop || driven.operations + driven.operations / 100 + 1 >= driven.intended_operations;
  const OperationTally tally = workload.Tally();
  StressResult result;
  if (tally.ended >= 20 && tally.failed * 2 > tally.ended && tally.failed > tally.faults_injected) {
    result.inconclusive = absl::StrFormat(
        "%d of %d %s failed (%.0f%%) and injected faults explain at most %d: is the target "
        "reachable? A run that cannot reach its peer says nothing about the client.",
        tally.failed, tally.ended, tally.unit,
        100.0 * static_cast<double>(tally.failed) / static_cast<double>(tally.ended),
        tally.faults_injected);
  }
  // With no fault injected, against netrig's own peer or server, every operation must succeed.
  const uint64_t unexplained =
      tally.failed > tally.faults_injected ? tally.failed - tally.faults_injected : 0;
  if (options.faults == "none" && tally.peer_is_embedded &&
      options.no_path_at_start == absl::ZeroDuration() && !interrupted && tally.failed > 0 &&
      !AlreadyReported(violations, "unexplained_failure")) {
    violations.Report(
        "unexplained_failure",
        absl::StrFormat(
            "%d of %d %s failed with no fault injected (--faults=none, netrig's own %s): "
            "%s",
            tally.failed, tally.ended, tally.unit, command == "udp" ? "echo peers" : "server",
            tally.failures.empty() ? "see the summary" : tally.failures));
  }
  std::string interrupted_by;
  if (interrupted) {
    const int signal_number = first_stop_signal.load();
    interrupted_by = signal_number != 0 ? absl::StrCat("signal ", signal_number) : "RequestStop";
  }
  report["command"] = command;
  report["subject"] = workload.subject();
  report["args"] = replay_args;
  report["replay"] = replay;
  report["program"] = ProgramName();
  report["seed"] = seed;
  report["perturb_seed"] = perturb_seed.has_value() ? nlohmann::json(*perturb_seed) : nullptr;
  report["schedule"] = TraceReport(options, trace, recorded_schedule);
  report["stop_reason"] = driven.stop_reason;
  report["interrupted"] = interrupted ? nlohmann::json(interrupted_by) : nullptr;
  report["duration_s"] = seconds;
  report["no_path_at_start_s"] = absl::ToDoubleSeconds(options.no_path_at_start);
  report["drain_s"] = absl::ToDoubleSeconds(drain);
  report["mode"] = open_loop ? "open_loop" : "closed_loop";
  report["rate_target"] = options.rate;
  report["operations"] = driven.operations;
  report["operations_per_sec"] = achieved;
  report["intended_operations"] = driven.intended_operations;
  report["late_starts"] = driven.late_starts;
  report["rate_reached"] = rate_reached;
  report["tally"] = {{"unit", tally.unit},
                     {"ended", tally.ended},
                     {"failed", tally.failed},
                     {"faults_injected", tally.faults_injected}};
  report["tally"]["unexplained_failures"] = unexplained;
  report["inconclusive"] =
      result.inconclusive.empty() ? nullptr : nlohmann::json(result.inconclusive);
  report["live_objects_at_end"] = live_at_end;
  report["live_objects_counted"] = live_counted;
  report["leak_checks"] = LeakChecksAvailable()
                              ? nlohmann::json{{"mid_run", leak_checks.mid_run_checks()},
                                               {"suspected", leak_checks.suspected()},
                                               {"confirmed", leak_checks.confirmed()}}
                              : nlohmann::json(nullptr);
  series.set_units(tally.unit, workload.InFlightUnit());
  report["series"] = series.ToJson();

  result.operations_wedged = wedged;
  result.violation_total = violations.total();
  result.violations = violations.Kept();
  result.violation_counts = violations.CountsByKind();
  if (!violations.empty()) {
    result.exit_code = kExitFinding;
  } else if (interrupted) {
    const int signal_number = first_stop_signal.load();
    result.exit_code = InterruptedExit(signal_number != 0 ? signal_number : SIGINT);
  } else if (!result.inconclusive.empty()) {
    result.exit_code = kExitInconclusive;
  } else {
    result.exit_code = kExitOk;
  }
  report["violations"] = violations.ToJson();
  report["violation_count"] = violations.total();
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [kind, count] : result.violation_counts) counts[kind] = count;
  report["violation_counts"] = counts;
  report["exit_code"] = result.exit_code;

  // The finding first: whatever happens to the report, the finding is kept.
  std::string finding_error;
  Finding finding;
  finding.command = std::string(command);
  finding.args = replay_args;
  finding.seed = seed;
  finding.perturb_seed = perturb_seed;
  finding.violations = report["violations"];
  finding.report = report;
  finding.exit_code = result.exit_code;
  finding.environment = BuildEnvironment();
  if (controlled) finding.schedule = trace;
  if (!options.record_schedule.empty()) {
    if (absl::Status written = WriteFindingFile(options.record_schedule, finding); !written.ok()) {
      std::fprintf(stderr, "netrig %s: error: --record_schedule: %s\n",
                   std::string(command).c_str(), std::string(written.message()).c_str());
      if (result.exit_code == kExitOk) result.exit_code = kExitUsage;
    }
  }
  if (!violations.empty() && !options.finding_dir.empty()) {
    std::vector<std::string> kinds;
    for (const auto& [kind, count] : result.violation_counts) kinds.push_back(kind);
    std::sort(kinds.begin(), kinds.end());
    const std::string path =
        FindingPath(options.finding_dir, command, workload.subject(), seed, kinds);
    if (absl::Status written = WriteFindingFile(path, finding); written.ok()) {
      result.finding_path = path;
      report["finding_file"] = path;
    } else {
      finding_error = std::string(written.message());
    }
  }

  if (summary_out != nullptr) {
    std::vector<std::pair<std::string, std::string>> rows = {
        {command == "udp" ? "flow" : "client", workload.subject()},
        {"duration", absl::StrFormat("%.2f s (%s%s), drain %.2f s", seconds, driven.stop_reason,
                                     interrupted ? absl::StrCat(", ", interrupted_by) : "",
                                     absl::ToDoubleSeconds(drain))},
    };
    if (options.no_path_at_start > absl::ZeroDuration()) {
      rows.emplace_back(
          "no path", absl::StrCat("for the first ", absl::FormatDuration(options.no_path_at_start),
                                  " of traffic, then the path appeared"));
    }
    // More than 1% failed beyond what injected faults explain: worth a look even when no check
    // fired (a target that answers errors, a client that fails quietly).
    if (tally.ended > 0 && unexplained * 100 > tally.ended) {
      rows.emplace_back(
          "WARNING",
          absl::StrFormat(
              "%.1f%% of %s failed beyond what injected faults explain (%d "
              "of %d%s)",
              100.0 * static_cast<double>(unexplained) / static_cast<double>(tally.ended),
              tally.unit, unexplained, tally.ended,
              tally.failures.empty() ? "" : absl::StrCat(": ", tally.failures)));
    }
    if (open_loop) {
      rows.emplace_back("rate", absl::StrFormat("%s of %s target%s, %d late starts",
                                                FormatRate(achieved), FormatRate(options.rate),
                                                rate_reached ? "" : ": DID NOT REACH ITS RATE",
                                                driven.late_starts));
    }
    rows.insert(rows.end(), workload_rows.begin(), workload_rows.end());
    rows.emplace_back("seed",
                      absl::StrFormat("%d (%s)", seed, ScheduleDescription(options, perturb_seed)));
    if (controlled) {
      rows.emplace_back(
          "schedule",
          absl::StrFormat("%d steps over %d threads (at most %d runnable at once), %d watchdog "
                          "handoffs (control leakage), %d wake-ups from uncontrolled threads, "
                          "trace %016x",
                          trace.steps.size(), trace.threads.size(), trace.max_enabled,
                          trace.watchdog_handoffs, trace.uncontrolled_enables, trace.Hash()));
    }
    if (recorded_schedule != nullptr) {
      rows.emplace_back(
          "strict replay",
          trace.diverged
              ? absl::StrFormat("DIVERGED %s (%d of %d recorded choices followed); the %s "
                                "strategy (seed %d) chose from there",
                                trace.divergence, trace.replayed_steps,
                                recorded_schedule->steps.size(), options.schedule,
                                options.schedule_seed.value_or(0))
              : absl::StrFormat("followed all %d recorded choices (recorded trace %016x)",
                                recorded_schedule->steps.size(), recorded_schedule->Hash()));
    }
    if (!live_counted.empty()) {
      std::vector<std::string> counted;
      for (const auto& [type, created] : live_counted.items()) {
        counted.push_back(
            absl::StrCat(type, " ", HumanCount(static_cast<double>(created.get<uint64_t>()))));
      }
      rows.emplace_back("live objects",
                        absl::StrCat(live_parts.empty() ? "back to zero" : "NOT back to zero",
                                     " (created: ", absl::StrJoin(counted, ", "), ")"));
    }
    if (LeakChecksAvailable()) rows.emplace_back("leak checks", leak_checks.Describe());
    if (!result.finding_path.empty()) rows.emplace_back("finding", result.finding_path);
    if (!finding_error.empty()) {
      rows.emplace_back("finding", absl::StrCat("NOT WRITTEN: ", finding_error));
    }
    PrintSummary(summary_out, absl::StrCat("netrig ", command), rows, violations);
    if (!result.inconclusive.empty()) {
      absl::FPrintF(summary_out, "  INCONCLUSIVE: %s\n", result.inconclusive);
    }
    if (!result.finding_path.empty()) {
      absl::FPrintF(summary_out, "  rerun: %s\n", FindingReplayCommand(result.finding_path));
    }
    std::fflush(summary_out);
  }
  if (!options.json.empty()) {
    if (absl::Status written = WriteJsonReport(options.json, report); !written.ok()) {
      // The run's verdict stands (a finding stays exit 1); the lost report is said loudly.
      std::fprintf(stderr, "netrig %s: error: the JSON report was not written: %s\n",
                   std::string(command).c_str(), std::string(written.message()).c_str());
      if (result.exit_code == kExitOk) result.exit_code = kExitUsage;
    }
  }
  if (!options.html.empty()) {
    const std::string page = RenderHtmlReport(report, {.source = "this run"});
    if (absl::Status written = WriteFileAtomically(options.html, page); !written.ok()) {
      std::fprintf(stderr, "netrig %s: error: the HTML page was not written: %s\n",
                   std::string(command).c_str(), std::string(written.message()).c_str());
      if (result.exit_code == kExitOk) result.exit_code = kExitUsage;
    }
  }
  result.report = std::move(report);
  return result;
}

}  // namespace netrig

extern "C" void NetrigBeforeSanitizerExit(int exit_code) {
  std::function<void(int)>* write = netrig::write_schedule_at_death.exchange(nullptr);
  if (write != nullptr) (*write)(exit_code);
}
