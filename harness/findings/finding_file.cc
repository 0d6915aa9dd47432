#include "harness/findings/finding_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#if __has_include(<curl/curlver.h>)
#include <curl/curlver.h>  // LIBCURL_VERSION only: nothing is linked.
#endif

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "harness/base/file_io.h"
#include "harness/findings/json_input.h"

namespace netrig {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("finding file: field \"", field, "\" ", problem));
}

#ifdef LIBCURL_VERSION
constexpr const char* kLibcurlVersion = LIBCURL_VERSION;
#else
constexpr const char* kLibcurlVersion = "";
#endif
#ifndef NETRIG_BUILD_COMMIT
#define NETRIG_BUILD_COMMIT ""
#endif
#ifndef NETRIG_BUILD_PRESET
#define NETRIG_BUILD_PRESET ""
#endif

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// One LEB128 varint of at most 32 bits from `bytes` at `*at`; false when truncated or wider.
bool ReadVarint32(absl::string_view bytes, size_t* at, uint32_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 28; shift += 7) {
    if (*at >= bytes.size()) return false;
    const uint8_t byte = static_cast<uint8_t>(bytes[(*at)++]);
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      if (result > UINT32_MAX) return false;
      *value = static_cast<uint32_t>(result);
      return true;
    }
  }
  return false;
}

// An array of at most `max` short strings (names), or an error naming `field`.
absl::StatusOr<std::vector<std::string>> NameList(const nlohmann::json& schedule, const char* key,
                                                  size_t max) {
  const std::string field = absl::StrCat("schedule.", key);
  const auto it = schedule.find(key);
  if (it == schedule.end() || !it->is_array()) return FieldError(field, "must be an array");
  if (it->size() > max) {
    return FieldError(field, absl::StrCat("has ", it->size(), " items; at most ", max));
  }
  std::vector<std::string> names;
  for (const auto& name : *it) {
    if (!name.is_string() || name.get_ref<const std::string&>().size() > kMaxScheduleNameBytes) {
      return FieldError(
          field, absl::StrCat("must hold strings of at most ", kMaxScheduleNameBytes, " bytes"));
    }
    names.push_back(name.get<std::string>());
  }
  return names;
}

std::optional<FindingEnvironment> EnvironmentFromJson(const nlohmann::json& json,
                                                      absl::Status* error) {
  if (!json.is_object()) {
    *error = FieldError("environment", "must be an object");
    return std::nullopt;
  }
  FindingEnvironment environment;
  const std::pair<const char*, std::string*> fields[] = {{"netrig", &environment.netrig},
                                                         {"preset", &environment.preset},
                                                         {"sanitizer", &environment.sanitizer},
                                                         {"libcurl", &environment.libcurl}};
  for (const auto& [key, value] : fields) {
    if (!json.contains(key) || json[key].is_null()) continue;
    const std::optional<std::string> text = StringField(json, key);
    if (!text.has_value() || text->size() > kMaxScheduleNameBytes) {
      *error = FieldError(
          absl::StrCat("environment.", key),
          absl::StrCat("must be a string of at most ", kMaxScheduleNameBytes, " bytes, or null"));
      return std::nullopt;
    }
    *value = *text;
  }
  return environment;
}

}  // namespace

FindingEnvironment BuildEnvironment() {
  FindingEnvironment environment;
  environment.netrig = NETRIG_BUILD_COMMIT;
  environment.preset = NETRIG_BUILD_PRESET;
#if defined(NETRIG_SANITIZER_ASAN)
  environment.sanitizer = "asan";
#elif defined(NETRIG_SANITIZER_TSAN)
  environment.sanitizer = "tsan";
#elif defined(NETRIG_SANITIZER_FUZZ)
  environment.sanitizer = "fuzz";
#else
  environment.sanitizer = "none";
#endif
  environment.libcurl = kLibcurlVersion;
  return environment;
}

