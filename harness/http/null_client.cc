#include "harness/http/null_client.h"

#include <atomic>
#include <cstdint>
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

namespace netrig {
namespace {

LiveCounter kNullSessions("http.null_session");
LiveCounter kNullTasks("http.null_task");

std::atomic<uint64_t> next_task_id{1};

class NullTask;

// A session's books, shared with its tasks so that a session destroyed from one of its own
// callbacks finishes invalidating after that callback returns.
struct SessionState {
  Mutex mu;
  CondVar invalidated_cv;
  bool invalidating ABSL_GUARDED_BY(mu) = false;
  bool finishing ABSL_GUARDED_BY(mu) = false;
  bool invalidated ABSL_GUARDED_BY(mu) = false;
  // Tasks not completed yet, held so that invalidation completes them as cancelled even when
  // their owner dropped them (a completed task leaves at once, which breaks the cycle).
  absl::flat_hash_map<uint64_t, std::shared_ptr<NullTask>> pending ABSL_GUARDED_BY(mu);
  std::vector<absl::AnyInvocable<void()>> on_invalidated ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<ObserverId, ConnectionObserver> observers ABSL_GUARDED_BY(mu);
  ObserverId next_observer ABSL_GUARDED_BY(mu) = 1;
  LiveToken live{kNullSessions};

  void Invalidate(absl::AnyInvocable<void()> callback);
  // Returns the session's reference to the task, for the caller to drop last.
  std::shared_ptr<NullTask> TaskDone(uint64_t id);
  void MaybeFinish();
};

// The session whose callback this thread is running, if any (WaitUntilInvalidated from inside it
// returns false at once).
thread_local const SessionState* running_callback_of = nullptr;

class ScopedCallback {
 public:
  explicit ScopedCallback(const SessionState* state) : previous_(running_callback_of) {
    running_callback_of = state;
  }
  ~ScopedCallback() { running_callback_of = previous_; }

 private:
  const SessionState* const previous_;
};

class NullTask : public HttpTask {
 public:
  NullTask(std::shared_ptr<SessionState> session, uint64_t id, HttpVersion version,
           HttpCompletion on_complete)
      : session_(std::move(session)),
        id_(id),
        version_(version),
        on_complete_(std::move(on_complete)),
        created_(netrig::Now()) {}

  uint64_t id() const override { return id_; }
  void Resume() override { Complete(HttpErrorKind::kNone); }
  void Cancel() override { Complete(HttpErrorKind::kCancelled); }
  const char* state() const override {
    return completed_.load(std::memory_order_acquire) ? "completed" : "created";
  }

 private:
  void Complete(HttpErrorKind error) {
    if (completed_.exchange(true, std::memory_order_acq_rel)) return;
    HttpResult result;
    result.task_id = id_;
    result.error = error;
    result.version = version_;
    result.timings.created = created_;
    if (error == HttpErrorKind::kNone) {
      result.status = 200;
      result.timings.resumed = netrig::Now();
    } else {
      result.error_message = "cancelled before it started";
      result.timings.resumed = absl::InfinitePast();
    }
    result.timings.completed = netrig::Now();
    {
      ScopedCallback in_callback(session_.get());
      on_complete_(result);
    }
    on_complete_ = nullptr;
    // The session's reference may be the last one of this task, and this task's of the session:
    // both are dropped here, after the last use of a member.
    const std::shared_ptr<SessionState> session = session_;
    const std::shared_ptr<NullTask> self = session->TaskDone(id_);
  }

  const std::shared_ptr<SessionState> session_;
  const uint64_t id_;
  const HttpVersion version_;
  HttpCompletion on_complete_;
  const absl::Time created_;
  std::atomic<bool> completed_{false};
  LiveToken live_{kNullTasks};
};

void SessionState::Invalidate(absl::AnyInvocable<void()> callback) {
  std::vector<std::shared_ptr<NullTask>> to_cancel;
  bool run_now = false;
  {
    MutexLock lock(&mu);
    if (invalidated) {
      run_now = true;  // Invalidation completed already: a late callback runs at once.
    } else {
      if (callback != nullptr) on_invalidated.push_back(std::move(callback));
      invalidating = true;
      for (const auto& [id, task] : pending) to_cancel.push_back(task);
    }
  }
  if (run_now) {
    if (callback != nullptr) callback();
    return;
  }
  // Started tasks completed inside Resume(); what is pending never started.
  for (const std::shared_ptr<NullTask>& task : to_cancel) task->Cancel();
  MaybeFinish();
}

std::shared_ptr<NullTask> SessionState::TaskDone(uint64_t id) {
  std::shared_ptr<NullTask> done;
  bool finish = false;
  {
    MutexLock lock(&mu);
    auto it = pending.find(id);
    if (it != pending.end()) {
      done = std::move(it->second);
      pending.erase(it);
    }
    finish = invalidating && pending.empty();
  }
  if (finish) MaybeFinish();
  return done;
}

void SessionState::MaybeFinish() {
  {
    MutexLock lock(&mu);
    if (!invalidating || !pending.empty() || finishing || invalidated) return;
    finishing = true;
  }
  for (;;) {
    std::vector<absl::AnyInvocable<void()>> run;
    {
      MutexLock lock(&mu);
      if (on_invalidated.empty()) {
        invalidated = true;
        finishing = false;
        invalidated_cv.SignalAll();
        return;
      }
      run.swap(on_invalidated);
    }
    ScopedCallback in_callback(this);
    for (auto& callback : run) callback();
  }
}

class NullSession : public HttpSession {
 public:
  NullSession() : state_(std::make_shared<SessionState>()) {}
  ~NullSession() override {
    state_->Invalidate(nullptr);
    if (running_callback_of != state_.get()) WaitUntilInvalidated(absl::InfiniteDuration());
  }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) override {
    const uint64_t id = next_task_id.fetch_add(1, std::memory_order_relaxed);
    auto task = std::make_shared<NullTask>(state_, id, request.version, std::move(on_complete));
    MutexLock lock(&state_->mu);
    if (state_->invalidating) {
      return absl::FailedPreconditionError("the session is being invalidated");
    }
    state_->pending.emplace(id, task);
    return task;
  }

  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    state_->Invalidate(std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    state_->Invalidate(std::move(on_invalidated));
  }

  bool WaitUntilInvalidated(absl::Duration timeout) override {
    if (running_callback_of == state_.get()) return false;
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
};

class NullClient : public HttpClient {
 public:
  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(const HttpSessionOptions&) override {
    return std::make_unique<NullSession>();
  }
};

}  // namespace

std::unique_ptr<HttpClient> NewNullHttpClient() { return std::make_unique<NullClient>(); }

}  // namespace netrig
