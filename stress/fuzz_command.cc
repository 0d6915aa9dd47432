// `netrig fuzz TARGET [--time 10m] [--jobs N]` and `netrig fuzz --list`: local libFuzzer sessions
// on a working copy of corpora/TARGET, merging new coverage back and triaging crashes into
// artifacts/TARGET/crashes/ (see harness/findings/fuzz_session.h for the steps).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session.h"
#include "stress/command.h"

ABSL_FLAG(bool, list, false,
          "List the fuzz targets, their corpus sizes and whether each is built.");
ABSL_FLAG(absl::Duration, time, absl::Minutes(10),
          "How long libFuzzer fuzzes (e.g. 30s, 10m, 2h); merge and triage come after.");
ABSL_FLAG(int, jobs, 1,
          "Parallel fuzzing processes; above 1, libFuzzer's -fork=N mode, which\n"
          "keeps going after crashes (with 1, libFuzzer stops at the first).");
ABSL_FLAG(std::string, root, "",
          "The netrig source tree (corpora/, fuzzers/). Default: the first directory from here\n"
          "upwards that has both, else the tree this netrig was built from.");
ABSL_FLAG(std::string, fuzzer_dir, "",
          "Where the libFuzzer binaries are (<target>_fuzzer or <target>). Default:\n"
          "ROOT/build/fuzz/fuzzers (the fuzz preset).");
ABSL_FLAG(std::string, artifacts_dir, "",
          "Session files, working corpus and crashes, per target. Default: ROOT/artifacts.");
ABSL_FLAG(bool, merge, true,
          "Merge coverage-increasing new inputs into corpora/TARGET (--nomerge: leave it alone).");
ABSL_FLAG(absl::Duration, minimize_time, absl::Seconds(30), "Minimization budget per new crash.");
ABSL_FLAG(int, signature_frames, 3, "Stack frames in a crash's dedup signature.");

namespace netrig::cli {
namespace {

absl::StatusOr<FuzzPaths> Paths() {
  absl::StatusOr<std::string> root = FindSourceRoot(absl::GetFlag(FLAGS_root));
  if (!root.ok()) return root.status();
  FuzzPaths paths = DefaultFuzzPaths(*root);
  if (!absl::GetFlag(FLAGS_fuzzer_dir).empty()) paths.fuzzer_dir = absl::GetFlag(FLAGS_fuzzer_dir);
  if (!absl::GetFlag(FLAGS_artifacts_dir).empty()) {
    paths.artifacts_dir = absl::GetFlag(FLAGS_artifacts_dir);
  }
  return paths;
}

int List(const FuzzPaths& paths) {
  absl::StatusOr<std::vector<FuzzTarget>> targets = ListFuzzTargets(paths);
  if (!targets.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(targets.status().message()).c_str());
    return kExitUsage;
  }
  std::printf("%-20s %7s %10s  %-4s %-7s %s\n", "target", "files", "bytes", "dict", "options",
              "fuzz binary");
  for (const FuzzTarget& target : *targets) {
    std::printf("%-20s %7zu %10llu  %-4s %-7s %s\n", target.name.c_str(), target.corpus_files,
                static_cast<unsigned long long>(target.corpus_bytes),
                target.dict_path.empty() ? "no" : "yes", target.options_path.empty() ? "no" : "yes",
                target.fuzzer_binary.empty() ? "not built (cmake --build --preset fuzz)"
                                             : target.fuzzer_binary.c_str());
  }
  return kExitOk;
}

}  // namespace

int RunFuzz(const std::vector<absl::string_view>& args) {
  absl::StatusOr<FuzzPaths> paths = Paths();
  if (!paths.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(paths.status().message()).c_str());
    return kExitUsage;
  }
  if (absl::GetFlag(FLAGS_list)) return List(*paths);
  if (args.empty() || absl::StartsWith(args[0], "-")) {
    std::fprintf(stderr, "error: name a fuzz target (netrig fuzz --list shows them)\n");
    return kExitUsage;
  }
  FuzzSessionOptions options;
  options.paths = *paths;
  options.target = std::string(args[0]);
  options.time = absl::GetFlag(FLAGS_time);
  options.jobs = absl::GetFlag(FLAGS_jobs);
  options.merge = absl::GetFlag(FLAGS_merge);
  options.minimize_time = absl::GetFlag(FLAGS_minimize_time);
  options.signature_frames = absl::GetFlag(FLAGS_signature_frames);
  for (size_t i = 1; i < args.size(); ++i) {
    if (!absl::StartsWith(args[i], "-")) {
      std::fprintf(stderr, "error: one target at a time; libFuzzer flags go after --\n");
      return kExitUsage;
    }
    options.extra_flags.emplace_back(args[i]);
  }
  InterruptFlag interrupt;  // Ctrl-C: stop fuzzing, still merge and triage; twice: stop those.
  options.interrupts = interrupt.counter();
  absl::StatusOr<FuzzSessionSummary> summary = RunFuzzSession(options);
  if (!summary.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(summary.status().message()).c_str());
    return kExitUsage;
  }
  std::printf("%s", summary->ToText().c_str());
  std::fflush(stdout);
  return summary->found_anything() ? kExitFinding : kExitOk;
}

}  // namespace netrig::cli
