#include "harness/http/completion_under_lock_client.h"

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

LiveCounter kLockedSessions("http.bug_completion_under_lock_session");
LiveCounter kLockedTasks("http.bug_completion_under_lock_task");

std::atomic<uint64_t> next_task_id{1};

struct SessionState;

class LockedTask : public HttpTask {
 public:
  LockedTask(std::shared_ptr<SessionState> session, uint64_t id, HttpVersion version,
             HttpCompletion on_complete)
      : on_complete(std::move(on_complete)),
        created(netrig::Now()),
        session_(std::move(session)),
        id_(id),
        version_(version) {}

  uint64_t id() const override { return id_; }
  void Resume() override;
  void Cancel() override;
  const char* state() const override { return state_.load(std::memory_order_acquire); }

  HttpVersion version() const { return version_; }
  void set_state(const char* state) { state_.store(state, std::memory_order_release); }

  // Guarded by the session's mutex.
  bool resumed = false;
  bool cancelled = false;
  bool queued = false;
  bool completed = false;
  HttpCompletion on_complete;
  const absl::Time created;

 private:
  const std::shared_ptr<SessionState> session_;
  const uint64_t id_;
  const HttpVersion version_;
  std::atomic<const char*> state_{"created"};
  LiveToken live_{kLockedTasks};
};

struct SessionState {
  Mutex mu;
  CondVar wake;
  CondVar invalidated_cv;
  std::deque<std::shared_ptr<LockedTask>> ready ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, std::shared_ptr<LockedTask>> pending ABSL_GUARDED_BY(mu);
  std::vector<absl::AnyInvocable<void()>> on_invalidated ABSL_GUARDED_BY(mu);
  bool invalidating ABSL_GUARDED_BY(mu) = false;
  bool invalidated ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  absl::flat_hash_map<ObserverId, ConnectionObserver> observers ABSL_GUARDED_BY(mu);
  ObserverId next_observer ABSL_GUARDED_BY(mu) = 1;
  ThreadAffinity event_thread;
  LiveToken live{kLockedSessions};

  void QueueLocked(const std::shared_ptr<LockedTask>& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (task->queued) return;
    task->queued = true;
    task->set_state("queued");
    ready.push_back(task);
    wake.Signal();
  }

  void Invalidate(absl::AnyInvocable<void()> callback, bool cancel_running) {
    bool run_now = false;
    {
      MutexLock lock(&mu);
      if (invalidated) {
        run_now = true;
      } else {
        if (callback != nullptr) on_invalidated.push_back(std::move(callback));
        invalidating = true;
        for (const auto& [id, task] : pending) {
          if (!task->resumed || cancel_running) {
            task->cancelled = true;
            QueueLocked(task);
          }
        }
        wake.Signal();
      }
    }
    if (run_now && callback != nullptr) callback();
  }

  void Loop() {
    event_thread.BindToCurrent();
    MutexLock lock(&mu);
    while (true) {
      if (!ready.empty()) {
        std::shared_ptr<LockedTask> task = std::move(ready.front());
        ready.pop_front();
        HttpResult result;
        result.task_id = task->id();
        result.version = task->version();
        result.timings.created = task->created;
        if (task->cancelled) {
          result.error = HttpErrorKind::kCancelled;
          result.error_message = "cancelled";
          result.timings.resumed = absl::InfinitePast();
        } else {
          result.status = 200;
          result.timings.resumed = netrig::Now();
        }
        result.timings.completed = netrig::Now();
        task->completed = true;
        task->set_state("completed");
        HttpCompletion on_complete = std::move(task->on_complete);
        SchedulePoint("lockcb.complete");
        // THE BUG: the completion runs while this session's lock is held. A completion that
        // calls back into the session (MakeTask, Cancel, invalidation) waits for this very lock.
        on_complete(result);
        pending.erase(task->id());
        continue;
      }
      if (invalidating && !invalidated && pending.empty()) {
        std::vector<absl::AnyInvocable<void()>> run;
        run.swap(on_invalidated);
        mu.Unlock();
        for (auto& callback : run) callback();
        mu.Lock();
        if (on_invalidated.empty()) {
          invalidated = true;
          invalidated_cv.SignalAll();
        }
        continue;
      }
      if (stopping) return;
      wake.Wait(&mu);
    }
  }
};

void LockedTask::Resume() {
  MutexLock lock(&session_->mu);
  if (resumed || cancelled || queued) return;
  resumed = true;
  session_->QueueLocked(session_->pending.at(id_));
}

void LockedTask::Cancel() {
  MutexLock lock(&session_->mu);
  if (cancelled || completed) return;
  cancelled = true;
  auto it = session_->pending.find(id_);
  if (it != session_->pending.end()) session_->QueueLocked(it->second);
}

class LockedSession : public HttpSession {
 public:
  LockedSession() : state_(std::make_shared<SessionState>()) {
    event_ = Thread("lockcb.event", [state = state_] { state->Loop(); });
  }
  ~LockedSession() override {
    state_->Invalidate(nullptr, /*cancel_running=*/true);
    const bool on_event_thread = state_->event_thread.IsCurrent();
    if (!on_event_thread) WaitUntilInvalidated(absl::InfiniteDuration());
    {
      MutexLock lock(&state_->mu);
      state_->stopping = true;
      state_->wake.Signal();
    }
    if (on_event_thread) {
      event_.detach();
    } else {
      event_.join();
    }
  }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) override {
    const uint64_t id = next_task_id.fetch_add(1, std::memory_order_relaxed);
    MutexLock lock(&state_->mu);
    if (state_->invalidating) {
      return absl::FailedPreconditionError("the session is being invalidated");
    }
    auto task = std::make_shared<LockedTask>(state_, id, request.version, std::move(on_complete));
    state_->pending.emplace(id, task);
    return task;
  }

  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    state_->Invalidate(std::move(on_invalidated), /*cancel_running=*/false);
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    state_->Invalidate(std::move(on_invalidated), /*cancel_running=*/true);
  }

  bool WaitUntilInvalidated(absl::Duration timeout) override {
    if (state_->event_thread.IsCurrent()) return false;
    const absl::Time deadline =
        timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : netrig::Now() + timeout;
    MutexLock lock(&state_->mu);
    while (!state_->invalidated) {
      if (deadline == absl::InfiniteFuture()) {
        state_->invalidated_cv.Wait(&state_->mu);
      } else {
        const absl::Duration left = deadline - netrig::Now();
        if (left <= absl::ZeroDuration()) return false;
        state_->invalidated_cv.WaitWithTimeout(&state_->mu, left);
      }
    }
    return true;
  }

  absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver observer) override {
    MutexLock lock(&state_->mu);
    if (state_->invalidating) {
      return absl::FailedPreconditionError("the session is being invalidated");
    }
    const ObserverId id = state_->next_observer++;
    state_->observers.emplace(id, std::move(observer));
    return id;
  }
  void RemoveConnectionObserver(ObserverId id) override {
    MutexLock lock(&state_->mu);
    state_->observers.erase(id);
  }

 private:
  const std::shared_ptr<SessionState> state_;
  Thread event_;
};

class LockedClient : public HttpClient {
 public:
  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(const HttpSessionOptions&) override {
    return std::make_unique<LockedSession>();
  }
};

}  // namespace

std::unique_ptr<HttpClient> NewCompletionUnderLockClient() {
  return std::make_unique<LockedClient>();
}

}  // namespace netrig
