#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/option_table.h"
#include "harness/drive/fault_mix.h"
#include "harness/drive/stress_run.h"
#include "harness/http/http_client.h"
#include "harness/http/server/fault_plan.h"
#include "harness/net/loopback.h"
#include "harness/workloads/http/http_stress.h"

namespace netrig {
namespace {

// The mild default mix: every fault kind appears, none dominates.
FaultPlannerOptions DefaultFaultMix(uint64_t seed) {
  FaultPlannerOptions options;
  options.seed = seed;
  options[FaultKind::kDelay] = 0.03;
  options[FaultKind::kStatus] = 0.02;
  options[FaultKind::kChunked] = 0.02;
  options[FaultKind::kTruncatedBody] = 0.01;
  options[FaultKind::kResetMidBody] = 0.01;
  options[FaultKind::kSlowDrip] = 0.01;
  options[FaultKind::kCloseAfter] = 0.03;
  options[FaultKind::kOversizedHeaders] = 0.002;
  options[FaultKind::kRstStream] = 0.01;
  options[FaultKind::kGoaway] = 0.005;
  options[FaultKind::kTinyWindow] = 0.01;
  options[FaultKind::kSplit] = 0.02;
  return options;
}

std::vector<FaultMixItem> HttpFaultItems() {
  std::vector<FaultMixItem> items;
  for (int i = 1; i < kFaultKindCount; ++i) {
    items.push_back({FaultKindName(static_cast<FaultKind>(i)).data()});
  }
  return items;
}

OptionTable<HttpStressOptions> MakeHttpOptionTable() {
  using O = HttpStressOptions;
  OptionTable<O> table;
  table
      .String("client", &O::client,
              "HTTP client under test, by registry name (netrig's reference libcurl session is\n"
              "\"curl\"; the seeded-bug clients are \"bug-...\"; `--client=list` lists them).",
              "NAME")
      .Bool("list", &O::list_clients, "List the registered HTTP clients and exit.",
            OptionRole::kAction)
      .Choice("http", &O::http, {"1.1", "h2c", "mixed"}, "HTTP version per task.")
      .Choice("h2c_mode", &O::h2c_mode, {"probe", "prior", "upgrade", "both"},
              "How the server accepts h2c (with --http h2c or mixed): prior = by prior knowledge\n"
              "only (nghttpd, nginx's h2c listener; each h2c task then opens a connection of its\n"
              "own: libcurl 7.88 fails reused ones), upgrade = by an HTTP/1.1 Upgrade only (or\n"
              "no HTTP/2), both = either (the embedded server), probe = ask a --target once at\n"
              "start (the embedded server is known: both). The summary says what was used.")
      .RecordedWhen([](const O& options) { return options.http != "1.1"; });
  AddStressOptions(table);
  table
      .String("target", &O::target,
              "Drive this http:// URL (a real server) instead of the embedded loopback server.\n"
              "A host that is not loopback is refused (exit 2) unless --allow_remote is given.",
              "URL")
      .RecordedWhen([](const O& options) { return !options.target.empty(); })
      .Bool("allow_remote", &O::allow_remote,
            "Allow a --target that is not a loopback address (a server you own). Never taken\n"
            "from a finding file.",
            OptionRole::kAuthority)
      .Int("server_threads", &O::server_threads, 1, 64,
           "Event-loop threads of the embedded server.")
      .RecordedWhen([](const O& options) { return options.target.empty(); })
      .Int("concurrency", &O::concurrency, 1, 100000, "Closed loop: tasks in flight at most.")
      .Double("cancel_probability", &O::cancel_probability, 0, 1,
              "Probability that a task is cancelled, at a moment drawn from: before resume, right\n"
              "after resume, after a random delay (another thread), after completion.")
      .Int("tasks_per_session", &O::tasks_per_session, 1, 100000000,
           "Replace each spawner's session after this many tasks, alternating\n"
           "FinishTasksAndInvalidate and InvalidateAndCancel.")
      .Double("observer_probability", &O::observer_probability, 0, 1,
              "Per task: probability of registering or removing a connection observer.")
      .Int("reentrant", &O::reentrant_percent, 0, 100,
           "Percent of completions (and observer callbacks) that call back into their session\n"
           "from the callback: a follow-up task (a retry), a cancel of another in-flight task,\n"
           "or (completions only) the session's invalidation. 0: never. A client that runs\n"
           "callbacks under its own lock deadlocks: a `hang` with every thread's stack.")
      .Duration("request_timeout", &O::request_timeout, absl::Milliseconds(1), absl::Hours(1),
                "Per-task timeout.")
      .Duration("task_deadline", &O::task_deadline, absl::Milliseconds(1), absl::Hours(24),
                "A task still open after this is stuck: a violation that stops the run. At least\n"
                "--request_timeout plus 2 s.");
  return table;
}

}  // namespace

const OptionTable<HttpStressOptions>& HttpOptionTable() {
  return OptionTable<HttpStressOptions>::Once(&MakeHttpOptionTable);
}

absl::StatusOr<std::optional<FaultPlannerOptions>> ParseHttpFaultSpec(absl::string_view spec,
                                                                      uint64_t seed) {
  static const std::vector<FaultMixItem>* const kItems =
      new std::vector<FaultMixItem>(HttpFaultItems());
  absl::StatusOr<FaultMix> mix = ParseFaultMix(spec, *kItems);
  if (!mix.ok()) return mix.status();
  if (mix->is_default) return std::optional<FaultPlannerOptions>(DefaultFaultMix(seed));
  if (mix->probabilities.empty()) return std::optional<FaultPlannerOptions>();
  FaultPlannerOptions options;
  options.seed = seed;
  for (const auto& [name, probability] : mix->probabilities) {
    absl::StatusOr<FaultKind> kind = ParseFaultKind(name);
    if (!kind.ok()) return kind.status();
    options[*kind] = probability;
  }
  if (absl::Status valid = ValidateFaultPlannerOptions(options); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--faults: ", valid.message()));
  }
  return std::optional<FaultPlannerOptions>(options);
}

absl::Status CheckHttpTarget(absl::string_view url, bool allow_remote) {
  const std::string shown = option_internal::Quote(url);
  absl::string_view rest = url;
  const std::string lower_scheme = absl::AsciiStrToLower(url.substr(0, 8));
  if (absl::StartsWith(lower_scheme, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target ", shown,
                     ": https is not supported (the reference session speaks plain HTTP/1.1 and "
                     "h2c); give an http:// URL"));
  }
  if (!absl::StartsWith(lower_scheme, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat("--target ", shown, " is not an http:// URL"));
  }
  rest.remove_prefix(7);
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--target ", shown, ": unclosed '['"));
    }
    host = authority.substr(0, close + 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target ", shown, ": unexpected text after ']'"));
    }
    port = after;
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty())
    return absl::InvalidArgumentError(absl::StrCat("--target ", shown, " has no host"));
  if (!port.empty() || authority.find(':') == authority.size() - 1) {
    uint32_t number = 0;
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
        !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("--target ", shown, ": port must be 1-65535"));
    }
  }
  if (!IsLoopbackHost(host) && !allow_remote) {
    return absl::PermissionDeniedError(
        absl::StrCat("--target host ", option_internal::Quote(host),
                     " is not loopback; netrig drives only loopback servers unless "
                     "--allow_remote is given on the command line (and you own the server)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHttpStressOptions(const HttpStressOptions& options) {
  bool known = false;
  std::vector<std::string> names;
  for (const HttpClientEntry& entry : HttpClientNames()) {
    names.push_back(entry.name);
    known = known || entry.name == options.client;
  }
  if (!known) {
    return absl::InvalidArgumentError(
        absl::StrCat("--client ", option_internal::Quote(options.client),
                     " is not registered; registered: ", absl::StrJoin(names, ", ")));
  }
  if (options.http != "1.1" && options.http != "h2c" && options.http != "mixed") {
    return absl::InvalidArgumentError(absl::StrCat("--http ", option_internal::Quote(options.http),
                                                   ": expected 1.1, h2c or mixed"));
  }
  if (options.h2c_mode != "probe") {
    if (absl::StatusOr<H2cMode> mode = ParseH2cMode(options.h2c_mode); !mode.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--h2c_mode ",
                                                     option_internal::Quote(options.h2c_mode),
                                                     ": expected probe, prior, upgrade or both"));
    }
  }
  if (!options.target.empty()) {
    if (absl::Status target = CheckHttpTarget(options.target, options.allow_remote); !target.ok()) {
      return target;
    }
  }
  if (absl::StatusOr<std::optional<FaultPlannerOptions>> faults =
          ParseHttpFaultSpec(options.faults, 0);
      !faults.ok()) {
    return faults.status();
  }
  if (options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--duration must be positive");
  }
  if (options.rate < 0) return absl::InvalidArgumentError("--rate must be >= 0");
  if (options.rate == 0 && options.concurrency <= 0) {
    return absl::InvalidArgumentError("--concurrency must be positive in closed loop (--rate=0)");
  }
  if (options.threads <= 0 || options.threads > 64) {
    return absl::InvalidArgumentError("--threads must be in [1, 64]");
  }
  if (options.cancel_probability < 0 || options.cancel_probability > 1 ||
      options.observer_probability < 0 || options.observer_probability > 1) {
    return absl::InvalidArgumentError(
        "--cancel_probability and --observer_probability must be in [0, 1]");
  }
  if (options.reentrant_percent < 0 || options.reentrant_percent > 100) {
    return absl::InvalidArgumentError(absl::StrCat("--reentrant ", options.reentrant_percent,
                                                   ": expected a percent in [0, 100]"));
  }
  if (options.tasks_per_session <= 0) {
    return absl::InvalidArgumentError("--tasks_per_session must be positive");
  }
  if (options.request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--request_timeout must be positive");
  }
  if (options.task_deadline < options.request_timeout + absl::Seconds(2)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--task_deadline (", absl::FormatDuration(options.task_deadline),
        ") must be at least --request_timeout plus 2 s (",
        absl::FormatDuration(options.request_timeout + absl::Seconds(2)),
        "): a correct task may take its timeout plus the session's 1 s backstop, and a shorter "
        "deadline would call it stuck"));
  }
  if (options.server_threads <= 0 || options.server_threads > 64) {
    return absl::InvalidArgumentError("--server_threads must be in [1, 64]");
  }
  return absl::OkStatus();
}

}  // namespace netrig
