#include "harness/workloads/http/http_stress.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/base/sanitizers.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/check/watchdog.h"
#include "harness/drive/driver.h"
#include "harness/drive/latency_histogram.h"
#include "harness/drive/seeds.h"
#include "harness/drive/stress_run.h"
#include "harness/http/curl/h2c_probe.h"
#include "harness/http/http_client.h"
#include "harness/http/server/fault_plan.h"
#include "harness/http/server/server.h"
#include "harness/sched/clock.h"
#include "harness/sched/thread.h"
#include "harness/workloads/http/http_tasks.h"
#include "nlohmann/json.hpp"

namespace netrig {
namespace {

using internal::http_stress::HttpStressWorkload;
using internal::http_stress::kOutcomeNames;

// --no_path_at_start: tasks started this long after the path appeared must not all fail (at
// least kRecoveryMinimumTasks of them for a verdict). Long enough for a connect retry or a
// session replacement; a client that needs longer is slow to recover, which is worth a look.
constexpr absl::Duration kRecoveryGrace = absl::Seconds(2);
constexpr uint64_t kRecoveryMinimumTasks = 20;

// Each of the two requests of the h2c probe of a --target (--h2c_mode=probe).
constexpr absl::Duration kH2cProbeTimeout = absl::Seconds(2);

std::string FormatMicros(int64_t us) {
  if (us >= 10000) return absl::StrFormat("%.1f ms", us / 1000.0);
  return absl::StrFormat("%d us", us);
}

// The workload RunStress drives: the embedded server (or a target), the client, the task side,
// the watchdog and a monitor thread (stuck-task states, the recovery check).
class HttpStress : public StressWorkload {
 public:
  explicit HttpStress(const HttpStressOptions& options) : options_(options) {}
  ~HttpStress() override { Finish(DriveResult{}, /*interrupted=*/true); }

  std::string subject() const override { return options_.client; }
  std::string Describe() const override {
    return absl::StrCat(
        "client ", options_.client, ", ", options_.http, ", target ", url_,
        options_.rate > 0 ? "" : absl::StrCat(", concurrency ", options_.concurrency));
  }

