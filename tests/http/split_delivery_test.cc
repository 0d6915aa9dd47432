// Split delivery (FaultKind::kSplit and ScriptedResponse::split_at_structure): the embedded server
// really writes a response in pieces cut at its structural points (a plain socket records where
// each read ended), and the clients that parse HTTP/1.1 (libcurl's session "curl" and
// "raw-socket") get every response right however it is cut, down to one byte per read.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/http/http_client.h"
#include "harness/http/server/response_cuts.h"
#include "harness/http/server/server.h"

namespace netrig {
namespace {

// Sends `request` on a new loopback connection and reads until the server closes, noting the
// offset at which each read ended.
struct Pieces {
  std::string bytes;
  std::vector<size_t> ends;  // Offsets where a read ended (the last one is bytes.size()).
};

Pieces ReadPieces(uint16_t port, const std::string& request) {
  Pieces pieces;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    pieces.bytes.append(buf, n);
    pieces.ends.push_back(pieces.bytes.size());
  }
  close(fd);
  return pieces;
}

// Every read ended at a structural cut (or at the end), and most cuts were seen as read ends:
// with 20 ms between pieces a reader only merges two when it was off the CPU that long.
void ExpectCutAtStructure(const Pieces& pieces) {
  const std::vector<size_t> cuts = Http1StructuralCuts(pieces.bytes);
  ASSERT_GT(cuts.size(), 20u) << pieces.bytes;
  const std::set<size_t> allowed(cuts.begin(), cuts.end());
  for (size_t end : pieces.ends) {
    if (end == pieces.bytes.size()) continue;
    EXPECT_EQ(allowed.count(end), 1u) << "a read ended at " << end << ", not a cut point, in\n"
                                      << pieces.bytes;
  }
  EXPECT_GE(pieces.ends.size() * 2, cuts.size())
      << pieces.ends.size() << " reads for " << cuts.size() << " cuts";
}

TEST(SplitDelivery, FaultPlanWritesAChunkedResponseInPiecesCutAtItsStructure) {
  HttpServer server;
  ASSERT_TRUE(server.Start().ok());
  const Pieces pieces = ReadPieces(server.port(),
                                   "GET /fault/split,body=20,bytes=7,ms=20 HTTP/1.1\r\nHost: x\r\n"
                                   "Connection: close\r\n\r\n");
  ASSERT_TRUE(absl::StartsWith(pieces.bytes, "HTTP/1.1 200 OK\r\n")) << pieces.bytes;
  EXPECT_THAT(pieces.bytes, ::testing::HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(pieces.bytes, ::testing::HasSubstr("\r\n\r\n7\r\nok netr\r\n7\r\nig body\r\n"));
  EXPECT_TRUE(
      absl::EndsWith(pieces.bytes, "\r\n6\r\n 01234\r\n0\r\nX-Netrig-Trailer: split\r\n\r\n"))
      << pieces.bytes;
  ExpectCutAtStructure(pieces);
  server.Stop();
  EXPECT_EQ(server.Stats().by_fault(FaultKind::kSplit), 1u);
}

TEST(SplitDelivery, ScriptedModeCutsAtStructureWhenAsked) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4;ext=1\r\nwiki\r\n10\r\npedia in chunks.\r\n0\r\nA: 1\r\nB: 2\r\n\r\n";
  HttpServer server;
  ASSERT_TRUE(server.Start().ok());
  server.SetScriptedResponse([&response](const ScriptedRequest&) {
    ScriptedResponse answer;
    answer.bytes = response;
    answer.split_at_structure = true;
    return answer;
  });
  const Pieces pieces = ReadPieces(server.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(pieces.bytes, response);
  const std::vector<size_t> cuts = Http1StructuralCuts(response);
  const std::set<size_t> allowed(cuts.begin(), cuts.end());
  for (size_t end : pieces.ends) {  // 1 ms pauses: merged pieces may happen, wrong cuts not.
    if (end != response.size()) EXPECT_EQ(allowed.count(end), 1u) << end;
  }
  EXPECT_GT(pieces.ends.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Clients against split responses.

HttpResult RunOne(HttpClient& client, const std::string& url, HttpVersion version,
                  absl::string_view method = "GET") {
  auto session = client.NewSession({});
  EXPECT_TRUE(session.ok());
  HttpRequest request;
  request.url = url;
  request.method = std::string(method);
  request.version = version;
  request.timeout = absl::Seconds(20);
  request.max_captured_body = 1 << 20;
  auto done = std::make_shared<std::promise<HttpResult>>();
  std::future<HttpResult> result = done->get_future();
  auto task = (*session)->MakeTask(request, [done](const HttpResult& r) { done->set_value(r); });
  EXPECT_TRUE(task.ok());
  (*task)->Resume();
  HttpResult got = result.get();
  (*session)->FinishTasksAndInvalidate();
  EXPECT_TRUE((*session)->WaitUntilInvalidated(absl::Seconds(20)));
  return got;
}

struct Case {
  const char* name;
  std::string response;
  int status;
  std::string body;
};

std::vector<Case> Cases() {
  return {
      {"content_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", 200,
       "hello"},
      {"chunked_extensions_trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n10\r\npedia in "
       "chunks.\r\n0\r\nA: 1\r\nB: 2\r\n\r\n",
       200, "wikipedia in chunks."},
      {"interim_then_final",
       "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\n"
       "Content-Length: 4\r\n\r\nnope",
       404, "nope"},
      {"until_close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", 200, "all of it"},
  };
}

class SplitClientTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<HttpClient>> client = MakeHttpClient(GetParam());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    ASSERT_TRUE(server_.Start().ok());
  }
  std::unique_ptr<HttpClient> client_;
  HttpServer server_;
};

TEST_P(SplitClientTest, ParsesResponsesCutAtEveryStructuralPoint) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    server_.SetScriptedResponse([&c](const ScriptedRequest&) {
      ScriptedResponse answer;
      answer.bytes = c.response;
      answer.split_at_structure = true;
      return answer;
    });
    const HttpResult result = RunOne(*client_, server_.url() + "/", HttpVersion::kHttp11);
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.status, c.status);
    EXPECT_EQ(result.body, c.body);
  }
}

