#include "fuzzers/http_response/run.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzzers/http_response/input.h"
#include "fuzzers/http_response/world.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/check/violation.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"

namespace netrig::internal::http_response_fuzzer {
namespace {

const char* ErrorOutcome(netrig::HttpErrorKind kind) {
  // Ledger outcomes must be literals.
  switch (kind) {
    case netrig::HttpErrorKind::kNone:
      return "ok";
    case netrig::HttpErrorKind::kCancelled:
      return "cancelled";
    case netrig::HttpErrorKind::kTimeout:
      return "timeout";
    case netrig::HttpErrorKind::kConnect:
      return "connect";
    case netrig::HttpErrorKind::kReset:
      return "reset";
    case netrig::HttpErrorKind::kTruncated:
      return "truncated";
    case netrig::HttpErrorKind::kProtocol:
      return "protocol";
    case netrig::HttpErrorKind::kInvalidRequest:
      return "invalid_request";
    case netrig::HttpErrorKind::kTooLarge:
      return "too_large";
    case netrig::HttpErrorKind::kOther:
      return "other";
  }
  return "unknown";
}

}  // namespace

void Run::Execute() {
  const bool primer = input_.protocol == Protocol::kH2Upgrade;
  {
    netrig::MutexLock lock(&world->mu);
    world->protocol = input_.protocol;
    world->bytes = input_.bytes;
    world->splits = input_.splits;
    world->split_at_structure = input_.split_at_structure;
    world->then = input_.then;
    world->first_connection = world->server->Stats().connections_accepted;
    world->primer_connection_taken = false;
    world->cancel_on_request.reset();
  }

  netrig::HttpSessionOptions options;
  if (primer) options.max_concurrent_streams = 1;  // Every further task opens a connection.
  absl::StatusOr<std::unique_ptr<netrig::HttpSession>> session = world->client->NewSession(options);
  if (!session.ok()) Fail(absl::StrCat("NewSession: ", session.status().ToString()));

  const int total = input_.tasks + (primer ? 1 : 0);
  state_->cancelled_before_resume.assign(total, false);
  std::vector<std::shared_ptr<netrig::HttpTask>> tasks;
  std::vector<uint64_t> ids;
  for (int i = 0; i < total; ++i) {
    netrig::HttpRequest request;
    request.method = input_.head ? "HEAD" : "GET";
    request.url = absl::StrCat(world->server->url(), "/t", i);
    request.version = input_.protocol == Protocol::kH1 ? netrig::HttpVersion::kHttp11
                                                       : netrig::HttpVersion::kH2cPriorKnowledge;
    request.timeout =
        input_.then == netrig::ScriptedResponse::Then::kKeepOpen ? kKeepTimeout : kClosingTimeout;
    if (primer && i == 0) request.timeout = kStuckAfter / 2;  // Cancelled, not timed out.
    request.max_captured_body = kMaxCapturedBody;
    const uint64_t id = state_->ledger.Open(/*scope=*/1);
    ids.push_back(id);
    std::shared_ptr<RunState> state = state_;
    absl::StatusOr<std::shared_ptr<netrig::HttpTask>> task = (*session)->MakeTask(
        std::move(request),
        [state, id, i](const netrig::HttpResult& result) { OnComplete(*state, id, i, result); });
    if (!task.ok()) Fail(absl::StrCat("MakeTask: ", task.status().ToString()));
    tasks.push_back(*std::move(task));
    netrig::MutexLock lock(&state_->mu);
    ++state_->outstanding;
  }
  // Fuzzed task k (1-based) is tasks[k - 1 + primer].
  std::shared_ptr<netrig::HttpTask> cancel_target;
  if (input_.cancel_task >= 1 && input_.cancel_task <= input_.tasks) {
    cancel_target = tasks[input_.cancel_task - 1 + (primer ? 1 : 0)];
  }
  {
    netrig::MutexLock lock(&world->mu);
    if (cancel_target != nullptr && input_.cancel_point == CancelPoint::kRequest) {
      world->cancel_on_request = cancel_target;
    }
    if (input_.abort) world->abort_on_request = session->get();
  }
  if (cancel_target != nullptr && input_.cancel_point == CancelPoint::kBefore) {
    state_->cancelled_before_resume[input_.cancel_task - 1 + (primer ? 1 : 0)] = true;
    cancel_target->Cancel();
  }
  for (const auto& task : tasks) {
    task->Resume();
    if (task == cancel_target && input_.cancel_point == CancelPoint::kResume) task->Cancel();
  }

  std::shared_ptr<RunState> state = state_;
  auto on_invalidated = [state] {
    netrig::MutexLock lock(&state->mu);
    state->invalidated = true;
    state->changed.SignalAll();
  };
  // The fuzzed tasks first; then the primer, whose stream the server never answers.
  WaitForOutstanding(primer ? 1 : 0, tasks);
  if (primer) tasks[0]->Cancel();
  WaitForOutstanding(0, tasks);
  if (cancel_target != nullptr && input_.cancel_point == CancelPoint::kDone) {
    cancel_target->Cancel();  // Must be a no-op: the ledger catches a second completion.
  }
  StopScriptActions();
  if (input_.abort) {
    // Invalidation may have begun from the server's thread; this adds the callback.
    (*session)->InvalidateAndCancel(on_invalidated);
  } else {
    (*session)->FinishTasksAndInvalidate(on_invalidated);
  }
  if (!(*session)->WaitUntilInvalidated(kStuckAfter)) {
    Fail(absl::StrCat("the session did not invalidate within ", absl::FormatDuration(kStuckAfter),
                      TaskStates(tasks)));
  }
  {
    netrig::MutexLock lock(&state_->mu);
    if (!state_->invalidated) Fail("WaitUntilInvalidated returned before on_invalidated ran");
    if (state_->outstanding != 0) {
      Fail(absl::StrCat(state_->outstanding,
                        " task(s) never completed, yet the session "
                        "invalidated",
                        TaskStates(tasks)));
    }
  }
  state_->ledger.CloseScope(1, /*require_all_complete=*/true);
  StopScriptActions();
  session->reset();
  tasks.clear();
  cancel_target.reset();
  CheckViolations();
  std::vector<std::pair<std::string, int64_t>> leaked =
      netrig::LiveObjectsChangedSince(world->live_baseline);
  if (!leaked.empty()) {
    std::string what;
    for (const auto& [type, delta] : leaked) absl::StrAppend(&what, " ", type, " ", delta);
    Fail(absl::StrCat("live objects left after the session and its tasks were dropped:", what));
  }
}

void Run::OnComplete(RunState& state, uint64_t id, int index, const netrig::HttpResult& result) {
  const bool first = state.ledger.Complete(id, ErrorOutcome(result.error));
  netrig::MutexLock lock(&state.mu);
  if (state.invalidated) {
    state.violations.Report("completion_after_invalidation",
                            absl::StrCat("task ", index, " completed after invalidation"));
  }
  if (state.cancelled_before_resume[index] && result.error != netrig::HttpErrorKind::kCancelled) {
    state.violations.Report(
        "cancel_before_resume_ignored",
        absl::StrCat("task ", index, " was cancelled before Resume but completed as ",
                     ErrorOutcome(result.error)));
  }
  if (result.body.size() > kMaxCapturedBody) {
    state.violations.Report("captured_body_over_limit",
                            absl::StrCat("task ", index, " captured ", result.body.size(),
                                         " body bytes (limit ", kMaxCapturedBody, ")"));
  }
  if (first) --state.outstanding;
  state.changed.SignalAll();
  if (world->verbose) {
    std::fprintf(stderr, "  task %d: status %d, %s, %s, %lld body bytes, connection %llu%s%s\n",
                 index, result.status, ErrorOutcome(result.error),
                 std::string(netrig::HttpVersionName(result.version)).c_str(),
                 static_cast<long long>(result.body_bytes),
                 static_cast<unsigned long long>(result.connection_id),
                 result.error_message.empty() ? "" : ": ", result.error_message.c_str());
  }
}

void Run::StopScriptActions() {
  netrig::MutexLock lock(&world->mu);
  world->cancel_on_request.reset();
  world->abort_on_request = nullptr;
  while (world->cancelling) world->cancel_done.Wait(&world->mu);
}

void Run::WaitForOutstanding(int target,
                             const std::vector<std::shared_ptr<netrig::HttpTask>>& tasks) {
  const absl::Time deadline = absl::Now() + kStuckAfter;
  netrig::MutexLock lock(&state_->mu);
  while (state_->outstanding > target) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      Fail(absl::StrCat("task(s) still running ", absl::FormatDuration(kStuckAfter),
                        " after the resumes, past every request timeout", TaskStates(tasks)));
    }
    state_->changed.WaitWithTimeout(&state_->mu, left);
  }
}

std::string Run::TaskStates(const std::vector<std::shared_ptr<netrig::HttpTask>>& tasks) {
  std::string states = "; task states:";
  for (const auto& task : tasks) absl::StrAppend(&states, " ", task->state());
  return states;
}

void Run::CheckViolations() {
  if (state_->violations.empty()) return;
  std::string what;
  for (const netrig::Violation& v : state_->violations.Kept()) {
    absl::StrAppend(&what, "\n  ", v.kind, ": ", v.message);
  }
  Fail(absl::StrCat("violation(s):", what));
}

void Run::Fail(const std::string& what) const {
  Fatal(absl::StrCat("client \"", world->client_name, "\" broke a property with header \"",
                     input_.header, "\" and ", input_.bytes.size(), " response bytes: ", what));
}

}  // namespace netrig::internal::http_response_fuzzer
