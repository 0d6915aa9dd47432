#include "harness/conformance/http_client_conformance.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harness/base/mutex.h"
#include "harness/conformance/bounded_threads.h"
#include "harness/http/server/server.h"

namespace netrig::conformance {
namespace {

using internal::BoundedThreads;

constexpr int64_t kBodyBytes = 100;
// Bounds on waits for things a correct client does in milliseconds; generous for sanitizer
// builds on a loaded machine.
constexpr absl::Duration kCompletionWait = absl::Seconds(10);
// How long to watch for a callback that must not come.
constexpr absl::Duration kQuietWait = absl::Milliseconds(200);
// A response that takes this long is one no test waits for: a task completing earlier than this
// after a cancel was cancelled, not answered.
constexpr int kSlowResponseMs = 10000;

// Every completion and invalidation callback of a property, keyed by the property's own task
// numbers (not the client's task ids, which are under test too). Shared with the callbacks, so a
// broken client calling back late touches live memory.
class Recorder {
 public:
  HttpCompletion Callback(int key) {
    return [this, self = self_.lock(), key](const HttpResult& result) {
      MutexLock lock(&mu_);
      ++calls_[key];
      results_[key] = result;
      if (invalidated_) ++after_invalidation_;
      changed_.SignalAll();
    };
  }
  absl::AnyInvocable<void()> InvalidatedCallback(int key = 0) {
    return [this, self = self_.lock(), key] {
      MutexLock lock(&mu_);
      invalidated_ = true;
      ++invalidation_callbacks_[key];
      changed_.SignalAll();
    };
  }

  static std::shared_ptr<Recorder> Make() {
    auto recorder = std::shared_ptr<Recorder>(new Recorder());
    recorder->self_ = recorder;
    return recorder;
  }

  // Waits until `key` completed (true) or `timeout` passed (false).
  bool WaitFor(int key, absl::Duration timeout = kCompletionWait) {
    return WaitUntil([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.contains(key); },
                     timeout);
  }
  bool WaitForCount(size_t count, absl::Duration timeout = kCompletionWait) {
    return WaitUntil([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= count; },
                     timeout);
  }
  bool WaitForInvalidationCallback(int key, absl::Duration timeout = kCompletionWait) {
    return WaitUntil(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return invalidation_callbacks_.contains(key); },
        timeout);
  }
  int Calls(int key) {
    MutexLock lock(&mu_);
    auto it = calls_.find(key);
    return it == calls_.end() ? 0 : it->second;
  }
  HttpResult Result(int key) {
    MutexLock lock(&mu_);
    return results_[key];
  }
  size_t Completed() {
    MutexLock lock(&mu_);
    return calls_.size();
  }
  // The first key called back more than once, or -1.
  int FirstDuplicate() {
    MutexLock lock(&mu_);
    for (const auto& [key, calls] : calls_) {
      if (calls > 1) return key;
    }
    return -1;
  }
  int AfterInvalidation() {
    MutexLock lock(&mu_);
    return after_invalidation_;
  }
  int InvalidationCallbacks(int key = 0) {
    MutexLock lock(&mu_);
    auto it = invalidation_callbacks_.find(key);
    return it == invalidation_callbacks_.end() ? 0 : it->second;
  }

 private:
  Recorder() = default;
  bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    MutexLock lock(&mu_);
    while (!done()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      changed_.WaitWithTimeout(&mu_, std::min(left, absl::Milliseconds(100)));
    }
    return true;
  }

  std::weak_ptr<Recorder> self_;
  Mutex mu_;
  CondVar changed_;
  std::map<int, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<int, HttpResult> results_ ABSL_GUARDED_BY(mu_);
  bool invalidated_ ABSL_GUARDED_BY(mu_) = false;
  int after_invalidation_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, int> invalidation_callbacks_ ABSL_GUARDED_BY(mu_);
};

std::string Describe(const HttpResult& result) {
  if (result.ok())
    return absl::StrCat("status ", result.status, ", ", result.body_bytes, " body bytes");
  return absl::StrCat(HttpErrorKindName(result.error), " (", result.error_message, ")");
}

// A real response of the embedded server to an ordinary request.
bool IsRealResponse(const HttpResult& result) {
  return result.ok() && result.status == 200 && result.body_bytes == kBodyBytes;
}

// The server and client one property runs against, for one HTTP version.
class Bench {
 public:
  Bench(absl::string_view client, HttpVersion version, const HttpClientConformanceOptions& options)
      : name_(client), version_(version), options_(options) {}

