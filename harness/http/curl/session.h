// netrig's reference HttpClient: task sessions on the libcurl multi interface.
//
// Each session owns one event thread that runs curl_multi_poll / curl_multi_perform. Every call
// from other threads (Resume, Cancel, invalidation, observer changes) is handed to it through a
// queue plus curl_multi_wakeup, so each easy handle, connection record and observer list is
// touched by that one thread only. Completion callbacks, observer callbacks and the invalidation
// callback all run on the event thread, in that order, which is what makes "exactly once" and
// "nothing after invalidation" hold by construction. Easy handles are pooled per session (at
// most CurlClientOptions::max_pooled_easy_handles idle ones, curl_easy_reset before they go back
// to the pool, so a task starts from libcurl's defaults whichever handle it gets; counted by
// CurlEasyHandleCounters()). Commands are batched: the event thread takes every queued command at
// once, and a caller writes curl_multi_wakeup's byte only when the thread may be asleep in
// curl_multi_poll and nobody woke it yet.
// Connections are modelled as records (CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION), which
// carry the tasks queued on them and the per-connection observer registrations. The sessions of
// one client share a DNS cache through a CURLSH whose lock callbacks take netrig::Mutexes.
//
// Live-object counters (harness/check/live_objects.h): "http.session", "http.task",
// "http.connection", "http.observer", "http.observer_registration"; all are zero once every
// session is invalidated and destroyed and the caller dropped its task handles.
//
// h2c, as HttpSessionOptions::h2c_mode says the origin accepts it:
//   - kPriorKnowledge (nghttpd, nginx's h2c listener): libcurl 7.88 (Debian 12) fails a
//     prior-knowledge transfer that reuses a connection, also to multiplex onto it (curl PR
//     #10643), and such servers fail an Upgrade; so every h2c transfer asks for prior knowledge
//     on a connection of its own (CURLOPT_FRESH_CONNECT and CURLOPT_FORBID_REUSE): no
//     multiplexing.
//   - kUpgrade (servers with h2c by Upgrade only, or without HTTP/2): h2c transfers ask for
//     HTTP/2 without prior knowledge: a new connection starts with an h2c Upgrade (a server
//     without HTTP/2 answers in HTTP/1.1), later transfers multiplex onto it.
//   - kEither (the embedded server, the default): the transfer that opens an h2c connection asks
//     for prior knowledge on a fresh connection; the others ask for HTTP/2 and multiplex onto it.
//   In both the session chooses the connection (session_h2c.cc): h2c transfers to an origin given
//   as an address never share one with HTTP/1.1 transfers, wait for the connection being opened for
//   them instead of opening their own, and move to a new one when it is full or closed.
//   libcurl 7.88 left to itself puts h2c transfers on busy HTTP/1.1 connections, where they never
//   start.
// No CURLOPT_PIPEWAIT: libcurl 7.88 keeps waiting transfers in a pending queue where their
// timeout does not apply. As a backstop the session itself ends any transfer still running one
// second past its HttpRequest::timeout (libcurl also leaves transfers waiting for a free
// connection under max_connections_per_host untimed).
//
// CurlClientOptions::bugs turns on the seeded bugs of buggy_clients.h; all off is the reference
// client, registered as "curl".
//
// Example:
//   auto client = netrig::NewCurlClient();
//   auto session = (*client)->NewSession({});
//   auto task = (*session)->MakeTask(request, [](const netrig::HttpResult& r) { ... });
//   (*task)->Resume();
//   (*session)->FinishTasksAndInvalidate();
//   (*session)->WaitUntilInvalidated();
#ifndef NETRIG_HARNESS_HTTP_CURL_SESSION_H_
#define NETRIG_HARNESS_HTTP_CURL_SESSION_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "harness/http/http_client.h"

namespace netrig {

// Seeded bugs (docs/field-notes.md stories 1 and 3). Each switch is a small,
// realistic deviation from the reference session; see buggy_clients.h for what finds each.
struct CurlSessionBugs {
  // (a) Closed connection records are reclaimed by whichever thread resumes a task next, while a
  // completing task still holds a raw pointer to its record and dequeues itself from it.
  bool reclaim_connections_on_resume = false;
  // (b) The client's CURLSH is used by all its sessions' event threads without lock callbacks.
  bool share_without_locks = false;
  // (c) Cancel() of a running task delivers the cancellation on the caller's thread after a
  // check-then-act on the task state, racing the event thread's own completion.
  bool cancel_completes_inline = false;
  // (d) Observer registrations hold their connection record, and a closing connection does not
  // drop its registrations: record and registrations keep each other alive forever.
  bool observers_retain_connections = false;
  // (e) The first transfer that fails to connect or gets nothing back marks the client's origin
  // unreachable, and every later task of every session fails at once without trying: a
  // reachability verdict that is never revisited once the path is back.
  bool remember_unreachable_forever = false;
  // (f) HttpRequest::timeout is handed to CURLOPT_TIMEOUT_MS in seconds (a unit slip): a 5 s
  // timeout becomes 5 ms, and every task slower than that fails as a timeout although nothing
  // went wrong on the wire.
  bool timeout_in_wrong_unit = false;
};

struct CurlClientOptions {
  // Share the DNS cache between the client's sessions through one CURLSH.
  bool share_dns = true;
  // Idle easy handles kept per session for reuse.
  size_t max_pooled_easy_handles = 256;
  CurlSessionBugs bugs;
};

absl::StatusOr<std::unique_ptr<HttpClient>> NewCurlClient(const CurlClientOptions& options = {});

// The live-object counters of this implementation, read now.
struct CurlLiveCounts {
  int64_t sessions = 0;
  int64_t tasks = 0;
  int64_t connections = 0;
  int64_t observers = 0;
  int64_t observer_registrations = 0;

  bool AllZero() const {
    return sessions == 0 && tasks == 0 && connections == 0 && observers == 0 &&
           observer_registrations == 0;
  }
};
CurlLiveCounts CurlLiveObjects();

// Easy-handle reuse, counted since the process started over every session of every client: read
// before and after, and compare. transfers_started - handles_created is how often a transfer took
// a pooled handle; handles_created - handles_destroyed is what sessions hold now (running or
// pooled).
struct CurlEasyHandleCounts {
  int64_t transfers_started = 0;  // Tasks handed an easy handle (the transfer was started).
  int64_t handles_created = 0;    // curl_easy_init calls.
  int64_t handles_destroyed = 0;  // curl_easy_cleanup calls (pool full, or the session ended).
  int64_t handles_pooled = 0;     // Idle in some session's pool now.
};
CurlEasyHandleCounts CurlEasyHandleCounters();

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_CURL_SESSION_H_
