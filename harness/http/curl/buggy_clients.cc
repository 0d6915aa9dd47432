#include "harness/http/curl/buggy_clients.h"

#include "absl/strings/str_cat.h"

namespace netrig {
namespace {

CurlSessionBugs DequeueUseAfterFree() {
  CurlSessionBugs bugs;
  bugs.reclaim_connections_on_resume = true;
  return bugs;
}
CurlSessionBugs UnlockedShare() {
  CurlSessionBugs bugs;
  bugs.share_without_locks = true;
  return bugs;
}
CurlSessionBugs DoubleCompletion() {
  CurlSessionBugs bugs;
  bugs.cancel_completes_inline = true;
  return bugs;
}
CurlSessionBugs ObserverLeak() {
  CurlSessionBugs bugs;
  bugs.observers_retain_connections = true;
  return bugs;
}
CurlSessionBugs StickyUnreachable() {
  CurlSessionBugs bugs;
  bugs.remember_unreachable_forever = true;
  return bugs;
}

CurlSessionBugs TimeoutUnits() {
  CurlSessionBugs bugs;
  bugs.timeout_in_wrong_unit = true;
  return bugs;
}

}  // namespace

const std::vector<SeededHttpBug>& SeededHttpBugs() {
  static const auto* const bugs = new std::vector<SeededHttpBug>{
      {"bug-dequeue-uaf", DequeueUseAfterFree()},      {"bug-unlocked-share", UnlockedShare()},
      {"bug-double-completion", DoubleCompletion()},   {"bug-observer-leak", ObserverLeak()},
      {"bug-sticky-unreachable", StickyUnreachable()}, {"bug-timeout-units", TimeoutUnits()},
  };
  return *bugs;
}

absl::StatusOr<std::unique_ptr<HttpClient>> NewBuggyHttpClient(absl::string_view name) {
  for (const SeededHttpBug& bug : SeededHttpBugs()) {
    if (name == bug.client_name) {
      CurlClientOptions options;
      options.bugs = bug.bugs;
      return NewCurlClient(options);
    }
  }
  return absl::NotFoundError(absl::StrCat("no seeded-bug HTTP client named '", name, "'"));
}

}  // namespace netrig
