// The `netrig http` workload in-process: option checks (fault specs, loopback-only targets,
// replay arguments), short clean runs of the reference client in every mode, and fake clients
// that break one invariant each (duplicate completion, a task that never completes) to show the
// run reports them and exits 1.
#include "harness/workloads/http/http_stress.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/http/http_client.h"

namespace netrig {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// A minimal in-memory client whose tasks misbehave on purpose.
enum class FakeBehavior { kCompleteTwice, kNeverComplete };

struct FakeCore {
  Mutex mu;
  int open_tasks ABSL_GUARDED_BY(mu) = 0;
  bool invalidating ABSL_GUARDED_BY(mu) = false;
  bool invalidated ABSL_GUARDED_BY(mu) = false;
  std::vector<absl::AnyInvocable<void()>> callbacks ABSL_GUARDED_BY(mu);
  CondVar done;

  // Runs the invalidation callbacks once nothing is open (called without `mu`).
  void MaybeFinish() {
    std::vector<absl::AnyInvocable<void()>> run;
    {
      MutexLock lock(&mu);
      if (!invalidating || invalidated || open_tasks != 0) return;
      run.swap(callbacks);
    }
    for (auto& callback : run) callback();
    MutexLock lock(&mu);
    invalidated = true;
    done.SignalAll();
  }
};

class FakeTask : public HttpTask {
 public:
  FakeTask(uint64_t id, FakeBehavior behavior, HttpCompletion completion,
           std::shared_ptr<FakeCore> core)
      : id_(id), behavior_(behavior), completion_(std::move(completion)), core_(std::move(core)) {}
  uint64_t id() const override { return id_; }
  void Resume() override {
    if (behavior_ == FakeBehavior::kCompleteTwice) {
      Deliver(HttpErrorKind::kNone);
      Deliver(HttpErrorKind::kNone);  // The bug.
    }
  }
  void Cancel() override { Deliver(HttpErrorKind::kCancelled); }
  const char* state() const override { return "fake-waiting"; }

 private:
  void Deliver(HttpErrorKind error) {
    bool first = false;
    {
      MutexLock lock(&mu_);
      first = !completed_;
      completed_ = true;
      if (!first && behavior_ != FakeBehavior::kCompleteTwice) return;
    }
    HttpResult result;
    result.task_id = id_;
    result.error = error;
    result.status = error == HttpErrorKind::kNone ? 200 : 0;
    completion_(result);
    if (first) {
      {
        MutexLock lock(&core_->mu);
        --core_->open_tasks;
      }
      core_->MaybeFinish();
    }
  }

  const uint64_t id_;
  const FakeBehavior behavior_;
  HttpCompletion completion_;
  std::shared_ptr<FakeCore> core_;
  Mutex mu_;
  bool completed_ ABSL_GUARDED_BY(mu_) = false;
};

class FakeSession : public HttpSession {
 public:
  explicit FakeSession(FakeBehavior behavior) : behavior_(behavior) {}
  ~FakeSession() override {
    InvalidateAndCancel(nullptr);
    WaitUntilInvalidated(absl::InfiniteDuration());
  }
  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest,
                                                     HttpCompletion on_complete) override {
    {
      MutexLock lock(&core_->mu);
      if (core_->invalidating) return absl::FailedPreconditionError("invalidated");
      ++core_->open_tasks;
    }
    auto task = std::make_shared<FakeTask>(next_id_++, behavior_, std::move(on_complete), core_);
    MutexLock lock(&tasks_mu_);
    tasks_.push_back(task);
    return task;
  }
  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    Begin(std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    Begin(std::move(on_invalidated));
    std::vector<std::shared_ptr<FakeTask>> tasks;
    {
      MutexLock lock(&tasks_mu_);
      tasks = tasks_;
    }
    for (const auto& task : tasks) task->Cancel();
  }
  bool WaitUntilInvalidated(absl::Duration timeout) override {
    const absl::Time deadline =
        timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
    MutexLock lock(&core_->mu);
    while (!core_->invalidated) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      core_->done.WaitWithTimeout(&core_->mu, std::min(left, absl::Milliseconds(50)));
    }
    return true;
  }
  absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver) override { return 1; }
  void RemoveConnectionObserver(ObserverId) override {}

 private:
  void Begin(absl::AnyInvocable<void()> on_invalidated) {
    {
      MutexLock lock(&core_->mu);
      core_->invalidating = true;
      if (on_invalidated) core_->callbacks.push_back(std::move(on_invalidated));
    }
    core_->MaybeFinish();
  }

  const FakeBehavior behavior_;
  std::shared_ptr<FakeCore> core_ = std::make_shared<FakeCore>();
  std::atomic<uint64_t> next_id_{1};
  Mutex tasks_mu_;
  std::vector<std::shared_ptr<FakeTask>> tasks_ ABSL_GUARDED_BY(tasks_mu_);
};

