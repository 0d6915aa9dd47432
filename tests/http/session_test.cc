// The reference libcurl session ("curl") against the embedded loopback server: completion
// exactly once under concurrent resume/cancel, cancel at every moment, both invalidation modes,
// nothing after invalidation, observers, live counters, HTTP/1.1 keep-alive and h2c; and the
// client registry.
#include "harness/http/curl/session.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/http/curl/buggy_clients.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"
#include "tests/support/ports.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

// Registered the way users register their own client (the test binary links this file).
class NullClient : public HttpClient {
 public:
  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(const HttpSessionOptions&) override {
    return absl::UnimplementedError("test client");
  }
};
NETRIG_REGISTER_HTTP_CLIENT("test-null", "registered by session_test",
                            [] { return std::make_unique<NullClient>(); });

// Collects completions: how many per task, the last result, and anything after invalidation.
class Recorder {
 public:
  HttpCompletion Callback() {
    return [this](const HttpResult& result) {
      MutexLock lock(&mu_);
      ++calls_[result.task_id];
      results_[result.task_id] = result;
      if (invalidated_) ++after_invalidation_;
      done_.SignalAll();
    };
  }
  absl::AnyInvocable<void()> InvalidatedCallback() {
    return [this] {
      MutexLock lock(&mu_);
      invalidated_ = true;
      ++invalidation_callbacks_;
    };
  }
  // Waits until `n` distinct tasks completed (at most 30 s).
  bool WaitFor(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    MutexLock lock(&mu_);
    while (calls_.size() < n) {
      if (absl::Now() > deadline) return false;
      done_.WaitWithTimeout(&mu_, absl::Milliseconds(100));
    }
    return true;
  }
  int Calls(uint64_t task_id) {
    MutexLock lock(&mu_);
    auto it = calls_.find(task_id);
    return it == calls_.end() ? 0 : it->second;
  }
  HttpResult Result(uint64_t task_id) {
    MutexLock lock(&mu_);
    return results_[task_id];
  }
  size_t Completed() {
    MutexLock lock(&mu_);
    return calls_.size();
  }
  int MaxCalls() {
    MutexLock lock(&mu_);
    int max = 0;
    for (const auto& [id, n] : calls_) max = std::max(max, n);
    return max;
  }
  int AfterInvalidation() {
    MutexLock lock(&mu_);
    return after_invalidation_;
  }
  int InvalidationCallbacks() {
    MutexLock lock(&mu_);
    return invalidation_callbacks_;
  }

 private:
  Mutex mu_;
  CondVar done_;
  absl::flat_hash_map<uint64_t, int> calls_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, HttpResult> results_ ABSL_GUARDED_BY(mu_);
  bool invalidated_ ABSL_GUARDED_BY(mu_) = false;
  int after_invalidation_ ABSL_GUARDED_BY(mu_) = 0;
  int invalidation_callbacks_ ABSL_GUARDED_BY(mu_) = 0;
};

class SessionTest : public ::testing::TestWithParam<HttpVersion> {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.threads = 2;
    options.default_body_bytes = 100;
    server_ = std::make_unique<HttpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    auto client = NewCurlClient();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  void TearDown() override {
    client_.reset();
    server_->Stop();
    EXPECT_TRUE(CurlLiveObjects().AllZero()) << Counts();
  }

  static std::string Counts() {
    const CurlLiveCounts counts = CurlLiveObjects();
    return absl::StrCat("sessions=", counts.sessions, " tasks=", counts.tasks,
                        " connections=", counts.connections, " observers=", counts.observers,
                        " registrations=", counts.observer_registrations);
  }

  static constexpr absl::Duration kRequestTimeout = absl::Seconds(20);

  std::unique_ptr<HttpSession> NewSession() {
    auto session = client_->NewSession({});
    EXPECT_TRUE(session.ok()) << session.status();
    return session.ok() ? std::move(*session) : nullptr;
  }

  HttpRequest Request(absl::string_view path = "/") {
    HttpRequest request;
    request.url = absl::StrCat(server_->url(), path);
    request.version = GetParam();
    request.timeout = kRequestTimeout;
    return request;
  }

  std::shared_ptr<HttpTask> Make(HttpSession& session, Recorder& recorder,
                                 absl::string_view path = "/") {
    auto task = session.MakeTask(Request(path), recorder.Callback());
    EXPECT_TRUE(task.ok()) << task.status();
    return task.ok() ? *task : nullptr;
  }

  // Makes and resumes a task for `path` with its own version and timeout.
  std::shared_ptr<HttpTask> Start(HttpSession& session, Recorder& recorder, absl::string_view path,
                                  HttpVersion version, absl::Duration timeout = kRequestTimeout) {
    HttpRequest request = Request(path);
    request.version = version;
    request.timeout = timeout;
    auto task = session.MakeTask(request, recorder.Callback());
    EXPECT_TRUE(task.ok()) << task.status();
    if (!task.ok()) return nullptr;
    (*task)->Resume();
    return *task;
  }

