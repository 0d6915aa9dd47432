// Reading JSON that someone else wrote (finding files, nightly session files, crash records):
// netrig replays files from other people and from fuzzers, so every such read is bounded in size
// and nesting depth, and every field is read by type, never by a throwing get<>() and never
// narrowed so that it wraps (4294967297 is not read as 1).
//
// Example:
//   absl::StatusOr<nlohmann::json> json = netrig::ReadJsonFile(path);
//   if (!json.ok()) return json.status();
//   std::optional<std::string> target = netrig::StringField(*json, "target");
//   std::optional<int64_t> count = netrig::IntField(*json, "count", 0, 1'000'000'000);
#ifndef NETRIG_HARNESS_FINDINGS_JSON_INPUT_H_
#define NETRIG_HARNESS_FINDINGS_JSON_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace netrig {

inline constexpr size_t kMaxJsonFileBytes = 64 << 20;
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` if it is valid JSON nested at most `max_depth` deep (checked before parsing,
// so a million '[' cost a scan, not the stack). InvalidArgument otherwise.
absl::StatusOr<nlohmann::json> ParseJsonBounded(absl::string_view text,
                                                int max_depth = kMaxJsonDepth);

// ReadFileLimited (regular files only, at most `max_bytes`) then ParseJsonBounded; errors name
// the path.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path,
                                            size_t max_bytes = kMaxJsonFileBytes);

// The field `key` of `object` when `object` is an object and the field has the type; else
// nullopt. IntField also requires min <= value <= max.
std::optional<std::string> StringField(const nlohmann::json& object, const char* key);
std::optional<int64_t> IntField(const nlohmann::json& object, const char* key, int64_t min,
                                int64_t max);
std::optional<uint64_t> UnsignedField(const nlohmann::json& object, const char* key);

// `text` cut to `max_bytes` with a note of the full size, for error messages.
std::string Abbreviate(absl::string_view text, size_t max_bytes = 200);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_JSON_INPUT_H_
