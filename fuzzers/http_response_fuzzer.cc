// Fuzz target: an HTTP client session (libcurl reference by default) against netrig's embedded
// loopback server, whose response bytes come from the input.
//
// The client comes from the registry: NETRIG_HTTP_CLIENT=NAME (default "curl"), so a user's
// registered client, or a seeded-bug one, is fuzzed the same way. The server and the client are
// created once; every input gets a new session (the unit whose lifecycle is checked).
// NETRIG_HTTP_RESPONSE_VERBOSE=1 prints one line per completed task (status, error, version).
//
// Input: one header line of words (at most 128 bytes up to '\n'; unknown words are ignored), then
// the raw response bytes (at most 64 KiB; the rest is dropped). Without a '\n' in the first 128
// bytes, the whole input is the response and the header is the default "h1 n=1 close".
//   h1 | h2 | h2u   protocol: HTTP/1.1; h2c with prior knowledge; h2c via "Upgrade: h2c"
//   n=K             requests (tasks) in the session, 1-4, all resumed together
//   keep | close | reset
//                   what the server does once it wrote the bytes: keep the connection open (the
//                   next HTTP/1.1 request on it gets the bytes again), close it, or reset it
//   cancel=K@POINT  cancel task K (1-based) before Resume ("before"), right after it ("resume"),
//                   from the server's thread when the server first gets a request of this input
//                   ("request"), or after the task completed ("done": must change nothing)
//   split=A,B,...   write the bytes in pieces, pausing 1 ms after byte offsets A, B, ... (at most
//                   16), so the client reads them separately
//   split=auto      also pause at every structural point of the bytes (harness/http/server/
//                   response_cuts.h): inside the status line and each header line, a chunk-size
//                   line before and after its CR and LF, inside chunk data and trailers, before
//                   the final CRLF; HTTP/2 frames inside their headers and payloads
//   head            HEAD requests (curl then expects no body)
//   abort           InvalidateAndCancel from the server's thread when it first gets a request of
//                   this input (racing the response), instead of FinishTasksAndInvalidate once
//                   every task completed
// HTTP/1.1: the bytes are the whole answer to each request (status line, headers, body...).
// h2: the server sends an empty SETTINGS frame and a SETTINGS ACK, waits for the client's first
// HEADERS frame (stream 1), then writes the bytes (raw frames) once per connection. A request
// that arrives as HTTP/1.1 in an h2 mode (the session opens further connections with an h2c
// Upgrade) is answered "101 Switching Protocols", SETTINGS, SETTINGS ACK and the bytes (stream 1
// is the upgraded request). h2u makes every fuzzed task go through such an upgrade: the session
// is limited to one stream per connection and a first "primer" task takes the prior-knowledge
// connection (answered with nothing; it is cancelled once the fuzzed tasks completed).
//
// Properties (a violation prints the header and what broke, then aborts):
//   - every task completes exactly once (netrig::Ledger), a task cancelled before Resume
//     completes as cancelled, a late Cancel changes nothing, no completion after invalidation;
//   - the session invalidates (on_invalidated runs, WaitUntilInvalidated returns) in bounded time;
//   - once the session and the tasks are dropped, every live-object counter is back where it was
//     before the input (no leaked session, task, connection, observer);
//   - no crash or sanitizer report.
//
// Bounds: at most 4 (+1 primer) tasks and 64 KiB of response bytes per connection; at most 256
// body bytes are captured. Decisions come from the input: the server closes or resets after the
// bytes unless the input says keep. Only "keep" relies on a clock: each task has a 200 ms timeout,
// so a response that never completes still ends the input (other modes use 5 s, which a correct
// session never reaches: the close ends every transfer). A task still running 20 s after the
// resumes, or a session not invalidated 20 s later, is reported as stuck.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "fuzzers/http_response/input.h"
#include "fuzzers/http_response/run.h"
#include "fuzzers/http_response/world.h"

namespace {

using netrig::internal::http_response_fuzzer::InitWorld;
using netrig::internal::http_response_fuzzer::Input;
using netrig::internal::http_response_fuzzer::ParseInput;
using netrig::internal::http_response_fuzzer::Run;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  InitWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InitWorld();
  const Input input = ParseInput(absl::string_view(reinterpret_cast<const char*>(data), size));
  Run(input).Execute();
  return 0;
}
