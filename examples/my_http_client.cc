// A user's own HTTP client, registered as "example-threads": one thread and one blocking libcurl
// easy handle per task, cancellation through the progress callback. Every netrig HTTP driver runs
// against it with `--client example-threads`.
#include <curl/curl.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/http/http_client.h"

namespace {

using netrig::HttpErrorKind;
using netrig::HttpResult;

// A task kept alive by a cycle (a thread holding it after the session went) shows as
// "example-threads.task" left alive in `netrig http`'s live_objects check.
netrig::LiveCounter kLiveSessions("example-threads.session");
netrig::LiveCounter kLiveTasks("example-threads.task");

class SessionCore;

// The session whose completion callback runs on this thread (nullptr outside callbacks): such a
// callback may destroy its session, or wait for its invalidation, and must not deadlock.
thread_local const SessionCore* callback_session = nullptr;

class ExampleTask final : public netrig::HttpTask,
                          public std::enable_shared_from_this<ExampleTask> {
 public:
  ExampleTask(std::shared_ptr<SessionCore> session, uint64_t id, netrig::HttpRequest request,
              netrig::HttpCompletion on_complete)
      : session_(std::move(session)),
        id_(id),
        request_(std::move(request)),
        on_complete_(std::move(on_complete)),
        created_(absl::Now()) {}

  uint64_t id() const override { return id_; }
  void Resume() override;
  void Cancel() override {
    cancelled_.store(true);
    if (!resumed_.load()) CompleteCancelled();  // Never started: complete now.
  }
  const char* state() const override { return state_.load(); }

  void CompleteCancelled() {
    HttpResult result;
    result.error = HttpErrorKind::kCancelled;
    result.error_message = "cancelled";
    Complete(std::move(result));
  }
  void Run();

 private:
  void Complete(HttpResult result);
  static size_t CountBody(char*, size_t size, size_t count, void* user) {
    static_cast<HttpResult*>(user)->body_bytes += static_cast<int64_t>(size * count);
    return size * count;
  }
  static int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<ExampleTask*>(user)->cancelled_.load() ? 1 : 0;  // 1 aborts the transfer.
  }

  // Shared: a task finishing after its session object was destroyed (from one of its own
  // callbacks) still reports to the session's state.
  const std::shared_ptr<SessionCore> session_;
  const uint64_t id_;
  const netrig::HttpRequest request_;
  netrig::HttpCompletion on_complete_;
  const absl::Time created_;
  std::atomic<bool> resumed_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> completed_{false};  // Guards exactly-once completion.
  std::atomic<const char*> state_{"created"};
  netrig::LiveToken live_{kLiveTasks};
};

// A session's state, shared by the session object and its tasks.
class SessionCore final : public std::enable_shared_from_this<SessionCore> {
 public:
  // Called by the session's destructor once invalidation began: joins the task threads, or, when
  // the session is destroyed from one of its own callbacks, detaches them (the callback's own
  // thread cannot be joined; the threads hold this core until they end).
  void ReleaseThreads() {
    std::vector<std::thread> threads;
    {
      netrig::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    const bool in_own_callback = callback_session == this;
    for (auto& thread : threads) {
      if (in_own_callback) {
        thread.detach();
      } else {
        thread.join();
      }
    }
  }

  absl::StatusOr<std::shared_ptr<netrig::HttpTask>> MakeTask(netrig::HttpRequest request,
                                                             netrig::HttpCompletion on_complete) {
    netrig::MutexLock lock(&mu_);
    if (invalidating_) return absl::FailedPreconditionError("session is invalidated");
    auto task = std::make_shared<ExampleTask>(shared_from_this(), ++last_id_, std::move(request),
                                              std::move(on_complete));
    tasks_.push_back(task);
    ++pending_;
    return task;
  }

  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) {
    Invalidate(std::move(on_invalidated), /*cancel_running=*/false);
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) {
    Invalidate(std::move(on_invalidated), /*cancel_running=*/true);
  }

  bool WaitUntilInvalidated(absl::Duration timeout) {
    if (callback_session == this) return false;  // It would wait for the callback it runs in.
    netrig::MutexLock lock(&mu_);
    const absl::Time deadline =
        timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
    while (!invalidated_) {
      if (deadline == absl::InfiniteFuture()) {
        changed_.Wait(&mu_);
      } else if (!changed_.WaitWithTimeout(&mu_, deadline - absl::Now()) && !invalidated_) {
        return false;
      }
    }
    return true;
  }

  // This client keeps no persistent connections, so there is nothing to report to observers;
  // they are accepted and never called.
  absl::StatusOr<netrig::ObserverId> AddConnectionObserver(netrig::ConnectionObserver) {
    netrig::MutexLock lock(&mu_);
    if (invalidating_) return absl::FailedPreconditionError("session is invalidated");
    return ++last_observer_;
  }

  void Spawn(std::shared_ptr<ExampleTask> task) {
    netrig::MutexLock lock(&mu_);
    threads_.emplace_back([task] { task->Run(); });
  }

  // Called exactly once per task, after its completion callback returned.
  void TaskDone() {
    std::vector<absl::AnyInvocable<void()>> callbacks;
    {
      netrig::MutexLock lock(&mu_);
      if (--pending_ > 0 || !invalidating_ || invalidated_) return;
      callbacks.swap(on_invalidated_);
    }
    FinishInvalidation(std::move(callbacks));
  }

