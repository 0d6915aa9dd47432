// The `raw-socket` HTTP client: HTTP/1.1 over plain non-blocking sockets, no libcurl.
//
// Each session runs one event thread (epoll) that owns its connections: keep-alive connections
// per origin (host:port), reused for later tasks, opened as needed (at most
// HttpSessionOptions::max_connections_per_host per origin when that is set; tasks wait for one
// otherwise). The response parser is its own and incremental: the status line, headers
// (interim 1xx responses skipped), a Content-Length body, a chunked body with extensions and
// trailers, or a body up to the close, from a stream that may arrive one byte per read. A request
// that meets a closed keep-alive connection before any response byte (the server closed it while
// idle) is sent again once on a new connection, as browsers and libcurl do, for GET and HEAD.
//
// It keeps the whole HttpClient contract (exactly-once completion from the event thread, cancel
// at any moment, both kinds of invalidation, destruction from a callback) and is small and
// fast, so it doubles as netrig's load-generating transport. What it does not do:
//   - HTTP/2 (h2c): a client with Speaks(kH2cPriorKnowledge) false; `netrig http` runs its h2c
//     share over HTTP/1.1 with --http mixed and refuses --http h2c (exit 2). A task that asks for
//     h2c anyway completes as kInvalidRequest.
//   - TLS, proxies (the proxy environment variables are never read), redirects, content
//     decoding, request bodies other than a fixed one with Content-Length.
//   - Connection observers are kept and removed but never called (no viability tracking).
//
//   netrig http --client raw-socket --http 1.1 --duration 10s
//
// The seeded-bug variant `bug-chunk-overread` (check/seeded_bugs.h) differs in one line of its
// parser: it scans a chunk-size line for its LF without a bound, so a line that arrived without
// its CRLF (split delivery: FaultKind::kSplit, the fuzzer's split=auto) is read past the bytes
// received, a heap over-read that ASan reports.
//
// Example:
//   std::unique_ptr<netrig::HttpClient> client = netrig::NewRawSocketHttpClient();
//   auto session = client->NewSession({});
//   netrig::HttpRequest request;
//   request.url = "http://127.0.0.1:8080/";
//   auto task = (*session)->MakeTask(request, [](const netrig::HttpResult& r) { ... });
//   (*task)->Resume();
#ifndef NETRIG_HARNESS_HTTP_RAW_SOCKET_CLIENT_H_
#define NETRIG_HARNESS_HTTP_RAW_SOCKET_CLIENT_H_

#include <memory>

#include "harness/http/http_client.h"

namespace netrig {

struct RawSocketClientOptions {
  // bug-chunk-overread: the unbounded LF scan of a chunk-size line described above.
  bool bug_chunk_size_overread = false;
};

std::unique_ptr<HttpClient> NewRawSocketHttpClient(RawSocketClientOptions options = {});

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_RAW_SOCKET_CLIENT_H_
