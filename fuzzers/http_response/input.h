// The http_response fuzzer's input (http_response_fuzzer.cc describes it): a header line of
// words (protocol, task count, what the server does after the bytes, a cancel point, splits, HEAD,
// abort), then the raw response bytes. Parsing never fails: unknown words are ignored and values
// are clamped to the bounds below.
#ifndef NETRIG_FUZZERS_HTTP_RESPONSE_INPUT_H_
#define NETRIG_FUZZERS_HTTP_RESPONSE_INPUT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "harness/http/server/server.h"

namespace netrig::internal::http_response_fuzzer {

// ---------------------------------------------------------------------------------------------
// The input.

inline constexpr size_t kMaxHeaderLine = 128;
inline constexpr size_t kMaxResponseBytes = 64 << 10;
inline constexpr int kMaxTasks = 4;
inline constexpr size_t kMaxSplits = 16;

enum class Protocol { kH1, kH2, kH2Upgrade };
enum class CancelPoint { kNone, kBefore, kResume, kRequest, kDone };

struct Input {
  Protocol protocol = Protocol::kH1;
  int tasks = 1;
  netrig::ScriptedResponse::Then then = netrig::ScriptedResponse::Then::kClose;
  int cancel_task = 0;  // 1-based; 0: none.
  CancelPoint cancel_point = CancelPoint::kNone;
  std::vector<size_t> splits;
  bool split_at_structure = false;  // "split=auto"
  bool head = false;
  bool abort = false;
  std::string header;  // As given, for messages.
  std::string bytes;
};

Input ParseInput(absl::string_view data);

}  // namespace netrig::internal::http_response_fuzzer

#endif  // NETRIG_FUZZERS_HTTP_RESPONSE_INPUT_H_
