// The embedded HTTP server seen from a real client (libcurl easy) on loopback: both protocols,
// every fault kind, fixed and seeded plans, scripted bytes, counters and a clean Stop.
#include "harness/http/server/server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/http/server/fault_plan.h"

namespace netrig {
namespace {

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { curl_global_init(CURL_GLOBAL_DEFAULT); }
  void TearDown() override { curl_global_cleanup(); }
};
const auto* const curl_environment = ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  long http_version = 0;
  long new_connections = 0;
  double seconds = 0;
  std::string body;
  std::string headers;
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

enum class Wire { kHttp1, kH2cPriorKnowledge, kH2cUpgrade };

// One client; reuses its connection between Get()s like a real keep-alive client, except with
// HTTP/2 prior knowledge: Debian's libcurl 7.88.1 fails every request on a reused
// prior-knowledge connection ("Error in the HTTP2 framing layer", curl issue #10634, fixed in
// 8.0), so that client takes a fresh handle (and connection) per request.
class Client {
 public:
  explicit Client(Wire wire) : wire_(wire) {}
  explicit Client(bool http2) : Client(http2 ? Wire::kH2cPriorKnowledge : Wire::kHttp1) {}
  ~Client() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }

  Reply Post(const std::string& url, const std::string& body) {
    post_body_ = &body;
    Reply reply = Get(url);
    post_body_ = nullptr;
    return reply;
  }

  Reply Get(const std::string& url, const std::string& extra_header = "") {
    if (curl_ != nullptr && wire_ == Wire::kH2cPriorKnowledge) {
      curl_easy_cleanup(curl_);
      curl_ = nullptr;
    }
    if (curl_ == nullptr) curl_ = curl_easy_init();
    Reply reply;
    long version = wire_ == Wire::kHttp1        ? long{CURL_HTTP_VERSION_1_1}
                   : wire_ == Wire::kH2cUpgrade ? long{CURL_HTTP_VERSION_2_0}
                                                : long{CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE};
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &reply.headers);
    curl_slist* headers = nullptr;
    if (!extra_header.empty()) headers = curl_slist_append(headers, extra_header.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    if (post_body_ != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post_body_->data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(post_body_->size()));
    } else {
      curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    }
    reply.code = curl_easy_perform(curl_);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_getinfo(curl_, CURLINFO_HTTP_VERSION, &reply.http_version);
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &reply.new_connections);
    curl_easy_getinfo(curl_, CURLINFO_TOTAL_TIME, &reply.seconds);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    return reply;
  }

 private:
  Wire wire_;
  CURL* curl_ = nullptr;
  const std::string* post_body_ = nullptr;
};

std::string Pattern(int64_t n) {
  static const std::string kPattern =
      "ok netrig body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
  std::string out;
  while (static_cast<int64_t>(out.size()) < n) out += kPattern;
  out.resize(n);
  return out;
}

class ServerTest : public ::testing::TestWithParam<Wire> {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }
  bool http2() const { return GetParam() != Wire::kHttp1; }
  // Whether one client's requests share a connection (see Client).
  bool reuses() const { return GetParam() != Wire::kH2cPriorKnowledge; }
  std::string Url(absl::string_view path) { return absl::StrCat(server_.url(), path); }

  HttpServer server_;
};

INSTANTIATE_TEST_SUITE_P(Protocols, ServerTest,
                         ::testing::Values(Wire::kHttp1, Wire::kH2cPriorKnowledge,
                                           Wire::kH2cUpgrade),
                         [](const auto& info) {
                           switch (info.param) {
                             case Wire::kHttp1:
                               return "http1";
                             case Wire::kH2cPriorKnowledge:
                               return "h2c_prior_knowledge";
                             case Wire::kH2cUpgrade:
                               return "h2c_upgrade";
                           }
                           return "unknown";
                         });