  // Bounded wait until `task`'s request is on the wire (the task is running), then `settle` more.
  static void WaitUntilRunning(HttpTask& task, absl::Duration settle) {
    for (int i = 0; i < 2000 && std::string(task.state()) != "running"; ++i) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    absl::SleepFor(settle);
  }

  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_P(SessionTest, CompletesOneTaskWithStatusBytesAndTimings) {
  Recorder recorder;
  auto session = NewSession();
  auto task = Make(*session, recorder);
  EXPECT_STREQ(task->state(), "created");
  task->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));
  const HttpResult result = recorder.Result(task->id());
  EXPECT_TRUE(result.ok()) << result.error_message;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body_bytes, 100);
  EXPECT_EQ(result.version, GetParam());
  EXPECT_NE(result.connection_id, 0u);
  EXPECT_LE(result.timings.created, result.timings.resumed);
  EXPECT_LE(result.timings.resumed, result.timings.completed);
  EXPECT_GT(result.timings.total, absl::ZeroDuration());
  EXPECT_STREQ(task->state(), "completed");
  session->FinishTasksAndInvalidate(recorder.InvalidatedCallback());
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(recorder.InvalidationCallbacks(), 1);
}

// A proxy in the environment (common on CI machines) must not receive the stress stream: the
// session ignores http_proxy/ALL_PROXY. A listener stands in for the proxy and must see nothing.
TEST_P(SessionTest, ProxyEnvironmentVariablesAreIgnored) {
  const int proxy = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(proxy, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(proxy, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(proxy, 16), 0);
  socklen_t length = sizeof(address);
  getsockname(proxy, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string proxy_url = absl::StrCat("http://127.0.0.1:", ntohs(address.sin_port));
  for (const char* name : {"http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"}) {
    setenv(name, proxy_url.c_str(), 1);
  }
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  Recorder recorder;
  auto session = NewSession();
  auto task = Make(*session, recorder);
  task->Resume();
  const bool completed = recorder.WaitFor(1);
  for (const char* name : {"http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"}) unsetenv(name);
  ASSERT_TRUE(completed);
  EXPECT_TRUE(recorder.Result(task->id()).ok()) << recorder.Result(task->id()).error_message;
  EXPECT_LT(accept(proxy, nullptr, nullptr), 0) << "the proxy got a connection";
  close(proxy);
  session->InvalidateAndCancel(recorder.InvalidatedCallback());
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
}

TEST_P(SessionTest, ReusesOneConnectionForSequentialTasks) {
  Recorder recorder;
  auto session = NewSession();
  std::vector<uint64_t> connection_ids;
  for (int i = 0; i < 5; ++i) {
    auto task = Make(*session, recorder);
    task->Resume();
    ASSERT_TRUE(recorder.WaitFor(i + 1));
    const HttpResult result = recorder.Result(task->id());
    ASSERT_TRUE(result.ok()) << result.error_message;
    connection_ids.push_back(result.connection_id);
  }
  EXPECT_THAT(connection_ids, ::testing::Each(connection_ids[0]));
  EXPECT_EQ(CurlLiveObjects().connections, 1);
}

TEST_P(SessionTest, CaptureBodyKeepsAtMostTheAskedBytes) {
  Recorder recorder;
  auto session = NewSession();
  HttpRequest request = Request();
  request.max_captured_body = 10;
  auto task = session->MakeTask(request, recorder.Callback());
  ASSERT_TRUE(task.ok());
  (*task)->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));
  const HttpResult result = recorder.Result((*task)->id());
  EXPECT_EQ(result.body.size(), 10u);
  EXPECT_EQ(result.body_bytes, 100);
}

TEST_P(SessionTest, CancelBeforeResumeCompletesOnceAsCancelled) {
  Recorder recorder;
  auto session = NewSession();
  auto task = Make(*session, recorder);
  task->Cancel();
  ASSERT_TRUE(recorder.WaitFor(1));
  task->Resume();  // Does nothing now.
  task->Cancel();
  const HttpResult result = recorder.Result(task->id());
  EXPECT_EQ(result.error, HttpErrorKind::kCancelled);
  EXPECT_EQ(result.connection_id, 0u);
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(recorder.Calls(task->id()), 1);
}

TEST_P(SessionTest, CancelAfterCompletionDoesNotCallBackAgain) {
  Recorder recorder;
  auto session = NewSession();
  auto task = Make(*session, recorder);
  task->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));
  task->Cancel();
  task->Cancel();
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(recorder.Calls(task->id()), 1);
  EXPECT_TRUE(recorder.Result(task->id()).ok());
}

TEST_P(SessionTest, CancelWhileWaitingForTheResponse) {
  Recorder recorder;
  auto session = NewSession();
  auto task = Make(*session, recorder, "/fault/delay,ms=5000");
  task->Resume();
  WaitUntilRunning(*task, absl::Milliseconds(20));
  task->Cancel();
  ASSERT_TRUE(recorder.WaitFor(1));
  const HttpResult result = recorder.Result(task->id());
  EXPECT_EQ(result.error, HttpErrorKind::kCancelled) << result.error_message;
  EXPECT_THAT(result.error_message, HasSubstr("running"));
  session->InvalidateAndCancel();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(recorder.Calls(task->id()), 1);
}

