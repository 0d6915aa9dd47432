// Fuzz target: an HTTP client session (libcurl reference by default) against netrig's embedded
// loopback server, whose response bytes come from the input.
//
// The client comes from the registry: NETRIG_HTTP_CLIENT=NAME (default "curl"), so a user's
// registered client, or a seeded-bug one, is fuzzed the same way. The server and the client are
// created once; every input gets a new session (the unit whose lifecycle is checked).
// NETRIG_HTTP_RESPONSE_VERBOSE=1 prints one line per completed task (status, error, version).
//
// Input: one header line of words (at most 128 bytes up to '\n'; unknown words are ignored), then
// the raw response bytes (at most 64 KiB; the rest is dropped). Without a '\n' in the first 128
// bytes, the whole input is the response and the header is the default "h1 n=1 close".
//   h1 | h2 | h2u   protocol: HTTP/1.1; h2c with prior knowledge; h2c via "Upgrade: h2c"
//   n=K             requests (tasks) in the session, 1-4, all resumed together
//   keep | close | reset
//                   what the server does once it wrote the bytes: keep the connection open (the
//                   next HTTP/1.1 request on it gets the bytes again), close it, or reset it
//   cancel=K@POINT  cancel task K (1-based) before Resume ("before"), right after it ("resume"),
//                   from the server's thread when the server first gets a request of this input
//                   ("request"), or after the task completed ("done": must change nothing)
//   split=A,B,...   write the bytes in pieces, pausing 1 ms after byte offsets A, B, ... (at most
//                   4), so the client reads them separately (HTTP/1.1 and h2c Upgrade answers;
//                   the server's prior-knowledge HTTP/2 mode writes in one piece)
//   head            HEAD requests (curl then expects no body)
//   abort           InvalidateAndCancel from the server's thread when it first gets a request of
//                   this input (racing the response), instead of FinishTasksAndInvalidate once
//                   every task completed
// HTTP/1.1: the bytes are the whole answer to each request (status line, headers, body...).
// h2: the server sends an empty SETTINGS frame and a SETTINGS ACK, waits for the client's first
// HEADERS frame (stream 1), then writes the bytes (raw frames) once per connection. A request
// that arrives as HTTP/1.1 in an h2 mode (the session opens further connections with an h2c
// Upgrade) is answered "101 Switching Protocols", SETTINGS, SETTINGS ACK and the bytes (stream 1
// is the upgraded request). h2u makes every fuzzed task go through such an upgrade: the session
// is limited to one stream per connection and a first "primer" task takes the prior-knowledge
// connection (answered with nothing; it is cancelled once the fuzzed tasks completed).
//
// Properties (a violation prints the header and what broke, then aborts):
//   - every task completes exactly once (netrig::Ledger), a task cancelled before Resume
//     completes as cancelled, a late Cancel changes nothing, no completion after invalidation;
//   - the session invalidates (on_invalidated runs, WaitUntilInvalidated returns) in bounded time;
//   - once the session and the tasks are dropped, every live-object counter is back where it was
//     before the input (no leaked session, task, connection, observer);
//   - no crash or sanitizer report.
//
// Bounds: at most 4 (+1 primer) tasks and 64 KiB of response bytes per connection; at most 256
// body bytes are captured. Decisions come from the input: the server closes or resets after the
// bytes unless the input says keep. Only "keep" relies on a clock: each task has a 200 ms timeout,
// so a response that never completes still ends the input (other modes use 5 s, which a correct
// session never reaches: the close ends every transfer). A task still running 20 s after the
// resumes, or a session not invalidated 20 s later, is reported as stuck.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/live_objects.h"
#include "harness/check/violation.h"
#include "harness/http/http_client.h"
#include "harness/http/server/server.h"

