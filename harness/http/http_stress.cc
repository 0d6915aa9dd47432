#include "harness/http/http_stress.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
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
#include "harness/findings/finding_file.h"
#include "harness/http/http_client.h"
#include "harness/http/server.h"
#include "harness/sched/schedule_point.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NETRIG_HTTP_STRESS_LSAN 1
#endif
#endif
#if !defined(NETRIG_HTTP_STRESS_LSAN) && defined(__SANITIZE_ADDRESS__)
#define NETRIG_HTTP_STRESS_LSAN 1
#endif
#if defined(NETRIG_HTTP_STRESS_LSAN)
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

bool IsLoopbackHost(absl::string_view host) {
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  }
  return false;
}

// Tasks in flight, for the closed-loop bound.
class InFlight {
 public:
  // Takes a slot, waiting while `limit` are taken (limit <= 0: no bound). False if `give_up`
  // said so while waiting.
  template <typename GiveUp>
  bool Acquire(int limit, GiveUp give_up) {
    MutexLock lock(&mu_);
    while (limit > 0 && count_ >= limit) {
      if (give_up()) return false;
      cv_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
    }
    ++count_;
    return true;
  }
  void Release() {
    MutexLock lock(&mu_);
    --count_;
    cv_.Signal();
  }
  int64_t count() const {
    MutexLock lock(&mu_);
    return count_;
  }

 private:
  mutable Mutex mu_;
  CondVar cv_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Cancels tasks at given times from its own thread ("after a random delay", "after completion").
class DelayedCanceller {
 public:
  DelayedCanceller() : thread_([this] { Loop(); }) {}
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
      const absl::Time now = absl::Now();
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
  std::thread thread_;
};

class HttpStressWorkload : public Workload {
 public:
  HttpStressWorkload(const HttpStressOptions& options, uint64_t seed, std::string url,
                     std::unique_ptr<HttpClient> client, ViolationLog* violations)
      : options_(options),
        url_(std::move(url)),
        client_(std::move(client)),
        violations_(violations),
        tasks_(violations, "task", options.task_deadline),
        slots_(std::max(options.threads, 1)) {
    const uint64_t spawn_seed = DeriveSeed(seed, "spawn");
    for (size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].rng.seed(DeriveSeed(spawn_seed, static_cast<uint64_t>(i)));
    }
    reaper_ = std::thread([this] { ReapLoop(); });
  }

  ~HttpStressWorkload() override {
    {
      MutexLock lock(&reap_mu_);
      reaper_stopping_ = true;
    }
    reaper_.join();
  }

  void set_end(absl::Time end) { end_ = end; }
  const Ledger& ledger() const { return tasks_; }
  const LatencyHistogram& latency() const { return latency_; }

