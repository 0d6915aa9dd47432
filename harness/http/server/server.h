// HttpServer: netrig's embedded loopback HTTP/1.1 + h2c server with per-request fault plans.
//
// One port serves both protocols: the server sniffs the first bytes of each connection, and a
// connection that opens with the HTTP/2 client preface ("PRI * HTTP/2.0...", h2c with prior
// knowledge) is HTTP/2 (libnghttp2 server session); anything else is HTTP/1.1 (keep-alive;
// requests on a connection are answered in order, so pipelining works too). An HTTP/1.1 first
// request carrying "Upgrade: h2c" + HTTP2-Settings is answered "101 Switching Protocols" and the
// connection continues as HTTP/2 (what libcurl does with CURL_HTTP_VERSION_2_0 on http://).
// Note: Debian's libcurl 7.88.1 cannot reuse a *prior-knowledge* h2c connection (every request
// after the first fails with CURLE_HTTP2, curl issue #10634, fixed in 8.0); upgraded
// connections are reused and multiplexed fine.
// It binds 127.0.0.1 (and ::1 if asked) on kernel-chosen ports, runs an epoll loop on `threads`
// workers with non-blocking sockets, and never sleeps in the loop: delays and drips are timers.
// Requests with a body need Content-Length (chunked uploads get 501); "Expect: 100-continue"
// gets its 100. Connections have no idle timeout: they last until the client closes or Stop().
//
// What a request gets:
//   - By default 200 with a `default_body_bytes` body.
//   - `/fault/<encoded plan>` (path) or `X-Netrig-Fault: <encoded plan>` (header) asks for one
//     fixed plan (fault_plan.h describes the encoding), e.g. `/fault/status,code=503`.
//   - Otherwise, if `faults` is set, a plan from FaultPlanner for the server-wide request index
//     (arrival order). Such responses carry `X-Netrig-Plan: <index> <encoded plan>` so a client
//     can record the plan it met (a replay can then ask for it by path).
//   - With SetScriptedResponse(), the raw bytes the script returns, whatever was asked (the
//     http_response fuzzer feeds its input through this), in one piece or in pieces 1 ms apart
//     (ScriptedResponse::pause_after, split_at_structure). For HTTP/2 the server first sends an
//     empty SETTINGS frame and a SETTINGS ACK, waits for the client's first HEADERS frame, then
//     writes the script's bytes (raw frames) once per connection.
// Split delivery (FaultKind::kSplit, `/fault/split`): an HTTP/1.1 response is written in pieces
// cut at each structural point (response_cuts.h) with a pause between pieces, so a client that
// parses the stream itself meets every partial line in a read of its own. Over HTTP/2 the same
// plan only sends the body in small DATA frames with pauses: nghttp2 writes the frames of every
// stream of the connection into one buffer, and holding a byte-level cut of one stream's frame
// would stall all the others, so byte-level cuts of HTTP/2 frames are the scripted mode's
// (split_at_structure), where the connection carries one scripted answer.
// Every request and connection is counted (Stats()).
//
// Example:
//   netrig::HttpServerOptions options;
//   options.faults.emplace();
//   options.faults->seed = 7;
//   (*options.faults)[netrig::FaultKind::kStatus] = 0.05;
//   netrig::HttpServer server(options);
//   absl::Status started = server.Start();
//   std::string url = server.url();   // "http://127.0.0.1:40123"
//   ...                               // curl url + "/", url + "/fault/delay,ms=5", ...
//   server.Stop();                    // joins the workers, closes every socket
#ifndef NETRIG_HARNESS_HTTP_SERVER_SERVER_H_
#define NETRIG_HARNESS_HTTP_SERVER_SERVER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/http/server/fault_plan.h"
#include "harness/sched/thread.h"

