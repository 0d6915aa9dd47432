// Replaying a finding file: rerun `netrig <command> <args...>` as a child process (so that a
// sanitizer exit or a crash is observed, not suffered) and decide whether the finding reproduced
// or, for a regression of a fixed bug, whether every run stayed clean. `netrig replay` is the
// command-line front end; corpora/regressions/*.json are replayed by CTest through it.
//
// A run reproduces the finding when
//   - the finding recorded a sanitizer exit (exit_code 81-84) and the child exits with that code,
//   - else the child exits 1 and reports every violation kind the finding recorded.
// A run is clean when the child exits 0 before its timeout. A run that times out is neither: a
// regression that brings back a hang must fail `--expect clean` too.
//
// A controlled finding of version 2 carries its schedule: its runs replay strictly (the child
// gets --replay_schedule and forces the recorded choices step by step). A strict run that
// diverges reports the step, thread and point, and its schedule's strategy chooses from there;
// the runs after it replay by seed, and the log says so. --check_determinism replays every run
// strictly and reports where each diverged.
//
// Example:
//   absl::StatusOr<netrig::Finding> finding = netrig::ReadFindingFile(path);
//   netrig::ReplayOptions options;
//   options.netrig_binary = "/proc/self/exe";
//   options.log = stdout;
//   absl::StatusOr<netrig::ReplayResult> result = netrig::ReplayFinding(*finding, options);
//   if (result.ok() && result->passed) ...
#ifndef NETRIG_HARNESS_FINDINGS_REPLAY_H_
#define NETRIG_HARNESS_FINDINGS_REPLAY_H_

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/finding_file.h"
#include "nlohmann/json.hpp"

namespace netrig {

struct ReplayOptions {
  std::string netrig_binary = "/proc/self/exe";
  // Reproduce mode: at most this many runs, stopping at the first that reproduces. Clean mode:
  // exactly this many runs, all of which must be clean.
  int times = 3;
  // kExpectReproduce or kExpectClean; empty: the finding's "expect", else reproduce.
  std::string expect;
  // Per run; zero: three times the recorded --duration plus a minute (5 minutes without one).
  absl::Duration run_timeout = absl::ZeroDuration();
  // Progress lines and each run's summary (the tail of its output); null: silent.
  FILE* log = nullptr;
  // A rise of this counter (Ctrl-C, see InterruptFlag) stops the current run and the replay.
  const std::atomic<int>* interrupts = nullptr;
  // N > 0: a determinism check of a controlled finding instead: exactly N runs (whatever they
  // find), each compared with the recorded schedule (ReplayResult::same_schedule). An
  // uncontrolled finding is refused.
  int check_determinism = 0;
  // False: replay by seeds only, even when the finding records its schedule (to compare).
  bool strict = true;
};

struct ReplayRun {
  ChildResult child;
  std::vector<std::string> violation_kinds;  // Sorted, distinct; from the child's finding file.
  // The controlled schedule's trace hash in the child's finding file ("" if uncontrolled or none).
  std::string trace_hash;
  // From the child's report: the scheduler's control leakage, the likely causes of a divergence.
  uint64_t watchdog_handoffs = 0;
  uint64_t uncontrolled_enables = 0;
  // Strict replay: the run forced the recorded choices; how many it followed, and where it
  // could not ("" when it followed them all).
  bool strict = false;
  uint64_t replayed_steps = 0;
  uint64_t recorded_steps = 0;
  std::string divergence;
  bool reproduced = false;
  bool clean = false;
  std::string output_tail;  // The last lines of the child's output (its summary).
  // The finding file the child wrote (its own args, seeds and, controlled, its own schedule);
  // empty when it wrote none. `netrig replay --minimize` keeps the smallest that reproduced.
  std::optional<Finding> written;
};

struct ReplayResult {
  std::string expect;  // The expectation applied.
  std::vector<ReplayRun> runs;
  bool reproduced = false;     // Some run reproduced the finding.
  bool any_violation = false;  // Some run was not clean.
  bool timed_out = false;      // Some run hit its timeout: a hang, which fails either expectation.
  bool interrupted = false;
  // Runs whose schedule trace equals the one recorded in the finding (controlled findings).
  int same_schedule = 0;
  int reproductions = 0;  // Runs that reproduced.
  int strict_runs = 0;    // Runs that forced the recorded schedule.
  // The expectation held: reproduce mode, some run reproduced; clean mode, every run was clean;
  // and no run timed out.
  bool passed = false;
};

// The sorted distinct "kind" values of a violations array.
std::vector<std::string> ViolationKinds(const nlohmann::json& violations);

// The expectation a replay of `finding` applies when `requested` is empty; validates it.
absl::StatusOr<std::string> ResolveExpectation(const Finding& finding, absl::string_view requested);

// The per-run timeout derived from the finding's --duration argument.
absl::Duration DefaultRunTimeout(const Finding& finding);

// Whether one run (child result, kinds it reported) reproduces `finding`.
bool RunReproduces(const Finding& finding, const ChildResult& child,
                   const std::vector<std::string>& kinds);

// Why a controlled run's trace may differ from the recorded one, from what the run reported:
// the strict replay's first divergence (step, thread, point), then the control leakage.
std::string DivergenceCause(const ReplayRun& run);
// The control leakage alone (watchdog handoffs, wake-ups from uncontrolled threads, else timing
// the scheduler does not own): why a run's trace may differ when no step was forced.
std::string LeakageCause(const ReplayRun& run);

// The recorded schedule's trace hash ("": the finding ran uncontrolled): the schedule's own hash
// in a version 2 file, else its report's.
std::string RecordedTraceHash(const Finding& finding);

// Reruns the finding. Errors: a bad expectation or times, the child could not be started, or
// the child rejected the recorded arguments (exit 2): all mean a bad finding file or usage.
absl::StatusOr<ReplayResult> ReplayFinding(const Finding& finding, const ReplayOptions& options);

// Writes `finding` as `<dir>/<name>.json` with "expect" set to `expect`; refuses to overwrite.
// `name` may contain letters, digits, '.', '_' and '-'. Returns the path written.
absl::StatusOr<std::string> PromoteFinding(Finding finding, const std::string& dir,
                                           absl::string_view name, absl::string_view expect);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_REPLAY_H_