  void Operate(int worker, uint64_t /*index*/, absl::Time intended_start) override {
    Slot& slot = slots_[worker];
    const bool closed_loop = options_.rate <= 0;
    if (!in_flight_.Acquire(closed_loop ? options_.concurrency : 0, [this] {
          return StopRequested() || !violations_->empty() || absl::Now() >= end_;
        })) {
      return;
    }
    const absl::Time start = closed_loop ? absl::Now() : intended_start;
    if (!EnsureSession(slot)) {
      in_flight_.Release();
      return;
    }
    MaybeTouchObservers(slot);

    HttpRequest request;
    request.url = url_;
    request.timeout = options_.request_timeout;
    request.version = PickVersion(slot);

    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const bool cancel = unit(slot.rng) < options_.cancel_probability;
    const auto moment = static_cast<CancelMoment>(
        std::uniform_int_distribution<int>(0, kCancelMoments - 1)(slot.rng));

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
      in_flight_.Release();
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
            absl::Microseconds(std::uniform_int_distribution<int>(0, 3000)(slot.rng));
        canceller_.Add(absl::Now() + delay, *task);
        break;
      }
      case CancelMoment::kAfterCompletion:
        (*task)->Resume();
        break;
    }
  }

  std::string StatusFragment() override {
    return absl::StrFormat("| in flight %d done %s cancelled %s errors %s sessions %d",
                           in_flight_.count(), HumanCount(tasks_.completed()),
                           HumanCount(cancelled_.load()), HumanCount(errors_.load()),
                           sessions_created_.load());
  }

  // After Drive(): invalidates every spawner's session (tasks finish), waits until all sessions
  // are invalidated and destroyed (bounded), and fires the pending cancels.
  void Drain() {
    for (Slot& slot : slots_) {
      if (slot.session != nullptr) Retire(slot, /*cancel=*/!violations_->empty());
    }
    const absl::Time give_up_finishing = absl::Now() + options_.task_deadline + absl::Seconds(2);
    bool escalated = false;
    while (true) {
      {
        MutexLock lock(&reap_mu_);
        if (retiring_.empty()) break;
      }
      if (!escalated && (absl::Now() >= give_up_finishing || !violations_->empty())) {
        // A stuck task keeps FinishTasksAndInvalidate from ending: cancel what is left.
        escalated = true;
        MutexLock lock(&reap_mu_);
        for (Retiring& retiring : retiring_) retiring.session->InvalidateAndCancel();
        escalate_deadline_ = absl::Now() + absl::Seconds(5);
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    canceller_.Stop();
    MutexLock lock(&live_mu_);
    live_tasks_.clear();
  }

  // Client-side states of the tasks the watchdog found stuck.
  void PrintStuckStates(FILE* out) {
    if (out == nullptr) return;
    const std::vector<Ledger::Stuck> stuck = tasks_.Overdue(absl::Now());
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
    std::mt19937_64 rng;
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
      latency_.Record(absl::Now() - record.start);
    }
    {
      MutexLock lock(&live_mu_);
      live_tasks_.erase(record.ledger_id);
    }
    if (record.cancel_after_completion) canceller_.Add(absl::Now(), record.task.lock());
    in_flight_.Release();
  }

  HttpVersion PickVersion(Slot& slot) {
    if (options_.http == "h2c") return HttpVersion::kH2cPriorKnowledge;
    if (options_.http == "mixed") {
      return (slot.rng() & 1) != 0 ? HttpVersion::kH2cPriorKnowledge : HttpVersion::kHttp11;
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
    retiring_.push_back(Retiring{std::move(slot.session), scope, absl::Now()});
  }

  void MaybeTouchObservers(Slot& slot) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    if (unit(slot.rng) >= options_.observer_probability) return;
    if (!slot.observers.empty() && (slot.observers.size() >= 4 || (slot.rng() & 1) != 0)) {
      const size_t at = slot.rng() % slot.observers.size();
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
        const absl::Time now = absl::Now();
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
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  const HttpStressOptions& options_;
  const std::string url_;
  std::unique_ptr<HttpClient> client_;
  ViolationLog* const violations_;
  Ledger tasks_;
  LatencyHistogram latency_;
  InFlight in_flight_;
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
  std::thread reaper_;
};

// Runs a recoverable LeakSanitizer check (ASan builds); true if it found leaks.
[[maybe_unused]] bool LeakCheckFoundLeaks() {
#if defined(NETRIG_HTTP_STRESS_LSAN)
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

absl::StatusOr<std::optional<FaultPlannerOptions>> ParseHttpFaultSpec(absl::string_view spec,
                                                                      uint64_t seed) {
  spec = absl::StripAsciiWhitespace(spec);
  if (spec == "none" || spec.empty()) return std::optional<FaultPlannerOptions>();
  if (spec == "default") return std::optional<FaultPlannerOptions>(DefaultFaultMix(seed));
  FaultPlannerOptions options;
  options.seed = seed;
  for (absl::string_view part : absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    const std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, '=');
    absl::StatusOr<FaultKind> kind = ParseFaultKind(absl::StripAsciiWhitespace(kv.first));
    if (!kind.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--faults: ", kind.status().message(), " in '", part, "'"));
    }
    double probability = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(kv.second), &probability)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--faults: '", part, "' is not kind=probability (e.g. delay=0.05)"));
    }
    options[*kind] = probability;
  }
  if (absl::Status valid = ValidateFaultPlannerOptions(options); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--faults: ", valid.message()));
  }
  return std::optional<FaultPlannerOptions>(options);
}

