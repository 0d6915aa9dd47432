#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"

namespace netrig::internal::curl_session {

// ---- Event thread ----

void SessionCore::Run() {
  event_thread_.BindToCurrent();
  std::vector<Command> commands;
  while (true) {
    {
      MutexLock lock(&mu_);
      commands.swap(inbox_);
      inbox_filled_.store(false, std::memory_order_relaxed);
      wake_pending_ = false;
      may_sleep_ = false;
    }
    for (Command& command : commands) Handle(command);
    commands.clear();

    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg == CURLMSG_DONE) FinishTransfer(message->easy_handle, message->data.result);
    }
    StartReleasedH2cTasks();
    if (bugs_.reclaim_connections_on_resume) ReclaimClosedRecords();
    EndOverdueTransfers();
    if (AdvanceInvalidation()) {
      event_thread_.Unbind();
      return;
    }

    bool idle = false;
    {
      MutexLock lock(&mu_);
      idle = inbox_.empty();
      // From here on a command posted from another thread writes the wakeup byte (Post).
      may_sleep_ = idle;
    }
    if (idle) WaitForWork();
  }
}

void SessionCore::WaitForWork() {
  if (!UnderControl()) {
    curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    return;
  }
  // Under a controlled scheduler: probe libcurl's sockets and the inbox, and let the other
  // threads run between probes, instead of blocking in the kernel (which the scheduler's
  // watchdog would have to hand off). libcurl's own timers bound the wait as they bound
  // curl_multi_poll's.
  long curl_timeout_ms = -1;
  curl_multi_timeout(multi_, &curl_timeout_ms);
  const int timeout_ms =
      curl_timeout_ms < 0 ? 1000 : static_cast<int>(std::min<long>(curl_timeout_ms, 1000));
  ProbeUntil(
      [this] {
        int ready = 0;
        curl_multi_poll(multi_, nullptr, 0, 0, &ready);
        if (ready > 0) return ready;
        return inbox_filled_.load(std::memory_order_acquire) ? 1 : 0;
      },
      timeout_ms, "curl.poll");
}

void SessionCore::Handle(Command& command) {
  event_thread_.Check("SessionCore::Handle");
  switch (command.kind) {
    case CommandKind::kResume:
      StartTask(command.task);
      break;
    case CommandKind::kCancel:
      CancelTask(command.task, "cancelled");
      break;
    case CommandKind::kAddObserver: {
      if (command.observer->removed.load()) break;
      event_observers_.push_back(command.observer);
      for (auto& [id, record] : connections_) {
        record->registrations.push_back(Register(command.observer, record));
      }
      break;
    }
    case CommandKind::kRemoveObserver: {
      ObserverEntry* entry = command.observer.get();
      event_observers_.erase(
          std::remove_if(event_observers_.begin(), event_observers_.end(),
                         [entry](const auto& other) { return other.get() == entry; }),
          event_observers_.end());
      for (auto& [id, record] : connections_) {
        auto& registrations = record->registrations;
        registrations.erase(std::remove_if(registrations.begin(), registrations.end(),
                                           [entry](const auto& registration) {
                                             return registration->observer.get() == entry;
                                           }),
                            registrations.end());
      }
      break;
    }
    case CommandKind::kWake:
      break;
  }
}

void SessionCore::CancelTask(const std::shared_ptr<CurlTask>& task, const char* why) {
  event_thread_.Check("SessionCore::CancelTask");
  if (task->completed_) return;
  const bool was_running = task->easy_ != nullptr;
  if (was_running) {
    curl_multi_remove_handle(multi_, task->easy_);
    running_.erase(task->id());
    ReleaseEasy(task.get());
  }
  if (task->cancelled_inline_.load()) {
    // Bug (c): the caller's thread already delivered the cancellation.
    task->completed_ = true;
    task->state_.store(TaskState::kCompleted);
    {
      MutexLock lock(&mu_);
      live_tasks_.erase(task->id());
    }
    task->TakeCompletion();
    return;
  }
  HttpResult result;
  result.error = HttpErrorKind::kCancelled;
  result.error_message = absl::StrCat(why, was_running ? " while running" : " before it started");
  Complete(task, std::move(result));
}

