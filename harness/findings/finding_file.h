// Finding files: a stress run's violation, written so that `netrig replay FILE` reruns it with
// the same parameters and says whether it reproduced. Confirmed findings are kept in
// corpora/regressions/*.json, and CTest replays each one under label `replay`.
//
// Format (JSON, version 2; version 1 files, which lack "environment" and "schedule", still load):
//   {
//     "tool": "netrig", "version": 2,
//     "command": "udp",                      // the subcommand: "udp" or "http"
//     "args": ["--flow=dns_proxy", "--seed=42", "--perturb_seed=7", "--duration=5s"],
//                                            // exact arguments after `netrig <command>`
//     "seed": 42,                            // the run's master seed
//     "perturb_seed": 7,                     // schedule-point perturbation seed, null when off
//     "violations": [{"kind": "duplicate_completion", "message": "...", ...}],
//     "report": {...},                       // the run's JSON report, as written by the driver
//     "signature": "udp duplicate_completion", // optional dedup key; derived when absent
//     "exit_code": 1,                        // optional: the run's exit status (81-84: sanitizer)
//     "expect": "clean",                     // optional, regressions: what `netrig replay` expects
//                                            // by default: "reproduce" or "clean"
//     "environment": {"netrig": "511db3e", "preset": "tsan", "sanitizer": "tsan",
//                     "libcurl": "7.88.1"},  // v2: where it was found (netrig: null if unknown)
//     "schedule": {                          // v2, a controlled run only: what `netrig replay`
//       "strategy": "pct", "seed": 9, "depth": 3, "change_points": [212, 907],  // forces again
//       "threads": ["t0", "t0.0", ...],      // thread ids, in registration order
//       "points": ["thread.spawn", "mutex.lock", ...],  // point names, in order of first use
//       "step_count": 1530,                  // choices (steps among 2+ runnable threads)
//       "steps_b64": "...",                  // the choices: base64 of LEB128 varint triples
//                                            // (thread index, point index, run length)
//       "events": [{"step": 640, "kind": "timer", "thread": 3, "detail": ""}, ...],
//                                            // timer jumps, watchdog handoffs, rejoins
//       "max_enabled": 4, "watchdog_handoffs": 0, "uncontrolled_enables": 0,
//       "trace_hash": "9f3c0d2e11aa0b3c"     // ScheduleTrace::Hash() of steps and events,
//     }                                      // checked on load
//   }
//
// Example:
//   netrig::Finding finding;
//   finding.command = "udp";
//   finding.args = {"--seed=42"};
//   finding.seed = 42;
//   finding.violations = violations.ToJson();
//   absl::Status written = netrig::WriteFindingFile("artifacts/udp/finding-1.json", finding);
//   absl::StatusOr<netrig::Finding> again =
//   netrig::ReadFindingFile("artifacts/udp/finding-1.json");
#ifndef NETRIG_HARNESS_FINDINGS_FINDING_FILE_H_
#define NETRIG_HARNESS_FINDINGS_FINDING_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/sched/controlled.h"
#include "nlohmann/json.hpp"

