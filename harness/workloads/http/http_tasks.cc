#include "harness/workloads/http/http_tasks.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/drive/driver.h"
#include "harness/drive/seeds.h"
#include "harness/http/http_client.h"
#include "harness/http/server/fault_plan.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"
#include "harness/sched/thread_census.h"
#include "nlohmann/json.hpp"

namespace netrig::internal::http_stress {

const char* OutcomeName(HttpErrorKind kind) {
  const int index = static_cast<int>(kind);
  return index >= 0 && index < kHttpErrorKindCount ? kOutcomeNames[index] : "other";
}

HttpStressWorkload::HttpStressWorkload(const HttpStressOptions& options, uint64_t seed,
                                       std::string url, std::unique_ptr<HttpClient> client,
                                       ViolationLog* violations, const FaultPlanner* planner,
                                       const HttpSessionOptions& session_options)
    : options_(options),
      url_(std::move(url)),
      planner_(planner),
      session_options_(session_options),
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

HttpStressWorkload::~HttpStressWorkload() {
  {
    MutexLock lock(&reap_mu_);
    reaper_stopping_ = true;
  }
  reaper_.join();
}

void HttpStressWorkload::Operate(int worker, uint64_t /*index*/, absl::Time intended_start) {
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
  const std::shared_ptr<SessionLink> link = slot.link;
  MaybeTouchObservers(slot, rng);

  HttpRequest request;
  request.url = url_;
  request.timeout = options_.request_timeout;
  request.version = PickVersion(rng);
  const uint64_t fault_key = (uint64_t{slot.worker} << 40) | task_number;
  if (planner_ != nullptr) {
    request.headers.emplace_back("X-Netrig-Fault", EncodeFaultPlan(planner_->PlanFor(fault_key)));
  }

  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const bool cancel = unit(rng) < options_.cancel_probability;
  const auto moment =
      static_cast<CancelMoment>(std::uniform_int_distribution<int>(0, kCancelMoments - 1)(rng));

  auto record = std::make_shared<TaskRecord>();
  record->start = start;
  record->cancel_after_completion = cancel && moment == CancelMoment::kAfterCompletion;
  record->requested = request.version;
  record->link = link;
  record->reenter_seed = DeriveSeed(DeriveSeed(slot.seed, task_number), "reenter");
  record->fault_key = fault_key;
  record->ledger_id = tasks_.Open(slot.scope);
  absl::StatusOr<std::shared_ptr<HttpTask>> task = slot.session->MakeTask(
      std::move(request),
      [this, record](const HttpResult& result) { OnComplete(*record, result); });
  if (!task.ok()) {
    if (link->invalidated_from_callback.load() &&
        task.status().code() == absl::StatusCode::kFailedPrecondition) {
      // A completion invalidated the session meanwhile (--reentrant): refused rightly.
      CloseNotCreated(record->ledger_id);
      in_flight_.Release(1);
      return;
    }
    // Our own session, not invalidated: the client refused a valid request.
    violations_->Report("make_task_failed", absl::StrCat("MakeTask on an open session failed: ",
                                                         task.status().ToString()));
    CloseNotCreated(record->ledger_id);
    in_flight_.Release(1);
    return;
  }
  TrackLive(*record, slot.scope, *task);
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

std::string HttpStressWorkload::StatusFragment() {
  return absl::StrFormat("| in flight %d done %s cancelled %s errors %s sessions %d",
                         in_flight_.in_flight(), HumanCount(tasks_.completed()),
                         HumanCount(cancelled_.load()), HumanCount(errors_.load()),
                         sessions_created_.load());
}

void HttpStressWorkload::Drain(bool cancel) {
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
    if (!escalated &&
        (netrig::Now() >= give_up_finishing || !violations_->empty() || DrainCutRequested())) {
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

void HttpStressWorkload::PrintStuckStates(FILE* out) {
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
      if (it != live_tasks_.end()) task = it->second.task.lock();
    }
    absl::FPrintF(out,
                  "netrig http: stuck task %d (session %d): client state '%s', last noted '%s', "
                  "open for %s\n",
                  item.id, item.scope, task != nullptr ? task->state() : "(released)", item.state,
                  absl::FormatDuration(item.age));
  }
}

nlohmann::json HttpStressWorkload::Counters() const {
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
          {"stuck_sessions", stuck_sessions_.load()},
          {"reentrant",
           {{"percent", options_.reentrant_percent},
            {"completions_reentered", reentrant_completions_.load()},
            {"follow_up_tasks", follow_ups_.load()},
            {"follow_ups_refused_by_invalidating_session", follow_ups_refused_.load()},
            {"observer_follow_ups_skipped_at_cap", observer_follow_ups_capped_.load()},
            {"cancels_from_callbacks", cancels_from_callbacks_.load()},
            {"invalidations_from_callbacks", invalidations_from_callbacks_.load()},
            {"observer_callbacks_reentered", reentrant_observer_events_.load()}}}};
}

std::string HttpStressWorkload::first_failure() const {
  return first_failure_ready_.load(std::memory_order_acquire) ? first_failure_ : std::string();
}

void HttpStressWorkload::OnComplete(TaskRecord& record, const HttpResult& result) {
  WatchedCallback in_callback("completion");
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
    const int requested = record.requested == HttpVersion::kHttp11 ? 0 : 1;
    if (result.error != HttpErrorKind::kNone) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      failed_by_requested_[requested].fetch_add(1, std::memory_order_relaxed);
      // Only the first failure synchronizes (a relaxed load first, then one exchange): a lock
      // or an acquire on every failed completion would order the event threads of different
      // sessions and hide their data races from TSan (bug-unlocked-share went unfound).
      if (!first_failure_claimed_.load(std::memory_order_relaxed) &&
          !first_failure_claimed_.exchange(true, std::memory_order_relaxed)) {
        first_failure_ = absl::StrFormat("task %d (asked %s, came as %s, connection %d): %s: %s",
                                         record.ledger_id, HttpVersionName(record.requested),
                                         HttpVersionName(result.version), result.connection_id,
                                         OutcomeName(result.error), result.error_message);
        first_failure_ready_.store(true, std::memory_order_release);
      }
    } else {
      ok_by_version_[requested][result.version == HttpVersion::kHttp11 ? 0 : 1].fetch_add(
          1, std::memory_order_relaxed);
    }
    latency_.Record(netrig::Now() - record.start);
    if (record.start >= recovery_from_) {
      after_recovery_point_.fetch_add(1, std::memory_order_relaxed);
      if (result.error == HttpErrorKind::kNone) {
        ok_after_recovery_point_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  std::shared_ptr<HttpTask> task;
  {
    MutexLock lock(&live_mu_);
    live_tasks_.erase(record.ledger_id);
    record.completed = true;
    task = record.task.lock();
  }
  // Null when the task completed before MakeTask() returned: TrackLive() queues it then.
  if (record.cancel_after_completion && task != nullptr) canceller_.Add(netrig::Now(), task);
  if (record.from_observer) {
    record.link->observer_follow_ups_open.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!record.follow_up) {
    Reenter(record);
    in_flight_.Release(1);
  }
}

void HttpStressWorkload::CloseNotCreated(uint64_t ledger_id) {
  not_created_.fetch_add(1, std::memory_order_relaxed);
  tasks_.Complete(ledger_id, "not_created");
}

bool HttpStressWorkload::ReentryAllowed() const {
  return options_.reentrant_percent > 0 && !StopRequested() && violations_->empty() &&
         netrig::Now() < end_;
}

void HttpStressWorkload::Reenter(TaskRecord& record) {
  if (!ReentryAllowed()) return;
  OperationRandom rng(record.reenter_seed);
  if (static_cast<int>(rng() % 100) >= options_.reentrant_percent) return;
  reentrant_completions_.fetch_add(1, std::memory_order_relaxed);
  SessionLink& link = *record.link;
  switch (rng() % 3) {
    case 0:  // A retry: a follow-up task made and resumed from the completion.
      MakeFollowUp(record.link, record.requested, DeriveSeed(record.reenter_seed, "follow_up"),
                   record.fault_key | (uint64_t{1} << 63));
      break;
    case 1:
      if (CancelAnotherTask(link.scope, record.ledger_id)) break;
      // No other task in flight: a retry instead, so the share still re-enters.
      MakeFollowUp(record.link, record.requested, DeriveSeed(record.reenter_seed, "follow_up"),
                   record.fault_key | (uint64_t{1} << 63));
      break;
    default:
      // Rarer than the other two: at the full third, callbacks ended nearly every session (2,465
      // of 2,467 in a 20 s run) long before --tasks_per_session, and the spawner's own churn
      // (invalidation racing running tasks) was no longer exercised. One in `rarity` keeps about
      // one callback invalidation per --tasks_per_session tasks; the rest become retries.
      if (const uint64_t rarity = std::max<uint64_t>(
              1, uint64_t(options_.tasks_per_session) * options_.reentrant_percent / 300);
          rng() % rarity != 0) {
        MakeFollowUp(record.link, record.requested, DeriveSeed(record.reenter_seed, "follow_up"),
                     record.fault_key | (uint64_t{1} << 63));
        break;
      }
      if (!link.invalidated_from_callback.exchange(true)) {
        SchedulePoint("stress.invalidate_from_callback");
        invalidations_from_callbacks_.fetch_add(1, std::memory_order_relaxed);
        link.session->InvalidateAndCancel(nullptr);
      }
      break;
  }
}

bool HttpStressWorkload::MakeFollowUp(const std::shared_ptr<SessionLink>& link, HttpVersion version,
                                      uint64_t seed, uint64_t fault_key, bool from_observer) {
  HttpRequest request;
  request.url = url_;
  request.timeout = options_.request_timeout;
  request.version = version;
  if (planner_ != nullptr) {
    request.headers.emplace_back("X-Netrig-Fault", EncodeFaultPlan(planner_->PlanFor(fault_key)));
  }
  auto record = std::make_shared<TaskRecord>();
  record->start = netrig::Now();
  record->requested = version;
  record->link = link;
  record->reenter_seed = seed;
  record->fault_key = fault_key;
  record->follow_up = true;
  record->from_observer = from_observer;
  // The scope is open: this runs inside a callback of the session, before its invalidation
  // completes (nothing is called back after it).
  record->ledger_id = tasks_.Open(link->scope);
  tasks_.Note(record->ledger_id, "follow_up_from_callback");
  SchedulePoint("stress.follow_up");
  absl::StatusOr<std::shared_ptr<HttpTask>> task = link->session->MakeTask(
      std::move(request),
      [this, record](const HttpResult& result) { OnComplete(*record, result); });
  if (!task.ok()) {
    if (from_observer) link->observer_follow_ups_open.fetch_sub(1, std::memory_order_relaxed);
    CloseNotCreated(record->ledger_id);
    if (task.status().code() == absl::StatusCode::kFailedPrecondition) {
      // The session is being invalidated (by its spawner or by another callback).
      follow_ups_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    violations_->Report("make_task_failed",
                        absl::StrCat("MakeTask from a callback of an open session failed: ",
                                     task.status().ToString()));
    return false;
  }
  TrackLive(*record, link->scope, *task);
  follow_ups_.fetch_add(1, std::memory_order_relaxed);
  tasks_started_.fetch_add(1, std::memory_order_relaxed);  // Started like any task.
  (*task)->Resume();
  return true;
}

bool HttpStressWorkload::CancelAnotherTask(uint64_t scope, uint64_t except) {
  std::shared_ptr<HttpTask> victim;
  uint64_t victim_id = 0;
  {
    MutexLock lock(&live_mu_);
    for (const auto& [id, live] : live_tasks_) {
      if (id == except || live.scope != scope) continue;
      victim = live.task.lock();
      if (victim != nullptr) {
        victim_id = id;
        break;
      }
    }
  }
  if (victim == nullptr) return false;
  // Outside live_mu_: the client may complete the victim on this thread, inside Cancel().
  tasks_.Note(victim_id, "cancelled_from_callback");
  cancels_from_callbacks_.fetch_add(1, std::memory_order_relaxed);
  SchedulePoint("stress.cancel_from_callback");
  victim->Cancel();
  return true;
}

void HttpStressWorkload::OnObserverEvent(const std::shared_ptr<SessionLink>& link, uint64_t seed) {
  WatchedCallback in_callback("observer");
  if (link == nullptr || !ReentryAllowed()) return;
  // Which events re-enter depends on their order (timing): observers are not replayed exactly.
  OperationRandom rng(
      DeriveSeed(seed, observer_event_number_.fetch_add(1, std::memory_order_relaxed)));
  if (static_cast<int>(rng() % 100) >= options_.reentrant_percent) return;
  reentrant_observer_events_.fetch_add(1, std::memory_order_relaxed);
  if ((rng() & 1) == 0 || !CancelAnotherTask(link->scope, 0)) {
    if (link->observer_follow_ups_open.fetch_add(1, std::memory_order_relaxed) >=
        kMaxObserverFollowUpsOpen) {
      link->observer_follow_ups_open.fetch_sub(1, std::memory_order_relaxed);
      observer_follow_ups_capped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    MakeFollowUp(link, PickVersion(rng), DeriveSeed(seed, "observer_follow_up"),
                 rng() | (uint64_t{1} << 62), /*from_observer=*/true);
  }
}

HttpVersion HttpStressWorkload::PickVersion(OperationRandom& rng) {
  if (options_.http == "h2c") return HttpVersion::kH2cPriorKnowledge;
  if (options_.http == "mixed") {
    // The draw happens either way, so other decisions of a task do not depend on the client.
    const bool h2c = (rng() & 1) != 0;
    return h2c && client_->Speaks(HttpVersion::kH2cPriorKnowledge) ? HttpVersion::kH2cPriorKnowledge
                                                                   : HttpVersion::kHttp11;
  }
  return HttpVersion::kHttp11;
}

bool HttpStressWorkload::EnsureSession(Slot& slot) {
  const bool invalidated_from_callback =
      slot.link != nullptr && slot.link->invalidated_from_callback.load();
  if (slot.session != nullptr && slot.tasks_in_session < options_.tasks_per_session &&
      !invalidated_from_callback) {
    return true;
  }
  if (slot.session != nullptr) Retire(slot, /*cancel=*/slot.sessions % 2 == 0);
  absl::StatusOr<std::unique_ptr<HttpSession>> session = client_->NewSession(session_options_);
  if (!session.ok()) {
    violations_->Report("new_session_failed",
                        absl::StrCat("NewSession failed: ", session.status().ToString()));
    return false;
  }
  slot.session = *std::move(session);
  slot.scope = next_scope_.fetch_add(1, std::memory_order_relaxed);
  slot.link = std::make_shared<SessionLink>();
  slot.link->session = slot.session.get();
  slot.link->scope = slot.scope;
  slot.tasks_in_session = 0;
  ++slot.sessions;
  sessions_created_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void HttpStressWorkload::Retire(Slot& slot, bool cancel) {
  SchedulePoint("stress.retire_session");
  const uint64_t scope = slot.scope;
  auto on_invalidated = [this, scope] { tasks_.CloseScope(scope, /*require_all_complete=*/true); };
  // Once a completion began invalidating the session (--reentrant), a second invalidation call
  // would not be the spawner's to make: the reaper closes the scope instead.
  const bool invalidated_from_callback =
      slot.link != nullptr && slot.link->invalidated_from_callback.exchange(true);
  slot.link.reset();
  if (invalidated_from_callback) {
    slot.observers.clear();
    MutexLock lock(&reap_mu_);
    retiring_.push_back(Retiring{std::move(slot.session), scope, netrig::Now(),
                                 /*close_scope_when_reaped=*/true});
    return;
  }
  if (cancel) {
    sessions_cancelled_.fetch_add(1, std::memory_order_relaxed);
    slot.session->InvalidateAndCancel(std::move(on_invalidated));
  } else {
    sessions_finished_.fetch_add(1, std::memory_order_relaxed);
    slot.session->FinishTasksAndInvalidate(std::move(on_invalidated));
  }
  slot.observers.clear();
  MutexLock lock(&reap_mu_);
  retiring_.push_back(Retiring{std::move(slot.session), scope, netrig::Now(),
                               /*close_scope_when_reaped=*/false});
}

void HttpStressWorkload::MaybeTouchObservers(Slot& slot, OperationRandom& rng) {
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
  // The observer's re-entrance stream; its callbacks re-enter the session (--reentrant).
  // From the spawner's task count, not from `rng`: the task's other draws stay as they were.
  const uint64_t seed = DeriveSeed(DeriveSeed(slot.seed, "observer"), slot.tasks);
  std::weak_ptr<SessionLink> link = slot.link;
  observer.on_viability_changed = [this, link, seed](const ConnectionInfo&, bool) {
    viability_events_.fetch_add(1, std::memory_order_relaxed);
    OnObserverEvent(link.lock(), seed);
  };
  observer.on_better_path = [this, link, seed](const ConnectionInfo&, bool) {
    better_path_events_.fetch_add(1, std::memory_order_relaxed);
    OnObserverEvent(link.lock(), seed);
  };
  SchedulePoint("stress.add_observer");
  absl::StatusOr<ObserverId> id = slot.session->AddConnectionObserver(std::move(observer));
  if (id.ok()) {
    slot.observers.push_back(*id);
    observers_added_.fetch_add(1, std::memory_order_relaxed);
  }
}

void HttpStressWorkload::TrackLive(TaskRecord& record, uint64_t scope,
                                   const std::shared_ptr<HttpTask>& task) {
  // Called before Resume() and Cancel(), but an invalidation from another task's callback may
  // have completed the task already.
  bool completed = false;
  {
    MutexLock lock(&live_mu_);
    record.task = task;
    completed = record.completed;
    if (!completed) live_tasks_.emplace(record.ledger_id, LiveTask{task, scope});
  }
  if (completed && record.cancel_after_completion) canceller_.Add(netrig::Now(), task);
}

void HttpStressWorkload::ReapLoop() {
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
          if (it->close_scope_when_reaped) {
            tasks_.CloseScope(it->scope, /*require_all_complete=*/true);
          }
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

}  // namespace netrig::internal::http_stress