  absl::Status Start() {
    HttpServerOptions server_options;
    server_options.threads = 2;
    server_options.default_body_bytes = kBodyBytes;
    server_ = std::make_unique<HttpServer>(server_options);
    if (absl::Status started = server_->Start(); !started.ok()) {
      return NotApplicable(
          absl::StrCat("the embedded HTTP server did not start: ", started.message()));
    }
    absl::StatusOr<std::unique_ptr<HttpClient>> client = MakeHttpClient(name_);
    if (!client.ok()) return Fail(client.status().code(), client.status().message());
    client_ = *std::move(client);
    return absl::OkStatus();
  }

  absl::StatusOr<std::shared_ptr<HttpSession>> NewSession() {
    absl::StatusOr<std::unique_ptr<HttpSession>> session =
        client_->NewSession(options_.session_options);
    if (!session.ok()) {
      return Fail(session.status().code(),
                  absl::StrCat("NewSession(): ", session.status().message()));
    }
    return std::shared_ptr<HttpSession>(std::move(*session));
  }

  HttpRequest Request(absl::string_view path = "/") const {
    HttpRequest request;
    request.url = absl::StrCat(server_->url(), path);
    request.version = version_;
    request.timeout = absl::Seconds(30);
    return request;
  }

  absl::StatusOr<std::shared_ptr<HttpTask>> Make(HttpSession& session, Recorder& recorder, int key,
                                                 absl::string_view path = "/") {
    absl::StatusOr<std::shared_ptr<HttpTask>> task =
        session.MakeTask(Request(path), recorder.Callback(key));
    if (!task.ok()) {
      return Fail(task.status().code(), absl::StrCat("MakeTask(): ", task.status().message()));
    }
    if (*task == nullptr) return Fail(absl::StatusCode::kInternal, "MakeTask() gave a null task");
    return *task;
  }

  absl::Status Fail(absl::StatusCode code, absl::string_view what) const {
    return absl::Status(
        code, absl::StrCat("client \"", name_, "\" (", HttpVersionName(version_), "): ", what));
  }
  absl::Status Fail(absl::string_view what) const {
    return Fail(absl::StatusCode::kFailedPrecondition, what);
  }

  HttpVersion version() const { return version_; }

 private:
  std::string name_;
  HttpVersion version_;
  HttpClientConformanceOptions options_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

// Runs `body` once per claimed version, each with its own server and client.
absl::Status ForEachVersion(absl::string_view client, const HttpClientConformanceOptions& options,
                            const std::function<absl::Status(Bench&)>& body) {
  if (options.versions.empty()) return NotApplicable("no HTTP version claimed");
  for (HttpVersion version : options.versions) {
    Bench bench(client, version, options);
    if (absl::Status started = bench.Start(); !started.ok()) return started;
    if (absl::Status held = body(bench); !held.ok()) return held;
  }
  return absl::OkStatus();
}

#define NETRIG_ASSIGN_OR_RETURN_CONCAT_(a, b) a##b
#define NETRIG_ASSIGN_OR_RETURN_NAME_(line) NETRIG_ASSIGN_OR_RETURN_CONCAT_(_statusor_, line)
#define NETRIG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = *std::move(tmp)
// For the properties below only: lhs = value of the StatusOr `expr`, or return its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  NETRIG_ASSIGN_OR_RETURN_IMPL_(NETRIG_ASSIGN_OR_RETURN_NAME_(__LINE__), lhs, expr)

// Invalidates (FinishTasksAndInvalidate) and waits, as every property ends.
absl::Status FinishSession(Bench& bench, HttpSession& session) {
  session.FinishTasksAndInvalidate();
  if (!session.WaitUntilInvalidated(kCompletionWait)) {
    return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                      absl::StrCat("FinishTasksAndInvalidate() did not complete within ",
                                   absl::FormatDuration(kCompletionWait)));
  }
  return absl::OkStatus();
}

// Exactly one completion for `key`, checked after a quiet wait for a late second one.
absl::Status ExpectOneCompletion(Bench& bench, Recorder& recorder, int key,
                                 absl::string_view what) {
  if (!recorder.WaitFor(key)) {
    return bench.Fail(
        absl::StatusCode::kDeadlineExceeded,
        absl::StrCat(what, ": no completion within ", absl::FormatDuration(kCompletionWait)));
  }
  absl::SleepFor(kQuietWait);
  if (const int calls = recorder.Calls(key); calls != 1) {
    return bench.Fail(
        absl::StrCat(what, ": completed ", calls, " times; exactly once is the contract"));
  }
  return absl::OkStatus();
}

