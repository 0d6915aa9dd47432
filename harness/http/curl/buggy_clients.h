// Seeded-bug HTTP clients: the reference libcurl session (session.h) with one deliberate bug
// each, mirroring docs/field-notes.md. netrig must find every one of them, while the reference
// client "curl" shows none of these findings in the same run.
//
//   name                   story  the bug                                        found by
//   bug-dequeue-uaf        1      a completing task dequeues itself from a       ASan (asan
//   preset):
//                                 connection record that a concurrent Resume() heap-use-after-free
//                                 already reclaimed
//   bug-unlocked-share     1      the client's CURLSH (DNS cache) is used by     TSan (tsan
//   preset):
//                                 every session's event thread without lock      data race
//                                 callbacks
//   bug-double-completion  1      Cancel() racing the event thread's completion  ledger invariant:
//                                 delivers a second completion duplicate_completion
//   bug-observer-leak      3      observer registrations keep their connection   LSan at exit and
//                                 record alive after it disconnected             live counters != 0
//
// Each is registered under its name (see http_client.h), so `netrig http --client bug-...`
// selects it.
//
// About bug-unlocked-share: Debian's libcurl is not TSan-instrumented, so TSan sees the unguarded
// DNS cache through its interceptors (memcpy/memcmp/malloc/free called by libcurl from two
// sessions' event threads). Often the cache is corrupted first and libcurl crashes, which TSan
// reports as a SEGV; in other presets the crash is all there is.
// About bug-dequeue-uaf: without ASan the freed record is usually still readable, so the
// default preset rarely notices anything; that is the point of the asan preset.
//
// Example:
//   for (const netrig::SeededHttpBug& bug : netrig::SeededHttpBugs()) {
//     auto client = netrig::MakeHttpClient(bug.client_name);
//     ...
//   }
#ifndef NETRIG_HARNESS_HTTP_CURL_BUGGY_CLIENTS_H_
#define NETRIG_HARNESS_HTTP_CURL_BUGGY_CLIENTS_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/http/curl/session.h"
#include "harness/http/http_client.h"

namespace netrig {

// A seeded-bug client: its name in the seeded-bug catalogue (check/seeded_bugs.h, which has
// its story, summary and detector) and the session bug it switches on.
struct SeededHttpBug {
  const char* client_name;  // "bug-dequeue-uaf", ...
  CurlSessionBugs bugs;
};

// The four seeded-bug clients, in the order of the table above.
const std::vector<SeededHttpBug>& SeededHttpBugs();

// The seeded-bug client called `name`; NotFound for other names.
absl::StatusOr<std::unique_ptr<HttpClient>> NewBuggyHttpClient(absl::string_view name);

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_CURL_BUGGY_CLIENTS_H_