absl::Status CheckHttpTarget(absl::string_view url, bool allow_remote) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target '", url, "' is not an http:// or https:// URL"));
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  absl::string_view host;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--target '", url, "': unclosed '['"));
    }
    host = authority.substr(1, close - 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--target '", url, "' has no host"));
  }
  if (!IsLoopbackHost(host) && !allow_remote) {
    return absl::PermissionDeniedError(
        absl::StrCat("--target host '", host,
                     "' is not loopback; netrig drives only loopback servers unless "
                     "--allow-remote is given (and you own the server)"));
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
        absl::StrCat("--client '", options.client,
                     "' is not registered; registered: ", absl::StrJoin(names, ", ")));
  }
  if (options.http != "1.1" && options.http != "h2c" && options.http != "mixed") {
    return absl::InvalidArgumentError(
        absl::StrCat("--http '", options.http, "': expected 1.1, h2c or mixed"));
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
  if (options.threads <= 0 || options.threads > 256) {
    return absl::InvalidArgumentError("--threads must be in [1, 256]");
  }
  if (options.cancel_probability < 0 || options.cancel_probability > 1 ||
      options.observer_probability < 0 || options.observer_probability > 1) {
    return absl::InvalidArgumentError(
        "--cancel_probability and --observer_probability must be in [0, 1]");
  }
  if (options.tasks_per_session <= 0) {
    return absl::InvalidArgumentError("--tasks_per_session must be positive");
  }
  if (options.request_timeout <= absl::ZeroDuration() ||
      options.task_deadline <= options.request_timeout) {
    return absl::InvalidArgumentError(
        "--request_timeout must be positive and --task_deadline longer than it");
  }
  if (options.server_threads <= 0 || options.server_threads > 64) {
    return absl::InvalidArgumentError("--server_threads must be in [1, 64]");
  }
  return absl::OkStatus();
}

std::vector<std::string> HttpStressReplayArgs(const HttpStressOptions& options, uint64_t seed,
                                              std::optional<uint64_t> perturb_seed) {
  std::vector<std::string> args = {
      absl::StrCat("--client=", options.client),
      absl::StrCat("--http=", options.http),
      absl::StrCat("--duration=", absl::FormatDuration(options.duration)),
      absl::StrCat("--rate=", options.rate),
      absl::StrCat("--concurrency=", options.concurrency),
      absl::StrCat("--threads=", options.threads),
      absl::StrCat("--cancel_probability=", options.cancel_probability),
      absl::StrCat("--tasks_per_session=", options.tasks_per_session),
      absl::StrCat("--observer_probability=", options.observer_probability),
      absl::StrCat("--request_timeout=", absl::FormatDuration(options.request_timeout)),
      absl::StrCat("--task_deadline=", absl::FormatDuration(options.task_deadline)),
      absl::StrCat("--seed=", seed),
      absl::StrCat("--perturb=", perturb_seed.has_value() ? "true" : "false"),
  };
  if (perturb_seed.has_value()) args.push_back(absl::StrCat("--perturb_seed=", *perturb_seed));
  if (options.target.empty()) {
    args.push_back(absl::StrCat("--faults=", options.faults));
    args.push_back(absl::StrCat("--server_threads=", options.server_threads));
  } else {
    args.push_back(absl::StrCat("--target=", options.target));
    if (options.allow_remote) args.push_back("--allow_remote");
  }
  return args;
}