TEST_P(SplitClientTest, ParsesAResponseThatComesOneByteAtATime) {
  const Case c = Cases()[1];
  server_.SetScriptedResponse([&c](const ScriptedRequest&) {
    ScriptedResponse answer;
    answer.bytes = c.response;
    for (size_t i = 1; i < c.response.size(); ++i) answer.pause_after.push_back(i);
    return answer;
  });
  const HttpResult result = RunOne(*client_, server_.url() + "/", HttpVersion::kHttp11);
  EXPECT_TRUE(result.ok()) << result.error_message;
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, c.body);
}

// The fault plan through the client's ordinary path, several times on a kept-alive connection.
TEST_P(SplitClientTest, SplitFaultResponsesAreAnsweredInFull) {
  for (int i = 0; i < 4; ++i) {  // Bodies up to 30 bytes: within the prefix below.
    const HttpResult result =
        RunOne(*client_, server_.url() + "/fault/split,body=" + std::to_string(10 * i) + ",bytes=3",
               HttpVersion::kHttp11);
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.status, 200);
    EXPECT_EQ(result.body_bytes, 10 * i);
    EXPECT_TRUE(absl::StartsWith("ok netrig body 0123456789 abcdefghij", result.body))
        << result.body;
  }
  if (client_->Speaks(HttpVersion::kH2cPriorKnowledge)) {  // Over h2c: small DATA frames.
    const HttpResult result = RunOne(*client_, server_.url() + "/fault/split,body=30,bytes=4",
                                     HttpVersion::kH2cPriorKnowledge);
    EXPECT_TRUE(result.ok()) << result.error_message;
    EXPECT_EQ(result.version, HttpVersion::kH2cPriorKnowledge);
    EXPECT_EQ(result.body_bytes, 30);
  }
}

INSTANTIATE_TEST_SUITE_P(Clients, SplitClientTest, ::testing::Values("curl", "raw-socket"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "curl" ? std::string("curl")
                                                       : std::string("raw_socket");
                         });

}  // namespace
}  // namespace netrig