TEST_P(SessionTest, ErrorKindsForTimeoutConnectAndStatus) {
  Recorder recorder;
  auto session = NewSession();
  HttpRequest slow = Request("/fault/delay,ms=3000");
  slow.timeout = absl::Milliseconds(100);
  auto timeout_task = session->MakeTask(slow, recorder.Callback());
  HttpRequest refused = Request();
  refused.url = absl::StrCat("http://127.0.0.1:", netrig::testing::ClosedTcpPort(), "/");
  auto connect_task = session->MakeTask(refused, recorder.Callback());
  auto status_task = Make(*session, recorder, "/fault/status,code=503");
  ASSERT_TRUE(timeout_task.ok() && connect_task.ok());
  (*timeout_task)->Resume();
  (*connect_task)->Resume();
  status_task->Resume();
  ASSERT_TRUE(recorder.WaitFor(3));
  EXPECT_EQ(recorder.Result((*timeout_task)->id()).error, HttpErrorKind::kTimeout);
  EXPECT_EQ(recorder.Result((*connect_task)->id()).error, HttpErrorKind::kConnect);
  const HttpResult status = recorder.Result(status_task->id());
  EXPECT_TRUE(status.ok()) << status.error_message;
  EXPECT_EQ(status.status, 503);
}

// The root cause of h2c tasks stuck past their timeout, deterministically: an h2c task must not
// wait for an unrelated HTTP/1.1 request to the same origin. A transfer asking to wait for
// multiplexing (CURLOPT_PIPEWAIT) waits in libcurl 7.88's pending queue, without its timeout,
// while the origin's multiplexing is unknown, i.e. while an HTTP/1.1 request is in flight to it.
TEST_P(SessionTest, H2cTaskDoesNotWaitForAnHttp11RequestToTheSameOrigin) {
  // Sets each request's version itself: one run is enough.
  if (GetParam() != HttpVersion::kHttp11) GTEST_SKIP() << "version-independent";
  Recorder recorder;
  auto session = NewSession();
  auto slow_task = Start(*session, recorder, "/fault/delay,ms=3000", HttpVersion::kHttp11);
  ASSERT_NE(slow_task, nullptr);
  WaitUntilRunning(*slow_task, absl::Milliseconds(50));
  auto quick_task =
      Start(*session, recorder, "/", HttpVersion::kH2cPriorKnowledge, absl::Seconds(2));
  ASSERT_NE(quick_task, nullptr);
  ASSERT_TRUE(recorder.WaitFor(2));
  const HttpResult quick_result = recorder.Result(quick_task->id());
  const HttpResult slow_result = recorder.Result(slow_task->id());
  EXPECT_TRUE(quick_result.ok()) << quick_result.error_message;
  EXPECT_TRUE(slow_result.ok()) << slow_result.error_message;
  EXPECT_LT(quick_result.timings.completed, slow_result.timings.completed);
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
}

// libcurl 7.88 reuses an idle HTTP/1.1 connection for a prior-knowledge h2c transfer and sends
// the HTTP/2 preface in the middle of it; the session gives that transfer a fresh connection.
TEST_P(SessionTest, H2cTaskAfterAnHttp11TaskToTheSameOriginGetsItsOwnConnection) {
  // Sets each request's version itself: one run is enough.
  if (GetParam() != HttpVersion::kHttp11) GTEST_SKIP() << "version-independent";
  Recorder recorder;
  auto session = NewSession();
  auto http11_task = Start(*session, recorder, "/", HttpVersion::kHttp11);
  ASSERT_NE(http11_task, nullptr);
  ASSERT_TRUE(recorder.WaitFor(1));  // Its connection now waits idle in the session's pool.
  auto h2c_task = Start(*session, recorder, "/", HttpVersion::kH2cPriorKnowledge, absl::Seconds(2));
  ASSERT_NE(h2c_task, nullptr);
  ASSERT_TRUE(recorder.WaitFor(2));
  const HttpResult h2c_result = recorder.Result(h2c_task->id());
  EXPECT_TRUE(recorder.Result(http11_task->id()).ok());
  EXPECT_TRUE(h2c_result.ok()) << h2c_result.error_message;
  EXPECT_EQ(h2c_result.version, HttpVersion::kH2cPriorKnowledge);
  EXPECT_EQ(server_->Stats().bad_requests, 0u);
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
}

