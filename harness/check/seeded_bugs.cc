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
