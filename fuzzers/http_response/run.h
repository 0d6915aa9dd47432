// Running one http_response input (http_response_fuzzer.cc lists the properties): Run points the
// world's script at the input, makes a session and its tasks, cancels and invalidates as the
// header says, and checks exactly-once completion, bounded invalidation and the live-object
// counters; a violation aborts through Fatal with the header and what broke.
#ifndef NETRIG_FUZZERS_HTTP_RESPONSE_RUN_H_
#define NETRIG_FUZZERS_HTTP_RESPONSE_RUN_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "fuzzers/http_response/input.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/http/http_client.h"

namespace netrig::internal::http_response_fuzzer {

// ---------------------------------------------------------------------------------------------
// One input.

inline constexpr size_t kMaxCapturedBody = 256;
inline constexpr absl::Duration kKeepTimeout = absl::Milliseconds(200);
inline constexpr absl::Duration kClosingTimeout = absl::Seconds(5);
inline constexpr absl::Duration kStuckAfter = absl::Seconds(20);

// Shared with the completion callbacks, which may (wrongly) outlive the run.
struct RunState {
  explicit RunState(const std::string& header)
      : violations({{"fuzzer", "http_response"}, {"header", header}}),
        ledger(&violations, "task", kStuckAfter) {}

  netrig::ViolationLog violations;
  netrig::Ledger ledger;
  netrig::Mutex mu;
  netrig::CondVar changed;
  int outstanding ABSL_GUARDED_BY(mu) = 0;
  bool invalidated ABSL_GUARDED_BY(mu) = false;
  std::vector<bool> cancelled_before_resume;  // Written before any task exists.
};

class Run {
 public:
  explicit Run(const Input& input)
      : input_(input), state_(std::make_shared<RunState>(input.header)) {}

  void Execute();

 private:
  static void OnComplete(RunState& state, uint64_t id, int index, const netrig::HttpResult& result);
  // After this the script no longer touches this input's tasks or session.
  static void StopScriptActions();
  void WaitForOutstanding(int target, const std::vector<std::shared_ptr<netrig::HttpTask>>& tasks);
  static std::string TaskStates(const std::vector<std::shared_ptr<netrig::HttpTask>>& tasks);
  void CheckViolations();
  [[noreturn]] void Fail(const std::string& what) const;

  const Input& input_;
  const std::shared_ptr<RunState> state_;
};

}  // namespace netrig::internal::http_response_fuzzer

#endif  // NETRIG_FUZZERS_HTTP_RESPONSE_RUN_H_