// libcurl 7.88 lets an h2c transfer join any busy connection of an origin once one of them is
// HTTP/2, also an HTTP/1.1 one (serving an HTTP/1.1 task, or waiting for its Upgrade's 101),
// where it never starts. The session routes h2c transfers itself (session_h2c.cc): a burst of
// them waits for one opener and then multiplexes onto its connection, and no connection carries
// both versions. For both ways of opening it: prior knowledge (kEither) and Upgrade (kUpgrade).
TEST_P(SessionTest, H2cBurstSharesOneConnectionAndNoneWithHttp11) {
  // Sets each request's version itself: one run is enough.
  if (GetParam() != HttpVersion::kHttp11) GTEST_SKIP() << "version-independent";
  for (H2cMode mode : {H2cMode::kEither, H2cMode::kUpgrade}) {
    SCOPED_TRACE(H2cModeName(mode));
    Recorder recorder;
    HttpSessionOptions options;
    options.h2c_mode = mode;
    auto made = client_->NewSession(options);
    ASSERT_TRUE(made.ok()) << made.status();
    std::unique_ptr<HttpSession> session = std::move(*made);
    std::vector<std::shared_ptr<HttpTask>> h2c_tasks, http11_tasks;
    for (int i = 0; i < 40; ++i) {
      const bool h2c = i % 2 == 0;
      auto task = Start(*session, recorder, "/fault/delay,ms=20",
                        h2c ? HttpVersion::kH2cPriorKnowledge : HttpVersion::kHttp11);
      ASSERT_NE(task, nullptr);
      (h2c ? h2c_tasks : http11_tasks).push_back(task);
    }
    ASSERT_TRUE(recorder.WaitFor(h2c_tasks.size() + http11_tasks.size()));
    absl::flat_hash_set<uint64_t> h2c_connections, http11_connections;
    for (const auto& task : h2c_tasks) {
      const HttpResult result = recorder.Result(task->id());
      EXPECT_TRUE(result.ok()) << result.error_message;
      EXPECT_EQ(result.version, HttpVersion::kH2cPriorKnowledge);
      h2c_connections.insert(result.connection_id);
    }
    for (const auto& task : http11_tasks) {
      const HttpResult result = recorder.Result(task->id());
      EXPECT_TRUE(result.ok()) << result.error_message;
      http11_connections.insert(result.connection_id);
    }
    EXPECT_EQ(h2c_connections.size(), 1u);
    for (uint64_t id : h2c_connections) EXPECT_FALSE(http11_connections.contains(id)) << id;
    session->FinishTasksAndInvalidate();
    ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  }
  EXPECT_EQ(server_->Stats().bad_requests, 0u);
}

// The h2c transfers held for an opener go on when the opener is cancelled before its request went
// out: one of them opens the connection instead. Resume and Cancel are posted back to back, so the
// event thread usually takes them in one turn, before the opener's request goes out; over five
// sessions that happens at least once (else the test proves nothing and says so).
TEST_P(SessionTest, H2cTasksHeldForACancelledOpenerStillRun) {
  // Sets each request's version itself: one run is enough.
  if (GetParam() != HttpVersion::kHttp11) GTEST_SKIP() << "version-independent";
  int cancelled_before_its_request = 0;
  for (int round = 0; round < 5; ++round) {
    Recorder recorder;
    auto session = NewSession();
    auto opener = Start(*session, recorder, "/", HttpVersion::kH2cPriorKnowledge, absl::Seconds(5));
    ASSERT_NE(opener, nullptr);
    std::vector<std::shared_ptr<HttpTask>> held;
    for (int i = 0; i < 10; ++i) {
      held.push_back(
          Start(*session, recorder, "/", HttpVersion::kH2cPriorKnowledge, absl::Seconds(5)));
      ASSERT_NE(held.back(), nullptr);
    }
    opener->Cancel();
    ASSERT_TRUE(recorder.WaitFor(held.size() + 1));
    const HttpResult opener_result = recorder.Result(opener->id());
    EXPECT_TRUE(opener_result.ok() || opener_result.error == HttpErrorKind::kCancelled)
        << opener_result.error_message;
    cancelled_before_its_request +=
        opener_result.error == HttpErrorKind::kCancelled && opener_result.connection_id == 0;
    for (const auto& task : held) {
      const HttpResult result = recorder.Result(task->id());
      EXPECT_TRUE(result.ok()) << "task " << task->id() << ": " << result.error_message;
      EXPECT_EQ(result.version, HttpVersion::kH2cPriorKnowledge);
    }
    session->FinishTasksAndInvalidate();
    ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  }
  EXPECT_GT(cancelled_before_its_request, 0) << "no opener was cancelled before its request";
}

// The same routing over IPv6: an alias for "[::1]" resolves to it (CURLOPT_RESOLVE takes the
// bracketed address), so a burst of h2c tasks still shares one connection.
TEST_P(SessionTest, H2cBurstOverIpv6SharesOneConnection) {
  if (GetParam() != HttpVersion::kHttp11) GTEST_SKIP() << "version-independent";
  HttpServerOptions options;
  options.listen_ipv6 = true;
  options.default_body_bytes = 100;
  HttpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  Recorder recorder;
  auto session = NewSession();
  std::vector<std::shared_ptr<HttpTask>> tasks;
  for (int i = 0; i < 20; ++i) {
    HttpRequest request;
    request.url = absl::StrCat(server.ipv6_url(), "/fault/delay,ms=20");
    request.version = HttpVersion::kH2cPriorKnowledge;
    request.timeout = kRequestTimeout;
    auto task = session->MakeTask(request, recorder.Callback());
    ASSERT_TRUE(task.ok()) << task.status();
    (*task)->Resume();
    tasks.push_back(*task);
  }
  ASSERT_TRUE(recorder.WaitFor(tasks.size()));
  absl::flat_hash_set<uint64_t> connections;
  for (const auto& task : tasks) {
    const HttpResult result = recorder.Result(task->id());
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.version, HttpVersion::kH2cPriorKnowledge);
    connections.insert(result.connection_id);
  }
  EXPECT_EQ(connections.size(), 1u);
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  server.Stop();
}