namespace netrig {

// The version written; every version from kOldestFindingFileVersion on is read.
inline constexpr int kFindingFileVersion = 2;
inline constexpr int kOldestFindingFileVersion = 1;
// Bounds on what a finding file may hold; a file past them is refused, not truncated.
inline constexpr size_t kMaxFindingFileBytes = 16 << 20;
inline constexpr size_t kMaxFindingArgs = 256;
inline constexpr size_t kMaxFindingArgBytes = 4096;
inline constexpr size_t kMaxFindingViolations = 10000;
// A recorded schedule's bounds, checked before anything is expanded: a file that claims more is
// refused (the decoded steps of the largest take 8 MB).
inline constexpr size_t kMaxScheduleSteps = 1'000'000;  // ControlledOptions::step_limit
inline constexpr size_t kMaxScheduleThreads = 4096;
inline constexpr size_t kMaxSchedulePoints = 4096;
inline constexpr size_t kMaxScheduleEvents = 100'000;
inline constexpr size_t kMaxScheduleNameBytes = 256;
inline constexpr absl::string_view kExpectReproduce = "reproduce";
inline constexpr absl::string_view kExpectClean = "clean";

// Where a finding was found: what a replay elsewhere may differ in.
struct FindingEnvironment {
  std::string netrig;     // The netrig commit when the build knew it (git at configure), else "".
  std::string preset;     // The build directory's name ("default", "asan", "tsan", ...).
  std::string sanitizer;  // "none", "asan", "tsan" or "fuzz".
  std::string libcurl;    // The libcurl version netrig was built against.
  bool operator==(const FindingEnvironment&) const = default;
};

// This build's environment.
FindingEnvironment BuildEnvironment();

struct Finding {
  std::string command;            // "udp" or "http".
  std::vector<std::string> args;  // After `netrig <command>`, exactly as to be rerun.
  uint64_t seed = 0;
  std::optional<uint64_t> perturb_seed;  // Empty when perturbation was off.
  nlohmann::json violations = nlohmann::json::array();
  nlohmann::json report = nlohmann::json::object();
  std::string signature;  // Empty: FindingSignature() derives one.
  // The run's exit status when known: 1 for violations, 81-84 for a sanitizer report.
  std::optional<int> exit_code;
  // For corpora/regressions/: what `netrig replay` expects by default, kExpectReproduce (the
  // violation still shows, e.g. a permanently seeded bug) or kExpectClean (a fixed bug stays
  // fixed). Empty: reproduce.
  std::string expect;
  // Version 2.
  std::optional<FindingEnvironment> environment;
  // A controlled run's schedule: its choices, events and trace hash (strict replay forces them).
  std::optional<ScheduleTrace> schedule;

  bool operator==(const Finding&) const = default;
};

// The "schedule" object of a finding file, and back. ScheduleFromJson checks every bound above,
// every index against the thread and point lists, and the trace hash against the decoded steps
// and events; errors name the field. Never throws.
nlohmann::json ScheduleToJson(const ScheduleTrace& trace);
absl::StatusOr<ScheduleTrace> ScheduleFromJson(const nlohmann::json& json);

// The steps as base64 of LEB128 varint triples (thread, point, run length), and back: `count`
// is the number of steps the text must decode to, `threads` and `points` bound the indices.
std::string EncodeScheduleSteps(const std::vector<ScheduleStep>& steps);
absl::StatusOr<std::vector<ScheduleStep>> DecodeScheduleSteps(absl::string_view base64,
                                                              size_t count, size_t threads,
                                                              size_t points);

nlohmann::json FindingToJson(const Finding& finding);
// Checks tool, version, command and every field's type and bounds (no NUL in an argument, no
// integer that would wrap); errors name the field. Never throws.
absl::StatusOr<Finding> FindingFromJson(const nlohmann::json& json);
// A finding file's text: bounded JSON (json_input.h) then FindingFromJson.
absl::StatusOr<Finding> ParseFindingText(absl::string_view text);

// Writes pretty-printed, with a trailing newline, by WriteFileAtomically's rules (never replacing
// a device or FIFO, never leaving a temporary file behind).
absl::Status WriteFindingFile(const std::string& path, const Finding& finding);
// Reads a regular file of at most kMaxFindingFileBytes (a FIFO or /dev/zero is refused).
absl::StatusOr<Finding> ReadFindingFile(const std::string& path);

// The dedup key: `signature` when set, else "<command> <sorted distinct violation kinds>".
std::string FindingSignature(const Finding& finding);

// {netrig_binary, command, args...}: the command line that reruns the finding.
std::vector<std::string> FindingReplayArgv(const Finding& finding, absl::string_view netrig_binary);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_FINDING_FILE_H_
