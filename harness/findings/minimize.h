// Minimizing a stress finding: `netrig replay FILE --minimize` shrinks the run that reproduces a
// finding (fewer operations, threads and tasks in flight, no faults, fewer PCT priority-change
// points, no optional workload behaviour) as long as it still reproduces, and keeps the smallest.
//
// Each candidate changes one recorded flag of the current smallest run (halves a count, steps the
// PCT depth down, switches a behaviour off) and is replayed by seed up to ReplayOptions::times
// runs. One that reproduces becomes the current run, taking the finding file its reproducing run
// wrote: its own arguments, seeds and, for a controlled run, its own recorded schedule, so the
// result replays strictly like any version 2 finding. A candidate that does not reproduce is
// dropped and the next flag is tried; passes repeat until one keeps nothing or the budget of
// candidates is spent. Delta debugging on the run's parameters, not on its bytes: the schedule
// itself shrinks because a smaller run records a shorter one.
//
// Example:
//   netrig::MinimizeOptions options;
//   options.replay.netrig_binary = "/proc/self/exe";
//   options.replay.log = stdout;
//   absl::StatusOr<netrig::MinimizeResult> result = netrig::MinimizeFinding(finding, options);
//   if (result.ok()) netrig::WriteFindingFile("finding.min.json", result->smallest);
#ifndef NETRIG_HARNESS_FINDINGS_MINIMIZE_H_
#define NETRIG_HARNESS_FINDINGS_MINIMIZE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/findings/finding_file.h"
#include "harness/findings/replay.h"

namespace netrig {

struct MinimizeOptions {
  // How each candidate is replayed: binary, log, interrupts, run timeout; `times` is the runs a
  // candidate gets to reproduce. `expect`, `strict` and `check_determinism` are set here.
  ReplayOptions replay;
  int max_candidates = 40;
};

struct MinimizeStep {
  std::string change;  // "--operations=400 -> 200"
  bool kept = false;
};

struct MinimizeResult {
  Finding smallest;  // The original when nothing could be removed.
  std::vector<MinimizeStep> steps;
  int kept = 0;
  bool interrupted = false;
  // The smallest replayed strictly once more (controlled findings): did it reproduce?
  std::optional<bool> replays_strictly;
};

// One candidate change of `args` (recorded flags as "--name=value"): the next smaller value of
// the flag named `flag`, or nothing when it is absent or already at its floor. Exposed for tests.
std::optional<std::vector<std::string>> ShrinkFlag(const std::vector<std::string>& args,
                                                   const std::string& flag);
// The flags ShrinkFlag knows, in the order MinimizeFinding tries them.
const std::vector<std::string>& ShrinkableFlags();

// Errors: the finding does not reproduce to begin with (nothing to minimize), or a replay failed
// (bad file, the child could not start).
absl::StatusOr<MinimizeResult> MinimizeFinding(const Finding& finding,
                                               const MinimizeOptions& options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_MINIMIZE_H_
