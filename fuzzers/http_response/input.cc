#include "fuzzers/http_response/input.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "harness/http/server/server.h"

namespace netrig::internal::http_response_fuzzer {

Input ParseInput(absl::string_view data) {
  Input input;
  const size_t newline = data.substr(0, kMaxHeaderLine).find('\n');
  if (newline == absl::string_view::npos) {
    input.bytes = std::string(data.substr(0, kMaxResponseBytes));
    return input;
  }
  input.header = std::string(data.substr(0, newline));
  input.bytes = std::string(data.substr(newline + 1, kMaxResponseBytes));
  for (absl::string_view word : absl::StrSplit(input.header, ' ', absl::SkipEmpty())) {
    if (word == "h1") {
      input.protocol = Protocol::kH1;
    } else if (word == "h2") {
      input.protocol = Protocol::kH2;
    } else if (word == "h2u") {
      input.protocol = Protocol::kH2Upgrade;
    } else if (word == "keep") {
      input.then = netrig::ScriptedResponse::Then::kKeepOpen;
    } else if (word == "close") {
      input.then = netrig::ScriptedResponse::Then::kClose;
    } else if (word == "reset") {
      input.then = netrig::ScriptedResponse::Then::kReset;
    } else if (word == "head") {
      input.head = true;
    } else if (word == "abort") {
      input.abort = true;
    } else if (word == "split=auto") {
      input.split_at_structure = true;
    } else if (absl::ConsumePrefix(&word, "split=")) {
      input.splits.clear();
      for (absl::string_view offset : absl::StrSplit(word, ',', absl::SkipEmpty())) {
        size_t at = 0;
        if (absl::SimpleAtoi(offset, &at) && input.splits.size() < kMaxSplits) {
          input.splits.push_back(at);
        }
      }
      std::sort(input.splits.begin(), input.splits.end());
    } else if (absl::ConsumePrefix(&word, "n=")) {
      int n = 0;
      if (absl::SimpleAtoi(word, &n)) input.tasks = std::clamp(n, 1, kMaxTasks);
    } else if (absl::ConsumePrefix(&word, "cancel=")) {
      std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(word, '@');
      int k = 0;
      if (!absl::SimpleAtoi(parts.first, &k) || k < 1 || k > kMaxTasks) continue;
      CancelPoint point = CancelPoint::kNone;
      if (parts.second == "before") point = CancelPoint::kBefore;
      if (parts.second == "resume") point = CancelPoint::kResume;
      if (parts.second == "request") point = CancelPoint::kRequest;
      if (parts.second == "done") point = CancelPoint::kDone;
      if (point == CancelPoint::kNone) continue;
      input.cancel_task = k;
      input.cancel_point = point;
    }
  }
  return input;
}

}  // namespace netrig::internal::http_response_fuzzer
