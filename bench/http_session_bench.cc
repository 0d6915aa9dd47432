// Tasks per second through the reference libcurl session (harness/http/curl/session.h) against a
// bare single-thread curl multi loop (a fresh easy handle per request), both on the same embedded
// loopback server in the same run (the session should not be slower).
// Also wrk against the same server when wrk is installed, and the bare loop doing h2c the way the
// session does against the embedded server (H2cMode::kEither), which scripts/bench compares with
// `netrig http --http h2c`.
//
//   /work/scratch/nbuild build/default/bench/http_session_bench   # under the machine's build lock
//
// BM_SessionVsBareLoop runs both loops back to back per iteration and reports the ratio (32
// concurrent, HTTP/1.1) and the session's easy handles created per task; the other benchmarks
// report each loop alone (items_per_second = requests per second that ended CURLE_OK with 200).
#include <curl/curl.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/session.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"

namespace netrig {
namespace {

constexpr int kConcurrency = 32;
constexpr int kRequestsPerIteration = 4000;

// One server for the whole binary: both loops hit the same one.
HttpServer& Server() {
  static HttpServer* const server = [] {
    HttpServerOptions options;
    options.threads = 1;
    auto* created = new HttpServer(options);
    if (absl::Status started = created->Start(); !started.ok()) {
      std::fprintf(stderr, "server: %s\n", started.ToString().c_str());
      std::abort();
    }
    return created;
  }();
  return *server;
}

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

// How the bare loop asks for its transfers.
enum class BareMode {
  kHttp11,
  // What the session does with HttpVersion::kH2cPriorKnowledge and H2cMode::kEither (the embedded
  // server's mode, session.h): the transfer that opens the loop's first connection asks for prior
  // knowledge on a fresh connection, every other one asks for HTTP/2, which multiplexes it onto
  // that connection once it is up (or opens another with an h2c Upgrade meanwhile).
  kH2cEither,
};

// The bare loop: one thread, one multi handle, `concurrency` transfers in flight, a new easy
// handle per request. Returns the requests that completed with CURLE_OK and status 200.
int BareCurlMulti(const std::string& url, int total, int concurrency,
                  BareMode mode = BareMode::kHttp11) {
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  int started = 0;
  int done = 0;
  int ok = 0;
  auto add = [&] {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Discard);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");  // Never a proxy from the environment.
    if (mode == BareMode::kH2cEither) {
      if (started == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                         static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
        curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
      } else {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2_0));
      }
    }
    curl_multi_add_handle(multi, easy);
    ++started;
  };
  for (int i = 0; i < concurrency && started < total; ++i) add();
  while (done < total) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      long status = 0;
      curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (message->data.result == CURLE_OK && status == 200) ++ok;
      curl_multi_remove_handle(multi, message->easy_handle);
      curl_easy_cleanup(message->easy_handle);
      ++done;
      if (started < total) add();
    }
    if (done < total) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  curl_multi_cleanup(multi);
  return ok;
}

// The same work through one Session: `concurrency` tasks in flight, each completion lets the
// benchmark thread make and resume the next task.
int SessionLoop(HttpClient& client, const std::string& url, int total, int concurrency) {
  absl::StatusOr<std::unique_ptr<HttpSession>> session = client.NewSession({});
  if (!session.ok()) return 0;
  Mutex mu;
  CondVar changed;
  int in_flight = 0;
  int done = 0;
  int ok = 0;
  for (int started = 0; started < total; ++started) {
    {
      MutexLock lock(&mu);
      while (in_flight >= concurrency) changed.Wait(&mu);
      ++in_flight;
    }
    HttpRequest request;
    request.url = url;
    auto task = (*session)->MakeTask(std::move(request), [&](const HttpResult& result) {
      MutexLock lock(&mu);
      --in_flight;
      ++done;
      if (result.ok() && result.status == 200) ++ok;
      changed.Signal();
    });
    if (!task.ok()) return 0;
    (*task)->Resume();
  }
  {
    MutexLock lock(&mu);
    while (done < total) changed.Wait(&mu);
  }
  (*session)->FinishTasksAndInvalidate();
  (*session)->WaitUntilInvalidated();
  MutexLock lock(&mu);
  return ok;
}