namespace {

constexpr size_t kMaxHeaderLine = 128;
constexpr size_t kMaxResponseBytes = 64 << 10;
constexpr int kMaxTasks = 4;
constexpr size_t kMaxSplits = 4;
constexpr size_t kMaxCapturedBody = 256;
constexpr absl::Duration kKeepTimeout = absl::Milliseconds(200);
constexpr absl::Duration kClosingTimeout = absl::Seconds(5);
constexpr absl::Duration kStuckAfter = absl::Seconds(20);

// ---------------------------------------------------------------------------------------------
// The input.

enum class Protocol { kH1, kH2, kH2Upgrade };
enum class CancelPoint { kNone, kBefore, kResume, kRequest, kDone };

struct Input {
  Protocol protocol = Protocol::kH1;
  int tasks = 1;
  netrig::ScriptedResponse::Then then = netrig::ScriptedResponse::Then::kClose;
  int cancel_task = 0;  // 1-based; 0: none.
  CancelPoint cancel_point = CancelPoint::kNone;
  std::vector<size_t> splits;
  bool head = false;
  bool abort = false;
  std::string header;  // As given, for messages.
  std::string bytes;
};

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

// ---------------------------------------------------------------------------------------------
// Process-wide: the server, the client, and what the server's script answers right now.

struct World {
  std::string client_name = "curl";
  bool verbose = false;  // NETRIG_HTTP_RESPONSE_VERBOSE=1: one line per completed task.
  std::unique_ptr<netrig::HttpServer> server;
  std::unique_ptr<netrig::HttpClient> client;
  std::vector<std::pair<std::string, int64_t>> live_baseline;

  // What the script answers; set by each input before its session starts.
  netrig::Mutex mu;
  Protocol protocol ABSL_GUARDED_BY(mu) = Protocol::kH1;
  std::string bytes ABSL_GUARDED_BY(mu);
  std::vector<size_t> splits ABSL_GUARDED_BY(mu);
  netrig::ScriptedResponse::Then then ABSL_GUARDED_BY(mu) = netrig::ScriptedResponse::Then::kClose;
  uint64_t first_connection ABSL_GUARDED_BY(mu) = 0;  // Connections before it are an old input's.
  bool primer_connection_taken ABSL_GUARDED_BY(mu) = false;
  std::shared_ptr<netrig::HttpTask> cancel_on_request ABSL_GUARDED_BY(mu);
  // "abort": the session to invalidate on the first request (cleared before it is destroyed).
  netrig::HttpSession* abort_on_request ABSL_GUARDED_BY(mu) = nullptr;
  // The script holds the task (or session) while it cancels it; the input waits for that before
  // it drops the session and checks for leaks.
  bool cancelling ABSL_GUARDED_BY(mu) = false;
  netrig::CondVar cancel_done;
};

World* world = nullptr;

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "http_response fuzzer: %s\n", what.c_str());
  std::abort();
}

// An empty SETTINGS frame and a SETTINGS ACK, as the server's scripted HTTP/2 mode sends them.
constexpr char kSettingsAndAck[] = {0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0};

netrig::ScriptedResponse Answer(const netrig::ScriptedRequest& request) {
  netrig::ScriptedResponse response;
  std::shared_ptr<netrig::HttpTask> to_cancel;
  netrig::HttpSession* to_abort = nullptr;
  {
    netrig::MutexLock lock(&world->mu);
    const bool this_input = request.connection_index >= world->first_connection;
    if (this_input && (world->cancel_on_request != nullptr || world->abort_on_request != nullptr)) {
      to_cancel = std::move(world->cancel_on_request);
      to_abort = std::exchange(world->abort_on_request, nullptr);
      world->cancelling = true;
    }
    response.then = world->then;
    if (world->protocol == Protocol::kH1) {
      response.bytes = world->bytes;
      response.pause_after = world->splits;
    } else if (request.protocol == netrig::HttpProtocol::kHttp2) {
      if (world->protocol == Protocol::kH2Upgrade && this_input &&
          !world->primer_connection_taken) {
        // The primer's prior-knowledge connection: no answer, keep its stream in flight.
        world->primer_connection_taken = true;
        response.then = netrig::ScriptedResponse::Then::kKeepOpen;
      } else {
        response.bytes = world->bytes;
      }
    } else {
      response.bytes =
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
      response.bytes.append(kSettingsAndAck, sizeof(kSettingsAndAck));
      for (size_t at : world->splits) response.pause_after.push_back(response.bytes.size() + at);
      response.bytes += world->bytes;
    }
  }
  // Outside the lock: a cancel may complete the task, whose callback takes the input's lock.
  if (to_cancel != nullptr || to_abort != nullptr) {
    if (to_cancel != nullptr) to_cancel->Cancel();
    to_cancel.reset();
    if (to_abort != nullptr) to_abort->InvalidateAndCancel();
    netrig::MutexLock lock(&world->mu);
    world->cancelling = false;
    world->cancel_done.SignalAll();
  }
  return response;
}