absl::StatusOr<HttpStressResult> RunHttpStress(const HttpStressOptions& options) {
  if (absl::Status valid = ValidateHttpStressOptions(options); !valid.ok()) return valid;
  const uint64_t seed = options.seed.has_value() ? *options.seed : FreshSeed();
  std::optional<uint64_t> perturb_seed;
  if (options.perturb) {
    perturb_seed =
        options.perturb_seed.has_value() ? *options.perturb_seed : DeriveSeed(seed, "perturb");
  }
  const uint64_t fault_seed = DeriveSeed(seed, "faults");
  const std::vector<std::string> replay_args = HttpStressReplayArgs(options, seed, perturb_seed);

  // Live objects before anything of ours exists: the end must come back to this.
  const std::vector<std::pair<std::string, int64_t>> baseline = LiveObjectsSnapshot();

  std::unique_ptr<HttpServer> server;
  std::string url = options.target;
  if (url.empty()) {
    HttpServerOptions server_options;
    server_options.threads = options.server_threads;
    absl::StatusOr<std::optional<FaultPlannerOptions>> faults =
        ParseHttpFaultSpec(options.faults, fault_seed);
    if (!faults.ok()) return faults.status();
    server_options.faults = *faults;
    server = std::make_unique<HttpServer>(server_options);
    if (absl::Status started = server->Start(); !started.ok()) {
      return absl::UnavailableError(
          absl::StrCat("the embedded HTTP server did not start: ", started.ToString()));
    }
    url = server->url() + "/";
  }
  absl::StatusOr<std::unique_ptr<HttpClient>> client = MakeHttpClient(options.client);
  if (!client.ok()) return client.status();

  nlohmann::json recipe = {
      {"command", "http"},
      {"args", replay_args},
      {"seed", seed},
      {"perturb_seed",
       perturb_seed.has_value() ? nlohmann::json(*perturb_seed) : nlohmann::json(nullptr)},
      {"replay", absl::StrCat("netrig http ", absl::StrJoin(replay_args, " "))}};
  ViolationLog violations(recipe);

  if (options.summary_out != nullptr) {
    absl::FPrintF(options.summary_out,
                  "netrig http: client %s, %s, target %s, %s, seed %d, perturb_seed %s\n"
                  "  replay: netrig http %s\n",
                  options.client, options.http, url,
                  options.rate > 0 ? absl::StrCat("open loop ", options.rate, " tasks/s")
                                   : absl::StrCat("closed loop, concurrency ", options.concurrency),
                  seed, perturb_seed.has_value() ? absl::StrCat(*perturb_seed) : "off",
                  absl::StrJoin(replay_args, " "));
    std::fflush(options.summary_out);
  }

  const ScheduleOptions previous_schedule = CurrentSchedule();
  if (perturb_seed.has_value()) {
    ScheduleOptions schedule;
    schedule.mode = ScheduleMode::kPerturb;
    schedule.seed = *perturb_seed;
    ConfigureSchedule(schedule);
  }

  auto workload =
      std::make_unique<HttpStressWorkload>(options, seed, url, *std::move(client), &violations);
  Watchdog watchdog({&workload->ledger()}, &violations, absl::Milliseconds(200),
                    options.status_out);

  // Prints stuck tasks' client-side states and runs the periodic leak check.
  Mutex monitor_mu;
  CondVar monitor_cv;
  bool monitor_stop = false;
  std::atomic<uint64_t> leak_reports{0};
  std::thread monitor([&] {
    uint64_t stuck_printed = 0;
    absl::Time next_leak_check = absl::Now() + options.leak_check_interval;
    MutexLock lock(&monitor_mu);
    while (!monitor_stop) {
      monitor_cv.WaitWithTimeout(&monitor_mu, absl::Milliseconds(100));
      if (watchdog.stuck_reported() > stuck_printed) {
        stuck_printed = watchdog.stuck_reported();
        workload->PrintStuckStates(options.status_out);
      }
#if defined(NETRIG_HTTP_STRESS_LSAN)
      if (absl::Now() >= next_leak_check) {
        next_leak_check = absl::Now() + options.leak_check_interval;
        if (LeakCheckFoundLeaks()) {
          leak_reports.fetch_add(1);
          violations.Report("leak",
                            "LeakSanitizer found leaked objects during the run (see its "
                            "report above)");
        }
      }
#else
      (void)next_leak_check;
#endif
    }
  });

  DriveOptions drive;
  drive.duration = options.duration;
  drive.threads = options.threads;
  drive.rate = options.rate;
  drive.status_out = options.status_out;
  drive.stop_on_violation = true;
  workload->set_end(absl::Now() + options.duration);
  const DriveResult driven = Drive(drive, *workload, &violations);
  const absl::Time drain_start = absl::Now();
  workload->Drain();
  const absl::Duration drain_time = absl::Now() - drain_start;
  watchdog.CheckNow();
  {
    MutexLock lock(&monitor_mu);
    monitor_stop = true;
    monitor_cv.Signal();
  }
  monitor.join();
  watchdog.Stop();
  if (watchdog.stuck_reported() > 0) workload->PrintStuckStates(options.status_out);
  ConfigureSchedule(previous_schedule);

  const uint64_t started = workload->tasks_started();
  const uint64_t completed = workload->ledger().completed();
  const uint64_t duplicates = workload->ledger().duplicate_completions();
  const uint64_t after_close = workload->ledger().completions_after_close();
  const uint64_t cancelled = workload->cancelled();
  nlohmann::json counters = workload->Counters();
  nlohmann::json latency = workload->latency().ToJson();
  const int64_t p50 = workload->latency().Percentile(50);
  const int64_t p90 = workload->latency().Percentile(90);
  const int64_t p99 = workload->latency().Percentile(99);
  const int64_t p999 = workload->latency().Percentile(99.9);
  const int64_t max = workload->latency().max_us();
  std::vector<std::pair<std::string, uint64_t>> errors_by_kind;
  for (int i = 2; i < kHttpErrorKindCount; ++i) {
    if (workload->by_kind(i) != 0)
      errors_by_kind.emplace_back(kOutcomeNames[i], workload->by_kind(i));
  }
  workload->DropClient();
  workload.reset();  // Joins the reaper.
  nlohmann::json server_json = nullptr;
  if (server != nullptr) {
    server->Stop();
    const HttpServerStats stats = server->Stats();
    server_json = {{"url", url},
                   {"connections_accepted", stats.connections_accepted},
                   {"http1_connections", stats.http1_connections},
                   {"http2_connections", stats.http2_connections},
                   {"requests", stats.requests},
                   {"bad_requests", stats.bad_requests}};
    nlohmann::json faults = nlohmann::json::object();
    for (int i = 1; i < kFaultKindCount; ++i) {
      const uint64_t n = stats.requests_by_fault[i];
      if (n != 0) faults[std::string(FaultKindName(static_cast<FaultKind>(i)))] = n;
    }
    server_json["requests_by_fault"] = faults;
    server.reset();
  }

  // Every session, task, connection and observer of the run is gone now.
  const auto changed = LiveObjectsChangedSince(baseline);
  nlohmann::json live_at_end = nlohmann::json::object();
  int64_t live_total = 0;
  for (const auto& [type, delta] : changed) {
    live_at_end[type] = delta;
    live_total += delta;
  }
  if (!changed.empty()) {
    std::vector<std::string> parts;
    for (const auto& [type, delta] : changed) parts.push_back(absl::StrCat(type, " ", delta));
    violations.Report("live_objects",
                      absl::StrCat("live objects not back to zero after every session was "
                                   "invalidated and destroyed: ",
                                   absl::StrJoin(parts, ", ")));
  }
#if defined(NETRIG_HTTP_STRESS_LSAN)
  if (LeakCheckFoundLeaks()) {
    leak_reports.fetch_add(1);
    violations.Report("leak", "LeakSanitizer found leaked objects at the end of the run");
  }
#endif

  const double seconds = std::max(absl::ToDoubleSeconds(driven.elapsed), 1e-9);
  const double tasks_per_sec = static_cast<double>(started) / seconds;
  nlohmann::json report = {
      {"command", "http"},
      {"client", options.client},
      {"http", options.http},
      {"target", url},
      {"mode", options.rate > 0 ? "open_loop" : "closed_loop"},
      {"rate_target", options.rate},
      {"concurrency", options.concurrency},
      {"threads", options.threads},
      {"seed", seed},
      {"seeds",
       {{"faults", fault_seed},
        {"spawn", DeriveSeed(seed, "spawn")},
        {"perturb",
         perturb_seed.has_value() ? nlohmann::json(*perturb_seed) : nlohmann::json(nullptr)}}},
      {"faults", options.target.empty() ? options.faults : "none (external target)"},
      {"duration_s", seconds},
      {"drain_s", absl::ToDoubleSeconds(drain_time)},
      {"stop_reason", driven.stop_reason},
      {"tasks_started", started},
      {"tasks_completed", completed},
      {"tasks_cancelled", cancelled},
      {"duplicate_completions", duplicates},
      {"completions_after_invalidation", after_close},
      {"stuck_tasks", watchdog.stuck_reported()},
      {"live_objects_at_end", live_at_end},
      {"leak_reports", leak_reports.load()},
      {"tasks_per_sec", tasks_per_sec},
      {"completions_per_sec", static_cast<double>(completed) / seconds},
      {"late_starts", driven.late_starts},
      {"latency_us", latency},
      {"counters", counters},
      {"server", server_json},
      {"violations", violations.ToJson()},
      {"violation_count", violations.total()},
      {"replay", recipe["replay"]},
  };
  uint64_t failed = 0;
  nlohmann::json errors_json = nlohmann::json::object();
  for (const auto& [kind, n] : errors_by_kind) {
    failed += n;
    errors_json[kind] = n;
  }
  report["tasks_failed"] = failed;
  report["errors_by_kind"] = errors_json;

  HttpStressResult result;
  result.exit_code = violations.empty() ? 0 : 1;
  if (!violations.empty() && !options.finding_dir.empty()) {
    Finding finding;
    finding.command = "http";
    finding.args = replay_args;
    finding.seed = seed;
    finding.perturb_seed = perturb_seed;
    finding.violations = violations.ToJson();
    finding.report = report;
    std::error_code error;
    std::filesystem::create_directories(options.finding_dir, error);
    std::string kinds;
    for (const auto& [kind, n] : violations.CountsByKind()) absl::StrAppend(&kinds, "-", kind);
    const std::string path =
        absl::StrCat(options.finding_dir, "/http-", options.client, "-", seed, kinds, ".json");
    if (absl::Status written = WriteFindingFile(path, finding); written.ok()) {
      result.finding_path = path;
      report["finding_file"] = path;
    } else if (options.summary_out != nullptr) {
      absl::FPrintF(options.summary_out, "netrig http: could not write the finding file: %s\n",
                    written.ToString());
    }
  }

  if (options.summary_out != nullptr) {
    std::vector<std::string> error_parts;
    for (const auto& [kind, n] : errors_by_kind) error_parts.push_back(absl::StrCat(kind, " ", n));
    std::vector<std::pair<std::string, std::string>> rows = {
        {"client", absl::StrCat(options.client, " (", options.http, ")")},
        {"duration", absl::StrFormat("%.2f s (%s), drain %.2f s", seconds, driven.stop_reason,
                                     absl::ToDoubleSeconds(drain_time))},
        {"tasks", absl::StrFormat("%d started, %d completed, %d cancelled, %d failed", started,
                                  completed, cancelled, failed)},
        {"rate", absl::StrFormat("%s tasks/s%s", HumanCount(tasks_per_sec),
                                 options.rate > 0
                                     ? absl::StrFormat(" (target %s, %d late starts)",
                                                       HumanCount(options.rate), driven.late_starts)
                                     : "")},
        {"latency", absl::StrFormat("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", FormatMicros(p50),
                                    FormatMicros(p90), FormatMicros(p99), FormatMicros(p999),
                                    FormatMicros(max))},
        {"errors", error_parts.empty() ? "none" : absl::StrJoin(error_parts, ", ")},
        {"sessions",
         absl::StrFormat("%d created (%d finish+invalidate, %d invalidate+cancel)",
                         counters["sessions_created"].get<int>(),
                         counters["sessions_finished_and_invalidated"].get<uint64_t>(),
                         counters["sessions_invalidated_and_cancelled"].get<uint64_t>())},
        {"observers",
         absl::StrFormat("%d added, %d removed", counters["observers_added"].get<uint64_t>(),
                         counters["observers_removed"].get<uint64_t>())},
        {"invariants",
         absl::StrFormat("duplicates %d, after invalidation %d, stuck %d, live "
                         "objects at end %d",
                         duplicates, after_close, watchdog.stuck_reported(), live_total)},
        {"seed", absl::StrFormat("%d (perturb %s)", seed,
                                 perturb_seed.has_value() ? absl::StrCat(*perturb_seed) : "off")},
    };
    if (!result.finding_path.empty()) rows.emplace_back("finding", result.finding_path);
    PrintSummary(options.summary_out, "netrig http", rows, violations);
    std::fflush(options.summary_out);
  }
  if (!options.json_path.empty()) {
    if (absl::Status written = WriteJsonReport(options.json_path, report); !written.ok()) {
      return written;
    }
  }
  result.report = std::move(report);
  return result;
}

}  // namespace netrig
