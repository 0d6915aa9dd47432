// The nightly job's summary: scripts/nightly runs builds, test labels, stress drivers and fuzz
// sessions into one output directory, and `netrig findings DIR` turns that directory into
// summary.md and junit.xml with every finding deduplicated by signature:
//   - fuzz crashes: the stack signatures of artifacts DIR/fuzz/<target>/last_session.json names;
//   - sanitizer reports in test output (JUnit <system-out>) and stress logs: their stack
//     signatures, so the same bug seen by the asan and the fuzz preset is one finding;
//   - stress finding files (DIR/stress/**.json): FindingSignature();
//   - other failed tests: "test failed: <name>".
//
// Layout read (all optional): DIR/steps.tsv (name, status, seconds, log, note; tab-separated,
// status pass|fail|timeout|skipped), DIR/junit/*.xml (ctest --output-junit), DIR/fuzz/<target>/,
// DIR/stress/**/*.{json,log} (finding files, and the runs' JSON reports with their .html pages).
// `netrig findings DIR --previous OLD1,OLD2` also writes DIR/summary.html with trends.
//
// Example:
//   absl::StatusOr<netrig::NightlySummary> summary = netrig::CollectNightly("out/nightly");
//   WriteFile("out/nightly/summary.md", netrig::NightlyMarkdown(*summary));
//   return summary->clean() ? 0 : 1;
#ifndef NETRIG_HARNESS_FINDINGS_NIGHTLY_SUMMARY_H_
#define NETRIG_HARNESS_FINDINGS_NIGHTLY_SUMMARY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace netrig {

struct NightlyStep {
  std::string name;    // "build asan", "ctest tsan replay", "fuzz endpoint_parse", ...
  std::string status;  // pass | fail | timeout | skipped
  double seconds = 0;
  std::string log;
  std::string note;
};

struct NightlyFinding {
  std::string signature;           // The dedup key.
  std::string source;              // "fuzz", "sanitizer", "stress", "test".
  std::vector<std::string> where;  // Every place it was seen ("asan: replay.endpoint_parse").
  std::string detail;              // A file to look at first (report.md, log, finding file).
  size_t more_places = 0;          // Distinct places past the first kMaxPlacesShown.
  std::string replay;              // The command that reruns it where known (first place's).
};

// One fuzz target's session of the night (fuzz/<target>/last_session.json).
struct NightlyFuzzTarget {
  std::string target;
  uint64_t corpus_files = 0;  // After the session's merge.
  uint64_t new_inputs = 0;
  uint64_t coverage = 0;  // libFuzzer "cov:" edges; 0: not recorded.
  uint64_t features = 0;  // libFuzzer "ft:".
  uint64_t execs_per_second = 0;
  double seconds = 0;
  int64_t crashes_unique = 0;
};

// One stress run's JSON report of the night (stress/*.json with a "command", from --json).
struct NightlyStressRun {
  std::string name;    // The report's file stem: "asan-udp".
  std::string report;  // Its path, and its page's (--html) when one was written beside it.
  std::string page;
  std::string subject;
  std::string unit;  // "datagrams", "tasks".
  double operations_per_sec = 0;
  uint64_t violations = 0;
  int64_t exit_code = -1;
};

// A ctest JUnit file as read: what junit.xml carries on (the file itself may be malformed).
struct JunitCase {
  std::string name;
  std::string status;  // "run", "fail", ...
  double seconds = 0;
  std::string output;  // Failures only: their <system-out>, at most 64 KiB.
};
struct JunitSuite {
  std::string name;  // The file's stem: "asan-unit".
  std::vector<JunitCase> cases;
};

struct NightlySummary {
  std::vector<NightlyStep> steps;
  std::vector<NightlyFinding> findings;  // Deduplicated, in order of first appearance.
  std::vector<JunitSuite> junit_suites;
  std::vector<NightlyFuzzTarget> fuzz_targets;
  std::vector<NightlyStressRun> stress_runs;
  int tests_run = 0;
  int tests_failed = 0;

  int failed_steps() const;
  bool clean() const { return findings.empty() && failed_steps() == 0; }
};

// Builds a NightlySummary from the texts of the files a nightly directory holds (CollectNightly
// reads them from disk; the netrig_inputs fuzzer feeds them directly). Deduplication is a hash
// lookup, so a directory with 100,000 findings takes seconds; every text is other people's, so
// nothing here throws, and every string kept is bounded.
inline constexpr size_t kMaxPlacesShown = 20;
class NightlyCollector {
 public:
  void StepsText(absl::string_view text);                          // steps.tsv
  void JunitText(const std::string& file, absl::string_view xml);  // junit/*.xml
  void FuzzSessionText(const std::string& target_dir, absl::string_view text,
                       const std::string& raw_dir);  // fuzz/*/last_session.json
  // stress/**.json: a finding file, or a run's JSON report (a NightlyStressRun).
  void StressFindingText(const std::string& file, absl::string_view text);
  void StressLogText(const std::string& file, absl::string_view text);     // stress/**.log
  void StressReportText(const std::string& file, absl::string_view text);  // a run's report
  NightlySummary Take();

 private:
  void Add(const std::string& signature, const std::string& source, const std::string& where,
           const std::string& detail, const std::string& replay = "");
  NightlySummary summary_;
  absl::flat_hash_map<std::string, size_t> index_;            // signature -> findings index
  std::vector<absl::flat_hash_set<std::string>> where_seen_;  // per finding
};

// Reads DIR (layout above) with a NightlyCollector; files that cannot be read or parsed are
// skipped. NotFound when DIR is not a directory.
absl::StatusOr<NightlySummary> CollectNightly(const std::string& out_dir);
std::string NightlyMarkdown(const NightlySummary& summary);

// A previous night for the trends of summary.html: its label (the directory's name) and what
// CollectNightly read from it.
struct NightlyNight {
  std::string label;
  NightlySummary summary;
};
// summary.html (harness/findings/nightly_html.cc): one self-contained page (inline SVG and CSS,
// no script) with each step's status and time, the findings deduplicated with their replay
// commands, fuzz corpus sizes and coverage, the stress runs with links to their pages, and,
// given `previous` nights (oldest first), trends of findings, failed steps, tests, coverage,
// corpus sizes and stress rates across them and this one (`label`). Links to files under
// `out_dir` are relative, so the directory can be moved or served as it is.
std::string NightlyHtml(const NightlySummary& summary, const std::string& label,
                        const std::string& out_dir, const std::vector<NightlyNight>& previous);
// One <testsuites>: every ctest suite as parsed (re-written, escaped: well-formed whatever the
// inputs held), plus nightly.steps and nightly.findings.
std::string NightlyJunit(const NightlySummary& summary);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_NIGHTLY_SUMMARY_H_