std::unique_ptr<HttpClient> ReferenceClient() {
  absl::StatusOr<std::unique_ptr<HttpClient>> client = NewCurlClient();
  if (!client.ok()) std::abort();
  return *std::move(client);
}

void BM_BareCurlMulti(benchmark::State& state) {
  const std::string url = Server().url() + "/";
  int64_t failed = 0;
  for (auto _ : state) {
    failed += kRequestsPerIteration - BareCurlMulti(url, kRequestsPerIteration, kConcurrency);
  }
  state.SetItemsProcessed(state.iterations() * kRequestsPerIteration);
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_BareCurlMulti)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

// The bare loop doing h2c as the session does against the embedded server, with `netrig http`'s
// default concurrency (64): scripts/bench sets its rate against `netrig http --http h2c`'s.
void BM_BareCurlH2c(benchmark::State& state) {
  const std::string url = Server().url() + "/";
  constexpr int kNetrigHttpConcurrency = 64;
  int64_t ok = 0;
  for (auto _ : state) {
    ok += BareCurlMulti(url, kRequestsPerIteration, kNetrigHttpConcurrency, BareMode::kH2cEither);
  }
  state.SetItemsProcessed(ok);
  state.counters["failed"] = static_cast<double>(state.iterations() * kRequestsPerIteration - ok);
}
BENCHMARK(BM_BareCurlH2c)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

void BM_CurlSession(benchmark::State& state) {
  const std::string url = Server().url() + "/";
  std::unique_ptr<HttpClient> client = ReferenceClient();
  int64_t failed = 0;
  for (auto _ : state) {
    failed +=
        kRequestsPerIteration - SessionLoop(*client, url, kRequestsPerIteration, kConcurrency);
  }
  state.SetItemsProcessed(state.iterations() * kRequestsPerIteration);
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_CurlSession)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);

// Both loops alternately in each iteration, timed separately: the ratio is immune to drift in
// what else the machine does between two separate benchmarks.
void BM_SessionVsBareLoop(benchmark::State& state) {
  const std::string url = Server().url() + "/";
  std::unique_ptr<HttpClient> client = ReferenceClient();
  absl::Duration bare_time;
  absl::Duration session_time;
  const CurlEasyHandleCounts before = CurlEasyHandleCounters();
  for (auto _ : state) {
    absl::Time start = absl::Now();
    BareCurlMulti(url, kRequestsPerIteration, kConcurrency);
    bare_time += absl::Now() - start;
    start = absl::Now();
    SessionLoop(*client, url, kRequestsPerIteration, kConcurrency);
    session_time += absl::Now() - start;
  }
  const double requests = static_cast<double>(state.iterations()) * kRequestsPerIteration;
  const double bare_rate = requests / absl::ToDoubleSeconds(bare_time);
  const double session_rate = requests / absl::ToDoubleSeconds(session_time);
  state.counters["bare_per_s"] = bare_rate;
  state.counters["session_per_s"] = session_rate;
  state.counters["ratio"] = session_rate / bare_rate;
  const CurlEasyHandleCounts after = CurlEasyHandleCounters();
  state.counters["session_handles_per_task"] =
      static_cast<double>(after.handles_created - before.handles_created) /
      static_cast<double>(after.transfers_started - before.transfers_started);
}
BENCHMARK(BM_SessionVsBareLoop)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(6);

// wrk (1 thread, 32 connections, 3 s) against the same embedded server.
void BM_WrkEmbeddedServer(benchmark::State& state) {
  const std::string url = Server().url() + "/";
  const std::string command = absl::StrCat("wrk -t1 -c", kConcurrency, " -d3s ", url, " 2>&1");
  double requests_per_sec = 0;
  for (auto _ : state) {
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
      state.SkipWithError("could not run wrk");
      return;
    }
    char line[512];
    bool found = false;
    while (std::fgets(line, sizeof(line), pipe) != nullptr) {
      if (std::sscanf(line, "Requests/sec: %lf", &requests_per_sec) == 1) found = true;
    }
    if (pclose(pipe) != 0 || !found) {
      state.SkipWithError("wrk is not installed or failed");
      return;
    }
  }
  state.counters["wrk_requests_per_s"] = requests_per_sec;
}
BENCHMARK(BM_WrkEmbeddedServer)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace netrig
