#include "harness/base/sanitizers.h"
#include "harness/workloads/http/http_stress.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <queue>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/live_objects.h"
#include "harness/check/violation.h"
#include "harness/check/watchdog.h"
#include "harness/drive/driver.h"
#include "harness/drive/latency_histogram.h"
#include "harness/drive/report.h"
#include "harness/drive/seeds.h"
#include "harness/drive/fault_mix.h"
#include "harness/drive/in_flight.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"
#include "harness/net/loopback.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/clock.h"
#include "harness/sched/thread.h"

#if defined(NETRIG_ASAN)
#include <sanitizer/lsan_interface.h>
#endif

namespace netrig {
namespace {

// Outcome names as literals, for the ledger (HttpErrorKindName's views are literals too, but
// the ledger wants NUL-terminated const char*).
constexpr std::array<const char*, kHttpErrorKindCount> kOutcomeNames = {
    "none",      "cancelled", "timeout",         "connect",   "reset",
    "truncated", "protocol",  "invalid_request", "too_large", "other"};

const char* OutcomeName(HttpErrorKind kind) {
  const int index = static_cast<int>(kind);
  return index >= 0 && index < kHttpErrorKindCount ? kOutcomeNames[index] : "other";
}

// When a task drawn for cancellation is cancelled.
enum class CancelMoment { kBeforeResume, kAfterResume, kAfterDelay, kAfterCompletion };
constexpr int kCancelMoments = 4;
constexpr std::array<const char*, kCancelMoments> kCancelMomentNames = {
    "before_resume", "after_resume", "after_delay", "after_completion"};

// The mild default mix: every fault kind appears, none dominates.
FaultPlannerOptions DefaultFaultMix(uint64_t seed) {
  FaultPlannerOptions options;
  options.seed = seed;
  options[FaultKind::kDelay] = 0.03;
  options[FaultKind::kStatus] = 0.02;
  options[FaultKind::kChunked] = 0.02;
  options[FaultKind::kTruncatedBody] = 0.01;
  options[FaultKind::kResetMidBody] = 0.01;
  options[FaultKind::kSlowDrip] = 0.01;
  options[FaultKind::kCloseAfter] = 0.03;
  options[FaultKind::kOversizedHeaders] = 0.002;
  options[FaultKind::kRstStream] = 0.01;
  options[FaultKind::kGoaway] = 0.005;
  options[FaultKind::kTinyWindow] = 0.01;
  return options;
}

// Cancels tasks at given times from its own thread ("after a random delay", "after completion").
class DelayedCanceller {
 public:
  DelayedCanceller() : thread_("http.canceller", [this] { Loop(); }) {}
  ~DelayedCanceller() { Stop(); }

  void Add(absl::Time when, std::shared_ptr<HttpTask> task) {
    if (task == nullptr) return;
    MutexLock lock(&mu_);
    if (stopping_) {
      // Still cancel, just now, on this thread.
      mu_.Unlock();
      task->Cancel();
      mu_.Lock();
      return;
    }
    queue_.push(Entry{when, sequence_++, std::move(task)});
    cv_.Signal();
  }

  // Fires every pending cancel now and joins the thread.
  void Stop() {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.Signal();
    }
    thread_.join();
  }

 private:
  struct Entry {
    absl::Time when;
    uint64_t sequence;
    std::shared_ptr<HttpTask> task;
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : sequence > other.sequence;
    }
  };

  void Loop() {
    MutexLock lock(&mu_);
    while (true) {
      if (queue_.empty()) {
        if (stopping_) return;
        cv_.Wait(&mu_);
        continue;
      }
      const absl::Time now = netrig::Now();
      if (!stopping_ && queue_.top().when > now) {
        cv_.WaitWithTimeout(&mu_, queue_.top().when - now);
        continue;
      }
      std::shared_ptr<HttpTask> task = queue_.top().task;
      queue_.pop();
      mu_.Unlock();
      SchedulePoint("stress.delayed_cancel");
      task->Cancel();
      task.reset();
      mu_.Lock();
    }
  }

  Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  Thread thread_;
};