TEST_P(ServerTest, KeepAliveReusesOneConnection) {
  Client client(GetParam());
  for (int i = 0; i < 5; ++i) {
    Reply reply = client.Get(Url("/"));
    ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "ok");
    EXPECT_EQ(reply.new_connections, i == 0 || !reuses() ? 1 : 0);
    EXPECT_EQ(reply.http_version, http2() ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1);
  }
  HttpServerStats stats = server_.Stats();
  EXPECT_EQ(stats.connections_accepted, reuses() ? 1u : 5u);
  EXPECT_EQ(stats.requests, 5u);
  EXPECT_EQ(stats.by_fault(FaultKind::kNone), 5u);
  EXPECT_EQ(http2() ? stats.http2_connections : stats.http1_connections,
            stats.connections_accepted);
  EXPECT_GT(stats.bytes_received, 0u);
  EXPECT_GT(stats.bytes_sent, 0u);
}

TEST_P(ServerTest, PostBodyIsReadAndAnswered) {
  Client client(GetParam());
  Reply first = client.Get(Url("/"));  // Sets up the connection (and the upgrade).
  ASSERT_EQ(first.code, CURLE_OK);
  std::string body(200000, 'b');
  Reply reply = client.Post(Url("/fault/status,code=404"), body);
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, 404);
  EXPECT_GE(server_.Stats().bytes_received, body.size());
}

TEST_P(ServerTest, StatusFromPathAndHeader) {
  Client client(GetParam());
  Reply by_path = client.Get(Url("/fault/status,code=503"));
  ASSERT_EQ(by_path.code, CURLE_OK);
  EXPECT_EQ(by_path.status, 503);
  Reply by_header = client.Get(Url("/x"), "X-Netrig-Fault: status,code=404");
  ASSERT_EQ(by_header.code, CURLE_OK);
  EXPECT_EQ(by_header.status, 404);
  EXPECT_EQ(server_.Stats().by_fault(FaultKind::kStatus), 2u);
}

TEST_P(ServerTest, BadPlanIs400) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/no_such_kind"));
  ASSERT_EQ(reply.code, CURLE_OK);
  EXPECT_EQ(reply.status, 400);
  EXPECT_THAT(reply.body, ::testing::HasSubstr("no_such_kind"));
  EXPECT_EQ(server_.Stats().bad_requests, 1u);
}

TEST_P(ServerTest, DelayWaitsWithoutBlockingOtherConnections) {
  std::thread slow([&] {
    Client client(GetParam());
    Reply reply = client.Get(Url("/fault/delay,ms=300"));
    EXPECT_EQ(reply.code, CURLE_OK);
    EXPECT_GE(reply.seconds, 0.29);
  });
  // While the delayed request waits, another connection is served (single worker thread).
  Client fast(GetParam());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fast.Get(Url("/")).code, CURLE_OK);
  slow.join();
  EXPECT_EQ(server_.Stats().by_fault(FaultKind::kDelay), 1u);
}

TEST_P(ServerTest, ChunkedBodyArrivesWhole) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/chunked,body=1000,bytes=7"));
  ASSERT_EQ(reply.code, CURLE_OK);
  EXPECT_EQ(reply.body, Pattern(1000));
  if (!http2()) {
    EXPECT_THAT(reply.headers, ::testing::HasSubstr("Transfer-Encoding: chunked"));
  }
}

TEST_P(ServerTest, TruncatedBodyIsAnError) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/truncate,body=100"));
  EXPECT_NE(reply.code, CURLE_OK);
  if (!http2()) {
    EXPECT_EQ(reply.code, CURLE_PARTIAL_FILE);
  }
  EXPECT_LT(reply.body.size(), 100u);
}

TEST_P(ServerTest, ResetMidBodyIsAnError) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/reset,body=1000,after=100"));
  EXPECT_NE(reply.code, CURLE_OK);
  EXPECT_LT(reply.body.size(), 1000u);
  // The next request needs (and gets) a fresh connection.
  Reply next = client.Get(Url("/"));
  EXPECT_EQ(next.code, CURLE_OK);
  EXPECT_EQ(next.new_connections, 1);
}

