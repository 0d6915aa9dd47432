#include <atomic>
#include <memory>

#include "absl/time/time.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"

namespace netrig::internal::curl_session {

const char* TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kCreated:
      return "created";
    case TaskState::kQueued:
      return "queued";
    case TaskState::kRunning:
      return "running";
    case TaskState::kCompleted:
      return "completed";
  }
  return "unknown";
}

// ---- Task methods ----

void CurlTask::Resume() {
  SchedulePoint("task.resume");
  TaskState expected = TaskState::kCreated;
  if (!state_.compare_exchange_strong(expected, TaskState::kQueued)) return;
  resumed_ns_.store(absl::ToUnixNanos(netrig::Now()));
  if (std::shared_ptr<SessionCore> core = core_.lock()) {
    core->PostResume(shared_from_this());
  }
}

void CurlTask::Cancel() {
  SchedulePoint("task.cancel");
  if (state_.load() == TaskState::kCompleted) return;
  std::shared_ptr<SessionCore> core = core_.lock();
  if (core == nullptr) return;
  if (core->bug_cancel_inline() && state_.load() == TaskState::kRunning) {
    // Bug (c): check-then-act. The event thread may be completing this very task right now.
    if (std::shared_ptr<HttpCompletion> completion = PeekCompletion()) {
      cancelled_inline_.store(true);
      HttpResult result;
      result.task_id = id_;
      result.error = HttpErrorKind::kCancelled;
      result.error_message = "cancelled while running";
      result.timings.created = created_;
      result.timings.completed = netrig::Now();
      (*completion)(result);
    }
  }
  core->PostCancel(shared_from_this());
}

}  // namespace netrig::internal::curl_session