// The session's backstop for HttpRequest::timeout: libcurl 7.88 never times out a transfer that
// waits for a free connection (CURLMOPT_MAX_HOST_CONNECTIONS reached).
TEST_P(SessionTest, TaskWaitingForAFreeConnectionEndsByItsTimeout) {
  // Sets each request's version itself: one run is enough.
  if (GetParam() != HttpVersion::kHttp11) GTEST_SKIP() << "version-independent";
  Recorder recorder;
  HttpSessionOptions options;
  options.max_connections_per_host = 1;
  auto made = client_->NewSession(options);
  ASSERT_TRUE(made.ok()) << made.status();
  std::unique_ptr<HttpSession> session = std::move(*made);
  auto slow_task = Start(*session, recorder, "/fault/delay,ms=4000", HttpVersion::kHttp11);
  ASSERT_NE(slow_task, nullptr);
  WaitUntilRunning(*slow_task, absl::Milliseconds(50));
  auto waiting_task = Start(*session, recorder, "/", HttpVersion::kHttp11, absl::Milliseconds(200));
  ASSERT_NE(waiting_task, nullptr);
  ASSERT_TRUE(recorder.WaitFor(2));
  const HttpResult waiting_result = recorder.Result(waiting_task->id());
  const HttpResult slow_result = recorder.Result(slow_task->id());
  EXPECT_EQ(waiting_result.error, HttpErrorKind::kTimeout) << waiting_result.error_message;
  EXPECT_TRUE(slow_result.ok()) << slow_result.error_message;
  EXPECT_LT(waiting_result.timings.completed, slow_result.timings.completed);
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
}

// h2c tasks must end by their timeout, whatever happens to the origin's connections. With
// libcurl 7.88 a transfer that waits to multiplex (CURLOPT_PIPEWAIT) sits in libcurl's pending
// queue, where CURLOPT_TIMEOUT does not apply and only other transfers' progress moves it on;
// when the connection it waits for dies (GOAWAY, reset, close) before it multiplexes, or an
// HTTP/1.1 connection leaves the origin's multiplexing unknown, it waited far past its timeout.
TEST_P(SessionTest, H2cTasksEndByTheirTimeoutWhenTheOriginsConnectionsDie) {
  Recorder recorder;
  auto session = NewSession();
  constexpr absl::Duration kTimeout = absl::Seconds(2);
  std::vector<std::shared_ptr<HttpTask>> tasks;
  auto start = [&](HttpVersion version, absl::string_view path) {
    HttpRequest request = Request(path);
    request.version = version;
    request.timeout = kTimeout;
    auto task = session->MakeTask(request, recorder.Callback());
    ASSERT_TRUE(task.ok()) << task.status();
    tasks.push_back(*task);
    (*task)->Resume();
  };
  // An idle HTTP/1.1 connection to the origin first (as in mixed sessions).
  start(HttpVersion::kHttp11, "/");
  ASSERT_TRUE(recorder.WaitFor(tasks.size()));
  // Rounds whose first h2c request kills its connection, with followers queued behind it.
  for (int round = 0; round < 2; ++round) {
    for (absl::string_view killer :
         {"/fault/goaway", "/fault/reset", "/fault/close_after", "/fault/rst_stream"}) {
      start(HttpVersion::kH2cPriorKnowledge, killer);
      for (int i = 0; i < 24; ++i) {
        start(i % 6 == 5 ? HttpVersion::kHttp11 : HttpVersion::kH2cPriorKnowledge,
              i % 4 == 3 ? killer : "/");
      }
    }
  }
  ASSERT_TRUE(recorder.WaitFor(tasks.size()))
      << recorder.Completed() << " of " << tasks.size() << " tasks completed";
  for (const auto& task : tasks) {
    const HttpResult result = recorder.Result(task->id());
    // The contract under test is the timeout; the slack only absorbs a slow (sanitizer) build.
    EXPECT_LT(result.timings.completed - result.timings.resumed, kTimeout + absl::Seconds(8))
        << "task " << task->id() << ": " << result.error_message;
    EXPECT_EQ(recorder.Calls(task->id()), 1);
  }
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
}

TEST_P(SessionTest, FinishTasksAndInvalidateLetsResumedTasksFinish) {
  Recorder recorder;
  auto session = NewSession();
  std::vector<std::shared_ptr<HttpTask>> tasks;
  for (int i = 0; i < 8; ++i) {
    tasks.push_back(Make(*session, recorder, "/fault/delay,ms=50"));
    tasks.back()->Resume();
  }
  auto never_resumed = Make(*session, recorder);
  session->FinishTasksAndInvalidate(recorder.InvalidatedCallback());
  auto refused = session->MakeTask(Request(), recorder.Callback());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(session->AddConnectionObserver({}).ok());
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  for (const auto& task : tasks) {
    EXPECT_EQ(recorder.Calls(task->id()), 1);
    const HttpResult result = recorder.Result(task->id());
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.status, 200);
  }
  EXPECT_EQ(recorder.Calls(never_resumed->id()), 1);
  EXPECT_EQ(recorder.Result(never_resumed->id()).error, HttpErrorKind::kCancelled);
  EXPECT_EQ(recorder.InvalidationCallbacks(), 1);
  EXPECT_EQ(recorder.AfterInvalidation(), 0);
}