TEST_P(ServerTest, SlowDripDeliversEveryByteWithPauses) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/drip,body=40,bytes=4,ms=10"));
  ASSERT_EQ(reply.code, CURLE_OK);
  EXPECT_EQ(reply.body, Pattern(40));
  EXPECT_GE(reply.seconds, 0.09);  // 10 pieces, each after a 10 ms pause.
}

// Polls (bounded) until the server has no open connection.
bool AllConnectionsClosed(const HttpServer& server) {
  for (int i = 0; i < 1000; ++i) {
    if (server.Stats().connections_open == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST_P(ServerTest, CloseAfterClosesTheConnection) {
  Client client(GetParam());
  Reply first = client.Get(Url("/fault/close_after,n=1"));
  ASSERT_EQ(first.code, CURLE_OK);
  EXPECT_EQ(first.status, 200);
  // The client still holds its connection; the server closes it (HTTP/2: after a GOAWAY).
  EXPECT_TRUE(AllConnectionsClosed(server_));
  Reply second = client.Get(Url("/"));
  ASSERT_EQ(second.code, CURLE_OK) << curl_easy_strerror(second.code);
  EXPECT_EQ(second.new_connections, 1);
  EXPECT_EQ(server_.Stats().connections_accepted, 2u);
}

TEST_P(ServerTest, CloseAfterTwoServesTwoRequestsPerConnection) {
  if (!reuses()) GTEST_SKIP() << "this libcurl cannot reuse prior-knowledge connections";
  Client client(GetParam());
  std::vector<long> new_connections;
  for (int i = 0; i < 4; ++i) {
    Reply reply = client.Get(Url("/fault/close_after,n=2"));
    ASSERT_EQ(reply.code, CURLE_OK) << i << ": " << curl_easy_strerror(reply.code);
    new_connections.push_back(reply.new_connections);
    if (i % 2 == 1) {
      EXPECT_TRUE(AllConnectionsClosed(server_));
    }
  }
  EXPECT_THAT(new_connections, ::testing::ElementsAre(1, 0, 1, 0));
}

TEST_P(ServerTest, OversizedHeadersAreRejectedByCurl) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/big_headers,headers=1048576"));
  EXPECT_NE(reply.code, CURLE_OK);
  Reply small = client.Get(Url("/fault/big_headers,headers=8192"));
  EXPECT_EQ(small.code, CURLE_OK);
  EXPECT_THAT(small.headers, ::testing::HasSubstr(http2() ? "x-netrig-padding-1: ppp"
                                                          : "X-Netrig-Padding-1: ppp"));
}

TEST_P(ServerTest, GoawayOrCloseWithoutResponse) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/goaway"));
  EXPECT_NE(reply.code, CURLE_OK);
  if (!http2()) {
    EXPECT_EQ(reply.code, CURLE_GOT_NOTHING);
  }
}

TEST_P(ServerTest, RstStreamBeforeAndDuringBody) {
  Client client(GetParam());
  Reply before = client.Get(Url("/fault/rst_stream,body=100"));
  EXPECT_NE(before.code, CURLE_OK);
  Reply during = client.Get(Url("/fault/rst_stream,body=1000,after=10"));
  EXPECT_NE(during.code, CURLE_OK);
  if (http2()) {
    EXPECT_EQ(before.code, CURLE_HTTP2_STREAM);
    EXPECT_EQ(during.code, CURLE_HTTP2_STREAM);
  }
}

TEST_P(ServerTest, TinyWindowStillDeliversTheBody) {
  Client client(GetParam());
  Reply reply = client.Get(Url("/fault/tiny_window,body=3000,bytes=5,window=1"));
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.body, Pattern(3000));
  Reply after = client.Get(Url("/"));
  EXPECT_EQ(after.code, CURLE_OK);
}

