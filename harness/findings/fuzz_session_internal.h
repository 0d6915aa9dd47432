// Internals of the local libFuzzer session (fuzz_session.h): the Session class and the file
// helpers its pieces share. Not a public API. The code is split by concern:
//
//   fuzz_session.cc    orchestration: RunFuzzSession, Session::Run, the summary's JSON and text
//   fuzz_targets.cc    the target list: source root, default paths, targets, .options files
//   fuzz_libfuzzer.cc  the libFuzzer command line (flags, argv, shell quoting), the fuzzing run
//                      and the stats it prints
//   fuzz_merge.cc      merging new inputs back into corpora/<target>
//   fuzz_triage.cc     crash triage: reproduction, minimization, crash records
//   fuzz_files.cc      file helpers (directories, bounded reads, atomic writes, fresh copies)
#ifndef NETRIG_HARNESS_FINDINGS_FUZZ_SESSION_INTERNAL_H_
#define NETRIG_HARNESS_FINDINGS_FUZZ_SESSION_INTERNAL_H_

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/shell_line.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session.h"
#include "harness/findings/stack_signature.h"

namespace netrig::internal::fuzz_session {

namespace fs = std::filesystem;

// ---- fuzz_files.cc ----

bool IsDirectory(const std::string& path);
bool IsExecutableFile(const std::string& path);
// A log or record this session wrote; empty when it cannot be read. Bounded all the same: the
// artifacts directory outlives the session that wrote it.
std::string ReadFileOrEmpty(const std::string& path);
absl::Status WriteTextFile(const std::string& path, absl::string_view text);
// Regular files directly in `dir`, sorted by name.
std::vector<fs::path> FilesIn(const std::string& dir);
absl::Status MakeDirs(const std::string& dir);
// Empties `to` (creating it) and copies the regular files of `from` into it.
absl::Status FreshCopy(const std::string& from, const std::string& to);

// ---- fuzz_libfuzzer.cc ----

// The -timeout=N among `flags` (the last one), else the session's default.
int TimeoutPerInput(const std::vector<std::string>& flags);

// ---------------------------------------------------------------------------------------------
// The session.

struct Reproduction {
  SanitizerReport report;
  StackSignature signature;
  std::string excerpt;
  ChildResult result;
};

// One `netrig fuzz TARGET` session: prepare, fuzz, merge, triage (fuzz_session.h lists the steps).
class Session {
 public:
  Session(const FuzzSessionOptions& options, FuzzTarget target);

  absl::StatusOr<FuzzSessionSummary> Run();

 private:
  bool InterruptedAgain() const {
    return options_.interrupts != nullptr &&
           options_.interrupts->load(std::memory_order_acquire) > interrupts_after_fuzzing_;
  }

  // ---- fuzz_libfuzzer.cc ----
  // Copies the corpus, records the seed names, and builds the libFuzzer flags.
  absl::Status Prepare();
  // How a libFuzzer child runs: in base_dir_, its output in base_dir_/log_name.
  ChildOptions Child(std::vector<std::string> argv, const std::string& log_name,
                     absl::Duration timeout, bool echo) const;
  absl::Status Fuzz();

  // ---- fuzz_merge.cc ----
  bool SupportsSetCoverMerge() const;
  void Merge();

  // ---- fuzz_triage.cc ----
  Reproduction Reproduce(const std::string& input, const std::string& log_name) const;
  std::string ReplayLine(const std::string& input) const;
  // A new signature: minimize (crashes and leaks only: a timeout would cost its timeout per
  // attempt) and keep the minimized input only if it still gives the same signature.
  void StoreNewCrash(const fs::path& raw, const Reproduction& reproduction, CrashRecord* record);
  void Triage();
  CrashRecord* RecordFor(const StackSignature& signature);
  void UpdateCrashJson(const Reproduction& reproduction, CrashRecord* record);

  const FuzzSessionOptions& options_;
  const FuzzTarget target_;
  std::string base_dir_, work_corpus_, raw_dir_, crashes_dir_;
  std::set<fs::path> seed_names_;
  std::vector<std::string> option_flags_;  // Options file, dictionary, extra flags.
  std::vector<std::string> repro_flags_;   // The same without the dictionary.
  int interrupts_after_fuzzing_ = 0;
  FuzzSessionSummary summary_;
};

}  // namespace netrig::internal::fuzz_session

#endif  // NETRIG_HARNESS_FINDINGS_FUZZ_SESSION_INTERNAL_H_