std::string EncodeScheduleSteps(const std::vector<ScheduleStep>& steps) {
  std::string bytes;
  for (size_t i = 0; i < steps.size();) {
    size_t run = 1;
    while (i + run < steps.size() && steps[i + run] == steps[i]) ++run;
    AppendVarint(steps[i].thread, &bytes);
    AppendVarint(steps[i].point, &bytes);
    AppendVarint(run, &bytes);
    i += run;
  }
  return absl::Base64Escape(bytes);
}

absl::StatusOr<std::vector<ScheduleStep>> DecodeScheduleSteps(absl::string_view base64,
                                                              size_t count, size_t threads,
                                                              size_t points) {
  if (count > kMaxScheduleSteps) {
    return FieldError("schedule.step_count",
                      absl::StrCat("is ", count, "; at most ", kMaxScheduleSteps, " are read"));
  }
  // Three bytes at least per run, so a count's text has a bound too.
  if (base64.size() > 4 * (3 * 5 * count + 2) / 3 + 4) {
    return FieldError(
        "schedule.steps_b64",
        absl::StrCat("is ", base64.size(), " characters, more than ", count, " steps can take"));
  }
  std::string bytes;
  if (!absl::Base64Unescape(base64, &bytes)) {
    return FieldError("schedule.steps_b64", "is not valid base64");
  }
  std::vector<ScheduleStep> steps;
  steps.reserve(count);
  size_t at = 0;
  while (at < bytes.size()) {
    ScheduleStep step;
    uint32_t run = 0;
    if (!ReadVarint32(bytes, &at, &step.thread) || !ReadVarint32(bytes, &at, &step.point) ||
        !ReadVarint32(bytes, &at, &run)) {
      return FieldError("schedule.steps_b64",
                        absl::StrCat("is truncated or malformed at byte ", at, " of ", bytes.size(),
                                     " (after ", steps.size(), " steps)"));
    }
    if (step.thread >= threads || step.point >= points) {
      return FieldError("schedule.steps_b64",
                        absl::StrCat("step ", steps.size(), " names thread ", step.thread,
                                     " and point ", step.point, "; the file lists ", threads,
                                     " threads and ", points, " points"));
    }
    if (run == 0 || run > count - steps.size()) {
      return FieldError("schedule.steps_b64",
                        absl::StrCat("holds a run of ", run, " steps after ", steps.size(),
                                     "; step_count is ", count));
    }
    steps.insert(steps.end(), run, step);
  }
  if (steps.size() != count) {
    return FieldError("schedule.steps_b64",
                      absl::StrCat("decodes to ", steps.size(), " steps; step_count is ", count));
  }
  return steps;
}

nlohmann::json ScheduleToJson(const ScheduleTrace& trace) {
  nlohmann::json events = nlohmann::json::array();
  for (const ScheduleEvent& event : trace.events) {
    events.push_back({{"step", event.step},
                      {"kind", std::string(ScheduleEventKindName(event.kind))},
                      {"thread", event.thread},
                      {"detail", event.detail}});
  }
  return {{"strategy", std::string(ScheduleStrategyName(trace.strategy))},
          {"seed", trace.seed},
          {"depth", trace.pct_depth},
          {"change_points", trace.change_points},
          {"threads", trace.threads},
          {"points", trace.points},
          {"step_count", trace.steps.size()},
          {"steps_b64", EncodeScheduleSteps(trace.steps)},
          {"events", events},
          {"max_enabled", trace.max_enabled},
          {"watchdog_handoffs", trace.watchdog_handoffs},
          {"uncontrolled_enables", trace.uncontrolled_enables},
          {"trace_hash", absl::StrFormat("%016x", trace.Hash())}};
}