  absl::Status Setup(const StressContext& context) override {
    violations_ = context.violations;
    seed_ = context.seed;
    fault_seed_ = DeriveSeed(seed_, "faults");
    path_appears_ = context.path_appears;
    url_ = options_.target;
    if (!url_.empty() && options_.no_path_at_start > absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "--no_path_at_start needs the embedded server (it resets connections during the "
          "window); it cannot take a --target's path away");
    }
    if (url_.empty()) {
      HttpServerOptions server_options;
      server_options.threads = options_.server_threads;
      absl::StatusOr<std::optional<FaultPlannerOptions>> faults =
          ParseHttpFaultSpec(options_.faults, fault_seed_);
      if (!faults.ok()) return faults.status();
      // The driver, not the server, draws each task's plan (by task identity) and sends it in
      // X-Netrig-Fault: faults then do not depend on the order requests arrive in.
      if (faults->has_value()) planner_ = std::make_unique<FaultPlanner>(**faults);
      server_options.honor_fault_requests = true;
      server_options.reset_connections_until = context.path_appears;
      server_ = std::make_unique<HttpServer>(server_options);
      if (absl::Status started = server_->Start(); !started.ok()) {
        return absl::UnavailableError(
            absl::StrCat("the embedded HTTP server did not start: ", started.ToString()));
      }
      url_ = server_->url() + "/";
    }
    HttpSessionOptions session_options;
    if (absl::Status chosen = ChooseH2cMode(session_options); !chosen.ok()) return chosen;
    absl::StatusOr<std::unique_ptr<HttpClient>> client = MakeHttpClient(options_.client);
    if (!client.ok()) return client.status();
    if (options_.http == "h2c" && !(*client)->Speaks(HttpVersion::kH2cPriorKnowledge)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--http=h2c: client '", options_.client,
          "' speaks HTTP/1.1 only (give --http=1.1; --http=mixed runs it all as 1.1)"));
    }
    tasks_ = std::make_unique<HttpStressWorkload>(options_, seed_, url_, *std::move(client),
                                                  violations_, planner_.get(), session_options);
    watchdog_ = std::make_unique<Watchdog>(
        std::vector<const Ledger*>{&tasks_->ledger()}, violations_, absl::Milliseconds(200),
        options_.status_out, HttpStressWorkload::kCallbackHangAfter);
    monitor_ = Thread("http.monitor", [this] { MonitorLoop(); });
    return absl::OkStatus();
  }

  void AdjustDrive(DriveOptions& drive) override {
    tasks_->set_end(netrig::Now() + drive.duration);
    if (options_.no_path_at_start > absl::ZeroDuration()) {
      tasks_->set_recovery_from(path_appears_ + kRecoveryGrace);
    }
  }

  void Operate(int worker, uint64_t index, absl::Time intended_start) override {
    tasks_->Operate(worker, index, intended_start);
  }
  std::string StatusFragment() override { return tasks_->StatusFragment(); }
  void SampleSeries(SeriesSample& sample) override {
    sample.started = tasks_->tasks_started();
    sample.succeeded = tasks_->by_kind(static_cast<int>(HttpErrorKind::kNone));
    // Cancellations are the workload's own doing, not errors.
    for (int i = 2; i < kHttpErrorKindCount; ++i) {
      sample.errors.emplace_back(kOutcomeNames[i], tasks_->by_kind(i));
    }
    sample.in_flight = tasks_->in_flight();
    if (server_ != nullptr) {
      const HttpServerStats stats = server_->Stats();
      for (int i = 1; i < kFaultKindCount; ++i) {
        sample.faults.emplace_back(std::string(FaultKindName(static_cast<FaultKind>(i))),
                                   stats.requests_by_fault[i]);
      }
      sample.faults.emplace_back("reset_no_path", stats.connections_reset_no_path);
    }
  }
  void SampleBands(std::vector<std::pair<std::string, bool>>& states) override {
    // The embedded server resets every connection until the path appears.
    if (options_.no_path_at_start > absl::ZeroDuration() && server_ != nullptr) {
      states.emplace_back(kBandPathDown, netrig::Now() < path_appears_);
    }
  }
  std::string InFlightUnit() const override { return "tasks"; }
  bool OperationsWedged() const override {
    return hung_ || (watchdog_ != nullptr && watchdog_->hang_reported());
  }

  void Finish(const DriveResult& /*drive*/, bool interrupted) override {
    if (finished_) return;
    finished_ = true;
    // After a hang the client is deadlocked: any call into it (invalidating, destroying) would
    // block this thread too. Its sessions, tasks and the task side are left as they are.
    const bool hung = watchdog_ != nullptr && watchdog_->hang_reported();
    hung_ = hung;  // Finish drops the watchdog; RunStress asks after it.
    if (tasks_ != nullptr && !hung) {
      tasks_->Drain(/*cancel=*/interrupted);  // The run core times the drain.
      watchdog_->CheckNow();
    }
    if (monitor_.joinable()) {
      {
        MutexLock lock(&monitor_mu_);
        monitor_stop_ = true;
        monitor_cv_.Signal();
      }
      monitor_.join();
    }
    if (watchdog_ != nullptr) {
      watchdog_->Stop();
      stuck_ = watchdog_->stuck_reported();
      // A stuck task's state comes from the client, which is deadlocked after a hang.
      if (stuck_ > 0 && !hung) tasks_->PrintStuckStates(options_.status_out);
    }
    if (tasks_ != nullptr) {
      started_ = tasks_->tasks_started();
      CheckRecovery(interrupted);
      after_recovery_point_ = tasks_->tasks_after_recovery_point();
      ok_after_recovery_point_ = tasks_->ok_after_recovery_point();
      for (int requested = 0; requested < 2; ++requested) {
        for (int negotiated = 0; negotiated < 2; ++negotiated) {
          ok_by_version_[requested][negotiated] = tasks_->ok_by_version(requested, negotiated);
        }
        failed_by_requested_[requested] = tasks_->failed_by_requested(requested);
      }
      // The ledger also closes the entries of tasks the client refused: never started.
      completed_ = tasks_->ledger().completed() - tasks_->not_created();
      duplicates_ = tasks_->ledger().duplicate_completions();
      after_close_ = tasks_->ledger().completions_after_close();
      cancelled_ = tasks_->cancelled();
      counters_ = tasks_->Counters();
      latency_ = tasks_->latency().ToJson();
      percentiles_ = {tasks_->latency().Percentile(50), tasks_->latency().Percentile(90),
                      tasks_->latency().Percentile(99), tasks_->latency().Percentile(99.9),
                      tasks_->latency().max_us()};
      for (int i = 2; i < kHttpErrorKindCount; ++i) {
        if (tasks_->by_kind(i) != 0)
          errors_by_kind_.emplace_back(kOutcomeNames[i], tasks_->by_kind(i));
      }
      if (hung) {
        // Never destroyed (see above): the spawners Drive left blocked, the client's own threads
        // and the reaper wait inside the client, and any of them that ever moves on returns into
        // the task side (its own copy of the options, the ledger, the ViolationLog that RunStress
        // keeps alive too) or into the fault planner. Destroying them now would make that a
        // use-after-free of netrig's own, which ASan would report as the client's finding.
        KeepAliveForWedgedThreads(std::shared_ptr<HttpStressWorkload>(std::move(tasks_)));
        KeepAliveForWedgedThreads(std::shared_ptr<FaultPlanner>(std::move(planner_)));
      } else {
        tasks_->DropClient();
        tasks_.reset();  // Joins the reaper.
      }
    }
    watchdog_.reset();
    if (server_ != nullptr) {
      server_->Stop();
      const HttpServerStats stats = server_->Stats();
      faults_injected_ += stats.connections_reset_no_path;
      server_json_ = {{"url", url_},
                      {"connections_accepted", stats.connections_accepted},
                      {"connections_reset_no_path", stats.connections_reset_no_path},
                      {"http1_connections", stats.http1_connections},
                      {"http2_connections", stats.http2_connections},
                      {"requests", stats.requests},
                      {"bad_requests", stats.bad_requests}};
      nlohmann::json faults = nlohmann::json::object();
      for (int i = 1; i < kFaultKindCount; ++i) {
        const uint64_t n = stats.requests_by_fault[i];
        faults_injected_ += n;
        if (n != 0) faults[std::string(FaultKindName(static_cast<FaultKind>(i)))] = n;
      }
      server_json_["requests_by_fault"] = faults;
      server_.reset();
    }
  }

  OperationTally Tally() const override {
    OperationTally tally;
    tally.unit = "tasks";
    tally.ended = completed_ > cancelled_ ? completed_ - cancelled_ : 0;
    std::vector<std::string> parts;
    for (const auto& [kind, n] : errors_by_kind_) {
      tally.failed += n;
      parts.push_back(absl::StrCat(kind, " ", n));
    }
    tally.failures = absl::StrJoin(parts, ", ");
    tally.faults_injected = faults_injected_;
    tally.peer_is_embedded = options_.target.empty();
    return tally;
  }

  void AddReport(const DriveResult& drive, nlohmann::json& report,
                 std::vector<std::pair<std::string, std::string>>& summary) override {
    const double seconds = std::max(absl::ToDoubleSeconds(drive.elapsed), 1e-9);
    uint64_t failed = 0;
    const uint64_t succeeded =
        ok_by_version_[0][0] + ok_by_version_[0][1] + ok_by_version_[1][0] + ok_by_version_[1][1];
    nlohmann::json errors_json = nlohmann::json::object();
    std::vector<std::string> error_parts;
    for (const auto& [kind, n] : errors_by_kind_) {
      failed += n;
      errors_json[kind] = n;
      error_parts.push_back(absl::StrCat(kind, " ", n));
    }
    report.update({
        {"client", options_.client},
        {"http", options_.http},
        {"h2c_mode", h2c_mode_used_.empty() ? nlohmann::json(nullptr)
                                            : nlohmann::json{{"asked", options_.h2c_mode},
                                                             {"used", h2c_mode_used_},
                                                             {"why", h2c_mode_reason_},
                                                             {"probe", h2c_probe_json_}}},
        {"target", url_},
        {"concurrency", options_.concurrency},
        {"threads", options_.threads},
        {"seeds",
         {{"faults", fault_seed_},
          {"spawn", DeriveSeed(seed_, "spawn")},
          {"perturb", options_.perturb_seed.has_value() ? nlohmann::json(*options_.perturb_seed)
                                                        : nlohmann::json(nullptr)}}},
        {"faults", options_.target.empty() ? options_.faults : "none (external target)"},
        {"tasks_started", started_},
        {"tasks_completed", completed_},
        {"tasks_cancelled", cancelled_},
        {"tasks_failed", failed},
        {"errors_by_kind", errors_json},
        {"duplicate_completions", duplicates_},
        {"completions_after_invalidation", after_close_},
        {"stuck_tasks", stuck_},
        {"tasks_per_sec", static_cast<double>(started_) / seconds},
        {"succeeded_per_sec", static_cast<double>(succeeded) / seconds},
        {"by_version", VersionReport()},
        {"completions_per_sec", static_cast<double>(completed_) / seconds},
        {"latency_us", latency_},
        {"counters", counters_},
        {"server", server_json_},
        {"recovery", options_.no_path_at_start > absl::ZeroDuration()
                         ? nlohmann::json{{"grace_s", absl::ToDoubleSeconds(kRecoveryGrace)},
                                          {"tasks_after", after_recovery_point_},
                                          {"succeeded_after", ok_after_recovery_point_}}
                         : nlohmann::json(nullptr)},
    });
    summary = {
        {"http", h2c_mode_used_.empty() ? options_.http
                                        : absl::StrCat(options_.http, ", h2c mode ", h2c_mode_used_,
                                                       " (", h2c_mode_reason_, ")")},
        {"tasks", absl::StrFormat("%d started, %d completed, %d cancelled, %d failed", started_,
                                  completed_, cancelled_, failed)},
        {"rate", absl::StrFormat("%s tasks/s started, %s/s succeeded",
                                 HumanCount(static_cast<double>(started_) / seconds),
                                 HumanCount(static_cast<double>(succeeded) / seconds))},
        {"versions", VersionSummary()},
        {"latency",
         absl::StrFormat("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", FormatMicros(percentiles_[0]),
                         FormatMicros(percentiles_[1]), FormatMicros(percentiles_[2]),
                         FormatMicros(percentiles_[3]), FormatMicros(percentiles_[4]))},
        {"errors", error_parts.empty() ? "none" : absl::StrJoin(error_parts, ", ")},
    };
    if (counters_.is_object() && counters_.contains("sessions_created")) {
      summary.emplace_back(
          "sessions",
          absl::StrFormat("%d created (%d finish+invalidate, %d invalidate+cancel)",
                          counters_["sessions_created"].get<int>(),
                          counters_["sessions_finished_and_invalidated"].get<uint64_t>(),
                          counters_["sessions_invalidated_and_cancelled"].get<uint64_t>()));
      summary.emplace_back(
          "observers",
          absl::StrFormat("%d added, %d removed", counters_["observers_added"].get<uint64_t>(),
                          counters_["observers_removed"].get<uint64_t>()));
      const nlohmann::json& reentrant = counters_["reentrant"];
      summary.emplace_back(
          "re-entrance",
          options_.reentrant_percent == 0
              ? std::string("off (--reentrant=0)")
              : absl::StrFormat(
                    "%d%% of callbacks: %d completions and %d observer callbacks called back in "
                    "(%d follow-up tasks, %d refused by an invalidating session, %d cancels, %d "
                    "invalidations)",
                    options_.reentrant_percent, reentrant["completions_reentered"].get<uint64_t>(),
                    reentrant["observer_callbacks_reentered"].get<uint64_t>(),
                    reentrant["follow_up_tasks"].get<uint64_t>(),
                    reentrant["follow_ups_refused_by_invalidating_session"].get<uint64_t>(),
                    reentrant["cancels_from_callbacks"].get<uint64_t>(),
                    reentrant["invalidations_from_callbacks"].get<uint64_t>()));
    }
    // A target without HTTP/2 answers h2c tasks over HTTP/1.1: the run looks healthy while
    // nothing it meant to test ran.
    const uint64_t h2c_ok = ok_by_version_[1][0] + ok_by_version_[1][1];
    if (h2c_ok > 0 && ok_by_version_[1][0] * 2 > h2c_ok) {
      summary.emplace_back(
          "WARNING",
          absl::StrFormat("%d of the %d tasks that asked for h2c and succeeded ran over HTTP/1.1: "
                          "the target does not speak HTTP/2 cleartext; h2c was not tested",
                          ok_by_version_[1][0], h2c_ok));
    }
    summary.emplace_back(
        "invariants", absl::StrFormat("duplicates %d, after invalidation %d, stuck %d", duplicates_,
                                      after_close_, stuck_));
    if (options_.no_path_at_start > absl::ZeroDuration()) {
      const uint64_t reset =
          server_json_.is_object() && server_json_.contains("connections_reset_no_path")
              ? server_json_["connections_reset_no_path"].get<uint64_t>()
              : 0;
      summary.emplace_back(
          "recovery",
          after_recovery_point_ < kRecoveryMinimumTasks
              ? absl::StrFormat("%d connections reset while there was no path; not judged: only "
                                "%d tasks started %s after the path appeared (need %d)",
                                reset, after_recovery_point_, absl::FormatDuration(kRecoveryGrace),
                                kRecoveryMinimumTasks)
              : absl::StrFormat("%d connections reset while there was no path; %d of %d tasks "
                                "started %s or more after it appeared succeeded",
                                reset, ok_after_recovery_point_, after_recovery_point_,
                                absl::FormatDuration(kRecoveryGrace)));
    }
  }

 private:
  // --h2c_mode: the mode every session uses (none needed for --http 1.1), and why.
  absl::Status ChooseH2cMode(HttpSessionOptions& session_options) {
    if (options_.http == "1.1") return absl::OkStatus();
    if (options_.h2c_mode != "probe") {
      absl::StatusOr<H2cMode> mode = ParseH2cMode(options_.h2c_mode);
      if (!mode.ok()) return mode.status();
      session_options.h2c_mode = *mode;
      h2c_mode_reason_ = "--h2c_mode";
    } else if (options_.target.empty()) {
      session_options.h2c_mode = H2cMode::kEither;
      h2c_mode_reason_ = "the embedded server accepts prior knowledge and Upgrade";
    } else {
      const H2cProbe probe = ProbeH2c(url_, kH2cProbeTimeout);
      session_options.h2c_mode = probe.mode;
      h2c_mode_reason_ = absl::StrCat("probed: ", probe.Describe());
      h2c_probe_json_ = {{"prior_knowledge", probe.prior_knowledge},
                         {"upgrade", probe.upgrade},
                         {"upgrade_declined", probe.upgrade_declined},
                         {"prior_knowledge_answer", probe.prior_knowledge_answer},
                         {"upgrade_answer", probe.upgrade_answer}};
    }
    h2c_mode_used_ = std::string(H2cModeName(session_options.h2c_mode));
    return absl::OkStatus();
  }

  // --no_path_at_start: once kRecoveryMinimumTasks tasks started kRecoveryGrace after the path
  // appeared have ended and none succeeded, the client did not recover (reported once).
  void CheckRecovery(bool interrupted) {
    if (options_.no_path_at_start <= absl::ZeroDuration() || interrupted ||
        recovery_reported_.load()) {
      return;
    }
    const uint64_t after = tasks_->tasks_after_recovery_point();
    if (after < kRecoveryMinimumTasks || tasks_->ok_after_recovery_point() > 0) return;
    if (recovery_reported_.exchange(true)) return;
    violations_->Report(
        "not_recovered_after_path",
        absl::StrFormat("none of the %d tasks started %s or more after the path appeared (at the "
                        "end of the %s no-path window) succeeded: the client did not recover",
                        after, absl::FormatDuration(kRecoveryGrace),
                        absl::FormatDuration(options_.no_path_at_start)));
  }

  // --faults=none against the embedded server: the first failed task is a finding at once (the
  // run core's end-of-run check would wait for the whole duration).
  void CheckNoFailureWithoutFaults() {
    if (options_.faults != "none" || !options_.target.empty() ||
        options_.no_path_at_start > absl::ZeroDuration() || tasks_->errors() == 0 ||
        unexplained_reported_.exchange(true)) {
      return;
    }
    std::vector<std::string> parts;
    for (int i = 2; i < kHttpErrorKindCount; ++i) {
      if (tasks_->by_kind(i) != 0)
        parts.push_back(absl::StrCat(kOutcomeNames[i], " ", tasks_->by_kind(i)));
    }
    violations_->Report(
        "unexplained_failure",
        absl::StrFormat(
            "%d tasks failed so far with no fault injected (--faults=none, netrig's own "
            "server): %s; the first: %s",
            tasks_->errors(), absl::StrJoin(parts, ", "), tasks_->first_failure()));
  }

  void MonitorLoop() {
    uint64_t stuck_printed = 0;
    MutexLock lock(&monitor_mu_);
    while (!monitor_stop_) {
      monitor_cv_.WaitWithTimeout(&monitor_mu_, absl::Milliseconds(100));
      // After a hang the client is deadlocked: asking it for task states would block here too.
      if (watchdog_->stuck_reported() > stuck_printed && !watchdog_->hang_reported()) {
        stuck_printed = watchdog_->stuck_reported();
        tasks_->PrintStuckStates(options_.status_out);
      }
      CheckRecovery(/*interrupted=*/false);
      CheckNoFailureWithoutFaults();
    }
  }

  nlohmann::json VersionReport() const {
    nlohmann::json out = nlohmann::json::object();
    const char* names[2] = {"http1.1", "h2c"};
    for (int requested = 0; requested < 2; ++requested) {
      out[absl::StrCat("asked_", names[requested])] = {
          {"ok_over_http1.1", ok_by_version_[requested][0]},
          {"ok_over_h2c", ok_by_version_[requested][1]},
          {"failed", failed_by_requested_[requested]}};
    }
    return out;
  }

  // "asked HTTP/1.1: 40.1k ok; asked h2c: 39.8k ok over h2c, 12 over HTTP/1.1, 3 failed"
  std::string VersionSummary() const {
    std::vector<std::string> parts;
    for (int requested = 0; requested < 2; ++requested) {
      const uint64_t ok = ok_by_version_[requested][0] + ok_by_version_[requested][1];
      if (ok + failed_by_requested_[requested] == 0) continue;
      std::string part = requested == 0 ? "asked HTTP/1.1: " : "asked h2c: ";
      if (requested == 0) {
        absl::StrAppend(&part, HumanCount(static_cast<double>(ok)), " ok");
        if (ok_by_version_[0][1] > 0) {
          absl::StrAppend(&part, " (", ok_by_version_[0][1], " over h2c)");
        }
      } else {
        absl::StrAppend(&part, HumanCount(static_cast<double>(ok_by_version_[1][1])),
                        " ok over h2c, ", HumanCount(static_cast<double>(ok_by_version_[1][0])),
                        " over HTTP/1.1");
      }
      absl::StrAppend(&part, ", ", failed_by_requested_[requested], " failed");
      parts.push_back(part);
    }
    return parts.empty() ? "no task ended" : absl::StrJoin(parts, "; ");
  }

  const HttpStressOptions& options_;
  ViolationLog* violations_ = nullptr;
  uint64_t seed_ = 0;
  uint64_t fault_seed_ = 0;
  std::string url_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<FaultPlanner> planner_;
  std::unique_ptr<HttpStressWorkload> tasks_;
  std::unique_ptr<Watchdog> watchdog_;
  Thread monitor_;
  Mutex monitor_mu_;
  CondVar monitor_cv_;
  bool monitor_stop_ ABSL_GUARDED_BY(monitor_mu_) = false;
  bool finished_ = false;
  bool hung_ = false;

  // What Finish() captured for the report.
  uint64_t started_ = 0, completed_ = 0, duplicates_ = 0, after_close_ = 0, cancelled_ = 0;
  uint64_t stuck_ = 0, faults_injected_ = 0;
  // [requested][negotiated] successes and [requested] failures; index 0 HTTP/1.1, 1 h2c.
  std::array<std::array<uint64_t, 2>, 2> ok_by_version_{};
  std::array<uint64_t, 2> failed_by_requested_{};
  absl::Time path_appears_;
  std::atomic<bool> recovery_reported_{false};
  std::atomic<bool> unexplained_reported_{false};
  uint64_t after_recovery_point_ = 0, ok_after_recovery_point_ = 0;
  nlohmann::json counters_ = nlohmann::json::object();
  nlohmann::json latency_ = nlohmann::json::object();
  std::array<int64_t, 5> percentiles_{};
  std::vector<std::pair<std::string, uint64_t>> errors_by_kind_;
  nlohmann::json server_json_ = nullptr;
  // --h2c_mode: what the sessions used ("" for --http 1.1), why, and the probe's answers.
  std::string h2c_mode_used_;
  std::string h2c_mode_reason_;
  nlohmann::json h2c_probe_json_ = nullptr;
};

}  // namespace

absl::StatusOr<StressResult> RunHttpStress(HttpStressOptions options) {
  if (absl::Status valid = ValidateHttpStressOptions(options); !valid.ok()) return valid;
  ResolveSeeds(options);
  HttpStress workload(options);
  return RunStress(options, "http", HttpOptionTable().Render(options), workload);
}

}  // namespace netrig
