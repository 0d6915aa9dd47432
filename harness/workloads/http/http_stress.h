// The `netrig http` stress workload: HTTP tasks through a registered HttpClient (default: the
// reference libcurl session "curl") against the embedded fault-injecting loopback server, or a
// real server given by URL, on the shared driver core (harness/drive/driver.h).
//
// What a run does (docs/field-notes.md stories 1 and 3):
//   - open loop at `rate` tasks/s (latency from each task's intended start) or closed loop with
//     at most `concurrency` tasks in flight; `threads` spawner threads create and resume at once;
//   - with `cancel_probability` a task is cancelled, at a moment drawn from: before Resume, right
//     after Resume, after a random delay (from another thread), after its completion;
//   - every spawner thread has its own session, replaced every `tasks_per_session` tasks,
//     alternately by FinishTasksAndInvalidate and InvalidateAndCancel, while the old one drains;
//   - connection observers are registered and removed at random; schedule points perturbed;
//   - with `reentrant_percent`, that share of completions calls back into its session from the
//     callback: makes and resumes a follow-up task (a retry), cancels another in-flight task of
//     the session, or invalidates the session (the spawner then carries on with a fresh one);
//     that share of observer callbacks makes a follow-up task or cancels one. Follow-ups do not
//     re-enter again.
// Checked while it runs: exactly-once completion and nothing after invalidation (Ledger, one
// scope per session), no task past its deadline (Watchdog; the run stops and prints the stuck
// tasks' states), no client callback into the harness blocked for kCallbackHangAfter (a `hang`,
// reported with every thread's last schedule point and stack), live Session/Task/connection
// counters back to zero at the end, and in ASan
// builds a periodic recoverable LeakSanitizer check. The first violation stops the run.
//
// Every decision draws from a generator seeded from the run's seed (DeriveSeed names: "faults",
// "cancel", "spawn/<thread>", "perturb"), so the replay arguments rerun the same plan. The
// lifecycle around the workload (outputs, seeds, signals, summary, report, finding file, exit
// status) is RunStress's (drive/stress_run.h); an interrupted run cancels what is in flight.
//
// Example:
//   netrig::HttpStressOptions options;
//   options.duration = absl::Seconds(5);
//   options.rate = 2000;
//   options.json = "http.json";
//   absl::StatusOr<netrig::StressResult> result = netrig::RunHttpStress(options);
//   if (!result.ok()) { ... bad options: exit 2 ... }
//   return result->exit_code;   // 0 clean, 1 violations (exit_codes.h)
#ifndef NETRIG_HARNESS_WORKLOADS_HTTP_HTTP_STRESS_H_
#define NETRIG_HARNESS_WORKLOADS_HTTP_HTTP_STRESS_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/option_table.h"
#include "harness/drive/stress_run.h"
#include "harness/http/server/fault_plan.h"
#include "nlohmann/json.hpp"

namespace netrig {

struct HttpStressOptions : StressOptions {
  std::string client = "curl";  // A name from HttpClientNames(); "list" lists them.
  bool list_clients = false;    // `netrig http --list`
  std::string http = "1.1";     // "1.1", "h2c" or "mixed" (each task draws one).
  // How the server accepts h2c (HttpSessionOptions::h2c_mode): "prior", "upgrade", "both", or
  // "probe": asked once at start (ProbeH2c) for a --target; "both" for the embedded server.
  std::string h2c_mode = "probe";
  // Empty: the embedded loopback server. Otherwise an http:// URL; a host that is not loopback
  // is refused unless allow_remote.
  std::string target;
  bool allow_remote = false;
  int server_threads = 1;
  int concurrency = 64;  // Closed loop: tasks in flight at most.
  double cancel_probability = 0.05;
  int tasks_per_session = 1000;
  double observer_probability = 0.01;  // Per task: add or remove a connection observer.
  // Percent of completions and observer callbacks that call back into their session from the
  // callback (a follow-up task, a cancel of another task, or the session's invalidation); 0: none.
  int reentrant_percent = 5;
  absl::Duration request_timeout = absl::Seconds(5);
  // A task open longer than this is stuck (a violation). At least request_timeout + 2 s: a
  // correct task may take its timeout plus the session's 1 s backstop.
  absl::Duration task_deadline = absl::Seconds(15);
};

// Every `netrig http` option, declared once: flags, `netrig help http`, ranges and the replay
// arguments all come from it.
const OptionTable<HttpStressOptions>& HttpOptionTable();

// Checks what the table's ranges cannot (client registered, URL acceptable, fault spec, the
// deadline against the timeout): InvalidArgument (PermissionDenied for a remote target) naming
// the bad option. RunHttpStress calls it first.
absl::Status ValidateHttpStressOptions(const HttpStressOptions& options);

// Parses a --faults spec (drive/fault_mix.h; kinds of fault_plan.h); nullopt for "none".
absl::StatusOr<std::optional<FaultPlannerOptions>> ParseHttpFaultSpec(absl::string_view spec,
                                                                      uint64_t seed);

// OK for http:// URLs whose host is loopback in any spelling (net/loopback.h) and whose port, if
// given, is 1-65535; a non-loopback host is PermissionDenied unless allow_remote; https:// (the
// reference session speaks plain HTTP only) and malformed URLs are InvalidArgument.
absl::Status CheckHttpTarget(absl::string_view url, bool allow_remote);

// Resolves the seeds, validates, and runs the workload under RunStress.
absl::StatusOr<StressResult> RunHttpStress(HttpStressOptions options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_WORKLOADS_HTTP_HTTP_STRESS_H_