absl::StatusOr<ScheduleTrace> ScheduleFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return FieldError("schedule", "must be an object");
  ScheduleTrace trace;
  const std::optional<std::string> strategy = StringField(json, "strategy");
  if (!strategy.has_value() || !ScheduleStrategyNamed(*strategy, &trace.strategy)) {
    return FieldError("schedule.strategy", "must be \"random\", \"pct\", \"pos\" or \"replay\"");
  }
  const std::optional<uint64_t> seed = UnsignedField(json, "seed");
  if (!seed.has_value()) return FieldError("schedule.seed", "must be an unsigned 64-bit integer");
  trace.seed = *seed;
  const std::optional<int64_t> depth = IntField(json, "depth", 0, 64);
  if (!depth.has_value()) return FieldError("schedule.depth", "must be an integer in [0, 64]");
  trace.pct_depth = static_cast<int>(*depth);
  const auto change_points = json.find("change_points");
  if (change_points == json.end() || !change_points->is_array() || change_points->size() > 64) {
    return FieldError("schedule.change_points", "must be an array of at most 64 integers");
  }
  for (const auto& point : *change_points) {
    if (!point.is_number_unsigned()) {
      return FieldError("schedule.change_points", "must hold unsigned integers");
    }
    trace.change_points.push_back(point.get<uint64_t>());
  }
  absl::StatusOr<std::vector<std::string>> threads = NameList(json, "threads", kMaxScheduleThreads);
  if (!threads.ok()) return threads.status();
  trace.threads = *std::move(threads);
  absl::StatusOr<std::vector<std::string>> points = NameList(json, "points", kMaxSchedulePoints);
  if (!points.ok()) return points.status();
  trace.points = *std::move(points);
  const std::optional<int64_t> count =
      IntField(json, "step_count", 0, static_cast<int64_t>(kMaxScheduleSteps));
  if (!count.has_value()) {
    return FieldError("schedule.step_count",
                      absl::StrCat("must be an integer in [0, ", kMaxScheduleSteps, "]"));
  }
  const std::optional<std::string> steps_b64 = StringField(json, "steps_b64");
  if (!steps_b64.has_value()) return FieldError("schedule.steps_b64", "must be a string");
  absl::StatusOr<std::vector<ScheduleStep>> steps = DecodeScheduleSteps(
      *steps_b64, static_cast<size_t>(*count), trace.threads.size(), trace.points.size());
  if (!steps.ok()) return steps.status();
  trace.steps = *std::move(steps);
  const auto events = json.find("events");
  if (events == json.end() || !events->is_array()) {
    return FieldError("schedule.events", "must be an array");
  }
  if (events->size() > kMaxScheduleEvents) {
    return FieldError("schedule.events",
                      absl::StrCat("has ", events->size(), " items; at most ", kMaxScheduleEvents));
  }
  for (const auto& item : *events) {
    ScheduleEvent event;
    const std::optional<uint64_t> step = UnsignedField(item, "step");
    const std::optional<std::string> kind = StringField(item, "kind");
    const std::optional<int64_t> thread =
        IntField(item, "thread", 0, static_cast<int64_t>(trace.threads.size()));
    const std::optional<std::string> detail = StringField(item, "detail");
    if (!step.has_value() || *step > trace.steps.size() || !kind.has_value() ||
        !ScheduleEventKindNamed(*kind, &event.kind) || !thread.has_value() ||
        (*thread >= static_cast<int64_t>(trace.threads.size()) && *thread != 0) ||
        !detail.has_value() || detail->size() > 4096) {
      return FieldError("schedule.events",
                        absl::StrCat("item ", trace.events.size(),
                                     " must be {\"step\": at most step_count, \"kind\": a known "
                                     "event, \"thread\": an index into threads, \"detail\": a "
                                     "string of at most 4096 bytes}"));
    }
    event.step = *step;
    event.thread = static_cast<uint32_t>(*thread);
    event.detail = *detail;
    trace.events.push_back(std::move(event));
  }
  const std::pair<const char*, uint64_t*> counters[] = {
      {"max_enabled", &trace.max_enabled},
      {"watchdog_handoffs", &trace.watchdog_handoffs},
      {"uncontrolled_enables", &trace.uncontrolled_enables}};
  for (const auto& [key, value] : counters) {
    if (!json.contains(key)) continue;
    const std::optional<uint64_t> number = UnsignedField(json, key);
    if (!number.has_value()) {
      return FieldError(absl::StrCat("schedule.", key), "must be an unsigned integer");
    }
    *value = *number;
  }
  const std::optional<std::string> hash = StringField(json, "trace_hash");
  const std::string computed = absl::StrFormat("%016x", trace.Hash());
  if (!hash.has_value() || *hash != computed) {
    return FieldError("schedule.trace_hash",
                      absl::StrCat("must be the hash of the decoded steps and events (", computed,
                                   "): the schedule was edited or is corrupt"));
  }
  return trace;
}