class FakeClient : public HttpClient {
 public:
  explicit FakeClient(FakeBehavior behavior) : behavior_(behavior) {}
  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(const HttpSessionOptions&) override {
    return std::make_unique<FakeSession>(behavior_);
  }

 private:
  const FakeBehavior behavior_;
};

void RegisterFakes() {
  (void)RegisterHttpClient("test-complete-twice", "completes every task twice", [] {
    return absl::StatusOr<std::unique_ptr<HttpClient>>(
        std::make_unique<FakeClient>(FakeBehavior::kCompleteTwice));
  });
  (void)RegisterHttpClient("test-never-complete", "completes tasks only when cancelled", [] {
    return absl::StatusOr<std::unique_ptr<HttpClient>>(
        std::make_unique<FakeClient>(FakeBehavior::kNeverComplete));
  });
}

HttpStressOptions Quiet(absl::Duration duration) {
  HttpStressOptions options;
  options.duration = duration;
  options.seed = 42;
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.finding_dir = "";
  return options;
}

std::vector<std::string> ViolationKinds(const nlohmann::json& report) {
  std::vector<std::string> kinds;
  for (const auto& violation : report["violations"]) kinds.push_back(violation["kind"]);
  return kinds;
}

TEST(HttpFaultSpecTest, NamedMixesAndExplicitLists) {
  auto none = ParseHttpFaultSpec("none", 1);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto mild = ParseHttpFaultSpec("default", 7);
  ASSERT_TRUE(mild.ok());
  ASSERT_TRUE(mild->has_value());
  EXPECT_EQ((*mild)->seed, 7u);
  double sum = 0;
  for (double p : (*mild)->probability) sum += p;
  EXPECT_GT(sum, 0.0);
  EXPECT_LT(sum, 0.5);  // Mild: most requests are answered normally.

  auto list = ParseHttpFaultSpec("delay=0.25, reset=0.5", 3);
  ASSERT_TRUE(list.ok());
  EXPECT_DOUBLE_EQ((**list)[FaultKind::kDelay], 0.25);
  EXPECT_DOUBLE_EQ((**list)[FaultKind::kResetMidBody], 0.5);
  EXPECT_DOUBLE_EQ((**list)[FaultKind::kStatus], 0.0);
}

TEST(HttpFaultSpecTest, RejectsUnknownKindsBadNumbersAndSumsAboveOne) {
  EXPECT_THAT(ParseHttpFaultSpec("explode=0.1", 0).status().message(), HasSubstr("explode"));
  EXPECT_FALSE(ParseHttpFaultSpec("delay=lots", 0).ok());
  EXPECT_FALSE(ParseHttpFaultSpec("delay", 0).ok());
  EXPECT_FALSE(ParseHttpFaultSpec("delay=0.7,reset=0.7", 0).ok());
}