absl::Status ExpectCancelled(Bench& bench, Recorder& recorder, int key, absl::string_view what) {
  const HttpResult result = recorder.Result(key);
  if (result.error != HttpErrorKind::kCancelled) {
    return bench.Fail(absl::StrCat(what, ": completed with ", Describe(result), ", not cancelled"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckHttpCompletesTasksWithRealResults(absl::string_view client,
                                                    const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    std::vector<std::shared_ptr<HttpTask>> tasks;
    for (int key = 0; key < 6; ++key) {
      // Half answered after 100 ms: a client must wait for a response as long as its timeout says.
      ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task,
                       bench.Make(*session, *recorder, key, key % 2 ? "/fault/delay,ms=100" : "/"));
      task->Resume();
      tasks.push_back(std::move(task));
    }
    if (!recorder->WaitForCount(tasks.size())) {
      return bench.Fail(
          absl::StatusCode::kDeadlineExceeded,
          absl::StrCat(recorder->Completed(), " of ", tasks.size(),
                       " resumed tasks completed within ", absl::FormatDuration(kCompletionWait)));
    }
    if (absl::Status finished = FinishSession(bench, *session); !finished.ok()) return finished;
    for (int key = 0; key < static_cast<int>(tasks.size()); ++key) {
      const HttpResult result = recorder->Result(key);
      if (recorder->Calls(key) != 1) {
        return bench.Fail(
            absl::StrCat("task ", key, " completed ", recorder->Calls(key), " times"));
      }
      if (!IsRealResponse(result)) {
        return bench.Fail(
            absl::StrCat("task ", key, " (", key % 2 ? "answered after 100 ms" : "answered at once",
                         ", timeout 30 s) completed with ", Describe(result),
                         "; the server sent status 200 and ", kBodyBytes, " body bytes"));
      }
      if (result.task_id != tasks[key]->id()) {
        return bench.Fail(absl::StrCat("task ", key, " has id ", tasks[key]->id(),
                                       " but its result says task_id ", result.task_id));
      }
      if (result.version != bench.version()) {
        return bench.Fail(absl::StrCat("task ", key, " asked for ",
                                       HttpVersionName(bench.version()), " and its result says ",
                                       HttpVersionName(result.version)));
      }
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpCancelBeforeResume(absl::string_view client,
                                         const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task, bench.Make(*session, *recorder, 0));
    task->Cancel();
    if (!recorder->WaitFor(0)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "a task cancelled before Resume() never completed");
    }
    task->Resume();  // Must do nothing now.
    task->Cancel();
    if (absl::Status once =
            ExpectOneCompletion(bench, *recorder, 0, "a task cancelled before Resume()");
        !once.ok()) {
      return once;
    }
    if (absl::Status cancelled =
            ExpectCancelled(bench, *recorder, 0, "a task cancelled before Resume()");
        !cancelled.ok()) {
      return cancelled;
    }
    if (const HttpResult result = recorder->Result(0); result.connection_id != 0) {
      return bench.Fail(absl::StrCat("a task cancelled before Resume() reports connection ",
                                     result.connection_id, "; it never got one (0)"));
    }
    return FinishSession(bench, *session);
  });
}

absl::Status CheckHttpCancelMidTransfer(absl::string_view client,
                                        const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    struct Moment {
      const char* what;
      std::string path;
    };
    // Headers only after 10 s; a 100-byte body dripped one byte per 100 ms (10 s in all).
    const std::vector<Moment> moments = {
        {"waiting for the response headers", absl::StrCat("/fault/delay,ms=", kSlowResponseMs)},
        {"in the middle of the body",
         absl::StrCat("/fault/drip,bytes=1,ms=", kSlowResponseMs / 100)},
    };
    for (int key = 0; key < static_cast<int>(moments.size()); ++key) {
      const std::string what = absl::StrCat("a task cancelled ", moments[key].what);
      ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task,
                       bench.Make(*session, *recorder, key, moments[key].path));
      task->Resume();
      absl::SleepFor(absl::Milliseconds(300));
      if (recorder->Calls(key) != 0) {
        return bench.Fail(absl::StrCat(what, ": completed with ", Describe(recorder->Result(key)),
                                       " before the cancel, although the response takes 10 s"));
      }
      task->Cancel();
      // Well before the response could end: the cancel did it.
      if (!recorder->WaitFor(key, absl::Seconds(5))) {
        return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                          absl::StrCat(what, ": no completion within 5 s of Cancel()"));
      }
      if (absl::Status once = ExpectOneCompletion(bench, *recorder, key, what); !once.ok())
        return once;
      if (absl::Status cancelled = ExpectCancelled(bench, *recorder, key, what); !cancelled.ok()) {
        return cancelled;
      }
    }
    return FinishSession(bench, *session);
  });
}