void SessionCore::FinishTransfer(CURL* easy, CURLcode code) {
  event_thread_.Check("SessionCore::FinishTransfer");
  CurlTask* raw = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
  auto it = raw == nullptr ? running_.end() : running_.find(raw->id());
  if (it == running_.end()) {
    curl_multi_remove_handle(multi_, easy);
    return;
  }
  std::shared_ptr<CurlTask> task = std::move(it->second);
  running_.erase(it);

  HttpResult result;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  long version = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  result.version =
      version == CURL_HTTP_VERSION_2_0 ? HttpVersion::kH2cPriorKnowledge : HttpVersion::kHttp11;
  curl_off_t connect_us = 0, first_byte_us = 0, total_us = 0;
  curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
  curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte_us);
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
  result.timings.connect = Micros(connect_us);
  result.timings.first_byte = Micros(first_byte_us);
  result.timings.total = Micros(total_us);
  result.error = ErrorKindOf(easy, code);
  if (bugs_.remember_unreachable_forever && share_ != nullptr && status == 0 &&
      (result.error == HttpErrorKind::kConnect || result.error == HttpErrorKind::kReset)) {
    share_->marked_unreachable.store(true, std::memory_order_relaxed);
  }
  if (code != CURLE_OK) {
    result.error_message = task->error_buffer_[0] != '\0'
                               ? absl::StrCat(curl_easy_strerror(code), ": ", task->error_buffer_)
                               : std::string(curl_easy_strerror(code));
  }
  curl_multi_remove_handle(multi_, easy);
  ReleaseEasy(task.get());
  Complete(task, std::move(result));
}

void SessionCore::EndOverdueTransfers() {
  event_thread_.Check("SessionCore::EndOverdueTransfers");
  // A backstop for HttpRequest::timeout: libcurl 7.88 does not time out a transfer waiting in
  // its pending queue for a connection (e.g. CURLMOPT_MAX_HOST_CONNECTIONS reached).
  const absl::Time now = netrig::Now();
  if (now < next_overdue_check_) return;
  next_overdue_check_ = now + absl::Milliseconds(100);
  std::vector<std::shared_ptr<CurlTask>> overdue;
  for (const auto& [id, task] : running_) {
    if (task->deadline_ < now) overdue.push_back(task);
  }
  for (const auto& task : overdue) {
    curl_multi_remove_handle(multi_, task->easy_);
    running_.erase(task->id());
    ReleaseEasy(task.get());
    HttpResult result;
    result.error = HttpErrorKind::kTimeout;
    result.error_message = absl::StrCat("Timeout was reached: libcurl had not ended the transfer ",
                                        absl::FormatDuration(kTimeoutGrace),
                                        " after its timeout (waiting for a connection?)");
    Complete(task, std::move(result));
  }
}

void SessionCore::ReleaseEasy(CurlTask* task) {
  CURL* easy = task->easy_;
  task->easy_ = nullptr;
  if (task->h2c_alias_ >= 0) ReleaseH2cRoute(task);
  if (task->header_list_ != nullptr) {
    curl_slist_free_all(task->header_list_);
    task->header_list_ = nullptr;
  }
  if (easy == nullptr) return;
  if (idle_easy_.size() < client_options_.max_pooled_easy_handles) {
    // Back to libcurl's defaults now, so that nothing of this task (URL, method, body, headers,
    // timeout, HTTP version, fresh-connect, its callbacks' data pointers) reaches the next one.
    curl_easy_reset(easy);
    idle_easy_.push_back(easy);
    kEasyHandles.Add(kEasyHandles.handles_pooled, 1);
  } else {
    curl_easy_cleanup(easy);
    kEasyHandles.Add(kEasyHandles.handles_destroyed, 1);
  }
}

CURL* SessionCore::TakeEasy() {
  kEasyHandles.Add(kEasyHandles.transfers_started, 1);
  if (!idle_easy_.empty()) {
    CURL* easy = idle_easy_.back();
    idle_easy_.pop_back();
    kEasyHandles.Add(kEasyHandles.handles_pooled, -1);
    return easy;
  }
  CURL* easy = curl_easy_init();
  if (easy != nullptr) kEasyHandles.Add(kEasyHandles.handles_created, 1);
  return easy;
}

void SessionCore::DestroyPooledEasyHandles() {
  for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
  kEasyHandles.Add(kEasyHandles.handles_pooled, -static_cast<int64_t>(idle_easy_.size()));
  kEasyHandles.Add(kEasyHandles.handles_destroyed, static_cast<int64_t>(idle_easy_.size()));
  idle_easy_.clear();
}

