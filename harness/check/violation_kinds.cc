#include "harness/check/violation_kinds.h"

namespace netrig {

const std::vector<ViolationKindInfo>& ViolationCatalogue() {
  static const auto* const kCatalogue = new std::vector<ViolationKindInfo>{
      // Every workload (the run core and the shared checks).
      {"live_objects", "any",
       "objects of the run (flows, sessions, tasks, connections, observers) still alive after "
       "every one of them was released"},
      {"leak", "any", "LeakSanitizer found memory no longer reachable (ASan builds)"},
      {"unexplained_failure", "any",
       "with --faults=none against netrig's own server or peers, an operation failed: no "
       "injected fault explains it"},
      {"deadlock", "any",
       "under --schedule, every controlled thread was blocked (locks, condition variables, "
       "joins) and nothing outside the scheduler woke one"},
      // UDP flows (`netrig udp`, the udp_flow fuzzer).
      {"wrongly_rejected", "udp",
       "a datagram that fits every limit of the datagram-size oracle was rejected by a ready flow"},
      {"wrong_limit", "udp", "a rejection names a limit, or a value, that is not a true limit"},
      {"unnamed_limit", "udp", "a rejection names no limit at all"},
      {"silent_loss", "udp",
       "an accepted datagram neither came back nor was dropped by a counted fault before the "
       "drain's quiet time passed"},
      {"corrupted_datagram", "udp",
       "a datagram came back with other bytes than were sent (with --peer_protocol=dns: an "
       "answer whose id, or question, is not that of the query it names)"},
      {"duplicate_delivery", "udp", "a datagram came back twice with no duplicating fault"},
      {"wrong_source_endpoint", "udp",
       "a datagram came back from another endpoint than the one it was sent to"},
      {"rejected_but_delivered", "udp", "a datagram the flow rejected came back anyway"},
      {"stuck_waiting", "udp", "a flow stayed \"waiting\" after the path came back"},
      {"flow_not_delivered_after_wake", "udp",
       "a peer that arrived while the flow source was awake never reached the handler"},
      {"open_failed", "udp", "the flow could not be (re)opened"},
      {"read_failed", "udp", "Read() failed while the flow was open"},
      // HTTP clients (`netrig http`, the http_response fuzzer).
      {"duplicate_completion", "http", "a task completed more than once"},
      {"completion_after_invalidation", "http",
       "a completion arrived after its session reported invalidation"},
      {"completion_after_close", "http", "a completion arrived for a task of a closed scope"},
      {"unknown_completion", "http", "a completion arrived for a task that was never made"},
      {"open_at_close", "http",
       "a session reported invalidation while one of its tasks had not completed"},
      {"stuck", "http", "a task stayed open past its deadline"},
      {"hang", "http",
       "a client's callback into the harness (a completion or an observer callback) did not "
       "return within the hang limit: the client deadlocked in or under it (typically a lock "
       "held across callbacks that a re-entrant call needs); the report gives every thread's "
       "name, last schedule point and stack"},
      {"stuck_invalidation", "http", "a session never completed its invalidation"},
      {"make_task_failed", "http", "MakeTask failed on an open session for a valid request"},
      {"new_session_failed", "http", "NewSession failed"},
      {"cancel_before_resume_ignored", "http",
       "a task cancelled before Resume() completed as something other than cancelled"},
      {"not_recovered_after_path", "http",
       "after a --no_path_at_start window, no task started a grace period after the path "
       "appeared succeeded: the client did not recover"},
      {"captured_body_over_limit", "http",
       "a task captured more body bytes than its request allowed"},
      // Domain matchers (`netrig domains`, the domain_match fuzzer, the reload stress).
      {"domain_mismatch", "domain",
       "a matcher routed a host otherwise than the oracle does under the same rules (or named a "
       "pattern that does not decide it, or refused a valid host)"},
      {"torn_reload", "domain",
       "a lookup racing a reload answered as neither the old nor the new rules would (a mix), or "
       "used the old rules after the reload had returned"},
  };
  return *kCatalogue;
}

bool IsKnownViolationKind(absl::string_view name) {
  for (const ViolationKindInfo& kind : ViolationCatalogue()) {
    if (kind.name == name) return true;
  }
  return false;
}

}  // namespace netrig