absl::Status CheckHttpCancelAfterCompletion(absl::string_view client,
                                            const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task, bench.Make(*session, *recorder, 0));
    task->Resume();
    if (!recorder->WaitFor(0)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded, "a resumed task never completed");
    }
    task->Cancel();
    task->Cancel();
    task->Resume();
    if (absl::Status once =
            ExpectOneCompletion(bench, *recorder, 0, "a task cancelled after completing");
        !once.ok()) {
      return once;
    }
    if (!IsRealResponse(recorder->Result(0))) {
      return bench.Fail(absl::StrCat("a task completed with ", Describe(recorder->Result(0)),
                                     "; the server sent status 200 and ", kBodyBytes, " bytes"));
    }
    return FinishSession(bench, *session);
  });
}

absl::Status CheckHttpCancelAtEveryMoment(absl::string_view client,
                                          const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    // Responses take 20 ms; cancels land from right after Resume() to 10 ms after the response,
    // 1 ms apart, 6 tasks at a time.
    constexpr int kLanes = 6;
    constexpr int kPerLane = 5;
    struct Lane {
      Mutex mu;
      std::vector<std::shared_ptr<HttpTask>> tasks ABSL_GUARDED_BY(mu);
      absl::Status error ABSL_GUARDED_BY(mu);
    };
    auto lanes = std::make_shared<std::vector<Lane>>(kLanes);
    BoundedThreads threads;
    // The threads capture what they use by value: one still blocked in the client at the
    // deadline must not outlive it.
    const HttpRequest request = bench.Request("/fault/delay,ms=20");
    for (int lane = 0; lane < kLanes; ++lane) {
      threads.Start([request, session, recorder, lanes, lane] {
        for (int i = 0; i < kPerLane; ++i) {
          const int key = lane * kPerLane + i;
          absl::StatusOr<std::shared_ptr<HttpTask>> task =
              session->MakeTask(request, recorder->Callback(key));
          Lane& mine = (*lanes)[lane];
          if (!task.ok()) {
            MutexLock lock(&mine.mu);
            mine.error = task.status();
            return;
          }
          {
            MutexLock lock(&mine.mu);
            mine.tasks.push_back(*task);
          }
          (*task)->Resume();
          if (key > 0) absl::SleepFor(absl::Microseconds(1000 * key));
          (*task)->Cancel();
          recorder->WaitFor(key);
        }
      });
    }
    if (!threads.JoinWithin(absl::Seconds(30))) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "Resume()/Cancel() calls did not return within 30 s");
    }
    for (Lane& lane : *lanes) {
      MutexLock lock(&lane.mu);
      if (!lane.error.ok()) return lane.error;
    }
    if (absl::Status finished = FinishSession(bench, *session); !finished.ok()) return finished;
    absl::SleepFor(kQuietWait);
    for (int key = 0; key < kLanes * kPerLane; ++key) {
      const std::string what =
          absl::StrCat("a task cancelled ", key, " ms after Resume() (response after 20 ms)");
      if (const int calls = recorder->Calls(key); calls != 1) {
        return bench.Fail(absl::StrCat(what, " completed ", calls, " times"));
      }
      const HttpResult result = recorder->Result(key);
      if (result.error != HttpErrorKind::kCancelled && !IsRealResponse(result)) {
        return bench.Fail(absl::StrCat(what, " completed with ", Describe(result),
                                       "; only cancelled or the real response (200, ", kBodyBytes,
                                       " bytes) are right"));
      }
    }
    if (recorder->AfterInvalidation() != 0) {
      return bench.Fail(absl::StrCat(recorder->AfterInvalidation(),
                                     " completions came after invalidation completed"));
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpExactlyOnceUnderConcurrentResumeAndCancel(
    absl::string_view client, const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    constexpr int kThreads = 4;
    constexpr int kPerThread = 40;
    struct Shared {
      Mutex mu;
      std::vector<std::shared_ptr<HttpTask>> tasks ABSL_GUARDED_BY(mu);
      absl::Status error ABSL_GUARDED_BY(mu);
      std::atomic<bool> spawning{true};
    };
    auto shared = std::make_shared<Shared>();
    BoundedThreads makers;
    const HttpRequest quick = bench.Request("/");
    const HttpRequest delayed = bench.Request("/fault/delay,ms=2");
    for (int t = 0; t < kThreads; ++t) {
      makers.Start([quick, delayed, session, recorder, shared, t] {
        std::mt19937 random(t);
        for (int i = 0; i < kPerThread; ++i) {
          const int key = t * kPerThread + i;
          absl::StatusOr<std::shared_ptr<HttpTask>> task =
              session->MakeTask(i % 3 == 0 ? delayed : quick, recorder->Callback(key));
          if (!task.ok()) {
            MutexLock lock(&shared->mu);
            shared->error = task.status();
            return;
          }
          if (random() % 5 != 0) (*task)->Resume();  // Some are cancelled before any Resume().
          if (random() % 7 == 0) (*task)->Cancel();
          MutexLock lock(&shared->mu);
          shared->tasks.push_back(*task);
        }
      });
    }
    BoundedThreads cancellers;
    for (int t = 0; t < 2; ++t) {
      cancellers.Start([shared, t] {
        std::mt19937 random(100 + t);
        while (shared->spawning.load()) {
          std::shared_ptr<HttpTask> victim;
          {
            MutexLock lock(&shared->mu);
            if (!shared->tasks.empty()) victim = shared->tasks[random() % shared->tasks.size()];
          }
          if (victim != nullptr) victim->Cancel();
          absl::SleepFor(absl::Microseconds(random() % 200));
        }
      });
    }
    const bool made = makers.JoinWithin(absl::Seconds(30));
    std::vector<std::shared_ptr<HttpTask>> tasks;
    {
      MutexLock lock(&shared->mu);
      tasks = shared->tasks;
      if (!shared->error.ok()) {
        shared->spawning = false;
        return shared->error;
      }
    }
    for (const auto& task : tasks) task->Resume();  // The rest (no-op once cancelled or done).
    const bool all = recorder->WaitForCount(kThreads * kPerThread, absl::Seconds(30));
    shared->spawning = false;
    const bool cancels_returned = cancellers.JoinWithin(absl::Seconds(10));
    if (!made || !cancels_returned) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "MakeTask()/Resume()/Cancel() from several threads did not return");
    }
    if (!all) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        absl::StrCat(recorder->Completed(), " of ", kThreads * kPerThread,
                                     " tasks completed within 30 s"));
    }
    session->FinishTasksAndInvalidate(recorder->InvalidatedCallback());
    if (!session->WaitUntilInvalidated(kCompletionWait)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded, "invalidation did not complete");
    }
    for (const auto& task : tasks) task->Cancel();  // After invalidation: nothing happens.
    absl::SleepFor(kQuietWait);
    if (const int key = recorder->FirstDuplicate(); key >= 0) {
      return bench.Fail(absl::StrCat("task ", key, " completed ", recorder->Calls(key),
                                     " times (last: ", Describe(recorder->Result(key)),
                                     "); exactly once is the contract"));
    }
    if (recorder->AfterInvalidation() != 0) {
      return bench.Fail(absl::StrCat(recorder->AfterInvalidation(),
                                     " completions came after invalidation completed"));
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpFinishTasksAndInvalidate(absl::string_view client,
                                               const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    constexpr int kResumed = 4;
    std::vector<std::shared_ptr<HttpTask>> tasks;
    for (int key = 0; key < kResumed; ++key) {
      ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task,
                       bench.Make(*session, *recorder, key, "/fault/delay,ms=50"));
      task->Resume();
      tasks.push_back(std::move(task));
    }
    ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> never_resumed,
                     bench.Make(*session, *recorder, kResumed));
    tasks.push_back(never_resumed);
    session->FinishTasksAndInvalidate(recorder->InvalidatedCallback());
    absl::StatusOr<std::shared_ptr<HttpTask>> refused =
        session->MakeTask(bench.Request(), recorder->Callback(99));
    if (refused.status().code() != absl::StatusCode::kFailedPrecondition) {
      return bench.Fail(absl::StrCat("MakeTask() after FinishTasksAndInvalidate() gave ",
                                     refused.status().ToString(), ", not FailedPrecondition"));
    }
    if (session->AddConnectionObserver({}).ok()) {
      return bench.Fail("AddConnectionObserver() succeeded after invalidation began");
    }
    if (!session->WaitUntilInvalidated(kCompletionWait)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "FinishTasksAndInvalidate() with 4 tasks answered after 50 ms did not "
                        "complete within 10 s");
    }
    for (int key = 0; key < kResumed; ++key) {
      if (recorder->Calls(key) != 1) {
        return bench.Fail(absl::StrCat("resumed task ", key, " completed ", recorder->Calls(key),
                                       " times before invalidation completed"));
      }
      if (!IsRealResponse(recorder->Result(key))) {
        return bench.Fail(absl::StrCat("FinishTasksAndInvalidate() must let resumed tasks finish; ",
                                       "task ", key, " completed with ",
                                       Describe(recorder->Result(key))));
      }
    }
    if (recorder->Calls(kResumed) != 1) {
      return bench.Fail(
          absl::StrCat("a task never resumed completed ", recorder->Calls(kResumed),
                       " times by invalidation; once, as cancelled, is the contract"));
    }
    if (absl::Status cancelled =
            ExpectCancelled(bench, *recorder, kResumed, "a task never resumed, at invalidation");
        !cancelled.ok()) {
      return cancelled;
    }
    for (const auto& task : tasks) {
      task->Cancel();
      task->Resume();
    }
    absl::SleepFor(kQuietWait);
    if (recorder->InvalidationCallbacks() != 1) {
      return bench.Fail(absl::StrCat("the invalidation callback ran ",
                                     recorder->InvalidationCallbacks(), " times"));
    }
    if (recorder->AfterInvalidation() != 0 || recorder->Calls(99) != 0) {
      return bench.Fail("a completion came after invalidation completed");
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpInvalidateAndCancel(absl::string_view client,
                                          const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    constexpr int kTasks = 4;
    for (int key = 0; key < kTasks; ++key) {
      ASSIGN_OR_RETURN(
          std::shared_ptr<HttpTask> task,
          bench.Make(*session, *recorder, key, absl::StrCat("/fault/delay,ms=", kSlowResponseMs)));
      task->Resume();
    }
    absl::SleepFor(absl::Milliseconds(100));
    session->InvalidateAndCancel(recorder->InvalidatedCallback());
    if (!session->WaitUntilInvalidated(kCompletionWait)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "InvalidateAndCancel() of 4 running tasks did not complete within 10 s");
    }
    absl::SleepFor(kQuietWait);
    for (int key = 0; key < kTasks; ++key) {
      if (recorder->Calls(key) != 1) {
        return bench.Fail(absl::StrCat("running task ", key, " completed ", recorder->Calls(key),
                                       " times by InvalidateAndCancel()"));
      }
      if (absl::Status cancelled =
              ExpectCancelled(bench, *recorder, key, "a running task, at InvalidateAndCancel()");
          !cancelled.ok()) {
        return cancelled;
      }
    }
    if (recorder->InvalidationCallbacks() != 1) {
      return bench.Fail(absl::StrCat("the invalidation callback ran ",
                                     recorder->InvalidationCallbacks(), " times"));
    }
    if (recorder->AfterInvalidation() != 0) {
      return bench.Fail("a completion came after invalidation completed");
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpEscalationAndLateCallbacks(absl::string_view client,
                                                 const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    ASSIGN_OR_RETURN(
        std::shared_ptr<HttpTask> task,
        bench.Make(*session, *recorder, 0, absl::StrCat("/fault/delay,ms=", kSlowResponseMs)));
    task->Resume();
    session->FinishTasksAndInvalidate(recorder->InvalidatedCallback(1));
    if (session->WaitUntilInvalidated(absl::Milliseconds(100))) {
      return bench.Fail(
          "WaitUntilInvalidated(100 ms) returned true while a task answered after 10 s ran "
          "(FinishTasksAndInvalidate lets it finish)");
    }
    session->InvalidateAndCancel(recorder->InvalidatedCallback(2));
    if (!session->WaitUntilInvalidated(kCompletionWait)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "InvalidateAndCancel() after FinishTasksAndInvalidate() did not complete "
                        "invalidation within 10 s: it must still cancel");
    }
    if (absl::Status cancelled = ExpectCancelled(
            bench, *recorder, 0,
            "a running task, at InvalidateAndCancel() after FinishTasksAndInvalidate()");
        !cancelled.ok()) {
      return cancelled;
    }
    // Callbacks given after invalidation completed run too.
    session->FinishTasksAndInvalidate(recorder->InvalidatedCallback(3));
    session->InvalidateAndCancel(recorder->InvalidatedCallback(4));
    for (int key : {3, 4}) recorder->WaitForInvalidationCallback(key);
    absl::SleepFor(kQuietWait);
    for (int key = 1; key <= 4; ++key) {
      if (recorder->InvalidationCallbacks(key) != 1) {
        return bench.Fail(absl::StrCat(
            "invalidation callback #", key, " (", key <= 2 ? "given before" : "given after",
            " invalidation completed) ran ", recorder->InvalidationCallbacks(key),
            " times; every callback runs exactly once"));
      }
    }
    if (recorder->Calls(0) != 1) {
      return bench.Fail(absl::StrCat("the task completed ", recorder->Calls(0), " times"));
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpDestroyingASessionCancelsItsTasks(
    absl::string_view client, const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    ASSIGN_OR_RETURN(
        std::shared_ptr<HttpTask> running,
        bench.Make(*session, *recorder, 0, absl::StrCat("/fault/delay,ms=", kSlowResponseMs)));
    running->Resume();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> created, bench.Make(*session, *recorder, 1));
    absl::SleepFor(absl::Milliseconds(100));
    BoundedThreads destroyer;
    destroyer.Start([session = std::move(session)]() mutable { session.reset(); });
    if (!destroyer.JoinWithin(kCompletionWait)) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "destroying a session with a running task did not return within 10 s");
    }
    for (int key : {0, 1}) {
      const char* what = key == 0 ? "a running task, at session destruction"
                                  : "a task never resumed, at session destruction";
      if (recorder->Calls(key) != 1) {
        return bench.Fail(absl::StrCat(what, ": completed ", recorder->Calls(key),
                                       " times by the time the destructor returned"));
      }
      if (absl::Status cancelled = ExpectCancelled(bench, *recorder, key, what); !cancelled.ok()) {
        return cancelled;
      }
    }
    // Handles outlive the session harmlessly.
    running->Cancel();
    created->Resume();
    created->Cancel();
    absl::SleepFor(kQuietWait);
    if (recorder->Calls(0) != 1 || recorder->Calls(1) != 1) {
      return bench.Fail("a task handle used after its session was destroyed called back again");
    }
    return absl::OkStatus();
  });
}