void StopWorld() {
  if (world == nullptr) return;
  world->client.reset();
  if (world->server) world->server->Stop();
  delete world;
  world = nullptr;
}

void InitWorld() {
  if (world != nullptr) return;
  world = new World;
  if (const char* name = std::getenv("NETRIG_HTTP_CLIENT"); name != nullptr && *name != '\0') {
    world->client_name = name;
  }
  if (const char* verbose = std::getenv("NETRIG_HTTP_RESPONSE_VERBOSE"); verbose != nullptr) {
    world->verbose = *verbose != '\0' && *verbose != '0';
  }
  absl::StatusOr<std::unique_ptr<netrig::HttpClient>> client =
      netrig::MakeHttpClient(world->client_name);
  if (!client.ok()) {
    Fatal(
        absl::StrCat("NETRIG_HTTP_CLIENT=", world->client_name, ": ", client.status().ToString()));
  }
  world->client = *std::move(client);
  world->server = std::make_unique<netrig::HttpServer>();
  if (absl::Status started = world->server->Start(); !started.ok()) {
    Fatal(absl::StrCat("server: ", started.ToString()));
  }
  world->server->SetScriptedResponse(Answer);
  world->live_baseline = netrig::LiveObjectsSnapshot();
  std::atexit(StopWorld);
}

// ---------------------------------------------------------------------------------------------
// One input.

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

class Run {
 public:
  explicit Run(const Input& input)
      : input_(input), state_(std::make_shared<RunState>(input.header)) {}

  void Execute() {
    const bool primer = input_.protocol == Protocol::kH2Upgrade;
    {
      netrig::MutexLock lock(&world->mu);
      world->protocol = input_.protocol;
      world->bytes = input_.bytes;
      world->splits = input_.splits;
      world->then = input_.then;
      world->first_connection = world->server->Stats().connections_accepted;
      world->primer_connection_taken = false;
      world->cancel_on_request.reset();
    }

    netrig::HttpSessionOptions options;
    if (primer) options.max_concurrent_streams = 1;  // Every further task opens a connection.
    absl::StatusOr<std::unique_ptr<netrig::HttpSession>> session =
        world->client->NewSession(options);
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

 private:
  static void OnComplete(RunState& state, uint64_t id, int index,
                         const netrig::HttpResult& result) {
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

  // After this the script no longer touches this input's tasks or session.
  static void StopScriptActions() {
    netrig::MutexLock lock(&world->mu);
    world->cancel_on_request.reset();
    world->abort_on_request = nullptr;
    while (world->cancelling) world->cancel_done.Wait(&world->mu);
  }

  void WaitForOutstanding(int target, const std::vector<std::shared_ptr<netrig::HttpTask>>& tasks) {
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

  static std::string TaskStates(const std::vector<std::shared_ptr<netrig::HttpTask>>& tasks) {
    std::string states = "; task states:";
    for (const auto& task : tasks) absl::StrAppend(&states, " ", task->state());
    return states;
  }

  void CheckViolations() {
    if (state_->violations.empty()) return;
    std::string what;
    for (const netrig::Violation& v : state_->violations.Kept()) {
      absl::StrAppend(&what, "\n  ", v.kind, ": ", v.message);
    }
    Fail(absl::StrCat("violation(s):", what));
  }

  [[noreturn]] void Fail(const std::string& what) const {
    Fatal(absl::StrCat("client \"", world->client_name, "\" broke a property with header \"",
                       input_.header, "\" and ", input_.bytes.size(), " response bytes: ", what));
  }

  const Input& input_;
  const std::shared_ptr<RunState> state_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  InitWorld();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InitWorld();
  const Input input = ParseInput(absl::string_view(reinterpret_cast<const char*>(data), size));
  Run(input).Execute();
  return 0;
}