nlohmann::json FindingToJson(const Finding& finding) {
  nlohmann::json json = {
      {"tool", "netrig"},
      {"version", kFindingFileVersion},
      {"command", finding.command},
      {"args", finding.args},
      {"seed", finding.seed},
      {"perturb_seed", nullptr},
      {"violations", finding.violations},
      {"report", finding.report},
  };
  if (finding.environment.has_value()) {
    const FindingEnvironment& environment = *finding.environment;
    json["environment"] = {
        {"netrig",
         environment.netrig.empty() ? nlohmann::json(nullptr) : nlohmann::json(environment.netrig)},
        {"preset", environment.preset},
        {"sanitizer", environment.sanitizer},
        {"libcurl", environment.libcurl}};
  }
  if (finding.schedule.has_value()) json["schedule"] = ScheduleToJson(*finding.schedule);
  if (finding.perturb_seed.has_value()) json["perturb_seed"] = *finding.perturb_seed;
  if (!finding.signature.empty()) json["signature"] = finding.signature;
  if (finding.exit_code.has_value()) json["exit_code"] = *finding.exit_code;
  if (!finding.expect.empty()) json["expect"] = finding.expect;
  return json;
}

absl::StatusOr<Finding> FindingFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("finding file: not a JSON object");
  if (StringField(json, "tool") != "netrig") return FieldError("tool", "must be \"netrig\"");
  const std::optional<int64_t> version = IntField(json, "version", 0, 1 << 30);
  if (!version.has_value()) return FieldError("version", "must be a small non-negative integer");
  if (*version < kOldestFindingFileVersion || *version > kFindingFileVersion) {
    return FieldError("version",
                      absl::StrCat("is ", *version, "; this netrig reads versions ",
                                   kOldestFindingFileVersion, " to ", kFindingFileVersion));
  }
  Finding finding;
  const std::optional<std::string> command = StringField(json, "command");
  if (!command.has_value() || command->empty() || command->size() > 64 ||
      command->find('\0') != std::string::npos) {
    return FieldError("command", "must be a short non-empty string (\"udp\", \"http\")");
  }
  finding.command = *command;
  const auto args = json.find("args");
  if (args == json.end() || !args->is_array()) {
    return FieldError("args", "must be an array of strings");
  }
  if (args->size() > kMaxFindingArgs) {
    return FieldError("args", absl::StrCat("has ", args->size(), " items; at most ",
                                           kMaxFindingArgs, " are read"));
  }
  for (const auto& arg : *args) {
    if (!arg.is_string()) return FieldError("args", "must be an array of strings");
    const std::string& text = arg.get_ref<const std::string&>();
    if (text.size() > kMaxFindingArgBytes) {
      return FieldError("args", absl::StrCat("holds an argument of ", text.size(),
                                             " bytes; at most ", kMaxFindingArgBytes));
    }
    if (text.find('\0') != std::string::npos) {
      return FieldError("args", absl::StrCat("argument ", Abbreviate(text, 60),
                                             " holds a NUL byte (it would be cut there)"));
    }
    finding.args.push_back(text);
  }
  const std::optional<uint64_t> seed = UnsignedField(json, "seed");
  if (!seed.has_value()) return FieldError("seed", "must be an unsigned 64-bit integer");
  finding.seed = *seed;
  if (json.contains("perturb_seed") && !json["perturb_seed"].is_null()) {
    const std::optional<uint64_t> perturb_seed = UnsignedField(json, "perturb_seed");
    if (!perturb_seed.has_value()) {
      return FieldError("perturb_seed", "must be an unsigned 64-bit integer or null");
    }
    finding.perturb_seed = *perturb_seed;
  }
  if (json.contains("violations")) {
    const nlohmann::json& violations = json["violations"];
    if (!violations.is_array()) return FieldError("violations", "must be an array");
    if (violations.size() > kMaxFindingViolations) {
      return FieldError("violations", absl::StrCat("has ", violations.size(), " items; at most ",
                                                   kMaxFindingViolations, " are read"));
    }
    finding.violations = violations;
  }
  if (json.contains("report")) {
    if (!json["report"].is_object()) return FieldError("report", "must be an object");
    finding.report = json["report"];
  }
  if (json.contains("signature")) {
    const std::optional<std::string> signature = StringField(json, "signature");
    if (!signature.has_value() || signature->size() > 1024) {
      return FieldError("signature", "must be a string of at most 1024 bytes");
    }
    finding.signature = *signature;
  }
  if (json.contains("exit_code") && !json["exit_code"].is_null()) {
    const std::optional<int64_t> exit_code = IntField(json, "exit_code", 0, 255);
    if (!exit_code.has_value()) return FieldError("exit_code", "must be an integer in [0, 255]");
    finding.exit_code = static_cast<int>(*exit_code);
  }
  if (json.contains("expect") && !json["expect"].is_null()) {
    const std::optional<std::string> expect = StringField(json, "expect");
    if (!expect.has_value() || (*expect != kExpectReproduce && *expect != kExpectClean)) {
      return FieldError("expect", "must be \"reproduce\" or \"clean\"");
    }
    finding.expect = *expect;
  }
  // Version 1 files have neither; a version 1 file that has them is read the same.
  if (json.contains("environment") && !json["environment"].is_null()) {
    absl::Status error;
    finding.environment = EnvironmentFromJson(json["environment"], &error);
    if (!error.ok()) return error;
  }
  if (json.contains("schedule") && !json["schedule"].is_null()) {
    absl::StatusOr<ScheduleTrace> schedule = ScheduleFromJson(json["schedule"]);
    if (!schedule.ok()) return schedule.status();
    finding.schedule = *std::move(schedule);
  }
  return finding;
}

