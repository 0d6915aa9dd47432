// `netrig replay FILE`: reruns a stress finding file (harness/findings/replay.h) with its
// recorded arguments and seeds, as a child of this very binary, and says whether it reproduced;
// `--promote NAME` then copies a confirmed finding into corpora/regressions/.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/finding_file.h"
#include "harness/findings/replay.h"
#include "stress/command.h"

ABSL_FLAG(int, times, 3,
          "Runs: with --expect=reproduce at most this many, stopping at the first that "
          "reproduces;\nwith --expect=clean exactly this many, all of which must be clean.");
ABSL_FLAG(std::string, expect, "",
          "reproduce (exit 0 when some run reproduces the finding, else 1) or clean (exit 0 when\n"
          "no run has any violation, else 1). Empty: the file's \"expect\" field, else reproduce.");
ABSL_FLAG(std::string, promote, "",
          "After confirming that the finding reproduces, copy it to --regressions_dir/NAME.json\n"
          "with \"expect\" set to --promote_expect (CTest then replays it under label replay).");
ABSL_FLAG(std::string, promote_expect, "clean",
          "The expectation a promoted regression records: clean for a real bug (the test fails\n"
          "until the bug is fixed, then keeps it fixed), reproduce for a permanently seeded bug.");
ABSL_FLAG(std::string, regressions_dir, "corpora/regressions",
          "Where --promote writes the regression file.");
ABSL_FLAG(absl::Duration, run_timeout, absl::ZeroDuration(),
          "Per-run timeout; 0: three times the recorded --duration plus a minute.");

namespace netrig::cli {

int RunReplay(const std::vector<absl::string_view>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr,
                 "error: usage: netrig replay FILE [--times N] [--expect reproduce|clean]"
                 " [--promote NAME]\n");
    return kExitUsage;
  }
  const std::string path(args[0]);
  absl::StatusOr<Finding> finding = ReadFindingFile(path);
  if (!finding.ok()) {
    std::fprintf(stderr, "error: bad finding file: %s\n",
                 std::string(finding.status().message()).c_str());
    return kExitUsage;
  }
  const std::string promote = absl::GetFlag(FLAGS_promote);
  ReplayOptions options;
  options.times = absl::GetFlag(FLAGS_times);
  // Promotion needs a reproduction, whatever the file or --expect say.
  options.expect = promote.empty() ? absl::GetFlag(FLAGS_expect) : std::string(kExpectReproduce);
  options.run_timeout = absl::GetFlag(FLAGS_run_timeout);
  options.log = stdout;
  InterruptFlag interrupt;
  options.interrupts = interrupt.counter();
  std::printf("netrig replay %s: %s, %zu recorded violation(s), signature \"%s\"\n", path.c_str(),
              finding->command.c_str(), finding->violations.size(),
              FindingSignature(*finding).c_str());
  std::fflush(stdout);
  absl::StatusOr<ReplayResult> result = ReplayFinding(*finding, options);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", path.c_str(),
                 std::string(result.status().message()).c_str());
    return kExitUsage;
  }
  const size_t runs = result->runs.size();
  if (result->interrupted) {
    std::printf("netrig replay: interrupted after %zu run(s)\n", runs);
    return kExitFinding;
  }
  if (result->expect == kExpectClean) {
    std::printf("netrig replay: expect clean: %s (%zu run(s)%s)\n",
                result->passed ? "CLEAN, the fix holds" : "NOT CLEAN, a violation came back", runs,
                result->reproduced ? ", the recorded violation reproduced" : "");
  } else {
    std::printf("netrig replay: expect reproduce: %s after %zu run(s)\n",
                result->passed ? "REPRODUCED" : "DID NOT REPRODUCE", runs);
  }
  if (!promote.empty()) {
    if (!result->passed) {
      std::printf("netrig replay: not promoted: the finding did not reproduce\n");
      return kExitFinding;
    }
    Finding promoted = *finding;
    if (!promoted.exit_code.has_value()) promoted.exit_code = result->runs.back().child.exit_code;
    absl::StatusOr<std::string> written =
        PromoteFinding(std::move(promoted), absl::GetFlag(FLAGS_regressions_dir), promote,
                       absl::GetFlag(FLAGS_promote_expect));
    if (!written.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(written.status().message()).c_str());
      return kExitUsage;
    }
    std::printf(
        "netrig replay: promoted to %s (expect %s); commit it, CTest replays it as "
        "replay.regression.<name> after the next configure\n",
        written->c_str(), absl::GetFlag(FLAGS_promote_expect).c_str());
  }
  std::fflush(stdout);
  return result->passed ? kExitOk : kExitFinding;
}

}  // namespace netrig::cli