absl::Status CheckHttpSessionDestroyedFromItsOwnCallback(
    absl::string_view client, const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> made, bench.NewSession());
    struct Holder {
      Mutex mu;
      std::shared_ptr<HttpSession> session ABSL_GUARDED_BY(mu);
      std::atomic<bool> destroyed{false};
    };
    auto holder = std::make_shared<Holder>();
    HttpSession* session = made.get();
    {
      MutexLock lock(&holder->mu);
      holder->session = std::move(made);
    }
    ASSIGN_OR_RETURN(
        std::shared_ptr<HttpTask> slow,
        bench.Make(*session, *recorder, 0, absl::StrCat("/fault/delay,ms=", kSlowResponseMs)));
    slow->Resume();
    absl::StatusOr<std::shared_ptr<HttpTask>> destroying =
        session->MakeTask(bench.Request(), [holder](const HttpResult&) {
          std::shared_ptr<HttpSession> last;
          {
            MutexLock lock(&holder->mu);
            last.swap(holder->session);
          }
          last.reset();  // On the session's own callback thread.
          holder->destroyed = true;
        });
    if (!destroying.ok())
      return bench.Fail(destroying.status().code(), destroying.status().message());
    (*destroying)->Resume();
    const absl::Time deadline = absl::Now() + kCompletionWait;
    while (!holder->destroyed.load() && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(5));
    if (!holder->destroyed.load()) {
      return bench.Fail(absl::StatusCode::kDeadlineExceeded,
                        "destroying the session inside one of its completion callbacks did not "
                        "return within 10 s (a destructor waiting for the callback it runs in "
                        "deadlocks; http_client.h allows this destruction)");
    }
    if (absl::Status once = ExpectOneCompletion(
            bench, *recorder, 0, "a running task of a session destroyed from a callback");
        !once.ok()) {
      return once;
    }
    return ExpectCancelled(bench, *recorder, 0,
                           "a running task of a session destroyed from a callback");
  });
}

