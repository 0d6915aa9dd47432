// The reference libcurl session's error taxonomy names the party at fault: a malformed response is
// `protocol` whichever CURLcode libcurl 7.88 chose for it (CURLE_BAD_FUNCTION_ARGUMENT for a
// folded first header line or a NUL in a chunked trailer, CURLE_RECV_ERROR for an illegal chunk
// size), while a real reset stays `reset` and a request libcurl cannot make stays
// `invalid_request`. The responses come from the embedded server's scripted mode.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
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

using ::testing::StartsWith;

class SessionErrorKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.threads = 1;
    server_ = std::make_unique<HttpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    auto client = NewCurlClient();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  void TearDown() override {
    client_.reset();
    server_->Stop();
  }

  // The server answers every request with `bytes`, then does `then`.
  void Script(std::string bytes, ScriptedResponse::Then then) {
    server_->SetScriptedResponse([bytes, then](const ScriptedRequest&) {
      return ScriptedResponse{bytes, then, {}};
    });
  }

  // Runs one task for `url` in a new session and returns its result.
  HttpResult RunOne(const std::string& url) {
    auto session = client_->NewSession({});
    EXPECT_TRUE(session.ok()) << session.status();
    if (!session.ok()) return {};
    HttpRequest request;
    request.url = url;
    request.timeout = absl::Seconds(10);
    // netrig::Mutex, not absl::Notification: TSan cannot see Debian's prebuilt absl::Mutex.
    Mutex mu;
    CondVar done_changed;
    bool done = false;
    HttpResult result;
    auto task = (*session)->MakeTask(request, [&](const HttpResult& completed) {
      MutexLock lock(&mu);
      result = completed;
      done = true;
      done_changed.SignalAll();
    });
    EXPECT_TRUE(task.ok()) << task.status();
    if (!task.ok()) return {};
    (*task)->Resume();
    {
      const absl::Time deadline = absl::Now() + absl::Seconds(20);
      MutexLock lock(&mu);
      while (!done && absl::Now() < deadline) {
        done_changed.WaitWithTimeout(&mu, absl::Milliseconds(100));
      }
      EXPECT_TRUE(done) << "the task did not complete within 20 s";
    }
    (*session)->FinishTasksAndInvalidate(nullptr);
    EXPECT_TRUE((*session)->WaitUntilInvalidated(absl::Seconds(20)));
    MutexLock lock(&mu);
    return result;
  }

  HttpResult RunOne() { return RunOne(absl::StrCat(server_->url(), "/")); }

  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

std::string Describe(const HttpResult& result) {
  return absl::StrCat(HttpErrorKindName(result.error), " (", result.error_message, ")");
}

// libcurl's text of the ambiguous codes (the message starts with curl_easy_strerror): these cases
// are the ones the code alone would have called invalid_request or reset.
constexpr char kBadArgument[] = "A libcurl function was given a bad argument";
constexpr char kRecvError[] = "Failure when receiving data from the peer";
constexpr char kUnsupportedProtocol[] = "Unsupported protocol";

TEST_F(SessionErrorKindTest, FoldedFirstHeaderLineIsProtocol) {
  Script("HTTP/1.1 200 OK\r\n folded: value\r\nContent-Length: 2\r\n\r\nok",
         ScriptedResponse::Then::kClose);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kProtocol) << Describe(result);
  EXPECT_THAT(result.error_message, StartsWith(kBadArgument));
}

TEST_F(SessionErrorKindTest, NulInAChunkedTrailerIsProtocol) {
  using std::string_literals::operator""s;
  Script(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: a\0b\r\n\r\n"s,
      ScriptedResponse::Then::kClose);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kProtocol) << Describe(result);
  EXPECT_THAT(result.error_message, StartsWith(kBadArgument));
}

TEST_F(SessionErrorKindTest, IllegalChunkSizeIsProtocol) {
  Script("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
         ScriptedResponse::Then::kClose);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kProtocol) << Describe(result);
  EXPECT_THAT(result.error_message, StartsWith(kRecvError));
}

TEST_F(SessionErrorKindTest, UnsupportedHttpVersionInTheResponseIsProtocol) {
  Script("HTTP/4.0 200 OK\r\nContent-Length: 2\r\n\r\nok", ScriptedResponse::Then::kClose);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kProtocol) << Describe(result);
  EXPECT_THAT(result.error_message, StartsWith(kUnsupportedProtocol));
}

// The same chunked stream as above, cut by a TCP reset inside a chunk: the socket failed.
TEST_F(SessionErrorKindTest, ResetInsideAChunkIsReset) {
  Script("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\nabc",
         ScriptedResponse::Then::kReset);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kReset) << Describe(result);
  EXPECT_THAT(result.error_message, StartsWith(kRecvError));
}

TEST_F(SessionErrorKindTest, ResetInsideAContentLengthBodyIsReset) {
  Script("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", ScriptedResponse::Then::kReset);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kReset) << Describe(result);
}

TEST_F(SessionErrorKindTest, ResetBeforeAnyResponseByteIsReset) {
  Script("", ScriptedResponse::Then::kReset);
  const HttpResult result = RunOne();
  EXPECT_EQ(result.error, HttpErrorKind::kReset) << Describe(result);
}

TEST_F(SessionErrorKindTest, MalformedUrlIsInvalidRequest) {
  const HttpResult result = RunOne("http://[::1");
  EXPECT_EQ(result.error, HttpErrorKind::kInvalidRequest) << Describe(result);
}

// The session lets libcurl speak plain HTTP only: an https:// URL cannot be made.
TEST_F(SessionErrorKindTest, SchemeTheSessionDoesNotSpeakIsInvalidRequest) {
  const HttpResult result = RunOne(absl::StrCat("https://127.0.0.1:", server_->port(), "/"));
  EXPECT_EQ(result.error, HttpErrorKind::kInvalidRequest) << Describe(result);
  EXPECT_THAT(result.error_message, StartsWith(kUnsupportedProtocol));
  EXPECT_EQ(server_->Stats().requests, 0u);
}

// A well-formed response after all of these: the mapping only moves failures.
TEST_F(SessionErrorKindTest, WellFormedChunkedResponseSucceeds) {
  Script("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: v\r\n\r\n",
         ScriptedResponse::Then::kClose);
  const HttpResult result = RunOne();
  EXPECT_TRUE(result.ok()) << Describe(result);
  EXPECT_EQ(result.status, 200);
}

}  // namespace
}  // namespace netrig
