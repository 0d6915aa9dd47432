// Easy-handle reuse in the reference libcurl session (session.h): a pooled handle carries nothing
// from its previous task (method, body, headers, timeout, HTTP version and fresh-connect options,
// a cancelled task's state), the pool stays within CurlClientOptions::max_pooled_easy_handles,
// and CurlEasyHandleCounters() shows that reuse happens. Every test runs its tasks one after
// the other on a session whose pool holds one handle, so each task gets the previous one's.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/session.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A loopback HTTP/1.1 server that records every request as it arrived (head and body) and
// answers each with 200 and a 5-byte body ("hello"; none for HEAD), keeping connections open.
// The embedded server does not echo requests; this one exists to see what a reused handle sent.
class RecordingServer {
 public:
  RecordingServer() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener_ < 0 ||
        bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener_, 16) != 0) {
      return;
    }
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RecordingServer() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) close(listener_);
  }

  bool started() const { return port_ != 0; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  std::vector<std::string> Requests() {
    MutexLock lock(&mu_);
    return requests_;
  }

 private:
  struct Connection {
    int fd;
    std::string buffer;
  };

  void Serve() {
    std::vector<Connection> connections;
    while (!stop_.load()) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (const Connection& connection : connections) fds.push_back({connection.fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) connections.push_back({fd, ""});
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Connection& connection = connections[i - 1];
        char chunk[4096];
        const ssize_t got = read(connection.fd, chunk, sizeof(chunk));
        if (got <= 0) {
          close(connection.fd);
          connection.fd = -1;
          continue;
        }
        connection.buffer.append(chunk, static_cast<size_t>(got));
        AnswerCompleteRequests(connection);
      }
      std::erase_if(connections, [](const Connection& connection) { return connection.fd < 0; });
    }
    for (const Connection& connection : connections) close(connection.fd);
  }

  void AnswerCompleteRequests(Connection& connection) {
    while (true) {
      const size_t head_end = connection.buffer.find("\r\n\r\n");
      if (head_end == std::string::npos) return;
      const absl::string_view head(connection.buffer.data(), head_end + 4);
      size_t body_bytes = 0;
      for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
        if (absl::StartsWithIgnoreCase(line, "content-length:")) {
          (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &body_bytes);
        }
      }
      if (connection.buffer.size() < head.size() + body_bytes) return;
      const std::string request = connection.buffer.substr(0, head.size() + body_bytes);
      connection.buffer.erase(0, request.size());
      {
        MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
      if (!absl::StartsWith(request, "HEAD ")) response += "hello";
      if (write(connection.fd, response.data(), response.size()) < 0) return;
    }
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

// Runs tasks one at a time on one session and keeps their results.
class SequentialRunner {
 public:
  explicit SequentialRunner(HttpClient& client, const HttpSessionOptions& options = {}) {
    auto session = client.NewSession(options);
    EXPECT_TRUE(session.ok()) << session.status();
    if (session.ok()) session_ = std::move(*session);
  }
  ~SequentialRunner() {
    if (session_ == nullptr) return;
    session_->InvalidateAndCancel();
    EXPECT_TRUE(session_->WaitUntilInvalidated(absl::Seconds(30)));
  }

  HttpSession& session() { return *session_; }

  // Makes and resumes a task, then waits (at most 30 s) for its one completion.
  HttpResult Run(HttpRequest request) {
    std::shared_ptr<HttpTask> task = Start(std::move(request));
    return task == nullptr ? HttpResult{} : Wait(*task);
  }
  std::shared_ptr<HttpTask> Start(HttpRequest request) {
    auto task = session_->MakeTask(std::move(request), [this](const HttpResult& result) {
      MutexLock lock(&mu_);
      results_.push_back(result);
      done_.SignalAll();
    });
    EXPECT_TRUE(task.ok()) << task.status();
    if (!task.ok()) return nullptr;
    (*task)->Resume();
    return *task;
  }
  HttpResult Wait(const HttpTask& task) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    MutexLock lock(&mu_);
    while (absl::Now() < deadline) {
      for (const HttpResult& result : results_) {
        if (result.task_id == task.id()) return result;
      }
      done_.WaitWithTimeout(&mu_, absl::Milliseconds(50));
    }
    ADD_FAILURE() << "task " << task.id() << " did not complete in 30 s";
    return HttpResult{};
  }
  // How many completions task `id` got.
  int Calls(uint64_t id) {
    MutexLock lock(&mu_);
    int calls = 0;
    for (const HttpResult& result : results_) calls += result.task_id == id ? 1 : 0;
    return calls;
  }

 private:
  std::unique_ptr<HttpSession> session_;
  Mutex mu_;
  CondVar done_;
  std::vector<HttpResult> results_ ABSL_GUARDED_BY(mu_);
};

class SessionReuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.threads = 1;
    options.default_body_bytes = 100;
    server_ = std::make_unique<HttpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    client_ = NewClient(1);
  }
  void TearDown() override {
    client_.reset();
    server_->Stop();
    EXPECT_TRUE(CurlLiveObjects().AllZero());
  }

  static std::unique_ptr<HttpClient> NewClient(size_t max_pooled) {
    CurlClientOptions options;
    options.max_pooled_easy_handles = max_pooled;
    auto client = NewCurlClient(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  HttpRequest Request(absl::string_view base, absl::string_view path = "/") {
    HttpRequest request;
    request.url = absl::StrCat(base, path);
    request.timeout = absl::Seconds(20);
    return request;
  }

  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(SessionReuseTest, SequentialTasksShareOneEasyHandle) {
  const CurlEasyHandleCounts before = CurlEasyHandleCounters();
  {
    SequentialRunner runner(*client_);
    for (int i = 0; i < 5; ++i) {
      const HttpResult result = runner.Run(Request(server_->url()));
      EXPECT_TRUE(result.ok()) << result.error_message;
      EXPECT_EQ(result.status, 200);
    }
    const CurlEasyHandleCounts during = CurlEasyHandleCounters();
    EXPECT_EQ(during.transfers_started - before.transfers_started, 5);
    EXPECT_EQ(during.handles_created - before.handles_created, 1);
    EXPECT_EQ(during.handles_pooled - before.handles_pooled, 1);
  }
  const CurlEasyHandleCounts after = CurlEasyHandleCounters();
  EXPECT_EQ(after.handles_destroyed - before.handles_destroyed, 1);
  EXPECT_EQ(after.handles_pooled, before.handles_pooled);
}

TEST_F(SessionReuseTest, NoPoolMeansAHandlePerTask) {
  std::unique_ptr<HttpClient> client = NewClient(0);
  const CurlEasyHandleCounts before = CurlEasyHandleCounters();
  {
    SequentialRunner runner(*client);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(runner.Run(Request(server_->url())).ok());
  }
  const CurlEasyHandleCounts after = CurlEasyHandleCounters();
  EXPECT_EQ(after.handles_created - before.handles_created, 3);
  EXPECT_EQ(after.handles_destroyed - before.handles_destroyed, 3);
  EXPECT_EQ(after.handles_pooled, before.handles_pooled);
}

// Eight tasks in flight at once need eight handles; when they end, two stay pooled and six are
// destroyed at once, and the session's end destroys the last two.
TEST_F(SessionReuseTest, PoolIsBounded) {
  std::unique_ptr<HttpClient> client = NewClient(2);
  const CurlEasyHandleCounts before = CurlEasyHandleCounters();
  {
    SequentialRunner runner(*client);
    std::vector<std::shared_ptr<HttpTask>> tasks;
    for (int i = 0; i < 8; ++i) {
      tasks.push_back(runner.Start(Request(server_->url(), "/fault/delay,ms=300")));
    }
    for (const auto& task : tasks) {
      ASSERT_NE(task, nullptr);
      EXPECT_TRUE(runner.Wait(*task).ok());
    }
    const CurlEasyHandleCounts during = CurlEasyHandleCounters();
    EXPECT_EQ(during.handles_created - before.handles_created, 8);
    EXPECT_EQ(during.handles_pooled - before.handles_pooled, 2);
    EXPECT_EQ(during.handles_destroyed - before.handles_destroyed, 6);
    // The pooled ones serve the next tasks.
    EXPECT_TRUE(runner.Run(Request(server_->url())).ok());
    EXPECT_EQ(CurlEasyHandleCounters().handles_created - before.handles_created, 8);
  }
  const CurlEasyHandleCounts after = CurlEasyHandleCounters();
  EXPECT_EQ(after.handles_destroyed - before.handles_destroyed, 8);
  EXPECT_EQ(after.handles_pooled, before.handles_pooled);
}

TEST_F(SessionReuseTest, MethodBodyAndHeadersDoNotCarryOver) {
  RecordingServer recorder;
  ASSERT_TRUE(recorder.started());
  const CurlEasyHandleCounts before = CurlEasyHandleCounters();
  SequentialRunner runner(*client_);

  HttpRequest post = Request(recorder.url(), "/post");
  post.method = "POST";
  post.body = "payload-one";
  post.headers = {{"X-Carried", "yes"}};
  EXPECT_TRUE(runner.Run(post).ok());
  EXPECT_TRUE(runner.Run(Request(recorder.url(), "/after-post")).ok());

  HttpRequest head = Request(recorder.url(), "/head");
  head.method = "HEAD";
  EXPECT_EQ(runner.Run(head).body_bytes, 0);
  const HttpResult after_head = runner.Run(Request(recorder.url(), "/after-head"));
  EXPECT_TRUE(after_head.ok()) << after_head.error_message;
  EXPECT_EQ(after_head.body_bytes, 5);

  HttpRequest put = Request(recorder.url(), "/put");
  put.method = "PUT";
  put.body = "payload-two";
  put.headers = {{"X-Other", "1"}};
  EXPECT_TRUE(runner.Run(put).ok());
  EXPECT_TRUE(runner.Run(Request(recorder.url(), "/after-put")).ok());
  EXPECT_EQ(CurlEasyHandleCounters().handles_created - before.handles_created, 1)
      << "the tasks did not share one handle: this test saw no reuse";

  const std::vector<std::string> requests = recorder.Requests();
  ASSERT_EQ(requests.size(), 6u);
  EXPECT_THAT(requests[0], StartsWith("POST /post "));
  EXPECT_THAT(requests[0], HasSubstr("X-Carried: yes"));
  EXPECT_THAT(requests[0], HasSubstr("payload-one"));
  EXPECT_THAT(requests[2], StartsWith("HEAD /head "));
  EXPECT_THAT(requests[4], StartsWith("PUT /put "));
  EXPECT_THAT(requests[4], HasSubstr("payload-two"));
  for (int i : {1, 3, 5}) {
    SCOPED_TRACE(requests[i]);
    EXPECT_THAT(requests[i], StartsWith("GET /after-"));
    EXPECT_THAT(requests[i], Not(HasSubstr("X-Carried")));
    EXPECT_THAT(requests[i], Not(HasSubstr("X-Other")));
    EXPECT_THAT(requests[i], Not(HasSubstr("Content-Length")));
    EXPECT_THAT(requests[i], Not(HasSubstr("payload")));
    EXPECT_THAT(requests[i], Not(HasSubstr("Expect:")));
  }
}

TEST_F(SessionReuseTest, TimeoutDoesNotCarryOver) {
  SequentialRunner runner(*client_);
  HttpRequest short_timeout = Request(server_->url(), "/fault/delay,ms=500");
  short_timeout.timeout = absl::Milliseconds(100);
  EXPECT_EQ(runner.Run(short_timeout).error, HttpErrorKind::kTimeout);
  // No timeout at all: the previous task's 100 ms must not end this one.
  HttpRequest no_timeout = Request(server_->url(), "/fault/delay,ms=500");
  no_timeout.timeout = absl::InfiniteDuration();
  const HttpResult result = runner.Run(no_timeout);
  EXPECT_TRUE(result.ok()) << result.error_message;
  EXPECT_EQ(result.status, 200);
}

// Prior-knowledge h2c sets CURLOPT_FRESH_CONNECT and CURLOPT_FORBID_REUSE: HTTP/1.1 tasks on the
// same handle afterwards must speak HTTP/1.1 and keep their connection for each other.
TEST_F(SessionReuseTest, H2cVersionAndConnectionOptionsDoNotCarryOver) {
  for (H2cMode mode : {H2cMode::kPriorKnowledge, H2cMode::kEither}) {
    SCOPED_TRACE(static_cast<int>(mode));
    const CurlEasyHandleCounts before = CurlEasyHandleCounters();
    HttpSessionOptions options;
    options.h2c_mode = mode;
    SequentialRunner runner(*client_, options);
    HttpRequest h2c = Request(server_->url());
    h2c.version = HttpVersion::kH2cPriorKnowledge;
    const HttpResult first = runner.Run(h2c);
    ASSERT_TRUE(first.ok()) << first.error_message;
    EXPECT_EQ(first.version, HttpVersion::kH2cPriorKnowledge);
    const HttpResult second = runner.Run(Request(server_->url()));
    const HttpResult third = runner.Run(Request(server_->url()));
    ASSERT_TRUE(second.ok() && third.ok()) << second.error_message << third.error_message;
    EXPECT_EQ(second.version, HttpVersion::kHttp11);
    EXPECT_EQ(third.version, HttpVersion::kHttp11);
    EXPECT_EQ(second.connection_id, third.connection_id);
    EXPECT_NE(second.connection_id, first.connection_id);
    EXPECT_EQ(CurlEasyHandleCounters().handles_created - before.handles_created, 1);
  }
}

// A task cancelled while running gives its handle back; the next task on that handle is its
// own, and a late Cancel() of the finished task touches nothing while its handle runs another.
TEST_F(SessionReuseTest, CancelledAndFinishedTasksDoNotReachTheHandlesNextTask) {
  const CurlEasyHandleCounts before = CurlEasyHandleCounters();
  SequentialRunner runner(*client_);
  std::shared_ptr<HttpTask> cancelled =
      runner.Start(Request(server_->url(), "/fault/delay,ms=5000"));
  ASSERT_NE(cancelled, nullptr);
  for (int i = 0; i < 2000 && std::string(cancelled->state()) != "running"; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::SleepFor(absl::Milliseconds(20));
  cancelled->Cancel();
  EXPECT_EQ(runner.Wait(*cancelled).error, HttpErrorKind::kCancelled);

  std::shared_ptr<HttpTask> next = runner.Start(Request(server_->url(), "/fault/delay,ms=300"));
  ASSERT_NE(next, nullptr);
  cancelled->Cancel();  // Its handle now runs `next`.
  const HttpResult result = runner.Wait(*next);
  EXPECT_TRUE(result.ok()) << result.error_message;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body_bytes, 100);
  EXPECT_EQ(result.task_id, next->id());

  std::shared_ptr<HttpTask> third = runner.Start(Request(server_->url(), "/fault/delay,ms=300"));
  ASSERT_NE(third, nullptr);
  next->Cancel();  // Finished: its handle now runs `third`, which must not be cancelled.
  const HttpResult third_result = runner.Wait(*third);
  EXPECT_TRUE(third_result.ok()) << third_result.error_message;
  EXPECT_EQ(runner.Calls(cancelled->id()), 1);
  EXPECT_EQ(runner.Calls(next->id()), 1);
  EXPECT_EQ(CurlEasyHandleCounters().handles_created - before.handles_created, 1);
}

}  // namespace
}  // namespace netrig