TEST(HttpTargetTest, LoopbackOnlyUnlessAllowed) {
  for (const char* url : {"http://127.0.0.1:8080/", "http://127.1.2.3/x", "http://[::1]:81/",
                          "http://localhost:9/", "HTTP://LOCALHOST/"}) {
    EXPECT_TRUE(CheckHttpTarget(url, false).ok()) << url;
  }
  for (const char* url : {"http://example.com/", "http://10.0.0.1:80/", "http://[2001:db8::1]/",
                          "http://user@192.0.2.1/"}) {
    const absl::Status status = CheckHttpTarget(url, false);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << url;
    EXPECT_THAT(status.message(), HasSubstr("--allow_remote"));
    EXPECT_TRUE(CheckHttpTarget(url, true).ok()) << url;
  }
  EXPECT_EQ(CheckHttpTarget("ftp://127.0.0.1/", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckHttpTarget("http:///", true).code(), absl::StatusCode::kInvalidArgument);
}

// The guard holds for every spelling a resolver or libcurl reads as the same address, and
// refuses spellings that only look like loopback.
TEST(HttpTargetTest, LoopbackGuardHoldsForEverySpelling) {
  for (const char* url :
       {"http://2130706433:8080/", "http://0x7f000001/", "http://0x7f.1/", "http://0177.0.0.1/",
        "http://017700000001/", "http://127.1/", "http://[::ffff:127.0.0.1]:80/",
        "http://a@127.0.0.1/", "http://a:b@[::1]/", "http://LOCALHOST./", "http://localhost./"}) {
    EXPECT_TRUE(CheckHttpTarget(url, false).ok()) << url;
  }
  for (const char* url :
       {"http://127.0.0.1.example.com/", "http://%31%32%37.0.0.1/", "http://localhost.example/",
        "http://3221225985/", "http://0xc0.0.2.1/", "http://[::ffff:192.0.2.1]/",
        "http://127.0.0.1@192.0.2.1/", "http://[::1]@192.0.2.1/", "http://127.0.0.1 .evil/",
        "http://0/", "http://[::]/"}) {
    EXPECT_FALSE(CheckHttpTarget(url, false).ok()) << url;
  }
}

TEST(HttpTargetTest, RefusesHttpsAndBadPorts) {
  EXPECT_THAT(CheckHttpTarget("https://127.0.0.1:8443/", true).message(), HasSubstr("https"));
  EXPECT_EQ(CheckHttpTarget("https://127.0.0.1:8443/", true).code(),
            absl::StatusCode::kInvalidArgument);
  for (const char* url : {"http://127.0.0.1:0/", "http://127.0.0.1:99999/", "http://127.0.0.1:/",
                          "http://127.0.0.1:8x/", "http://[::1]:0/"}) {
    EXPECT_THAT(CheckHttpTarget(url, true).message(), HasSubstr("port")) << url;
  }
}

TEST(HttpStressOptionsTest, ValidationNamesTheBadOption) {
  HttpStressOptions options = Quiet(absl::Seconds(1));
  options.client = "no-such-client";
  const absl::Status unknown = ValidateHttpStressOptions(options);
  EXPECT_THAT(unknown.message(), HasSubstr("no-such-client"));
  EXPECT_THAT(unknown.message(), HasSubstr("curl"));  // Lists what is registered.

  options = Quiet(absl::Seconds(1));
  options.http = "3";
  EXPECT_THAT(ValidateHttpStressOptions(options).message(), HasSubstr("--http"));
  options = Quiet(absl::Seconds(1));
  options.target = "http://192.0.2.7/";
  EXPECT_EQ(ValidateHttpStressOptions(options).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(RunHttpStress(options).ok());
  options = Quiet(absl::Seconds(1));
  options.task_deadline = options.request_timeout;
  EXPECT_THAT(ValidateHttpStressOptions(options).message(), HasSubstr("--task_deadline"));
  EXPECT_TRUE(ValidateHttpStressOptions(Quiet(absl::Seconds(1))).ok());
}

TEST(HttpStressOptionsTest, ReplayArgumentsCarryEverySeed) {
  HttpStressOptions options = Quiet(absl::Seconds(3));
  options.client = "bug-double-completion";
  options.rate = 500;
  options.seed = 99;
  options.perturb_seed = 1234;
  options.json = "out.json";
  options.allow_remote = true;
  const std::vector<std::string> args = HttpOptionTable().Render(options);
  EXPECT_THAT(args, Contains("--seed=99"));
  EXPECT_THAT(args, Contains("--perturb_seed=1234"));
  EXPECT_THAT(args, Contains("--client=bug-double-completion"));
  EXPECT_THAT(args, Contains("--rate=500"));
  EXPECT_THAT(args, Contains("--duration=3s"));
  // Outputs and the remote opt-in are never part of a replay.
  for (const std::string& arg : args) {
    EXPECT_THAT(arg, ::testing::Not(HasSubstr("json"))) << arg;
    EXPECT_THAT(arg, ::testing::Not(HasSubstr("allow_remote"))) << arg;
  }
  options.perturb = false;
  EXPECT_THAT(HttpOptionTable().Render(options), Contains("--perturb=false"));
  EXPECT_THAT(HttpOptionTable().Render(options),
              ::testing::Not(Contains(HasSubstr("--perturb_seed"))));
}

TEST(HttpStressOptionsTest, EveryTableOptionRoundTripsThroughItsRendering) {
  HttpStressOptions options = Quiet(absl::Seconds(3));
  options.seed = 7;
  options.http = "mixed";
  options.cancel_probability = 0.25;
  options.request_timeout = absl::Milliseconds(1500);
  const std::vector<std::string> args = HttpOptionTable().Render(options);
  HttpStressOptions again;
  ASSERT_TRUE(HttpOptionTable().Parse(args, again).ok());
  EXPECT_EQ(HttpOptionTable().Render(again), args);
}

TEST(HttpStressRunTest, ReferenceClientClosedLoopIsClean) {
  HttpStressOptions options = Quiet(absl::Milliseconds(800));
  options.tasks_per_session = 50;  // Many session replacements in a short run.
  options.cancel_probability = 0.2;
  options.observer_probability = 0.1;
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  const nlohmann::json& report = result->report;
  EXPECT_EQ(result->exit_code, 0) << report["violations"].dump();
  EXPECT_GT(report["tasks_started"].get<uint64_t>(), 0u);
  EXPECT_EQ(report["tasks_completed"], report["tasks_started"]);
  EXPECT_EQ(report["duplicate_completions"], 0);
  EXPECT_EQ(report["stuck_tasks"], 0);
  EXPECT_TRUE(report["live_objects_at_end"].empty()) << report["live_objects_at_end"].dump();
  EXPECT_GT(report["counters"]["sessions_created"].get<int>(), 2);
  EXPECT_GT(report["counters"]["sessions_invalidated_and_cancelled"].get<int>(), 0);
  EXPECT_GT(report["tasks_cancelled"].get<uint64_t>(), 0u);
  for (const char* key : {"p50", "p99", "p999", "max"}) {
    EXPECT_TRUE(report["latency_us"].contains(key)) << key;
  }
  for (const char* key : {"tasks_per_sec", "duration_s", "seed", "violations"}) {
    EXPECT_TRUE(report.contains(key)) << key;
  }
  EXPECT_EQ(report["seed"], 42u);
}

// --no_path_at_start: the embedded server resets every connection while there is no path; the
// reference client's tasks fail visibly (not stuck, not inconclusive: the resets are counted as
// injected) and succeed again once the path appears.
TEST(HttpStressRunTest, ReferenceClientRecoversAfterANoPathWindow) {
  HttpStressOptions options = Quiet(absl::Seconds(3));
  options.no_path_at_start = absl::Seconds(1);
  options.faults = "none";
  options.http = "mixed";
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  const nlohmann::json& report = result->report;
  EXPECT_EQ(result->exit_code, 0) << report["violations"].dump() << report["inconclusive"].dump();
  EXPECT_GT(report["server"]["connections_reset_no_path"].get<uint64_t>(), 0u);
  EXPECT_GT(report["tasks_failed"].get<uint64_t>(), 0u);
  EXPECT_GE(report["recovery"]["tasks_after"].get<uint64_t>(), 20u);
  EXPECT_GT(report["recovery"]["succeeded_after"].get<uint64_t>(), 0u);
  EXPECT_EQ(report["stuck_tasks"], 0);
}

TEST(HttpStressRunTest, ANoPathWindowNeedsTheEmbeddedServer) {
  HttpStressOptions options = Quiet(absl::Seconds(1));
  options.no_path_at_start = absl::Seconds(1);
  options.target = "http://127.0.0.1:9/";
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), ::testing::HasSubstr("embedded server"));
}

