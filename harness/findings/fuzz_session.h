// Local libFuzzer sessions, as `netrig fuzz TARGET` runs them:
//   1. the target's corpus (corpora/TARGET) is copied to artifacts/TARGET/corpus;
//   2. the libFuzzer binary runs on that copy with the target's dictionary and .options, bounded
//      by a time limit (fork mode with -ignore_crashes when jobs > 1), crashes going to
//      artifacts/TARGET/raw/; a Ctrl-C is forwarded to it and the session carries on;
//   3. the inputs that add coverage are merged back into corpora/TARGET (set-cover merge into a
//      fresh copy, then only new files are added: nothing in the seed corpus is ever removed);
//   4. every crash is reproduced, deduplicated by stack signature, minimized, and stored as
//      artifacts/TARGET/crashes/<signature id>/ with input, report.md, crash.json and replay.sh.
// A second Ctrl-C stops steps 3 and 4; raw crashes left over are triaged by the next session.
//
// Example:
//   netrig::FuzzSessionOptions options;
//   options.paths = netrig::DefaultFuzzPaths(*netrig::FindSourceRoot(""));
//   options.target = "endpoint_parse";
//   options.time = absl::Seconds(60);
//   absl::StatusOr<netrig::FuzzSessionSummary> summary = netrig::RunFuzzSession(options);
//   if (summary.ok()) std::printf("%s", summary->ToText().c_str());
#ifndef NETRIG_HARNESS_FINDINGS_FUZZ_SESSION_H_
#define NETRIG_HARNESS_FINDINGS_FUZZ_SESSION_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace netrig {

struct FuzzPaths {
  std::string root;           // Source tree: corpora/<target>/ and its .dict and .options.
  std::string fuzzer_dir;     // Holds <target>_fuzzer (or <target>, as in an OSS-Fuzz $OUT).
  std::string artifacts_dir;  // Per target: artifacts_dir/<target>/.
  // The list of targets CMake wrote ({"targets": [{"name": ...}, ...]}); empty: the one of the
  // build this netrig came from.
  std::string targets_json;
};

// The checkout to use: `hint` when given (it must hold corpora/), else the first directory from
// the current one upwards that holds corpora/ and fuzzers/, else the tree netrig was built from.
absl::StatusOr<std::string> FindSourceRoot(absl::string_view hint);
// root/build/fuzz/fuzzers, root/artifacts, and the targets list of the build netrig came from.
FuzzPaths DefaultFuzzPaths(const std::string& root);

struct FuzzTarget {
  std::string name;
  std::string corpus_dir;
  std::string dict_path;      // Empty when the target has no dictionary.
  std::string options_path;   // Empty when the target has no .options.
  std::string fuzzer_binary;  // Empty when not built.
  size_t corpus_files = 0;
  uint64_t corpus_bytes = 0;
};

// Every target of paths.targets_json, sorted by name.
absl::StatusOr<std::vector<FuzzTarget>> ListFuzzTargets(const FuzzPaths& paths);
// NotFound naming the known targets when `name` is not one of them.
absl::StatusOr<FuzzTarget> FindFuzzTarget(const FuzzPaths& paths, absl::string_view name);

// The [libfuzzer] section of an .options file as flags ("-max_len=512"); a relative dict path
// is made absolute against the file's directory.
// Refuses option names other than letters, digits and '_', non-printable values and more than 64
// options; `path` only names the file in errors and anchors a relative dict.
absl::StatusOr<std::vector<std::string>> ReadLibFuzzerOptions(const std::string& path);
absl::StatusOr<std::vector<std::string>> ParseLibFuzzerOptions(absl::string_view contents,
                                                               absl::string_view path);

struct FuzzSessionOptions {
  FuzzPaths paths;
  std::string target;
  absl::Duration time = absl::Minutes(10);
  int jobs = 1;
  bool merge = true;                                 // Into corpora/<target>.
  absl::Duration minimize_time = absl::Seconds(30);  // Per new crash.
  int signature_frames = 3;
  std::vector<std::string> extra_flags;          // Passed to libFuzzer as they are.
  bool echo = true;                              // Show libFuzzer's output as it runs.
  const std::atomic<int>* interrupts = nullptr;  // See InterruptFlag (child_process.h).
};

struct CrashRecord {
  std::string id;         // Directory name under artifacts/<target>/crashes/.
  std::string signature;  // "asan heap-buffer-overflow | f | g | LLVMFuzzerTestOneInput"
  std::string dir;
  std::string input;           // Minimized when minimization kept the signature.
  std::string replay_command;  // One line, absolute paths.
  int count = 0;               // Raw crashes with this signature, all sessions.
  bool new_in_session = false;

  nlohmann::json ToJson() const;
};

struct FuzzSessionSummary {
  std::string target;
  std::string fuzzer_exit;  // ChildResult::Describe() of the fuzzing run.
  bool interrupted = false;
  absl::Duration fuzzing_time;
  uint64_t execs = 0;
  uint64_t execs_per_second = 0;
  uint64_t coverage = 0;  // libFuzzer's "cov:" (edges) at the end of the session; 0: unknown.
  uint64_t features = 0;  // libFuzzer's "ft:".
  size_t corpus_files_before = 0;  // corpora/<target> at the start.
  size_t new_inputs = 0;           // Files libFuzzer added to the working copy.
  size_t merged_files = 0;         // Of those, added to corpora/<target> by the merge.
  std::string merge_note;          // Why there was no merge, when there was none.
  int crashes_total = 0;           // Raw crash/leak/timeout/oom files triaged this session.
  int crashes_unreproduced = 0;
  int crashes_left_raw = 0;          // Not triaged (second Ctrl-C).
  std::vector<CrashRecord> crashes;  // Distinct signatures seen this session.

  int unique_crashes() const { return static_cast<int>(crashes.size()); }
  bool found_anything() const { return crashes_total > 0 || crashes_left_raw > 0; }
  nlohmann::json ToJson() const;
  std::string ToText() const;
};

// FailedPrecondition (with the command that builds it) when the fuzz binary is missing.
absl::StatusOr<FuzzSessionSummary> RunFuzzSession(const FuzzSessionOptions& options);

// Pieces of a session, public for tests and for `netrig replay`.
struct LibFuzzerStats {
  uint64_t execs = 0;
  uint64_t execs_per_second = 0;
  uint64_t new_units = 0;
  uint64_t coverage = 0;  // "cov: N" of the last status line.
  uint64_t features = 0;  // "ft: N" of the last status line.
};
// From -print_final_stats (stat::...) or, in fork mode, the last "#N ... exec/s: M" line.
LibFuzzerStats ParseLibFuzzerStats(absl::string_view log);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_FUZZ_SESSION_H_
