#include "harness/findings/finding_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harness/base/file_io.h"

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
  if (!json.contains("tool") || json["tool"] != "netrig") {
    return FieldError("tool", "must be \"netrig\"");
  }
  if (!json.contains("version") || !json["version"].is_number_integer()) {
    return FieldError("version", "must be an integer");
  }
  if (json["version"].get<int>() != kFindingFileVersion) {
    return FieldError("version", absl::StrCat("is ", json["version"].get<int>(),
                                              "; this netrig reads version ", kFindingFileVersion));
  }
  Finding finding;
  if (!json.contains("command") || !json["command"].is_string() ||
      json["command"].get<std::string>().empty()) {
    return FieldError("command", "must be a non-empty string (\"udp\", \"http\")");
  }
  finding.command = json["command"].get<std::string>();
  if (!json.contains("args") || !json["args"].is_array()) {
    return FieldError("args", "must be an array of strings");
  }
  for (const auto& arg : json["args"]) {
    if (!arg.is_string()) return FieldError("args", "must be an array of strings");
    finding.args.push_back(arg.get<std::string>());
  }
  if (!json.contains("seed") || !json["seed"].is_number_unsigned()) {
    return FieldError("seed", "must be an unsigned integer");
  }
  finding.seed = json["seed"].get<uint64_t>();
  if (json.contains("perturb_seed") && !json["perturb_seed"].is_null()) {
    if (!json["perturb_seed"].is_number_unsigned()) {
      return FieldError("perturb_seed", "must be an unsigned integer or null");
    }
    finding.perturb_seed = json["perturb_seed"].get<uint64_t>();
  }
  if (json.contains("violations")) {
    if (!json["violations"].is_array()) return FieldError("violations", "must be an array");
    finding.violations = json["violations"];
  }
  if (json.contains("report")) {
    if (!json["report"].is_object()) return FieldError("report", "must be an object");
    finding.report = json["report"];
  }
  if (json.contains("signature")) {
    if (!json["signature"].is_string()) return FieldError("signature", "must be a string");
    finding.signature = json["signature"].get<std::string>();
  }
  if (json.contains("exit_code") && !json["exit_code"].is_null()) {
    if (!json["exit_code"].is_number_integer()) {
      return FieldError("exit_code", "must be an integer");
    }
    finding.exit_code = json["exit_code"].get<int>();
  }
  if (json.contains("expect") && !json["expect"].is_null()) {
    if (!json["expect"].is_string() || (json["expect"] != std::string(kExpectReproduce) &&
                                        json["expect"] != std::string(kExpectClean))) {
      return FieldError("expect", "must be \"reproduce\" or \"clean\"");
    }
    finding.expect = json["expect"].get<std::string>();
  }
  return finding;
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
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open finding file ", path));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json json =
      nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  }
  absl::StatusOr<Finding> finding = FindingFromJson(json);
  if (!finding.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", finding.status().message()));
  }
  return finding;
}

std::string FindingSignature(const Finding& finding) {
  if (!finding.signature.empty()) return finding.signature;
  std::vector<std::string> kinds;
  for (const auto& violation : finding.violations) {
    if (violation.is_object() && violation.contains("kind") && violation["kind"].is_string()) {
      kinds.push_back(violation["kind"].get<std::string>());
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
