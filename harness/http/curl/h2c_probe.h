// Asks a server once, before a run, how it accepts HTTP/2 over cleartext TCP (h2c), so that the
// sessions of the run open their h2c connections the way it accepts them (H2cMode).
//
// Two GETs of the URL with libcurl, one after the other, each on a fresh connection closed
// afterwards and with the proxy environment ignored: one by prior knowledge (the connection
// preface straight away), one as HTTP/1.1 with `Upgrade: h2c`. nghttpd and nginx's h2c listener
// answer only the first, a server without HTTP/2 answers the second in HTTP/1.1, netrig's
// embedded server both. Any response counts (a 404 is an answer); the status is only reported.
//
// Example:
//   netrig::H2cProbe probe = netrig::ProbeH2c("http://127.0.0.1:8080/", absl::Seconds(2));
//   session_options.h2c_mode = probe.mode;
//   printf("%s\n", probe.Describe().c_str());
//   // "prior knowledge: HTTP/2 200; Upgrade: failed (Unsupported protocol) -> prior"
#ifndef NETRIG_HARNESS_HTTP_CURL_H2C_PROBE_H_
#define NETRIG_HARNESS_HTTP_CURL_H2C_PROBE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/http/http_client.h"

namespace netrig {

struct H2cProbe {
  bool prior_knowledge = false;   // Answered over HTTP/2 by prior knowledge.
  bool upgrade = false;           // Took the Upgrade: answered over HTTP/2.
  bool upgrade_declined = false;  // Answered the Upgrade request in HTTP/1.1.
  // What came back: "HTTP/2 200", "HTTP/1.1 200", or "failed (libcurl's message)".
  std::string prior_knowledge_answer;
  std::string upgrade_answer;
  // What to use: both -> kEither; only prior knowledge -> kPriorKnowledge; Upgrade taken or
  // declined in HTTP/1.1 (no HTTP/2 at all) -> kUpgrade; no answer to either ->
  // kPriorKnowledge (RFC 9113's only way; the run's tasks will fail and say why).
  H2cMode mode = H2cMode::kPriorKnowledge;

  // "prior knowledge: HTTP/2 200; Upgrade: HTTP/1.1 200 (declined) -> upgrade"
  std::string Describe() const;
};

// Probes `url` (an http:// URL checked by the caller), each request bounded by `timeout`.
H2cProbe ProbeH2c(absl::string_view url, absl::Duration timeout);

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_CURL_H2C_PROBE_H_
