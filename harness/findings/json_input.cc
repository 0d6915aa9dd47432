#include "harness/findings/json_input.h"

#include "absl/strings/str_cat.h"
#include "harness/base/file_io.h"

namespace netrig {

absl::StatusOr<nlohmann::json> ParseJsonBounded(absl::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON nested deeper than ", max_depth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  return json;
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path, size_t max_bytes) {
  absl::StatusOr<std::string> text = ReadFileLimited(path, max_bytes);
  if (!text.ok()) return text.status();
  absl::StatusOr<nlohmann::json> json = ParseJsonBounded(*text);
  if (!json.ok()) {
    return absl::Status(json.status().code(),
                        absl::StrCat(Abbreviate(path), ": ", json.status().message()));
  }
  return json;
}

std::optional<std::string> StringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> IntField(const nlohmann::json& object, const char* key, int64_t min,
                                int64_t max) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const uint64_t value = it->get<uint64_t>();
    if (max < 0 || value > static_cast<uint64_t>(max)) return std::nullopt;
    if (static_cast<int64_t>(value) < min) return std::nullopt;
    return static_cast<int64_t>(value);
  }
  if (it->is_number_integer()) {
    const int64_t value = it->get<int64_t>();
    if (value < min || value > max) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::optional<uint64_t> UnsignedField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

std::string Abbreviate(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat(text.substr(0, max_bytes), "... (", text.size(), " bytes)");
}

}  // namespace netrig