TEST_P(SessionTest, InvalidateAndCancelCancelsRunningTasks) {
  Recorder recorder;
  auto session = NewSession();
  std::vector<std::shared_ptr<HttpTask>> tasks;
  for (int i = 0; i < 8; ++i) {
    tasks.push_back(Make(*session, recorder, "/fault/delay,ms=10000"));
    tasks.back()->Resume();
  }
  absl::SleepFor(absl::Milliseconds(50));
  session->InvalidateAndCancel(recorder.InvalidatedCallback());
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  for (const auto& task : tasks) {
    EXPECT_EQ(recorder.Calls(task->id()), 1);
    EXPECT_EQ(recorder.Result(task->id()).error, HttpErrorKind::kCancelled);
  }
  EXPECT_EQ(recorder.InvalidationCallbacks(), 1);
  EXPECT_EQ(recorder.AfterInvalidation(), 0);
}

TEST_P(SessionTest, EscalatingFromFinishToCancelAndLateCallbacks) {
  Recorder recorder;
  auto session = NewSession();
  auto task = Make(*session, recorder, "/fault/delay,ms=10000");
  task->Resume();
  session->FinishTasksAndInvalidate(recorder.InvalidatedCallback());
  EXPECT_FALSE(session->WaitUntilInvalidated(absl::Milliseconds(50)));
  session->InvalidateAndCancel(recorder.InvalidatedCallback());
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(recorder.Result(task->id()).error, HttpErrorKind::kCancelled);
  EXPECT_EQ(recorder.InvalidationCallbacks(), 2);
  // After invalidation a callback runs at once, on this thread.
  bool ran = false;
  session->FinishTasksAndInvalidate([&ran] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST_P(SessionTest, DestroyingASessionCancelsItsTasks) {
  Recorder recorder;
  auto session = NewSession();
  auto running = Make(*session, recorder, "/fault/delay,ms=10000");
  running->Resume();
  auto created = Make(*session, recorder);
  session.reset();
  EXPECT_EQ(recorder.Calls(running->id()), 1);
  EXPECT_EQ(recorder.Calls(created->id()), 1);
  EXPECT_EQ(recorder.Result(running->id()).error, HttpErrorKind::kCancelled);
  // Handles outlive the session harmlessly.
  running->Cancel();
  created->Resume();
  EXPECT_EQ(recorder.Calls(running->id()), 1);
}

TEST_P(SessionTest, SessionDestroyedFromItsOwnCompletionCallback) {
  Recorder recorder;
  std::unique_ptr<HttpSession> session = NewSession();
  HttpSession* raw = session.get();
  std::atomic<bool> destroyed{false};
  auto slow = Make(*raw, recorder, "/fault/delay,ms=10000");
  slow->Resume();
  auto task = raw->MakeTask(Request(), [&](const HttpResult&) {
    session.reset();  // On the session's own event thread.
    destroyed.store(true);
  });
  ASSERT_TRUE(task.ok());
  (*task)->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));  // The slow task, cancelled by the destruction.
  EXPECT_EQ(recorder.Result(slow->id()).error, HttpErrorKind::kCancelled);
  EXPECT_TRUE(destroyed.load());
  // The event thread finishes invalidation after the callback and then lets the session go.
  for (int i = 0; i < 5000 && CurlLiveObjects().sessions != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(CurlLiveObjects().sessions, 0);
}

// Many tasks from 4 threads; cancels at random moments from 2 more (before resume, while
// connecting or mid-response, after completion). Each task completes exactly once, nothing
// completes after invalidation, and the ledger agrees.
TEST_P(SessionTest, ExactlyOnceUnderConcurrentResumeAndCancel) {
  ViolationLog violations;
  Ledger ledger(&violations, "task", absl::Seconds(60));
  Recorder recorder;
  auto session = NewSession();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 150;
  Mutex tasks_mu;
  std::vector<std::shared_ptr<HttpTask>> tasks;  // Guarded by tasks_mu.
  std::atomic<bool> spawning{true};
  const uint64_t scope = 1;

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      for (int i = 0; i < kPerThread; ++i) {
        const uint64_t ledger_id = ledger.Open(scope);
        HttpCompletion inner = recorder.Callback();
        const char* path = (i % 3 == 0) ? "/fault/delay,ms=2" : "/";
        auto task = session->MakeTask(Request(path), [&ledger, ledger_id, inner = std::move(inner)](
                                                         const HttpResult& result) mutable {
          ledger.Complete(ledger_id, result.ok() ? "ok" : "error");
          inner(result);
        });
        ASSERT_TRUE(task.ok());
        if (random() % 5 != 0) (*task)->Resume();  // Some are cancelled before any resume.
        if (random() % 7 == 0) (*task)->Cancel();
        MutexLock lock(&tasks_mu);
        tasks.push_back(*task);
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(100 + t);
      while (spawning.load()) {
        std::shared_ptr<HttpTask> victim;
        {
          MutexLock lock(&tasks_mu);
          if (!tasks.empty()) victim = tasks[random() % tasks.size()];
        }
        if (victim != nullptr) victim->Cancel();
        if (random() % 4 == 0) std::this_thread::yield();
      }
    });
  }
  for (int t = 0; t < kThreads; ++t) threads[t].join();
  {
    MutexLock lock(&tasks_mu);
    for (const auto& task : tasks) task->Resume();  // Resume the rest (no-op if done).
  }
  ASSERT_TRUE(recorder.WaitFor(kThreads * kPerThread));
  spawning.store(false);
  for (size_t t = kThreads; t < threads.size(); ++t) threads[t].join();
  session->FinishTasksAndInvalidate(recorder.InvalidatedCallback());
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  ledger.CloseScope(scope, /*require_all_complete=*/true);
  {
    MutexLock lock(&tasks_mu);
    for (const auto& task : tasks) task->Cancel();  // After invalidation: nothing happens.
  }
  EXPECT_EQ(recorder.Completed(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(recorder.MaxCalls(), 1);
  EXPECT_EQ(recorder.AfterInvalidation(), 0);
  EXPECT_EQ(ledger.duplicate_completions(), 0u);
  EXPECT_TRUE(violations.empty()) << violations.ToJson().dump();
  session.reset();
  MutexLock lock(&tasks_mu);
  tasks.clear();
}

// Sessions of one client share the DNS cache through a locked CURLSH; run several at once.
TEST_P(SessionTest, SessionsOfOneClientRunConcurrently) {
  constexpr int kSessions = 3;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int s = 0; s < kSessions; ++s) {
    threads.emplace_back([&] {
      Recorder recorder;
      auto session = NewSession();
      std::vector<std::shared_ptr<HttpTask>> tasks;
      for (int i = 0; i < 50; ++i) {
        tasks.push_back(Make(*session, recorder));
        tasks.back()->Resume();
      }
      if (!recorder.WaitFor(tasks.size())) return;
      for (const auto& task : tasks) ok += recorder.Result(task->id()).ok() ? 1 : 0;
      session->FinishTasksAndInvalidate();
      session->WaitUntilInvalidated(absl::Seconds(30));
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kSessions * 50);
}

class ObserverLog {
 public:
  ConnectionObserver Observer() {
    ConnectionObserver observer;
    observer.on_viability_changed = [this](const ConnectionInfo& info, bool viable) {
      MutexLock lock(&mu_);
      (viable ? viable_ : not_viable_).push_back(info.id);
    };
    observer.on_better_path = [this](const ConnectionInfo&, bool) {
      MutexLock lock(&mu_);
      ++better_path_;
    };
    return observer;
  }
  std::vector<uint64_t> viable() {
    MutexLock lock(&mu_);
    return viable_;
  }
  std::vector<uint64_t> not_viable() {
    MutexLock lock(&mu_);
    return not_viable_;
  }
  int calls() {
    MutexLock lock(&mu_);
    return static_cast<int>(viable_.size() + not_viable_.size()) + better_path_;
  }

 private:
  Mutex mu_;
  std::vector<uint64_t> viable_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> not_viable_ ABSL_GUARDED_BY(mu_);
  int better_path_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_P(SessionTest, ObserversSeeConnectionsComeAndGo) {
  Recorder recorder;
  ObserverLog log;
  auto session = NewSession();
  auto id = session->AddConnectionObserver(log.Observer());
  ASSERT_TRUE(id.ok());
  auto task = Make(*session, recorder);
  task->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));
  const uint64_t connection = recorder.Result(task->id()).connection_id;
  EXPECT_THAT(log.viable(), ::testing::ElementsAre(connection));
  EXPECT_EQ(CurlLiveObjects().observer_registrations, 1);
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_THAT(log.not_viable(), ::testing::ElementsAre(connection));
  EXPECT_EQ(CurlLiveObjects().observer_registrations, 0);
  EXPECT_EQ(CurlLiveObjects().connections, 0);
  session->RemoveConnectionObserver(*id);  // After invalidation: harmless.
}

TEST_P(SessionTest, RemovedObserverIsNotCalledAgain) {
  Recorder recorder;
  ObserverLog kept;
  ObserverLog removed;
  auto session = NewSession();
  auto kept_id = session->AddConnectionObserver(kept.Observer());
  auto removed_id = session->AddConnectionObserver(removed.Observer());
  ASSERT_TRUE(kept_id.ok() && removed_id.ok());
  auto first = Make(*session, recorder);
  first->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));
  EXPECT_EQ(removed.calls(), 1);
  session->RemoveConnectionObserver(*removed_id);
  session->RemoveConnectionObserver(*removed_id);  // Twice: harmless.
  // A second connection (the first is busy with a slow request), then invalidation closes both.
  auto slow = Make(*session, recorder, "/fault/delay,ms=200");
  slow->Resume();
  auto second = Make(*session, recorder);
  second->Resume();
  ASSERT_TRUE(recorder.WaitFor(3));
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(removed.calls(), 1);
  EXPECT_EQ(kept.viable().size(), kept.not_viable().size());
  EXPECT_GE(kept.viable().size(), 1u);
}

