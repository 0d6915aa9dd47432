// `netrig http`: the HTTP task-session stress driver (harness/http/http_stress.h). This file only
// defines and reads its flags; the workload lives in the library. The flags it shares with
// `netrig udp` (--duration, --rate, --threads, --seed, --perturb, --faults, --json_file alias
// --json, --finding_dir) are defined in stress/shared_flags.cc.
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "harness/drive/driver.h"
#include "harness/http/http_client.h"
#include "harness/http/http_stress.h"
#include "stress/command.h"
#include "stress/shared_flags.h"

ABSL_FLAG(std::string, client, "curl",
          "HTTP client under test, by registry name (netrig's reference libcurl session is\n"
          "\"curl\"; the seeded-bug clients are \"bug-...\"; `--client=list` lists them).");
ABSL_FLAG(std::string, http, "1.1", "HTTP version per task: 1.1, h2c or mixed.");
ABSL_FLAG(std::string, target, "",
          "Drive this URL (a real server) instead of the embedded loopback server. A host that\n"
          "is not loopback is refused (exit 2) unless --allow-remote is given.");
ABSL_FLAG(bool, allow_remote, false, "Allow a --target that is not a loopback address.");
ABSL_FLAG(int, server_threads, 1, "Event-loop threads of the embedded server.");
ABSL_FLAG(int, concurrency, 64, "Closed loop: tasks in flight at most.");
ABSL_FLAG(double, cancel_probability, 0.05,
          "Probability that a task is cancelled, at a moment drawn from: before resume, right\n"
          "after resume, after a random delay (another thread), after completion.");
ABSL_FLAG(int, tasks_per_session, 1000,
          "Replace each spawner's session after this many tasks, alternating\n"
          "FinishTasksAndInvalidate and InvalidateAndCancel.");
ABSL_FLAG(double, observer_probability, 0.01,
          "Per task: probability of registering or removing a connection observer.");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(5), "Per-task timeout.");
ABSL_FLAG(absl::Duration, task_deadline, absl::Seconds(15),
          "A task still open after this is stuck: a violation that stops the run.");
ABSL_FLAG(std::string, perturb_seed, "", "Schedule perturbation seed; empty: derived from --seed.");

namespace netrig::cli {
namespace {

void OnInterrupt(int) { RequestStop(); }

bool ParseSeedFlag(const std::string& text, const char* name, std::optional<uint64_t>* out) {
  if (text.empty()) return true;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    std::fprintf(stderr, "error: --%s '%s' is not a decimal 64-bit number\n", name, text.c_str());
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

int RunHttp(const std::vector<absl::string_view>& args) {
  if (!NoPositionalArgs("http", args)) return kExitUsage;
  HttpStressOptions options;
  options.client = absl::GetFlag(FLAGS_client);
  if (options.client == "list") {
    for (const HttpClientEntry& entry : HttpClientNames()) {
      std::printf("%-24s %s\n", entry.name.c_str(), entry.description.c_str());
    }
    return kExitOk;
  }
  options.http = absl::GetFlag(FLAGS_http);
  options.target = absl::GetFlag(FLAGS_target);
  options.allow_remote = absl::GetFlag(FLAGS_allow_remote);
  options.faults = absl::GetFlag(FLAGS_faults);
  options.server_threads = absl::GetFlag(FLAGS_server_threads);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.cancel_probability = absl::GetFlag(FLAGS_cancel_probability);
  options.tasks_per_session = absl::GetFlag(FLAGS_tasks_per_session);
  options.observer_probability = absl::GetFlag(FLAGS_observer_probability);
  options.request_timeout = absl::GetFlag(FLAGS_request_timeout);
  options.task_deadline = absl::GetFlag(FLAGS_task_deadline);
  options.perturb = absl::GetFlag(FLAGS_perturb);
  if (!ParseSeedFlag(absl::GetFlag(FLAGS_seed), "seed", &options.seed) ||
      !ParseSeedFlag(absl::GetFlag(FLAGS_perturb_seed), "perturb_seed", &options.perturb_seed)) {
    return kExitUsage;
  }
  options.json_path = absl::GetFlag(FLAGS_json_file);
  options.finding_dir = absl::GetFlag(FLAGS_finding_dir);

  if (absl::Status valid = ValidateHttpStressOptions(options); !valid.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(valid.message()).c_str());
    return kExitUsage;
  }
  struct sigaction action = {};
  action.sa_handler = &OnInterrupt;
  sigemptyset(&action.sa_mask);
  struct sigaction previous_int = {};
  struct sigaction previous_term = {};
  sigaction(SIGINT, &action, &previous_int);
  sigaction(SIGTERM, &action, &previous_term);
  absl::StatusOr<HttpStressResult> result = RunHttpStress(options);
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(result.status().message()).c_str());
    return kExitUsage;
  }
  return result->exit_code;
}

}  // namespace netrig::cli
