#include "harness/findings/finding_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harness/base/file_io.h"
#include "harness/findings/json_input.h"

namespace netrig {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("finding file: field \"", field, "\" ", problem));
}

}  // namespace

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
  if (*version != kFindingFileVersion) {
    return FieldError("version", absl::StrCat("is ", *version, "; this netrig reads version ",
                                              kFindingFileVersion));
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