TEST_P(SessionTest, ObserverRemovingItselfFromItsCallback) {
  Recorder recorder;
  auto session = NewSession();
  std::atomic<int> calls{0};
  std::atomic<ObserverId> self{0};
  ConnectionObserver observer;
  HttpSession* raw_session = session.get();
  observer.on_viability_changed = [&](const ConnectionInfo&, bool) {
    ++calls;
    raw_session->RemoveConnectionObserver(self.load());
  };
  auto id = session->AddConnectionObserver(observer);
  ASSERT_TRUE(id.ok());
  self.store(*id);
  auto task = Make(*session, recorder);
  task->Resume();
  ASSERT_TRUE(recorder.WaitFor(1));
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  EXPECT_EQ(calls.load(), 1);
}

// Observers added and removed from several threads while tasks open and close connections.
TEST_P(SessionTest, ObserverChurnLeavesNothingBehind) {
  Recorder recorder;
  auto session = NewSession();
  std::atomic<bool> running{true};
  std::vector<std::thread> churners;
  for (int t = 0; t < 2; ++t) {
    churners.emplace_back([&] {
      ObserverLog log;
      while (running.load()) {
        auto id = session->AddConnectionObserver(log.Observer());
        if (!id.ok()) break;
        std::this_thread::yield();
        session->RemoveConnectionObserver(*id);
      }
    });
  }
  std::vector<std::shared_ptr<HttpTask>> tasks;
  for (int i = 0; i < 100; ++i) {
    // close_after makes the server drop connections, so new ones keep opening.
    tasks.push_back(Make(*session, recorder, i % 2 ? "/" : "/fault/close_after"));
    tasks.back()->Resume();
  }
  ASSERT_TRUE(recorder.WaitFor(tasks.size()));
  running.store(false);
  for (auto& thread : churners) thread.join();
  session->FinishTasksAndInvalidate();
  ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  session.reset();
  tasks.clear();
  EXPECT_TRUE(CurlLiveObjects().AllZero()) << Counts();
}

