// The `netrig http` stress workload: HTTP tasks through a registered HttpClient (default: the
// reference libcurl session "curl") against the embedded fault-injecting loopback server, or a
// real server given by URL, on the shared driver core (harness/drive/driver.h).
//
// What a run does (issue 4 section 3, field notes stories 1 and 3):
//   - open loop at `rate` tasks/s (latency from each task's intended start) or closed loop with
//     at most `concurrency` tasks in flight; `threads` spawner threads create and resume at once;
//   - with `cancel_probability` a task is cancelled, at a moment drawn from: before Resume, right
//     after Resume, after a random delay (from another thread), after its completion;
//   - every spawner thread has its own session, replaced every `tasks_per_session` tasks,
//     alternately by FinishTasksAndInvalidate and InvalidateAndCancel, while the old one drains;
//   - connection observers are registered and removed at random; schedule points perturbed.
// Checked while it runs: exactly-once completion and nothing after invalidation (Ledger, one
// scope per session), no task past its deadline (Watchdog; the run stops and prints the stuck
// tasks' states), live Session/Task/connection counters back to zero at the end, and in ASan
// builds a periodic recoverable LeakSanitizer check. The first violation stops the run.
//
// Every decision draws from a generator seeded from `seed` (DeriveSeed names: "faults",
// "cancel", "spawn/<thread>", "perturb"), so the report's replay arguments rerun the same plan.
//
// Example:
//   netrig::HttpStressOptions options;
//   options.duration = absl::Seconds(5);
//   options.rate = 2000;
//   options.json_path = "http.json";
//   absl::StatusOr<netrig::HttpStressResult> result = netrig::RunHttpStress(options);
//   if (!result.ok()) { ... bad options: exit 2 ... }
//   return result->exit_code;   // 0 clean, 1 violations
#ifndef NETRIG_HARNESS_HTTP_HTTP_STRESS_H_
#define NETRIG_HARNESS_HTTP_HTTP_STRESS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/http/fault_plan.h"
#include "nlohmann/json.hpp"

namespace netrig {

struct HttpStressOptions {
  std::string client = "curl";  // A name from HttpClientNames().
  std::string http = "1.1";     // "1.1", "h2c" or "mixed" (each task draws one).
  // Empty: the embedded loopback server. Otherwise an http:// URL; a host that is not loopback
  // is refused unless allow_remote.
  std::string target;
  bool allow_remote = false;
  // Server fault plans (embedded server only): "default" (a mild mix), "none", or a list of
  // kind=probability such as "delay=0.05,reset=0.01" (kind names of fault_plan.h).
  std::string faults = "default";
  int server_threads = 1;

  absl::Duration duration = absl::Seconds(10);
  double rate = 0;       // Tasks/s; 0: closed loop.
  int concurrency = 64;  // Closed loop: tasks in flight at most.
  int threads = 2;       // Spawner threads.
  double cancel_probability = 0.05;
  int tasks_per_session = 1000;
  double observer_probability = 0.01;  // Per task: add or remove a connection observer.
  absl::Duration request_timeout = absl::Seconds(5);
  // A task open longer than this is stuck (a violation).
  absl::Duration task_deadline = absl::Seconds(15);

  std::optional<uint64_t> seed;          // Unset: a fresh seed (printed).
  bool perturb = true;                   // Schedule-point perturbation.
  std::optional<uint64_t> perturb_seed;  // Unset: derived from the seed.

  std::string json_path;    // "" no report; "-" stdout.
  std::string finding_dir;  // "" no finding file; else a finding file per run with violations.
  absl::Duration leak_check_interval = absl::Seconds(2);  // ASan builds only.
  FILE* status_out = stderr;   // The per-second status line; nullptr: none.
  FILE* summary_out = stdout;  // Seed line and summary; nullptr: none.
};

struct HttpStressResult {
  int exit_code = 0;  // 0 no violation, 1 violations.
  nlohmann::json report;
  std::string finding_path;  // Written finding file, if any.
};

// Checks the options (client registered, URL acceptable, fault spec, ranges): InvalidArgument
// naming the bad option. RunHttpStress calls it first.
absl::Status ValidateHttpStressOptions(const HttpStressOptions& options);

// Parses a --faults spec (see HttpStressOptions::faults); nullopt for "none".
absl::StatusOr<std::optional<FaultPlannerOptions>> ParseHttpFaultSpec(absl::string_view spec,
                                                                      uint64_t seed);

// OK for http(s) URLs whose host is loopback (127.0.0.0/8, ::1, localhost); a non-loopback host
// is PermissionDenied unless allow_remote; a malformed URL is InvalidArgument.
absl::Status CheckHttpTarget(absl::string_view url, bool allow_remote);

// The `netrig http` arguments that rerun `options` with these seeds.
std::vector<std::string> HttpStressReplayArgs(const HttpStressOptions& options, uint64_t seed,
                                              std::optional<uint64_t> perturb_seed);

// Runs the stress workload. An error status means the run could not start (bad options, server
// failed to start); violations are in the result (exit_code 1).
absl::StatusOr<HttpStressResult> RunHttpStress(const HttpStressOptions& options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_HTTP_STRESS_H_