absl::Status CheckHttpRemovedObserverIsNotCalledAgain(absl::string_view client,
                                                      const HttpClientConformanceOptions& options) {
  return ForEachVersion(client, options, [](Bench& bench) -> absl::Status {
    auto recorder = Recorder::Make();
    ASSIGN_OR_RETURN(std::shared_ptr<HttpSession> session, bench.NewSession());
    auto calls = std::make_shared<std::atomic<int>>(0);
    ConnectionObserver observer;
    observer.on_viability_changed = [calls](const ConnectionInfo&, bool) { ++*calls; };
    observer.on_better_path = [calls](const ConnectionInfo&, bool) { ++*calls; };
    absl::StatusOr<ObserverId> id = session->AddConnectionObserver(std::move(observer));
    if (!id.ok())
      return bench.Fail(absl::StrCat("AddConnectionObserver(): ", id.status().message()));
    for (int key = 0; key < 2; ++key) {
      ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task, bench.Make(*session, *recorder, key));
      task->Resume();
    }
    recorder->WaitForCount(2);
    session->RemoveConnectionObserver(*id);
    const int after_removal = calls->load();
    for (int key = 2; key < 4; ++key) {
      ASSIGN_OR_RETURN(std::shared_ptr<HttpTask> task, bench.Make(*session, *recorder, key));
      task->Resume();
    }
    recorder->WaitForCount(4);
    // Closing the session closes its connections: what an observer would hear about.
    if (absl::Status finished = FinishSession(bench, *session); !finished.ok()) return finished;
    session.reset();
    absl::SleepFor(kQuietWait);
    if (calls->load() != after_removal) {
      return bench.Fail(absl::StrCat("an observer was called ", calls->load() - after_removal,
                                     " times after RemoveConnectionObserver() returned"));
    }
    return absl::OkStatus();
  });
}

