// The `null` HTTP client (harness's ceiling): its contract, piece by piece, and a clean
// `netrig http --client null` run with every check of the workload on.
#include "harness/http/null_client.h"

#include <atomic>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "harness/http/http_client.h"
#include "harness/workloads/http/http_stress.h"

namespace netrig {
namespace {

struct Completions {
  std::vector<HttpResult> results;
  HttpCompletion Callback() {
    return [this](const HttpResult& result) { results.push_back(result); };
  }
};

std::unique_ptr<HttpSession> NewSession() {
  absl::StatusOr<std::unique_ptr<HttpClient>> client = MakeHttpClient("null");
  EXPECT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::unique_ptr<HttpSession>> session = (*client)->NewSession({});
  EXPECT_TRUE(session.ok()) << session.status();
  return *std::move(session);
}

TEST(NullHttpClient, ResumeCompletesOnceWithTheRequestedVersion) {
  auto session = NewSession();
  Completions done;
  HttpRequest request;
  request.version = HttpVersion::kH2cPriorKnowledge;
  auto task = session->MakeTask(request, done.Callback());
  ASSERT_TRUE(task.ok());
  (*task)->Resume();
  (*task)->Resume();
  (*task)->Cancel();
  ASSERT_EQ(done.results.size(), 1u);
  EXPECT_TRUE(done.results[0].ok());
  EXPECT_EQ(done.results[0].status, 200);
  EXPECT_EQ(done.results[0].version, HttpVersion::kH2cPriorKnowledge);
  EXPECT_EQ(done.results[0].task_id, (*task)->id());
  EXPECT_STREQ((*task)->state(), "completed");
}

TEST(NullHttpClient, CancelBeforeResumeCompletesAsCancelled) {
  auto session = NewSession();
  Completions done;
  auto task = session->MakeTask({}, done.Callback());
  ASSERT_TRUE(task.ok());
  (*task)->Cancel();
  (*task)->Resume();
  ASSERT_EQ(done.results.size(), 1u);
  EXPECT_EQ(done.results[0].error, HttpErrorKind::kCancelled);
}

TEST(NullHttpClient, InvalidationCancelsTasksNeverStartedEvenWhenDropped) {
  auto session = NewSession();
  Completions done;
  bool invalidated = false;
  {
    auto dropped = session->MakeTask({}, done.Callback());  // Never resumed, reference dropped.
    ASSERT_TRUE(dropped.ok());
  }
  auto kept = session->MakeTask({}, done.Callback());
  ASSERT_TRUE(kept.ok());
  session->FinishTasksAndInvalidate([&] { invalidated = true; });
  EXPECT_TRUE(session->WaitUntilInvalidated(absl::Seconds(5)));
  EXPECT_TRUE(invalidated);
  ASSERT_EQ(done.results.size(), 2u);
  for (const HttpResult& result : done.results) EXPECT_EQ(result.error, HttpErrorKind::kCancelled);
  EXPECT_FALSE(session->MakeTask({}, done.Callback()).ok());
  EXPECT_FALSE(session->AddConnectionObserver({}).ok());
  bool late = false;
  session->InvalidateAndCancel([&] { late = true; });  // After completion: runs at once.
  EXPECT_TRUE(late);
}

TEST(NullHttpClient, ASessionDestroyedFromItsOwnCallbackFinishesAfterIt) {
  auto session = NewSession();
  std::atomic<int> calls{0};
  bool wait_from_callback = true;
  HttpSession* raw = session.get();
  auto task = session->MakeTask({}, [&](const HttpResult&) {
    ++calls;
    wait_from_callback = raw->WaitUntilInvalidated(absl::Seconds(1));
    session.reset();
  });
  ASSERT_TRUE(task.ok());
  (*task)->Resume();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(wait_from_callback);
  EXPECT_EQ(session, nullptr);
}

// Every check of the workload holds for it, cancels and session churn included.
TEST(NullHttpClient, AStressRunIsClean) {
  HttpStressOptions options;
  options.client = "null";
  options.duration = absl::Milliseconds(800);
  options.seed = 42;
  options.faults = "none";
  options.http = "mixed";
  options.tasks_per_session = 50;
  options.cancel_probability = 0.2;
  options.observer_probability = 0.1;
  options.status_out = nullptr;
  options.summary_out = nullptr;
  options.finding_dir = "";
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  ASSERT_TRUE(result.ok()) << result.status();
  const nlohmann::json& report = result->report;
  EXPECT_EQ(result->exit_code, 0) << result->DescribeViolations();
  EXPECT_GT(report["tasks_started"].get<uint64_t>(), 1000u);
  EXPECT_EQ(report["tasks_completed"], report["tasks_started"]);
  EXPECT_GT(report["tasks_cancelled"].get<uint64_t>(), 0u);
  EXPECT_TRUE(report["live_objects_at_end"].empty()) << report["live_objects_at_end"].dump();
}

}  // namespace
}  // namespace netrig