// The task side of the workload: spawning, cancelling, sessions, observers, completions.
class HttpStressWorkload {
 public:
  // `planner` (null: none) draws each task's server fault plan, sent as X-Netrig-Fault.
  HttpStressWorkload(const HttpStressOptions& options, uint64_t seed, std::string url,
                     std::unique_ptr<HttpClient> client, ViolationLog* violations,
                     const FaultPlanner* planner)
      : options_(options),
        url_(std::move(url)),
        planner_(planner),
        client_(std::move(client)),
        violations_(violations),
        tasks_(violations, "task", options.task_deadline),
        in_flight_(options.rate <= 0 ? options.concurrency : 0),
        slots_(std::max(options.threads, 1)) {
    const uint64_t spawn_seed = DeriveSeed(seed, "spawn");
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].seed = DeriveSeed(spawn_seed, static_cast<uint64_t>(i));
      slots_[i].worker = i;
    }
    reaper_ = Thread("http.reaper", [this] { ReapLoop(); });
  }

  ~HttpStressWorkload() {
    {
      MutexLock lock(&reap_mu_);
      reaper_stopping_ = true;
    }
    reaper_.join();
  }

  void set_end(absl::Time end) { end_ = end; }
  const Ledger& ledger() const { return tasks_; }
  const LatencyHistogram& latency() const { return latency_; }

  void Operate(int worker, uint64_t /*index*/, absl::Time intended_start) {
    Slot& slot = slots_[worker];
    const bool closed_loop = options_.rate <= 0;
    if (!in_flight_.Acquire(1, [this] {
          return StopRequested() || !violations_->empty() || netrig::Now() >= end_;
        })) {
      return;
    }
    const absl::Time start = closed_loop ? netrig::Now() : intended_start;
    // Every decision about this task comes from its identity (spawner, task number on that
    // spawner), never from arrival order: the same seed makes the same task whatever the timing.
    const uint64_t task_number = slot.tasks++;
    OperationRandom rng(DeriveSeed(slot.seed, task_number));
    if (!EnsureSession(slot)) {
      in_flight_.Release(1);
      return;
    }
    MaybeTouchObservers(slot, rng);

    HttpRequest request;
    request.url = url_;
    request.timeout = options_.request_timeout;
    request.version = PickVersion(rng);
    if (planner_ != nullptr) {
      request.headers.emplace_back(
          "X-Netrig-Fault",
          EncodeFaultPlan(planner_->PlanFor((uint64_t{slot.worker} << 40) | task_number)));
    }

    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const bool cancel = unit(rng) < options_.cancel_probability;
    const auto moment = static_cast<CancelMoment>(
        std::uniform_int_distribution<int>(0, kCancelMoments - 1)(rng));

    auto record = std::make_shared<TaskRecord>();
    record->start = start;
    record->cancel_after_completion = cancel && moment == CancelMoment::kAfterCompletion;
    record->ledger_id = tasks_.Open(slot.scope);
    absl::StatusOr<std::shared_ptr<HttpTask>> task = slot.session->MakeTask(
        std::move(request),
        [this, record](const HttpResult& result) { OnComplete(*record, result); });
    if (!task.ok()) {
      // Our own session, not invalidated: the client refused a valid request.
      violations_->Report("make_task_failed", absl::StrCat("MakeTask on an open session failed: ",
                                                           task.status().ToString()));
      tasks_.Complete(record->ledger_id, "not_created");
      in_flight_.Release(1);
      return;
    }
    record->task = *task;
    TrackLive(record->ledger_id, *task);
    ++slot.tasks_in_session;
    tasks_started_.fetch_add(1, std::memory_order_relaxed);

    if (!cancel) {
      (*task)->Resume();
      return;
    }
    cancels_by_moment_[static_cast<int>(moment)].fetch_add(1, std::memory_order_relaxed);
    switch (moment) {
      case CancelMoment::kBeforeResume:
        tasks_.Note(record->ledger_id, "cancelled_before_resume");
        (*task)->Cancel();
        (*task)->Resume();
        break;
      case CancelMoment::kAfterResume:
        (*task)->Resume();
        tasks_.Note(record->ledger_id, "cancel_after_resume");
        (*task)->Cancel();
        break;
      case CancelMoment::kAfterDelay: {
        (*task)->Resume();
        const absl::Duration delay =
            absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(rng));
        canceller_.Add(netrig::Now() + delay, *task);
        break;
      }
      case CancelMoment::kAfterCompletion:
        (*task)->Resume();
        break;
    }
  }

  std::string StatusFragment() {
    return absl::StrFormat("| in flight %d done %s cancelled %s errors %s sessions %d",
                           in_flight_.in_flight(), HumanCount(tasks_.completed()),
                           HumanCount(cancelled_.load()), HumanCount(errors_.load()),
                           sessions_created_.load());
  }

  // After Drive(): invalidates every spawner's session (tasks finish; with `cancel`, after an
  // interruption or a violation, they are cancelled), waits until all sessions are invalidated
  // and destroyed (bounded; a second Ctrl-C cancels what is left at once), and fires the pending
  // cancels.
  void Drain(bool cancel) {
    for (Slot& slot : slots_) {
      if (slot.session != nullptr) Retire(slot, /*cancel=*/cancel || !violations_->empty());
    }
    const absl::Time give_up_finishing = netrig::Now() + options_.task_deadline + absl::Seconds(2);
    bool escalated = false;
    while (true) {
      {
        MutexLock lock(&reap_mu_);
        if (retiring_.empty()) break;
      }
      if (!escalated && (netrig::Now() >= give_up_finishing || !violations_->empty() ||
                         DrainCutRequested())) {
        // A stuck task keeps FinishTasksAndInvalidate from ending: cancel what is left.
        escalated = true;
        MutexLock lock(&reap_mu_);
        for (Retiring& retiring : retiring_) retiring.session->InvalidateAndCancel();
        escalate_deadline_ = netrig::Now() + absl::Seconds(5);
      }
      netrig::SleepFor(absl::Milliseconds(5));
    }
    canceller_.Stop();
    MutexLock lock(&live_mu_);
    live_tasks_.clear();
  }

  // Client-side states of the tasks the watchdog found stuck.
  void PrintStuckStates(FILE* out) {
    if (out == nullptr) return;
    const std::vector<Ledger::Stuck> stuck = tasks_.Overdue(netrig::Now());
    size_t printed = 0;
    for (const Ledger::Stuck& item : stuck) {
      if (++printed > 20) {
        absl::FPrintF(out, "netrig http: ... and %d more stuck tasks\n", stuck.size() - 20);
        break;
      }
      std::shared_ptr<HttpTask> task;
      {
        MutexLock lock(&live_mu_);
        auto it = live_tasks_.find(item.id);
        if (it != live_tasks_.end()) task = it->second.lock();
      }
      absl::FPrintF(out,
                    "netrig http: stuck task %d (session %d): client state '%s', last noted '%s', "
                    "open for %s\n",
                    item.id, item.scope, task != nullptr ? task->state() : "(released)", item.state,
                    absl::FormatDuration(item.age));
    }
  }

  void DropClient() { client_.reset(); }

  nlohmann::json Counters() const {
    nlohmann::json errors = nlohmann::json::object();
    for (int i = 0; i < kHttpErrorKindCount; ++i) {
      const uint64_t n = by_kind_[i].load();
      if (n != 0) errors[kOutcomeNames[i]] = n;
    }
    nlohmann::json moments = nlohmann::json::object();
    for (int i = 0; i < kCancelMoments; ++i)
      moments[kCancelMomentNames[i]] = cancels_by_moment_[i].load();
    return {{"outcomes", errors},
            {"cancel_moments", moments},
            {"sessions_created", sessions_created_.load()},
            {"sessions_finished_and_invalidated", sessions_finished_.load()},
            {"sessions_invalidated_and_cancelled", sessions_cancelled_.load()},
            {"observers_added", observers_added_.load()},
            {"observers_removed", observers_removed_.load()},
            {"viability_events", viability_events_.load()},
            {"better_path_events", better_path_events_.load()},
            {"stuck_sessions", stuck_sessions_.load()}};
  }

  uint64_t tasks_started() const { return tasks_started_.load(); }
  uint64_t cancelled() const { return cancelled_.load(); }
  uint64_t errors() const { return errors_.load(); }
  uint64_t by_kind(int i) const { return by_kind_[i].load(); }

 private:
  struct TaskRecord {
    uint64_t ledger_id = 0;
    absl::Time start;
    bool cancel_after_completion = false;
    std::atomic<int> completions{0};
    std::weak_ptr<HttpTask> task;  // Set before Resume(), read by the completion.
  };
  // One per spawner thread, touched only by it.
  struct Slot {
    std::unique_ptr<HttpSession> session;
    uint64_t scope = 0;
    int tasks_in_session = 0;
    uint64_t sessions = 0;
    std::vector<ObserverId> observers;
    uint64_t seed = 0;       // The spawner's stream; each task draws from DeriveSeed(seed, n).
    uint64_t worker = 0;
    uint64_t tasks = 0;      // Tasks this spawner made so far.
  };
  struct Retiring {
    std::unique_ptr<HttpSession> session;
    uint64_t scope;
    absl::Time since;
  };

  void OnComplete(TaskRecord& record, const HttpResult& result) {
    SchedulePoint("stress.complete");
    const bool first = record.completions.fetch_add(1, std::memory_order_acq_rel) == 0;
    tasks_.Complete(record.ledger_id, OutcomeName(result.error));
    if (!first) return;  // The ledger reported it.
    const int kind = static_cast<int>(result.error);
    if (kind >= 0 && kind < kHttpErrorKindCount)
      by_kind_[kind].fetch_add(1, std::memory_order_relaxed);
    if (result.error == HttpErrorKind::kCancelled) {
      cancelled_.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (result.error != HttpErrorKind::kNone) errors_.fetch_add(1, std::memory_order_relaxed);
      latency_.Record(netrig::Now() - record.start);
    }
    {
      MutexLock lock(&live_mu_);
      live_tasks_.erase(record.ledger_id);
    }
    if (record.cancel_after_completion) canceller_.Add(netrig::Now(), record.task.lock());
    in_flight_.Release(1);
  }

  HttpVersion PickVersion(OperationRandom& rng) {
    if (options_.http == "h2c") return HttpVersion::kH2cPriorKnowledge;
    if (options_.http == "mixed") {
      return (rng() & 1) != 0 ? HttpVersion::kH2cPriorKnowledge : HttpVersion::kHttp11;
    }
    return HttpVersion::kHttp11;
  }

  bool EnsureSession(Slot& slot) {
    if (slot.session != nullptr && slot.tasks_in_session < options_.tasks_per_session) return true;
    if (slot.session != nullptr) Retire(slot, /*cancel=*/slot.sessions % 2 == 0);
    HttpSessionOptions session_options;
    absl::StatusOr<std::unique_ptr<HttpSession>> session = client_->NewSession(session_options);
    if (!session.ok()) {
      violations_->Report("new_session_failed",
                          absl::StrCat("NewSession failed: ", session.status().ToString()));
      return false;
    }
    slot.session = *std::move(session);
    slot.scope = next_scope_.fetch_add(1, std::memory_order_relaxed);
    slot.tasks_in_session = 0;
    ++slot.sessions;
    sessions_created_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Starts invalidating the slot's session; the reaper destroys it once invalidated.
  void Retire(Slot& slot, bool cancel) {
    SchedulePoint("stress.retire_session");
    const uint64_t scope = slot.scope;
    auto on_invalidated = [this, scope] {
      tasks_.CloseScope(scope, /*require_all_complete=*/true);
    };
    if (cancel) {
      sessions_cancelled_.fetch_add(1, std::memory_order_relaxed);
      slot.session->InvalidateAndCancel(std::move(on_invalidated));
    } else {
      sessions_finished_.fetch_add(1, std::memory_order_relaxed);
      slot.session->FinishTasksAndInvalidate(std::move(on_invalidated));
    }
    slot.observers.clear();
    MutexLock lock(&reap_mu_);
    retiring_.push_back(Retiring{std::move(slot.session), scope, netrig::Now()});
  }

  void MaybeTouchObservers(Slot& slot, OperationRandom& rng) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (unit(rng) >= options_.observer_probability) return;
    if (!slot.observers.empty() && (slot.observers.size() >= 4 || (rng() & 1) != 0)) {
      const size_t at = rng() % slot.observers.size();
      SchedulePoint("stress.remove_observer");
      slot.session->RemoveConnectionObserver(slot.observers[at]);
      slot.observers.erase(slot.observers.begin() + static_cast<ptrdiff_t>(at));
      observers_removed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    ConnectionObserver observer;
    observer.on_viability_changed = [this](const ConnectionInfo&, bool) {
      viability_events_.fetch_add(1, std::memory_order_relaxed);
    };
    observer.on_better_path = [this](const ConnectionInfo&, bool) {
      better_path_events_.fetch_add(1, std::memory_order_relaxed);
    };
    SchedulePoint("stress.add_observer");
    absl::StatusOr<ObserverId> id = slot.session->AddConnectionObserver(std::move(observer));
    if (id.ok()) {
      slot.observers.push_back(*id);
      observers_added_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void TrackLive(uint64_t id, const std::shared_ptr<HttpTask>& task) {
    // Called before Resume() and Cancel(): the task cannot have completed yet.
    MutexLock lock(&live_mu_);
    live_tasks_.emplace(id, task);
  }

  // Destroys retired sessions once invalidated. A session whose invalidation never completes
  // is reported and deliberately leaked: destroying it would block forever.
  void ReapLoop() {
    while (true) {
      std::vector<Retiring> done;
      bool stopping = false;
      {
        MutexLock lock(&reap_mu_);
        stopping = reaper_stopping_;
        const absl::Time now = netrig::Now();
        for (auto it = retiring_.begin(); it != retiring_.end();) {
          const bool escalated_too_long =
              escalate_deadline_ != absl::InfiniteFuture() && now >= escalate_deadline_;
          if (it->session->WaitUntilInvalidated(absl::ZeroDuration())) {
            done.push_back(std::move(*it));
            it = retiring_.erase(it);
          } else if (stopping || escalated_too_long) {
            violations_->Report(
                "stuck_invalidation",
                absl::StrFormat("session %d did not complete invalidation within %s of its start",
                                it->scope, absl::FormatDuration(now - it->since)));
            stuck_sessions_.fetch_add(1, std::memory_order_relaxed);
            it->session.release();  // NOLINT: leaked on purpose, see above.
            it = retiring_.erase(it);
          } else {
            ++it;
          }
        }
      }
      done.clear();  // Destroys the sessions (joins their event threads) outside the lock.
      if (stopping) return;
      netrig::SleepFor(absl::Milliseconds(5));
    }
  }

  const HttpStressOptions& options_;
  const std::string url_;
  const FaultPlanner* const planner_;
  std::unique_ptr<HttpClient> client_;
  ViolationLog* const violations_;
  Ledger tasks_;
  LatencyHistogram latency_;
  InFlightBudget in_flight_;  // Tasks; bounded by --concurrency in closed loop.
  DelayedCanceller canceller_;
  std::vector<Slot> slots_;
  absl::Time end_ = absl::InfiniteFuture();

  std::atomic<uint64_t> next_scope_{1};
  std::atomic<uint64_t> tasks_started_{0};
  std::atomic<uint64_t> cancelled_{0};
  std::atomic<uint64_t> errors_{0};
  std::array<std::atomic<uint64_t>, kHttpErrorKindCount> by_kind_{};
  std::array<std::atomic<uint64_t>, kCancelMoments> cancels_by_moment_{};
  std::atomic<int> sessions_created_{0};
  std::atomic<uint64_t> sessions_finished_{0};
  std::atomic<uint64_t> sessions_cancelled_{0};
  std::atomic<uint64_t> observers_added_{0};
  std::atomic<uint64_t> observers_removed_{0};
  std::atomic<uint64_t> viability_events_{0};
  std::atomic<uint64_t> better_path_events_{0};
  std::atomic<uint64_t> stuck_sessions_{0};

  Mutex live_mu_;
  absl::flat_hash_map<uint64_t, std::weak_ptr<HttpTask>> live_tasks_ ABSL_GUARDED_BY(live_mu_);

  Mutex reap_mu_;
  std::vector<Retiring> retiring_ ABSL_GUARDED_BY(reap_mu_);
  bool reaper_stopping_ ABSL_GUARDED_BY(reap_mu_) = false;
  absl::Time escalate_deadline_ ABSL_GUARDED_BY(reap_mu_) = absl::InfiniteFuture();
  Thread reaper_;
};

// Runs a recoverable LeakSanitizer check (ASan builds); true if it found leaks.
[[maybe_unused]] bool LeakCheckFoundLeaks() {
#if defined(NETRIG_ASAN)
  return __lsan_do_recoverable_leak_check() != 0;
#else
  return false;
#endif
}

std::string FormatMicros(int64_t us) {
  if (us >= 10000) return absl::StrFormat("%.1f ms", us / 1000.0);
  return absl::StrFormat("%d us", us);
}

}  // namespace

namespace {

// The workload RunStress drives: the embedded server (or a target), the client, the task side,
// the watchdog and a monitor thread (stuck-task states, periodic leak checks).
class HttpStress : public StressWorkload {
 public:
  explicit HttpStress(const HttpStressOptions& options) : options_(options) {}
  ~HttpStress() override { Finish(DriveResult{}, /*interrupted=*/true); }

  std::string subject() const override { return options_.client; }
  std::string Describe() const override {
    return absl::StrCat("client ", options_.client, ", ", options_.http, ", target ", url_,
                        options_.rate > 0
                            ? ""
                            : absl::StrCat(", concurrency ", options_.concurrency));
  }

  absl::Status Setup(const StressContext& context) override {
    violations_ = context.violations;
    seed_ = context.seed;
    fault_seed_ = DeriveSeed(seed_, "faults");
    url_ = options_.target;
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
      server_ = std::make_unique<HttpServer>(server_options);
      if (absl::Status started = server_->Start(); !started.ok()) {
        return absl::UnavailableError(
            absl::StrCat("the embedded HTTP server did not start: ", started.ToString()));
      }
      url_ = server_->url() + "/";
    }
    absl::StatusOr<std::unique_ptr<HttpClient>> client = MakeHttpClient(options_.client);
    if (!client.ok()) return client.status();
    tasks_ = std::make_unique<HttpStressWorkload>(options_, seed_, url_, *std::move(client),
                                                  violations_, planner_.get());
    watchdog_ = std::make_unique<Watchdog>(std::vector<const Ledger*>{&tasks_->ledger()},
                                           violations_, absl::Milliseconds(200),
                                           options_.status_out);
    monitor_ = Thread("http.monitor", [this] { MonitorLoop(); });
    return absl::OkStatus();
  }

  void AdjustDrive(DriveOptions& /*drive*/) override {
    tasks_->set_end(netrig::Now() + options_.duration);
  }

  void Operate(int worker, uint64_t index, absl::Time intended_start) override {
    tasks_->Operate(worker, index, intended_start);
  }
  std::string StatusFragment() override { return tasks_->StatusFragment(); }

  void Finish(const DriveResult& /*drive*/, bool interrupted) override {
    if (finished_) return;
    finished_ = true;
    if (tasks_ != nullptr) {
      const absl::Time drain_start = netrig::Now();
      tasks_->Drain(/*cancel=*/interrupted);
      drain_time_ = netrig::Now() - drain_start;
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
      if (stuck_ > 0) tasks_->PrintStuckStates(options_.status_out);
    }
    if (tasks_ != nullptr) {
      started_ = tasks_->tasks_started();
      completed_ = tasks_->ledger().completed();
      duplicates_ = tasks_->ledger().duplicate_completions();
      after_close_ = tasks_->ledger().completions_after_close();
      cancelled_ = tasks_->cancelled();
      counters_ = tasks_->Counters();
      latency_ = tasks_->latency().ToJson();
      percentiles_ = {tasks_->latency().Percentile(50), tasks_->latency().Percentile(90),
                      tasks_->latency().Percentile(99), tasks_->latency().Percentile(99.9),
                      tasks_->latency().max_us()};
      for (int i = 2; i < kHttpErrorKindCount; ++i) {
        if (tasks_->by_kind(i) != 0) errors_by_kind_.emplace_back(kOutcomeNames[i], tasks_->by_kind(i));
      }
      tasks_->DropClient();
      tasks_.reset();  // Joins the reaper.
    }
    watchdog_.reset();
    if (server_ != nullptr) {
      server_->Stop();
      const HttpServerStats stats = server_->Stats();
      server_json_ = {{"url", url_},
                      {"connections_accepted", stats.connections_accepted},
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
#if defined(NETRIG_ASAN)
    if (violations_ != nullptr && LeakCheckFoundLeaks()) {
      leak_reports_.fetch_add(1);
      violations_->Report("leak", "LeakSanitizer found leaked objects at the end of the run");
    }
#endif
  }

  OperationTally Tally() const override {
    OperationTally tally;
    tally.unit = "tasks";
    tally.ended = completed_ > cancelled_ ? completed_ - cancelled_ : 0;
    for (const auto& [kind, n] : errors_by_kind_) tally.failed += n;
    tally.faults_injected = faults_injected_;
    return tally;
  }

  void AddReport(const DriveResult& drive, nlohmann::json& report,
                 std::vector<std::pair<std::string, std::string>>& summary) override {
    const double seconds = std::max(absl::ToDoubleSeconds(drive.elapsed), 1e-9);
    uint64_t failed = 0;
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
        {"leak_reports", leak_reports_.load()},
        {"tasks_per_sec", static_cast<double>(started_) / seconds},
        {"completions_per_sec", static_cast<double>(completed_) / seconds},
        {"latency_us", latency_},
        {"counters", counters_},
        {"server", server_json_},
    });
    summary = {
        {"http", options_.http},
        {"tasks", absl::StrFormat("%d started, %d completed, %d cancelled, %d failed", started_,
                                  completed_, cancelled_, failed)},
        {"rate", absl::StrFormat("%s tasks/s", HumanCount(static_cast<double>(started_) / seconds))},
        {"latency", absl::StrFormat("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
                                    FormatMicros(percentiles_[0]), FormatMicros(percentiles_[1]),
                                    FormatMicros(percentiles_[2]), FormatMicros(percentiles_[3]),
                                    FormatMicros(percentiles_[4]))},
        {"errors", error_parts.empty() ? "none" : absl::StrJoin(error_parts, ", ")},
    };
    if (counters_.is_object() && counters_.contains("sessions_created")) {
      summary.emplace_back(
          "sessions", absl::StrFormat("%d created (%d finish+invalidate, %d invalidate+cancel)",
                                      counters_["sessions_created"].get<int>(),
                                      counters_["sessions_finished_and_invalidated"].get<uint64_t>(),
                                      counters_["sessions_invalidated_and_cancelled"].get<uint64_t>()));
      summary.emplace_back(
          "observers", absl::StrFormat("%d added, %d removed",
                                       counters_["observers_added"].get<uint64_t>(),
                                       counters_["observers_removed"].get<uint64_t>()));
    }
    summary.emplace_back("invariants",
                         absl::StrFormat("duplicates %d, after invalidation %d, stuck %d",
                                         duplicates_, after_close_, stuck_));
  }

 private:
  void MonitorLoop() {
    uint64_t stuck_printed = 0;
    absl::Time next_leak_check = netrig::Now() + options_.leak_check_interval;
    MutexLock lock(&monitor_mu_);
    while (!monitor_stop_) {
      monitor_cv_.WaitWithTimeout(&monitor_mu_, absl::Milliseconds(100));
      if (watchdog_->stuck_reported() > stuck_printed) {
        stuck_printed = watchdog_->stuck_reported();
        tasks_->PrintStuckStates(options_.status_out);
      }
#if defined(NETRIG_ASAN)
      if (netrig::Now() >= next_leak_check) {
        next_leak_check = netrig::Now() + options_.leak_check_interval;
        if (LeakCheckFoundLeaks()) {
          leak_reports_.fetch_add(1);
          violations_->Report("leak",
                              "LeakSanitizer found leaked objects during the run (see its "
                              "report above)");
        }
      }
#else
      (void)next_leak_check;
#endif
    }
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
  std::atomic<uint64_t> leak_reports_{0};
  bool finished_ = false;

  // What Finish() captured for the report.
  absl::Duration drain_time_;
  uint64_t started_ = 0, completed_ = 0, duplicates_ = 0, after_close_ = 0, cancelled_ = 0;
  uint64_t stuck_ = 0, faults_injected_ = 0;
  nlohmann::json counters_ = nlohmann::json::object();
  nlohmann::json latency_ = nlohmann::json::object();
  std::array<int64_t, 5> percentiles_{};
  std::vector<std::pair<std::string, uint64_t>> errors_by_kind_;
  nlohmann::json server_json_ = nullptr;
};

std::vector<FaultMixItem> HttpFaultItems() {
  std::vector<FaultMixItem> items;
  for (int i = 1; i < kFaultKindCount; ++i) {
    items.push_back({FaultKindName(static_cast<FaultKind>(i)).data()});
  }
  return items;
}

OptionTable<HttpStressOptions> MakeHttpOptionTable() {
  using O = HttpStressOptions;
  OptionTable<O> table;
  table.String("client", &O::client,
               "HTTP client under test, by registry name (netrig's reference libcurl session is\n"
               "\"curl\"; the seeded-bug clients are \"bug-...\"; `--client=list` lists them).",
               "NAME")
      .Bool("list", &O::list_clients, "List the registered HTTP clients and exit.",
            OptionRole::kAction)
      .Choice("http", &O::http, {"1.1", "h2c", "mixed"}, "HTTP version per task.");
  AddStressOptions(table);
  table
      .String("target", &O::target,
              "Drive this http:// URL (a real server) instead of the embedded loopback server.\n"
              "A host that is not loopback is refused (exit 2) unless --allow_remote is given.",
              "URL")
      .RecordedWhen([](const O& options) { return !options.target.empty(); })
      .Bool("allow_remote", &O::allow_remote,
            "Allow a --target that is not a loopback address (a server you own). Never taken\n"
            "from a finding file.",
            OptionRole::kAuthority)
      .Int("server_threads", &O::server_threads, 1, 64, "Event-loop threads of the embedded server.")
      .RecordedWhen([](const O& options) { return options.target.empty(); })
      .Int("concurrency", &O::concurrency, 1, 100000, "Closed loop: tasks in flight at most.")
      .Double("cancel_probability", &O::cancel_probability, 0, 1,
              "Probability that a task is cancelled, at a moment drawn from: before resume, right\n"
              "after resume, after a random delay (another thread), after completion.")
      .Int("tasks_per_session", &O::tasks_per_session, 1, 100000000,
           "Replace each spawner's session after this many tasks, alternating\n"
           "FinishTasksAndInvalidate and InvalidateAndCancel.")
      .Double("observer_probability", &O::observer_probability, 0, 1,
              "Per task: probability of registering or removing a connection observer.")
      .Duration("request_timeout", &O::request_timeout, absl::Milliseconds(1), absl::Hours(1),
                "Per-task timeout.")
      .Duration("task_deadline", &O::task_deadline, absl::Milliseconds(1), absl::Hours(24),
                "A task still open after this is stuck: a violation that stops the run. At least\n"
                "--request_timeout plus 2 s.");
  return table;
}

}  // namespace

const OptionTable<HttpStressOptions>& HttpOptionTable() {
  return OptionTable<HttpStressOptions>::Once(&MakeHttpOptionTable);
}

absl::StatusOr<std::optional<FaultPlannerOptions>> ParseHttpFaultSpec(absl::string_view spec,
                                                                      uint64_t seed) {
  static const std::vector<FaultMixItem>* const kItems =
      new std::vector<FaultMixItem>(HttpFaultItems());
  absl::StatusOr<FaultMix> mix = ParseFaultMix(spec, *kItems);
  if (!mix.ok()) return mix.status();
  if (mix->is_default) return std::optional<FaultPlannerOptions>(DefaultFaultMix(seed));
  if (mix->probabilities.empty()) return std::optional<FaultPlannerOptions>();
  FaultPlannerOptions options;
  options.seed = seed;
  for (const auto& [name, probability] : mix->probabilities) {
    absl::StatusOr<FaultKind> kind = ParseFaultKind(name);
    if (!kind.ok()) return kind.status();
    options[*kind] = probability;
  }
  if (absl::Status valid = ValidateFaultPlannerOptions(options); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--faults: ", valid.message()));
  }
  return std::optional<FaultPlannerOptions>(options);
}

absl::Status CheckHttpTarget(absl::string_view url, bool allow_remote) {
  const std::string shown = option_internal::Quote(url);
  absl::string_view rest = url;
  const std::string lower_scheme = absl::AsciiStrToLower(url.substr(0, 8));
  if (absl::StartsWith(lower_scheme, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target ", shown,
                     ": https is not supported (the reference session speaks plain HTTP/1.1 and "
                     "h2c); give an http:// URL"));
  }
  if (!absl::StartsWith(lower_scheme, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("--target ", shown, " is not an http:// URL"));
  }
  rest.remove_prefix(7);
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--target ", shown, ": unclosed '['"));
    }
    host = authority.substr(0, close + 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target ", shown, ": unexpected text after ']'"));
    }
    port = after;
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) return absl::InvalidArgumentError(absl::StrCat("--target ", shown, " has no host"));
  if (!port.empty() || authority.find(':') == authority.size() - 1) {
    uint32_t number = 0;
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
        !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target ", shown, ": port must be 1-65535"));
    }
  }
  if (!IsLoopbackHost(host) && !allow_remote) {
    return absl::PermissionDeniedError(
        absl::StrCat("--target host ", option_internal::Quote(host),
                     " is not loopback; netrig drives only loopback servers unless "
                     "--allow_remote is given on the command line (and you own the server)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHttpStressOptions(const HttpStressOptions& options) {
  bool known = false;
  std::vector<std::string> names;
  for (const HttpClientEntry& entry : HttpClientNames()) {
    names.push_back(entry.name);
    known = known || entry.name == options.client;
  }
  if (!known) {
    return absl::InvalidArgumentError(
        absl::StrCat("--client ", option_internal::Quote(options.client),
                     " is not registered; registered: ", absl::StrJoin(names, ", ")));
  }
  if (options.http != "1.1" && options.http != "h2c" && options.http != "mixed") {
    return absl::InvalidArgumentError(
        absl::StrCat("--http ", option_internal::Quote(options.http), ": expected 1.1, h2c or mixed"));
  }
  if (!options.target.empty()) {
    if (absl::Status target = CheckHttpTarget(options.target, options.allow_remote); !target.ok()) {
      return target;
    }
  }
  if (absl::StatusOr<std::optional<FaultPlannerOptions>> faults =
          ParseHttpFaultSpec(options.faults, 0);
      !faults.ok()) {
    return faults.status();
  }
  if (options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be positive");
  }
  if (options.rate < 0) return absl::InvalidArgumentError("--rate must be >= 0");
  if (options.rate == 0 && options.concurrency <= 0) {
    return absl::InvalidArgumentError("--concurrency must be positive in closed loop (--rate=0)");
  }
  if (options.threads <= 0 || options.threads > 64) {
    return absl::InvalidArgumentError("--threads must be in [1, 64]");
  }
  if (options.cancel_probability < 0 || options.cancel_probability > 1 ||
      options.observer_probability < 0 || options.observer_probability > 1) {
    return absl::InvalidArgumentError(
        "--cancel_probability and --observer_probability must be in [0, 1]");
  }
  if (options.tasks_per_session <= 0) {
    return absl::InvalidArgumentError("--tasks_per_session must be positive");
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--request_timeout must be positive");
  }
  if (options.task_deadline < options.request_timeout + absl::Seconds(2)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--task_deadline (", absl::FormatDuration(options.task_deadline),
        ") must be at least --request_timeout plus 2 s (",
        absl::FormatDuration(options.request_timeout + absl::Seconds(2)),
        "): a correct task may take its timeout plus the session's 1 s backstop, and a shorter "
        "deadline would call it stuck"));
  }
  if (options.server_threads <= 0 || options.server_threads > 64) {
    return absl::InvalidArgumentError("--server_threads must be in [1, 64]");
  }
  return absl::OkStatus();
}

absl::StatusOr<StressResult> RunHttpStress(HttpStressOptions options) {
  if (absl::Status valid = ValidateHttpStressOptions(options); !valid.ok()) return valid;
  ResolveSeeds(options);
  HttpStress workload(options);
  return RunStress(options, "http", HttpOptionTable().Render(options), workload);
}

}  // namespace netrig
