#include "fuzzers/udp_flow/program.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace netrig::internal::udp_flow_fuzzer {
namespace {

std::optional<Encoding> ParseEncoding(absl::string_view word) {
  for (size_t i = 0; i < kEncodingNames.size(); ++i) {
    if (word == kEncodingNames[i]) return static_cast<Encoding>(i);
  }
  return std::nullopt;
}

uint64_t ParseNumber(absl::string_view word, uint64_t max) {
  uint64_t value = 0;
  for (char c : word) {
    if (c < '0' || c > '9') break;
    value = std::min<uint64_t>(value * 10 + static_cast<uint64_t>(c - '0'), max);
  }
  return value;
}

}  // namespace

Program ParseProgram(absl::string_view text) {
  Program program;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    const absl::string_view verb = words[0];
    Operation op;
    if (verb == "mtu" && words.size() > 1) {
      program.mtu = static_cast<uint32_t>(ParseNumber(words[1], 65536));
      continue;
    } else if (verb == "df") {
      program.dont_fragment = true;
      continue;
    } else if (verb == "write" && words.size() > 2) {
      std::optional<Encoding> encoding = ParseEncoding(words[1]);
      if (!encoding) continue;
      op = {OpKind::kWrite, *encoding, ParseNumber(words[2], kMaxSize)};
    } else if (verb == "read") {
      op.kind = OpKind::kRead;
      if (words.size() > 1) op.size = ParseNumber(words[1], kMaxOwedDatagrams);
    } else if (verb == "echo" && words.size() > 1) {
      std::optional<Encoding> encoding = ParseEncoding(words[1]);
      if (!encoding) continue;
      op = {OpKind::kEcho, *encoding, 0};
    } else if (verb == "lost") {
      op.kind = OpKind::kLost;
    } else if (verb == "back") {
      op.kind = OpKind::kBack;
    } else if (verb == "close") {
      op.kind = OpKind::kClose;
    } else if (verb == "reopen") {
      op.kind = OpKind::kReopen;
    } else {
      continue;
    }
    if (program.operations.size() < kMaxOperations) program.operations.push_back(op);
  }
  return program;
}

std::string FormatOperation(const Operation& op) {
  const absl::string_view encoding = kEncodingNames[static_cast<size_t>(op.encoding)];
  switch (op.kind) {
    case OpKind::kWrite:
      return absl::StrCat("write ", encoding, " ", op.size);
    case OpKind::kRead:
      return op.size == 0 ? "read" : absl::StrCat("read ", op.size);
    case OpKind::kEcho:
      return absl::StrCat("echo ", encoding);
    case OpKind::kLost:
      return "lost";
    case OpKind::kBack:
      return "back";
    case OpKind::kClose:
      return "close";
    case OpKind::kReopen:
      return "reopen";
  }
  return "";
}

std::string SerializeProgram(const Program& program) {
  std::string text = absl::StrCat("mtu ", program.mtu, "\n");
  if (program.dont_fragment) text += "df\n";
  for (const Operation& op : program.operations) absl::StrAppend(&text, FormatOperation(op), "\n");
  return text;
}

}  // namespace netrig::internal::udp_flow_fuzzer