TEST_P(ServerTest, ScriptedBytesAreSentVerbatim) {
  // An h2c upgrade request is HTTP/1.1 until the server agrees; a script answers it as such.
  const bool prior_knowledge = GetParam() == Wire::kH2cPriorKnowledge;
  if (prior_knowledge) {
    // HEADERS on stream 1, END_STREAM | END_HEADERS, HPACK static index 8 (":status: 200").
    static constexpr char kFrame[] = {0, 0, 1, 1, 5, 0, 0, 0, 1, '\x88'};
    server_.SetScriptedResponse([](const ScriptedRequest& request) {
      EXPECT_EQ(request.protocol, HttpProtocol::kHttp2);
      return ScriptedResponse{
          std::string(kFrame, sizeof(kFrame)), ScriptedResponse::Then::kClose, {}};
    });
  } else {
    server_.SetScriptedResponse([](const ScriptedRequest& request) {
      EXPECT_EQ(request.target, "/script");
      return ScriptedResponse{"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
                              ScriptedResponse::Then::kKeepOpen,
                              {}};
    });
  }
  Client client(GetParam());
  Reply reply = client.Get(Url("/script"));
  ASSERT_EQ(reply.code, CURLE_OK) << curl_easy_strerror(reply.code);
  EXPECT_EQ(reply.status, prior_knowledge ? 200 : 201);
  EXPECT_EQ(reply.body, prior_knowledge ? "" : "abc");
  EXPECT_EQ(server_.Stats().scripted_responses, 1u);

  server_.SetScriptedResponse(nullptr);
  Client normal(GetParam());
  Reply back = normal.Get(Url("/"));
  EXPECT_EQ(back.body, "ok");
}