#undef ASSIGN_OR_RETURN

const std::vector<HttpProperty>& HttpProperties() {
  static const auto* const kProperties = new std::vector<HttpProperty>{
      {"CompletesTasksWithRealResults", &CheckHttpCompletesTasksWithRealResults},
      {"CancelBeforeResume", &CheckHttpCancelBeforeResume},
      {"CancelMidTransfer", &CheckHttpCancelMidTransfer},
      {"CancelAfterCompletion", &CheckHttpCancelAfterCompletion},
      {"CancelAtEveryMoment", &CheckHttpCancelAtEveryMoment},
      {"ExactlyOnceUnderConcurrentResumeAndCancel",
       &CheckHttpExactlyOnceUnderConcurrentResumeAndCancel},
      {"FinishTasksAndInvalidate", &CheckHttpFinishTasksAndInvalidate},
      {"InvalidateAndCancel", &CheckHttpInvalidateAndCancel},
      {"EscalationAndLateCallbacks", &CheckHttpEscalationAndLateCallbacks},
      {"DestroyingASessionCancelsItsTasks", &CheckHttpDestroyingASessionCancelsItsTasks},
      {"SessionDestroyedFromItsOwnCallback", &CheckHttpSessionDestroyedFromItsOwnCallback},
      {"RemovedObserverIsNotCalledAgain", &CheckHttpRemovedObserverIsNotCalledAgain},
  };
  return *kProperties;
}

std::vector<HttpClientConformanceCase> HttpClientConformanceCases(
    absl::string_view client, const HttpClientConformanceOptions& options) {
  std::vector<HttpClientConformanceCase> cases;
  for (const HttpProperty& property : HttpProperties()) {
    cases.push_back({std::string(client), options, property});
  }
  return cases;
}

std::string HttpClientConformanceCaseName(
    const ::testing::TestParamInfo<HttpClientConformanceCase>& info) {
  return info.param.property.name;
}

void PrintTo(const HttpClientConformanceCase& test_case, std::ostream* out) {
  *out << test_case.client << ": " << test_case.property.name;
}

void HttpClientConformanceTest::CheckProperty() {
  const HttpClientConformanceCase& test_case = GetParam();
  const absl::Status held = test_case.property.check(test_case.client, test_case.options);
  if (IsNotApplicable(held)) GTEST_SKIP() << held.message();
  EXPECT_TRUE(held.ok()) << held;
}

}  // namespace netrig::conformance