absl::StatusOr<Finding> ParseFindingText(absl::string_view text) {
  absl::StatusOr<nlohmann::json> json = ParseJsonBounded(text);
  if (!json.ok()) return json.status();
  return FindingFromJson(*json);
}

absl::Status WriteFindingFile(const std::string& path, const Finding& finding) {
  absl::Status written = WriteFileAtomically(
      path,
      FindingToJson(finding).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (!written.ok()) {
    return absl::Status(written.code(), absl::StrCat("finding file: ", written.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Finding> ReadFindingFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileLimited(path, kMaxFindingFileBytes);
  if (!text.ok()) return text.status();
  absl::StatusOr<Finding> finding = ParseFindingText(*text);
  if (!finding.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Abbreviate(path), ": ", finding.status().message()));
  }
  return finding;
}

std::string FindingSignature(const Finding& finding) {
  if (!finding.signature.empty()) return finding.signature;
  std::vector<std::string> kinds;
  for (const auto& violation : finding.violations) {
    if (std::optional<std::string> kind = StringField(violation, "kind")) {
      kinds.push_back(Abbreviate(*kind, 64));
    }
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  if (kinds.empty()) kinds.push_back("no-violation-kind");
  return absl::StrCat(finding.command, " ", absl::StrJoin(kinds, ","));
}

std::vector<std::string> FindingReplayArgv(const Finding& finding,
                                           absl::string_view netrig_binary) {
  std::vector<std::string> argv = {std::string(netrig_binary), finding.command};
  argv.insert(argv.end(), finding.args.begin(), finding.args.end());
  return argv;
}

}  // namespace netrig