TEST_P(SessionTest, LiveCountersReturnToZero) {
  {
    Recorder recorder;
    ObserverLog log;
    auto session = NewSession();
    ASSERT_TRUE(session->AddConnectionObserver(log.Observer()).ok());
    std::vector<std::shared_ptr<HttpTask>> tasks;
    for (int i = 0; i < 20; ++i) {
      tasks.push_back(Make(*session, recorder));
      tasks.back()->Resume();
    }
    ASSERT_TRUE(recorder.WaitFor(tasks.size()));
    const CurlLiveCounts during = CurlLiveObjects();
    EXPECT_EQ(during.sessions, 1);
    EXPECT_EQ(during.tasks, 20);
    EXPECT_GE(during.connections, 1);
    EXPECT_EQ(during.observers, 1);
    session->InvalidateAndCancel();
    ASSERT_TRUE(session->WaitUntilInvalidated(absl::Seconds(30)));
  }
  EXPECT_TRUE(CurlLiveObjects().AllZero()) << Counts();
}

INSTANTIATE_TEST_SUITE_P(Versions, SessionTest,
                         ::testing::Values(HttpVersion::kHttp11, HttpVersion::kH2cPriorKnowledge),
                         [](const ::testing::TestParamInfo<HttpVersion>& info) {
                           return info.param == HttpVersion::kHttp11 ? std::string("Http11")
                                                                     : std::string("H2c");
                         });

TEST(HttpClientRegistryTest, BuiltinsAndUserClientsAreListed) {
  std::vector<std::string> names;
  for (const HttpClientEntry& entry : HttpClientNames()) names.push_back(entry.name);
  EXPECT_THAT(
      names, ::testing::IsSupersetOf({"curl", "bug-dequeue-uaf", "bug-unlocked-share",
                                      "bug-double-completion", "bug-observer-leak",
                                      "bug-sticky-unreachable", "bug-timeout-units", "test-null"}));
  EXPECT_EQ(SeededHttpBugs().size(), 6u);
}

TEST(HttpClientRegistryTest, MakesClientsByName) {
  auto curl = MakeHttpClient("curl");
  ASSERT_TRUE(curl.ok()) << curl.status();
  auto session = (*curl)->NewSession({});
  EXPECT_TRUE(session.ok());
  auto user = MakeHttpClient("test-null");
  ASSERT_TRUE(user.ok());
  EXPECT_EQ((*user)->NewSession({}).status().code(), absl::StatusCode::kUnimplemented);
  auto unknown = MakeHttpClient("no-such-client");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("curl"));
}

TEST(HttpClientRegistryTest, RefusesDuplicatesAndEmptyNames) {
  EXPECT_EQ(RegisterHttpClient("curl", "again", [] { return NewCurlClient(); }).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(RegisterHttpClient("", "empty", [] { return NewCurlClient(); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(RegisterHttpClient("test-explicit", "explicit", [] { return NewCurlClient(); }).ok());
  EXPECT_TRUE(MakeHttpClient("test-explicit").ok());
}

TEST(HttpVersionTest, NamesRoundTrip) {
  for (HttpVersion version : {HttpVersion::kHttp11, HttpVersion::kH2cPriorKnowledge}) {
    auto parsed = ParseHttpVersion(HttpVersionName(version));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, version);
  }
  EXPECT_FALSE(ParseHttpVersion("http3").ok());
  EXPECT_EQ(HttpErrorKindName(HttpErrorKind::kTruncated), "truncated");
}

}  // namespace
}  // namespace netrig