TEST(HttpStressRunTest, OpenLoopStartsTheTargetNumberOfTasks) {
  HttpStressOptions options = Quiet(absl::Seconds(1));
  options.rate = 400;
  options.http = "h2c";
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->report["violations"].dump();
  EXPECT_EQ(result->report["mode"], "open_loop");
  // The driver starts exactly rate x duration tasks unless the run stopped early; the follow-ups
  // that completions and observer callbacks make (--reentrant) are started tasks too.
  const uint64_t follow_ups =
      result->report["counters"]["reentrant"]["follow_up_tasks"].get<uint64_t>();
  EXPECT_EQ(result->report["operations"], 400u);
  EXPECT_EQ(result->report["tasks_started"].get<uint64_t>(), 400u + follow_ups);
  EXPECT_EQ(result->report["tasks_completed"], result->report["tasks_started"]);
  EXPECT_GT(result->report["server"]["http2_connections"].get<uint64_t>(), 0u);
}

TEST(HttpStressRunTest, MixedVersionsWithHeavyFaultsStayClean) {
  HttpStressOptions options = Quiet(absl::Milliseconds(800));
  options.http = "mixed";
  options.faults = "reset=0.1,truncate=0.1,close_after=0.1,rst_stream=0.1,goaway=0.05,delay=0.1";
  options.request_timeout = absl::Seconds(2);
  options.task_deadline = absl::Seconds(6);
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->report["violations"].dump();
  EXPECT_GT(result->report["tasks_failed"].get<uint64_t>(), 0u);  // The faults took effect.
  EXPECT_GT(result->report["server"]["http1_connections"].get<uint64_t>(), 0u);
  EXPECT_GT(result->report["server"]["http2_connections"].get<uint64_t>(), 0u);
}