void SessionCore::Complete(const std::shared_ptr<CurlTask>& task, HttpResult result) {
  event_thread_.Check("SessionCore::Complete");
  if (task->completed_) return;
  task->completed_ = true;
  SchedulePoint("task.complete");

  // Dequeue the task from its connection's queue.
  if (bugs_.reclaim_connections_on_resume) {
    if (task->connection_raw_ != nullptr) task->connection_raw_->DequeueTask(task->id());
  } else if (task->connection_id_ != 0) {
    auto it = connections_.find(task->connection_id_);
    if (it != connections_.end()) it->second->DequeueTask(task->id());
  }
  task->connection_raw_ = nullptr;

  result.task_id = task->id();
  result.connection_id = task->connection_id_;
  result.body_bytes = task->body_bytes_;
  result.body = std::move(task->body_);
  result.timings.created = task->created_;
  const int64_t resumed_ns = task->resumed_ns_.load();
  result.timings.resumed = resumed_ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(resumed_ns);
  {
    MutexLock lock(&mu_);
    live_tasks_.erase(task->id());
  }
  std::shared_ptr<HttpCompletion> completion = task->TakeCompletion();
  if (bugs_.cancel_completes_inline) {
    // Bug (c): the state flips only after the callback ran, so a concurrent Cancel() still sees
    // "running" while the completion is being delivered.
    result.timings.completed = netrig::Now();
    if (completion != nullptr && *completion) (*completion)(result);
    task->state_.store(TaskState::kCompleted);
    return;
  }
  task->state_.store(TaskState::kCompleted);
  result.timings.completed = netrig::Now();
  if (completion != nullptr && *completion) (*completion)(result);
}

bool SessionCore::AdvanceInvalidation() {
  event_thread_.Check("SessionCore::AdvanceInvalidation");
  std::vector<std::shared_ptr<CurlTask>> to_cancel;
  bool cancelling = false;
  {
    MutexLock lock(&mu_);
    if (phase_ == Phase::kOpen) return false;
    cancelling = phase_ == Phase::kCancelling;
    if (!invalidation_seen_ || cancelling) {
      // Tasks never resumed are cancelled; with InvalidateAndCancel, running ones too.
      for (const auto& [id, task] : live_tasks_) {
        if (cancelling || task->easy_ == nullptr) to_cancel.push_back(task);
      }
    }
    invalidation_seen_ = true;
  }
  for (const auto& task : to_cancel) {
    // A task resumed after FinishTasksAndInvalidate (its command not handled yet) still runs.
    if (!cancelling && task->state_value() == TaskState::kQueued) {
      StartTask(task);
      continue;
    }
    CancelTask(task, cancelling ? "session invalidated and cancelled" : "session invalidated");
  }
  {
    MutexLock lock(&mu_);
    if (!live_tasks_.empty() || !inbox_.empty()) return false;
  }
  if (!running_.empty()) return false;
  Teardown();
  return true;
}

void SessionCore::Teardown() {
  SchedulePoint("session.invalidate");
  {
    MutexLock lock(&mu_);
    accepting_commands_ = false;
  }
  DestroyPooledEasyHandles();
  // Closes every connection: OnCloseSocket tells the observers, then drops the records.
  curl_multi_cleanup(multi_);
  multi_ = nullptr;
  connections_.clear();
  connection_by_fd_.clear();
  event_observers_.clear();
  if (bugs_.reclaim_connections_on_resume) ReclaimClosedRecords();
  std::vector<absl::AnyInvocable<void()>> callbacks;
  {
    MutexLock lock(&mu_);
    observers_.clear();
    callbacks.swap(invalidated_callbacks_);
  }
  // The last things this session calls.
  for (auto& callback : callbacks) callback();
  MutexLock lock(&mu_);
  // Late callbacks registered while the above ran.
  while (!invalidated_callbacks_.empty()) {
    callbacks.clear();
    callbacks.swap(invalidated_callbacks_);
    mu_.Unlock();
    for (auto& callback : callbacks) callback();
    mu_.Lock();
  }
  phase_ = Phase::kInvalidated;
  inbox_.clear();
  invalidated_cv_.SignalAll();
}

void SessionCore::NotifyViability(ConnectionRecord& record, bool viable) {
  const ConnectionInfo info = record.Info();
  // Copy: a callback may remove observers (which edits the list on a later command only, but
  // keep the iteration independent of that anyway).
  auto registrations = record.registrations;
  for (const auto& registration : registrations) {
    CallObserver(*registration->observer, [&](const ConnectionObserver& callbacks) {
      if (callbacks.on_viability_changed) callbacks.on_viability_changed(info, viable);
    });
  }
}

void SessionCore::NotifyBetterPath(ConnectionRecord& newer) {
  for (auto& [id, record] : connections_) {
    if (record.get() == &newer || !record->established || record->peer != newer.peer) continue;
    const ConnectionInfo info = record->Info();
    auto registrations = record->registrations;
    for (const auto& registration : registrations) {
      CallObserver(*registration->observer, [&](const ConnectionObserver& callbacks) {
        if (callbacks.on_better_path) callbacks.on_better_path(info, true);
      });
    }
  }
}

}  // namespace netrig::internal::curl_session