 private:
  void Invalidate(absl::AnyInvocable<void()> on_invalidated, bool cancel_running) {
    std::vector<std::shared_ptr<ExampleTask>> tasks;
    bool finished_now = false;
    std::vector<absl::AnyInvocable<void()>> callbacks;
    bool already_invalidated = false;
    {
      netrig::MutexLock lock(&mu_);
      already_invalidated = invalidated_;
      if (on_invalidated && !already_invalidated) {
        on_invalidated_.push_back(std::move(on_invalidated));
      }
      invalidating_ = true;
      for (auto& weak : tasks_) {
        if (auto task = weak.lock()) tasks.push_back(std::move(task));
      }
      if (pending_ == 0 && !invalidated_) {
        finished_now = true;
        callbacks.swap(on_invalidated_);
      }
    }
    // Invalidation already completed: a callback given now runs at once.
    if (already_invalidated) {
      if (on_invalidated) on_invalidated();
      return;
    }
    if (finished_now) return FinishInvalidation(std::move(callbacks));
    for (auto& task : tasks) {
      // Tasks never resumed complete as cancelled in both modes.
      if (cancel_running || std::string(task->state()) == "created") task->Cancel();
    }
  }

  void FinishInvalidation(std::vector<absl::AnyInvocable<void()>> callbacks) {
    while (true) {
      for (auto& callback : callbacks) callback();
      callbacks.clear();
      netrig::MutexLock lock(&mu_);
      // Callbacks given while these ran run too.
      if (on_invalidated_.empty()) {
        invalidated_ = true;
        changed_.SignalAll();
        return;
      }
      callbacks.swap(on_invalidated_);
    }
  }

  netrig::Mutex mu_;
  netrig::CondVar changed_;
  uint64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_observer_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool invalidating_ ABSL_GUARDED_BY(mu_) = false;
  bool invalidated_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::weak_ptr<ExampleTask>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::AnyInvocable<void()>> on_invalidated_ ABSL_GUARDED_BY(mu_);
  netrig::LiveToken live_{kLiveSessions};
};

// The session users hold: invalidates on destruction, and may be destroyed from one of its own
// completion callbacks (http_client.h).
class ExampleSession final : public netrig::HttpSession {
 public:
  ExampleSession() : core_(std::make_shared<SessionCore>()) {}
  ~ExampleSession() override {
    core_->InvalidateAndCancel(nullptr);
    core_->WaitUntilInvalidated(absl::InfiniteDuration());  // false at once from a callback
    core_->ReleaseThreads();
  }

  absl::StatusOr<std::shared_ptr<netrig::HttpTask>> MakeTask(
      netrig::HttpRequest request, netrig::HttpCompletion on_complete) override {
    return core_->MakeTask(std::move(request), std::move(on_complete));
  }
  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    core_->FinishTasksAndInvalidate(std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    core_->InvalidateAndCancel(std::move(on_invalidated));
  }
  bool WaitUntilInvalidated(absl::Duration timeout) override {
    return core_->WaitUntilInvalidated(timeout);
  }
  // This client keeps no persistent connections, so there is nothing to report to observers;
  // they are accepted and never called.
  absl::StatusOr<netrig::ObserverId> AddConnectionObserver(
      netrig::ConnectionObserver observer) override {
    return core_->AddConnectionObserver(std::move(observer));
  }
  void RemoveConnectionObserver(netrig::ObserverId) override {}

 private:
  const std::shared_ptr<SessionCore> core_;
};

void ExampleTask::Resume() {
  if (resumed_.exchange(true) || completed_.load()) return;
  state_.store("running");
  session_->Spawn(shared_from_this());
}

void ExampleTask::Run() {
  HttpResult result;
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &ExampleTask::CountBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &result);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &ExampleTask::Progress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, this);
  if (request_.version == netrig::HttpVersion::kH2cPriorKnowledge) {
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  }
  if (request_.timeout != absl::InfiniteDuration()) {
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(request_.timeout)));
  }
  const CURLcode code = curl_easy_perform(easy);
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  long version = 0;  // The version the response came in.
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  curl_easy_cleanup(easy);
  result.status = static_cast<int>(status);
  if (version == CURL_HTTP_VERSION_2_0) result.version = netrig::HttpVersion::kH2cPriorKnowledge;
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_ABORTED_BY_CALLBACK:
      result.error = HttpErrorKind::kCancelled;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      result.error = HttpErrorKind::kTimeout;
      break;
    case CURLE_COULDNT_CONNECT:
      result.error = HttpErrorKind::kConnect;
      break;
    case CURLE_PARTIAL_FILE:
      result.error = HttpErrorKind::kTruncated;
      break;
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      result.error = HttpErrorKind::kReset;
      break;
    default:
      result.error = HttpErrorKind::kOther;
      break;
  }
  if (code != CURLE_OK) result.error_message = curl_easy_strerror(code);
  Complete(std::move(result));
}

void ExampleTask::Complete(HttpResult result) {
  if (completed_.exchange(true)) return;  // Cancel and the transfer may race: first one wins.
  state_.store("completed");
  result.task_id = id_;
  result.timings.created = created_;
  result.timings.completed = absl::Now();
  if (on_complete_) {
    const SessionCore* const outer = callback_session;  // Cancel() may complete inside a callback.
    callback_session = session_.get();
    on_complete_(result);
    callback_session = outer;
  }
  session_->TaskDone();
}

class ExampleClient final : public netrig::HttpClient {
 public:
  absl::StatusOr<std::unique_ptr<netrig::HttpSession>> NewSession(
      const netrig::HttpSessionOptions&) override {
    return std::make_unique<ExampleSession>();
  }
};

NETRIG_REGISTER_HTTP_CLIENT("example-threads",
                            "examples/: a user's thread-per-task client on curl easy handles",
                            []() -> absl::StatusOr<std::unique_ptr<netrig::HttpClient>> {
                              return std::make_unique<ExampleClient>();
                            });

}  // namespace
