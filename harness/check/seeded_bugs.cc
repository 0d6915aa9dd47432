#include "harness/check/seeded_bugs.h"

namespace netrig {

const std::vector<SeededBug>& SeededBugs() {
  static const auto* const kBugs = new std::vector<SeededBug>{
      {"udp", "bug-address-too-large", "2",
       "rejects any datagram to an address-form endpoint as \"The datagram was too large\"",
       "wrongly_rejected", "any"},
      {"udp", "bug-scope-mangle", "2",
       "mangles scoped IPv6 endpoints (cuts the text at '%') when writing", "wrongly_rejected",
       "any"},
      {"udp", "bug-close-race-uaf", "1",
       "Close() frees the receive buffers under an in-flight read (heap use-after-free)", "asan",
       "asan"},
      {"udp", "bug-waiting-drop", "5",
       "writes while waiting are reported accepted and silently dropped", "silent_loss", "any"},
      {"udp", "bug-sleep-wake-source", "4",
       "the flow source hands out no new flow after its third sleep/wake cycle",
       "flow_not_delivered_after_wake", "any"},
      {"http", "bug-dequeue-uaf", "1",
       "completion dequeues a connection record that a concurrent resume already freed", "asan",
       "asan"},
      {"http", "bug-unlocked-share", "1",
       "a curl share handle without lock callbacks used from several sessions' threads", "tsan",
       "tsan"},
      {"http", "bug-double-completion", "1", "cancel racing completion delivers two completions",
       "duplicate_completion", "any"},
      {"http", "bug-observer-leak", "3",
       "observers keep a connection record alive after disconnect (LeakSanitizer also sees it "
       "in ASan builds)",
       "live_objects", "any"},
      {"http", "bug-sticky-unreachable", "8",
       "the first connection that fails marks the origin unreachable for good: every later task "
       "fails at once, also after the path is back",
       "not_recovered_after_path", "any", "--no_path_at_start=2s --faults=none"},
      {"http", "bug-timeout-units", "8",
       "passes the request timeout to libcurl in seconds where it wants milliseconds: tasks slower "
       "than a few milliseconds fail as timeouts with nothing wrong on the wire",
       "unexplained_failure", "any", "--faults=none --http=1.1"},
      {"http", "bug-chunk-overread", "8",
       "the raw-socket client scans a chunk-size line for its LF past the bytes received when "
       "the line arrived without its CRLF (heap buffer over-read; split delivery shows it)",
       "asan", "asan", "--http=1.1"},
      {"http", "bug-completion-under-lock", "1",
       "runs completions while holding its session lock: a completion that calls back into its "
       "session (netrig http --reentrant) deadlocks the session and every thread that touches it",
       "hang", "any"},
      {"domain", "bug-case-sensitive", "8",
       "compares an ASCII host with the patterns without folding its case (WWW.Example.com "
       "escapes *.example.com)",
       "domain_mismatch", "any"},
      {"domain", "bug-suffix-no-boundary", "8",
       "tests a wildcard by a plain string suffix, so *.example.com also covers badexample.com",
       "domain_mismatch", "any"},
      {"domain", "bug-exception-ignored", "8",
       "looks at the match list first and never at the exceptions once a match applies",
       "domain_mismatch", "any"},
      {"domain", "bug-trailing-dot", "8",
       "keeps a host's trailing dot, so example.com. escapes every pattern of example.com",
       "domain_mismatch", "any"},
      {"domain", "bug-torn-reload", "8",
       "publishes a reload's match list and exception list one after the other, so a lookup "
       "between them mixes old and new rules",
       "torn_reload", "any"},
  };
  return *kBugs;
}

const SeededBug* FindSeededBug(absl::string_view name) {
  for (const SeededBug& bug : SeededBugs()) {
    if (bug.name == name) return &bug;
  }
  return nullptr;
}

}  // namespace netrig
