// `netrig fuzz TARGET [--time 10m] [--jobs N]` and `netrig fuzz --list`: local libFuzzer sessions
// on a working copy of corpora/TARGET, merging new coverage back and triaging crashes into
// artifacts/TARGET/crashes/ (see harness/findings/fuzz_session.h for the steps).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session.h"
#include "cli/command.h"

namespace netrig::cli {
namespace {

struct FuzzCommandOptions {
  bool list = false;
  absl::Duration time = absl::Minutes(10);
  int jobs = 1;
  std::string root;
  std::string fuzzer_dir;
  std::string artifacts_dir;
  bool merge = true;
  absl::Duration minimize_time = absl::Seconds(30);
  int signature_frames = 3;
};

const OptionTable<FuzzCommandOptions>& FuzzTable() {
  using O = FuzzCommandOptions;
  static const auto* const table = new OptionTable<O>(
      OptionTable<O>()
          .Bool("list", &O::list,
                "List the fuzz targets, their corpus sizes and whether each is built.",
                OptionRole::kAction)
          .Duration("time", &O::time, absl::Seconds(1), absl::Hours(24 * 30),
                    "How long libFuzzer fuzzes (e.g. 30s, 10m, 2h); merge and triage come after.")
          .Int("jobs", &O::jobs, 1, 256,
               "Parallel fuzzing processes; above 1, libFuzzer's -fork=N mode, which\n"
               "keeps going after crashes (with 1, libFuzzer stops at the first).")
          .String("root", &O::root,
                  "The netrig source tree (corpora/, fuzzers/). Default: the first directory from\n"
                  "here upwards that has both, else the tree this netrig was built from.",
                  "DIR")
          .String("fuzzer_dir", &O::fuzzer_dir,
                  "Where the libFuzzer binaries are (<target>_fuzzer or <target>). Default:\n"
                  "ROOT/build/fuzz/fuzzers (the fuzz preset).",
                  "DIR")
          .String("artifacts_dir", &O::artifacts_dir,
                  "Session files, working corpus and crashes, per target. Default: ROOT/artifacts.",
                  "DIR")
          .Bool("merge", &O::merge,
                "Merge coverage-increasing new inputs into corpora/TARGET (--nomerge: leave it\n"
                "alone).")
          .Duration("minimize_time", &O::minimize_time, absl::ZeroDuration(), absl::Hours(1),
                    "Minimization budget per new crash.")
          .Int("signature_frames", &O::signature_frames, 1, 16,
               "Stack frames in a crash's dedup signature."));
  return *table;
}

absl::StatusOr<FuzzPaths> Paths(const FuzzCommandOptions& flags) {
  absl::StatusOr<std::string> root = FindSourceRoot(flags.root);
  if (!root.ok()) return root.status();
  FuzzPaths paths = DefaultFuzzPaths(*root);
  if (!flags.fuzzer_dir.empty()) paths.fuzzer_dir = flags.fuzzer_dir;
  if (!flags.artifacts_dir.empty()) paths.artifacts_dir = flags.artifacts_dir;
  return paths;
}

int List(const FuzzPaths& paths) {
  absl::StatusOr<std::vector<FuzzTarget>> targets = ListFuzzTargets(paths);
  if (!targets.ok()) {
    PrintError("fuzz", targets.status().message());
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

std::string FuzzFlagsHelp() { return FuzzTable().Help(); }

int RunFuzz(const std::vector<std::string>& raw_args) {
  FuzzCommandOptions flags;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("fuzz", FuzzTable(), raw_args, flags);
  if (!positional) return kExitUsage;
  const std::vector<std::string>& args = *positional;
  absl::StatusOr<FuzzPaths> paths = Paths(flags);
  if (!paths.ok()) {
    PrintError("fuzz", paths.status().message());
    return kExitUsage;
  }
  if (flags.list) return List(*paths);
  if (args.empty() || absl::StartsWith(args[0], "-")) {
    PrintError("fuzz", "name a fuzz target (netrig fuzz --list shows them)");
    return kExitUsage;
  }
  FuzzSessionOptions options;
  options.paths = *paths;
  options.target = std::string(args[0]);
  options.time = flags.time;
  options.jobs = flags.jobs;
  options.merge = flags.merge;
  options.minimize_time = flags.minimize_time;
  options.signature_frames = flags.signature_frames;
  for (size_t i = 1; i < args.size(); ++i) {
    if (!absl::StartsWith(args[i], "-")) {
      PrintError("fuzz", "one target at a time; libFuzzer flags go after --");
      return kExitUsage;
    }
    options.extra_flags.emplace_back(args[i]);
  }
  InterruptFlag interrupt;  // Ctrl-C: stop fuzzing, still merge and triage; twice: stop those.
  options.interrupts = interrupt.counter();
  absl::StatusOr<FuzzSessionSummary> summary = RunFuzzSession(options);
  if (!summary.ok()) {
    PrintError("fuzz", summary.status().message());
    return kExitUsage;
  }
  std::printf("%s", summary->ToText().c_str());
  std::fflush(stdout);
  return summary->found_anything() ? kExitFinding : kExitOk;
}

}  // namespace netrig::cli