TEST_P(ServerTest, ScriptedResetIsAnError) {
  server_.SetScriptedResponse([](const ScriptedRequest&) {
    return ScriptedResponse{
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", ScriptedResponse::Then::kReset, {}};
  });
  Client client(false);
  EXPECT_NE(client.Get(Url("/")).code, CURLE_OK);
}

TEST(HttpServer, SeededPlansCoverEveryKindAndAreCounted) {
  HttpServerOptions options;
  options.faults.emplace();
  options.faults->seed = 11;
  (*options.faults)[FaultKind::kStatus] = 0.3;
  (*options.faults)[FaultKind::kChunked] = 0.3;
  HttpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  Client client(false);
  for (int i = 0; i < 60; ++i) {
    Reply reply = client.Get(absl::StrCat(server.url(), "/"));
    ASSERT_EQ(reply.code, CURLE_OK);
  }
  HttpServerStats stats = server.Stats();
  EXPECT_EQ(stats.requests, 60u);
  EXPECT_GT(stats.by_fault(FaultKind::kStatus), 0u);
  EXPECT_GT(stats.by_fault(FaultKind::kChunked), 0u);
  EXPECT_GT(stats.by_fault(FaultKind::kNone), 0u);
  Reply noted = client.Get(absl::StrCat(server.url(), "/"));
  EXPECT_THAT(noted.headers, ::testing::ContainsRegex("X-Netrig-Plan: 60 [a-z]+"));
  ++stats.requests;
  ++stats.requests_by_fault[static_cast<int>(FaultKind::kNone)];  // Whatever it was, sum fits.
  EXPECT_EQ(stats.by_fault(FaultKind::kStatus) + stats.by_fault(FaultKind::kChunked) +
                stats.by_fault(FaultKind::kNone),
            61u);
}

TEST(HttpServer, ConcurrentClientsOnTwoWorkers) {
  HttpServerOptions options;
  options.threads = 2;
  options.listen_ipv6 = true;
  HttpServer server(options);
  absl::Status started = server.Start();
  if (!started.ok() && server.port() == 0) GTEST_FAIL() << started;
  if (!started.ok()) GTEST_SKIP() << "no IPv6 loopback: " << started;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Client client(t % 2 == 1);
      std::string base = t < 2 ? server.url() : server.ipv6_url();
      for (int i = 0; i < 50; ++i) {
        if (client.Get(base + "/").code == CURLE_OK) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(server.Stats().requests, 200u);
}

TEST(HttpServer, EveryFaultKindFromThePlannerUnderConcurrentClients) {
  HttpServerOptions options;
  options.threads = 2;
  options.faults.emplace();
  options.faults->seed = 99;
  options.faults->oversized_header_bytes = 200 * 1024;
  for (int i = 1; i < kFaultKindCount; ++i) options.faults->probability[i] = 1.0 / 13;
  HttpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  constexpr int kPerThread = 60;
  for (Wire wire : {Wire::kHttp1, Wire::kH2cPriorKnowledge, Wire::kH2cUpgrade}) {
    threads.emplace_back([&, wire] {
      Client client(wire);
      for (int i = 0; i < kPerThread; ++i) {
        if (client.Get(server.url() + "/").code == CURLE_OK) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  HttpServerStats stats = server.Stats();
  // Clients retry some failures (e.g. a refused stream) on their own, so count at least.
  EXPECT_GE(stats.requests, 3u * kPerThread);
  EXPECT_GT(ok.load(), 0);
  EXPECT_LT(ok.load(), 3 * kPerThread);  // Some faults must surface as errors.
  uint64_t by_kind = 0;
  for (int i = 0; i < kFaultKindCount; ++i) by_kind += stats.requests_by_fault[i];
  EXPECT_EQ(by_kind, stats.requests);
  // The server is still healthy: a plain request (fault plan overridden) succeeds.
  EXPECT_EQ(Client(false).Get(server.url() + "/fault/none").body, "ok");
  server.Stop();
  EXPECT_EQ(server.Stats().connections_open, 0u);
}

TEST(HttpServer, StopClosesEverythingAndUnblocksClients) {
  HttpServer server;
  ASSERT_TRUE(server.Start().ok());
  std::string url = server.url();
  Client idle(false);
  ASSERT_EQ(idle.Get(url + "/").code, CURLE_OK);  // Leaves a kept-alive connection open.
  Reply stuck;
  std::thread waiting([&] { stuck = Client(true).Get(url + "/fault/delay,ms=60000"); });
  while (server.Stats().by_fault(FaultKind::kDelay) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.Stats().connections_open, 2u);
  server.Stop();
  waiting.join();  // Returns well before the 20 s client timeout: Stop closed the socket.
  EXPECT_NE(stuck.code, CURLE_OK);
  EXPECT_LT(stuck.seconds, 10.0);
  EXPECT_EQ(server.Stats().connections_open, 0u);
  EXPECT_NE(Client(false).Get(url + "/").code, CURLE_OK);  // Nobody listens any more.
  server.Stop();                                           // Idempotent.
}

// Sends `request` on a fresh loopback connection and returns everything until the server closes.
std::string RawExchange(uint16_t port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) out.append(buf, n);
  }
  close(fd);
  return out;
}

TEST(HttpServer, MalformedRequestsGet4xxAndClose) {
  HttpServer server;
  ASSERT_TRUE(server.Start().ok());
  EXPECT_THAT(RawExchange(server.port(), "garbage\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(RawExchange(server.port(), "GET / HTTP/1.1\r\nno colon\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(RawExchange(server.port(), "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 501 "));
  // Two requests in one write (pipelined), the second asking to close: both answered in order.
  std::string both = RawExchange(
      server.port(),
      "GET /fault/status,code=404 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(both, ::testing::StartsWith("HTTP/1.1 404 "));
  EXPECT_THAT(both, ::testing::HasSubstr("HTTP/1.1 200 OK"));
  // A request body (Content-Length) is read and skipped.
  EXPECT_THAT(RawExchange(server.port(),
                          "POST / HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"),
              ::testing::EndsWith("\r\n\r\nok"));
  EXPECT_EQ(server.Stats().bad_requests, 3u);
}

TEST(HttpServer, ExpectContinueGets100BeforeTheBody) {
  HttpServer server;
  ASSERT_TRUE(server.Start().ok());
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string head =
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char buf[4096];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
  std::string rest;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) rest.append(buf, n);
  close(fd);
  EXPECT_THAT(rest, ::testing::StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(rest, ::testing::EndsWith("ok"));
}

TEST(FaultPlan, EncodeDecodeRoundTrip) {
  FaultPlannerOptions options;
  options.seed = 5;
  for (int i = 1; i < kFaultKindCount; ++i) options.probability[i] = 1.0 / kFaultKindCount;
  FaultPlanner planner(options);
  for (uint64_t i = 0; i < 500; ++i) {
    FaultPlan plan = planner.PlanFor(i);
    std::string text = EncodeFaultPlan(plan);
    absl::StatusOr<FaultPlan> back = DecodeFaultPlan(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status();
    EXPECT_EQ(*back, plan) << text;
  }
  EXPECT_EQ(EncodeFaultPlan(FaultPlan{}), "none");
  EXPECT_EQ(EncodeFaultPlan(FaultPlan{.kind = FaultKind::kDelay, .delay_ms = 20}), "delay,ms=20");
}

TEST(FaultPlan, DecodeRejectsBadInput) {
  EXPECT_FALSE(DecodeFaultPlan("").ok());
  EXPECT_FALSE(DecodeFaultPlan("nope").ok());
  EXPECT_FALSE(DecodeFaultPlan("delay,ms=abc").ok());
  EXPECT_FALSE(DecodeFaultPlan("delay,ms=-1").ok());
  EXPECT_FALSE(DecodeFaultPlan("delay,ms=99999999").ok());
  EXPECT_FALSE(DecodeFaultPlan("status,colour=red").ok());
  EXPECT_FALSE(DecodeFaultPlan("body,body=1").ok());
  EXPECT_TRUE(DecodeFaultPlan("status,code=503,body=10").ok());
}

TEST(FaultPlanner, SameSeedSamePlansDifferentSeedDifferentPlans) {
  FaultPlannerOptions options;
  options.seed = 1234;
  for (int i = 1; i < kFaultKindCount; ++i) options.probability[i] = 0.08;
  ASSERT_TRUE(ValidateFaultPlannerOptions(options).ok());
  FaultPlanner a(options), b(options);
  options.seed = 1235;
  FaultPlanner c(options);
  int differences = 0;
  std::set<FaultKind> kinds;
  for (uint64_t i = 0; i < 2000; ++i) {
    EXPECT_EQ(a.PlanFor(i), b.PlanFor(i));
    // Order of evaluation must not matter: index i alone decides.
    EXPECT_EQ(a.PlanFor(i), a.PlanFor(i));
    if (!(a.PlanFor(i) == c.PlanFor(i))) ++differences;
    kinds.insert(a.PlanFor(i).kind);
  }
  EXPECT_GT(differences, 500);
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kFaultKindCount));
}

TEST(FaultPlanner, ValidationCatchesBadProbabilities) {
  FaultPlannerOptions options;
  options[FaultKind::kDelay] = 0.7;
  options[FaultKind::kStatus] = 0.7;
  EXPECT_FALSE(ValidateFaultPlannerOptions(options).ok());
  options[FaultKind::kStatus] = -0.1;
  EXPECT_FALSE(ValidateFaultPlannerOptions(options).ok());
  HttpServerOptions server_options;
  server_options.faults = options;
  HttpServer server(server_options);
  EXPECT_FALSE(server.Start().ok());
}

}  // namespace
}  // namespace netrig