namespace netrig {

enum class HttpProtocol { kHttp1, kHttp2 };

struct HttpServerOptions {
  // Event-loop threads; each accepts from the shared listening sockets.
  int threads = 1;
  // Also listen on [::1] (its own kernel-chosen port; see ipv6_url()).
  bool listen_ipv6 = false;
  // Body size of an ordinary 200 response (a repeating text pattern).
  int64_t default_body_bytes = 2;
  // Seeded random fault plans; nullopt: every request is answered normally.
  std::optional<FaultPlannerOptions> faults;
  // Obey `/fault/...` paths and `X-Netrig-Fault` headers.
  bool honor_fault_requests = true;
  // SETTINGS_MAX_CONCURRENT_STREAMS sent to HTTP/2 clients.
  int h2_max_concurrent_streams = 256;
  // A start-up window with no network path (--no_path_at_start): every connection accepted
  // before this time (netrig::Now()) is reset at once (SO_LINGER 0), so clients see their
  // connections fail, as behind a filter that has not started yet.
  absl::Time reset_connections_until = absl::InfinitePast();
};

// What the script sees of a request.
struct ScriptedRequest {
  HttpProtocol protocol = HttpProtocol::kHttp1;
  uint64_t connection_index = 0;       // Server-wide, in accept order from 0.
  uint64_t request_on_connection = 0;  // 0 for the first request (always 0 for HTTP/2).
  absl::string_view method;            // HTTP/1.1 only.
  absl::string_view target;            // HTTP/1.1 only.
};

struct ScriptedResponse {
  enum class Then {
    kKeepOpen,  // Keep reading: the next request gets the script again (HTTP/1.1).
    kClose,     // Close cleanly once the bytes are written.
    kReset,     // Reset (SO_LINGER 0) once the bytes are written.
  };
  std::string bytes;
  Then then = Then::kClose;
  // Write `bytes` in pieces, pausing 1 ms after each of these offsets (ascending; others are
  // skipped), so the client reads them separately.
  std::vector<size_t> pause_after;
  // Also pause at every structural point of the bytes (response_cuts.h): HTTP/1.1 lines, chunk
  // sizes, chunk data, trailers and the frames after a 101; in the HTTP/2 mode, the frames.
  bool split_at_structure = false;
};

// Called on a worker thread, possibly from several at once: must be thread-safe.
using ScriptFunction = std::function<ScriptedResponse(const ScriptedRequest&)>;

struct HttpServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_reset_no_path =
      0;  // Reset at once: HttpServerOptions::reset_connections_until.
  uint64_t connections_open = 0;
  uint64_t http1_connections = 0;
  uint64_t http2_connections = 0;
  uint64_t requests = 0;  // Every request answered in any way, scripted included.
  std::array<uint64_t, kFaultKindCount> requests_by_fault{};  // Indexed by FaultKind.
  uint64_t scripted_responses = 0;
  uint64_t bad_requests = 0;  // Malformed requests or fault encodings (answered 4xx/5xx).
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;

  uint64_t by_fault(FaultKind kind) const { return requests_by_fault[static_cast<int>(kind)]; }
};

namespace internal {
class Worker;
}  // namespace internal

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options = {});
  ~HttpServer();  // Stop()s.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the workers. Fails on bad options or socket errors; at most once.
  absl::Status Start();
  // Stops the workers, joins them and closes every socket. Idempotent; Start() cannot follow.
  void Stop();

  uint16_t port() const { return port_; }
  uint16_t ipv6_port() const { return ipv6_port_; }
  // "http://127.0.0.1:PORT" (no trailing slash); "" before Start().
  std::string url() const;
  // "http://[::1]:PORT", or "" when not listening on IPv6.
  std::string ipv6_url() const;

  // Replaces every answer by the script's bytes; an empty function goes back to normal.
  // Takes effect for the next request (HTTP/2: the next connection). Thread-safe.
  void SetScriptedResponse(ScriptFunction script);

  HttpServerStats Stats() const;

  // For the workers (internal): the script in force, or null.
  std::shared_ptr<const ScriptFunction> CurrentScript() const;
  const HttpServerOptions& options() const { return options_; }
  const FaultPlanner* planner() const { return planner_ ? &*planner_ : nullptr; }
  uint64_t NextRequestIndex() {
    return next_request_index_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t NextConnectionIndex() {
    return next_connection_index_.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  HttpServerOptions options_;
  std::optional<FaultPlanner> planner_;
  uint16_t port_ = 0;
  uint16_t ipv6_port_ = 0;
  int listen_fd_ = -1;
  int listen6_fd_ = -1;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<internal::Worker>> workers_;
  std::vector<Thread> threads_;
  std::atomic<uint64_t> next_request_index_{0};
  std::atomic<uint64_t> next_connection_index_{0};

  std::atomic<bool> script_set_{false};
  mutable Mutex script_mu_;
  std::shared_ptr<const ScriptFunction> script_ ABSL_GUARDED_BY(script_mu_);
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_SERVER_SERVER_H_