TEST(HttpStressRunTest, DuplicateCompletionIsAViolation) {
  RegisterFakes();
  HttpStressOptions options = Quiet(absl::Seconds(5));
  options.client = "test-complete-twice";
  options.target = "http://127.0.0.1:9/";  // Never contacted by the fake.
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_GT(result->report["duplicate_completions"].get<uint64_t>(), 0u);
  EXPECT_THAT(ViolationKinds(result->report), Contains("duplicate_completion"));
  EXPECT_EQ(result->report["stop_reason"], "violation");
  // Each violation carries the replay recipe with the seed.
  const nlohmann::json& first = result->report["violations"][0];
  EXPECT_THAT(first["message"].get<std::string>(), HasSubstr("twice"));
  EXPECT_EQ(first["replay"]["seed"], 42u);
}

TEST(HttpStressRunTest, TaskThatNeverCompletesIsReportedStuck) {
  RegisterFakes();
  HttpStressOptions options = Quiet(absl::Seconds(5));
  options.client = "test-never-complete";
  options.target = "http://127.0.0.1:9/";
  options.cancel_probability = 0;
  options.concurrency = 4;
  options.request_timeout = absl::Milliseconds(100);
  options.task_deadline = absl::Milliseconds(2200);
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_GT(result->report["stuck_tasks"].get<uint64_t>(), 0u);
  EXPECT_THAT(ViolationKinds(result->report), Contains("stuck"));
  EXPECT_EQ(result->report["stop_reason"], "violation");
}

// Under --schedule the reference client runs clean, every wait (libcurl's poll, the server's
// epoll) is a probe (no watchdog handoff beyond a rare one), and a seeded bug is still found.
TEST(HttpStressControlledTest, ReferenceClientIsCleanWithNoLeakage) {
  for (const char* version : {"1.1", "mixed"}) {
    HttpStressOptions options = Quiet(absl::Seconds(60));
    options.http = version;
    options.schedule = "pct";
    options.operations = 60;
    absl::StatusOr<StressResult> result = RunHttpStress(options);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->violation_total, 0u) << version << "\n" << result->DescribeViolations();
    EXPECT_EQ(result->report["stop_reason"], "max_operations") << version;
    const nlohmann::json& schedule = result->report["schedule"];
    EXPECT_GT(schedule["steps"].get<uint64_t>(), 100u) << version;
    // Every wait is a probe; a rare handoff under a sanitizer's runtime is not the harness's.
    EXPECT_LE(schedule["watchdog_handoffs"].get<uint64_t>(), 2u) << version;
  }
}

TEST(HttpStressControlledTest, DuplicateCompletionIsFoundUnderControl) {
  RegisterFakes();
  HttpStressOptions options = Quiet(absl::Seconds(60));
  options.client = "test-complete-twice";
  options.target = "http://127.0.0.1:9/";  // Never contacted by the fake.
  options.schedule = "random";
  options.operations = 200;
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(ViolationKinds(result->report), Contains("duplicate_completion"));
}

}  // namespace
}  // namespace netrig
