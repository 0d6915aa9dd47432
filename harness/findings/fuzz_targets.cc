#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "harness/base/file_io.h"
#include "harness/findings/fuzz_session.h"
#include "harness/findings/fuzz_session_internal.h"
#include "harness/findings/json_input.h"
#include "nlohmann/json.hpp"

#ifndef NETRIG_BUILD_SOURCE_DIR
#define NETRIG_BUILD_SOURCE_DIR ""
#endif

namespace netrig {
namespace {

using internal::fuzz_session::FilesIn;
using internal::fuzz_session::IsDirectory;
using internal::fuzz_session::IsExecutableFile;
namespace fs = std::filesystem;

}  // namespace

absl::StatusOr<std::string> FindSourceRoot(absl::string_view hint) {
  if (!hint.empty()) {
    const std::string root(hint);
    if (!IsDirectory(root + "/corpora")) {
      return absl::InvalidArgumentError(absl::StrCat(root, " has no corpora/ directory"));
    }
    return fs::absolute(root).lexically_normal().string();
  }
  std::error_code error;
  for (fs::path dir = fs::current_path(error); !error && !dir.empty(); dir = dir.parent_path()) {
    if (IsDirectory((dir / "corpora").string()) && IsDirectory((dir / "fuzzers").string())) {
      return dir.string();
    }
    if (dir == dir.parent_path()) break;
  }
  const std::string built_from = NETRIG_BUILD_SOURCE_DIR;
  if (!built_from.empty() && IsDirectory(built_from + "/corpora")) return built_from;
  return absl::NotFoundError(
      "no netrig source tree (a directory with corpora/ and fuzzers/) here or above; use --root");
}

FuzzPaths DefaultFuzzPaths(const std::string& root) {
  return {root, root + "/build/fuzz/fuzzers", root + "/artifacts", NETRIG_FUZZ_TARGETS_JSON};
}

absl::StatusOr<std::vector<FuzzTarget>> ListFuzzTargets(const FuzzPaths& paths) {
  const std::string list =
      paths.targets_json.empty() ? std::string(NETRIG_FUZZ_TARGETS_JSON) : paths.targets_json;
  absl::StatusOr<nlohmann::json> json = ReadJsonFile(list, 1 << 20);
  if (!json.ok()) {
    return absl::NotFoundError(
        absl::StrCat("the list of fuzz targets (written by CMake when it "
                     "configures netrig) cannot be read: ",
                     json.status().message()));
  }
  std::vector<std::string> names;
  const auto entries = json->find("targets");
  if (entries != json->end() && entries->is_array()) {
    for (const nlohmann::json& entry : *entries) {
      std::optional<std::string> name = StringField(entry, "name");
      if (!name.has_value() || name->empty() ||
          !std::all_of(name->begin(), name->end(), [](char c) {
            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
          })) {
        return absl::InvalidArgumentError(absl::StrCat(list, ": a target without a valid name"));
      }
      names.push_back(*name);
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<FuzzTarget> targets;
  for (const std::string& name : names) {
    FuzzTarget target;
    target.name = name;
    target.corpus_dir = absl::StrCat(paths.root, "/corpora/", target.name);
    const std::string dict = absl::StrCat(paths.root, "/corpora/", target.name, ".dict");
    const std::string options = absl::StrCat(paths.root, "/corpora/", target.name, ".options");
    std::error_code error;
    if (fs::is_regular_file(dict, error)) target.dict_path = dict;
    if (fs::is_regular_file(options, error)) target.options_path = options;
    for (const std::string& candidate :
         {absl::StrCat(paths.fuzzer_dir, "/", target.name, "_fuzzer"),
          absl::StrCat(paths.fuzzer_dir, "/", target.name)}) {
      if (target.fuzzer_binary.empty() && IsExecutableFile(candidate)) {
        target.fuzzer_binary = candidate;
      }
    }
    for (const fs::path& input : FilesIn(target.corpus_dir)) {
      ++target.corpus_files;
      target.corpus_bytes += fs::file_size(input, error);
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

absl::StatusOr<FuzzTarget> FindFuzzTarget(const FuzzPaths& paths, absl::string_view name) {
  absl::StatusOr<std::vector<FuzzTarget>> targets = ListFuzzTargets(paths);
  if (!targets.ok()) return targets.status();
  std::vector<std::string> names;
  for (FuzzTarget& target : *targets) {
    if (target.name == name) return std::move(target);
    names.push_back(target.name);
  }
  return absl::NotFoundError(absl::StrCat("no fuzz target '", Abbreviate(name, 64),
                                          "'; targets: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<std::vector<std::string>> ParseLibFuzzerOptions(absl::string_view contents,
                                                               absl::string_view path) {
  std::vector<std::string> flags;
  std::string section;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++number;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(Abbreviate(path, 200), ":", number, ": ", why,
                                                     " (got '", Abbreviate(text, 80), "')"));
    };
    if (text.front() == '[') {
      if (!absl::ConsumeSuffix(&text, "]")) return bad("bad section header");
      section = Abbreviate(absl::StripAsciiWhitespace(text.substr(1)), 64);
      continue;
    }
    const size_t equals = text.find('=');
    if (equals == absl::string_view::npos) return bad("expected key = value");
    if (section != "libfuzzer") continue;
    const std::string key(absl::StripAsciiWhitespace(text.substr(0, equals)));
    std::string value(absl::StripAsciiWhitespace(text.substr(equals + 1)));
    if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
        })) {
      return bad("an option name is letters, digits and '_'");
    }
    if (!std::all_of(value.begin(), value.end(),
                     [](char c) { return absl::ascii_isprint(static_cast<unsigned char>(c)); })) {
      return bad("an option value is printable text");
    }
    if (flags.size() >= 64) return bad("more than 64 options");
    if (key == "dict" && !value.empty() && value.front() != '/') {
      value = (fs::path(std::string(path)).parent_path() / value).lexically_normal().string();
    }
    flags.push_back(absl::StrCat("-", key, "=", value));
  }
  return flags;
}

absl::StatusOr<std::vector<std::string>> ReadLibFuzzerOptions(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFileLimited(path, 1 << 20);
  if (!contents.ok()) return contents.status();
  return ParseLibFuzzerOptions(*contents, path);
}

}  // namespace netrig
