// The HTTP client interface netrig drives, and the registry that maps `--client NAME` to it.
//
// A client is task-based, in the shape of docs/field-notes.md story 1: an HttpClient makes
// HttpSessions; a session makes HttpTasks from requests; Resume() starts a task; Cancel() may
// come at any moment from any thread; every task completes exactly once through its completion
// callback; a session is invalidated either after its tasks finish (FinishTasksAndInvalidate) or
// by cancelling them (InvalidateAndCancel), and nothing is called back after invalidation has
// completed. Per-connection observers (viability and better-path callbacks, story 3) can be added
// and removed at any time.
//
// netrig's own implementation is the libcurl session in session.h, registered as "curl"; the
// seeded-bug variants are registered as "bug-..." (buggy_clients.h). To test your own client,
// implement HttpClient / HttpSession / HttpTask and register a factory:
//
//   class MyClient : public netrig::HttpClient { ... };
//   NETRIG_REGISTER_HTTP_CLIENT("mine", "my HTTP stack",
//                               [] { return std::make_unique<MyClient>(); });
//
// Put the macro in a .cc file that is linked into the executable directly (an object file or a
// source of the executable): a registration object inside a static library is dropped by the
// linker when nothing else references its object file. Where that is awkward, call
// netrig::RegisterHttpClient(...) explicitly from main() before the driver looks clients up.
//
// Reporting your client's live objects: count sessions, tasks, connections and observer
// registrations with live-object counters (harness/check/live_objects.h), one per type, each
// object holding a LiveToken for its lifetime:
//   netrig::LiveCounter kLiveTasks("my-client.task");
//   class MyTask : public netrig::HttpTask { ...; netrig::LiveToken live_{kLiveTasks}; };
// `netrig http` checks every counter of the program (netrig's own "http.*" ones and yours) once
// every session of the run was invalidated and released: one not back to its value from before
// the run is a `live_objects` violation naming the type and how many are left (a task kept alive
// by a cycle, a connection kept by an observer). The JSON report's `live_objects_counted` lists
// the counters the run exercised and how many objects of each it created.
//
// Using a client:
//   absl::StatusOr<std::unique_ptr<netrig::HttpClient>> client = netrig::MakeHttpClient("curl");
//   auto session = (*client)->NewSession({});
//   netrig::HttpRequest request;
//   request.url = "http://127.0.0.1:8080/";
//   auto task = (*session)->MakeTask(request, [](const netrig::HttpResult& result) { ... });
//   (*task)->Resume();
//   ...
//   (*session)->FinishTasksAndInvalidate();
//   (*session)->WaitUntilInvalidated();
#ifndef NETRIG_HARNESS_HTTP_HTTP_CLIENT_H_
#define NETRIG_HARNESS_HTTP_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/registry.h"

namespace netrig {

enum class HttpVersion {
  kHttp11,  // HTTP/1.1 with keep-alive.
  // HTTP/2 over cleartext TCP (h2c), the connection opened as HttpSessionOptions::h2c_mode
  // allows: by prior knowledge (RFC 9113 section 3.3) or an Upgrade.
  kH2cPriorKnowledge,
};
absl::string_view HttpVersionName(HttpVersion version);  // "http1.1", "h2c"
absl::StatusOr<HttpVersion> ParseHttpVersion(absl::string_view name);

// How the server behind a session accepts HTTP/2 over cleartext TCP, i.e. how a session may open
// an h2c connection (HttpSessionOptions::h2c_mode). A property of the server, not of the request:
// nghttpd and nginx's h2c listener speak h2c only by prior knowledge (RFC 9113 deprecates the
// Upgrade), a server without HTTP/2 answers an Upgrade in HTTP/1.1 and fails prior knowledge.
enum class H2cMode {
  kPriorKnowledge,  // Only prior knowledge (RFC 9113 section 3.3); an Upgrade would fail.
  kUpgrade,         // Only an HTTP/1.1 Upgrade: h2c (RFC 7540 section 3.2), or no h2c at all.
  kEither,          // Both (netrig's embedded server): the client chooses per connection.
};
absl::string_view H2cModeName(H2cMode mode);  // "prior", "upgrade", "both"
absl::StatusOr<H2cMode> ParseH2cMode(absl::string_view name);

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  HttpVersion version = HttpVersion::kHttp11;
  // Whole-task timeout from the moment the task starts running; InfiniteDuration: none.
  absl::Duration timeout = absl::Seconds(30);
  // Keep up to this many body bytes in HttpResult::body (the rest is only counted).
  size_t max_captured_body = 0;
};

// Why a task did not succeed. A task that got a complete response has kNone, whatever its status.
enum class HttpErrorKind {
  kNone = 0,
  kCancelled,       // Cancel(), or InvalidateAndCancel, or invalidation before Resume().
  kTimeout,         // HttpRequest::timeout or the session's connect timeout expired.
  kConnect,         // Could not connect (refused, unreachable, name not resolved).
  kReset,           // The connection or the HTTP/2 stream was reset / closed mid-response.
  kTruncated,       // The body ended before its announced length.
  kProtocol,        // Malformed response or HTTP/2 protocol error.
  kInvalidRequest,  // The request itself was unusable (bad URL, unsupported scheme).
  kTooLarge,        // A response part exceeded a limit (headers, body).
  kOther,
};
inline constexpr int kHttpErrorKindCount = 10;
// "none", "cancelled", "timeout", "connect", "reset", "truncated", "protocol", "invalid_request",
// "too_large", "other".
absl::string_view HttpErrorKindName(HttpErrorKind kind);

struct HttpTimings {
  absl::Time created;    // MakeTask.
  absl::Time resumed;    // First Resume() (InfinitePast if never resumed).
  absl::Time completed;  // Just before the completion callback.
  // From the start of the transfer; ZeroDuration where the phase was not reached.
  absl::Duration connect;
  absl::Duration first_byte;
  absl::Duration total;
};

struct HttpResult {
  uint64_t task_id = 0;
  int status = 0;  // 0: no response status.
  int64_t body_bytes = 0;
  HttpErrorKind error = HttpErrorKind::kNone;
  std::string error_message;                   // Empty when error == kNone.
  HttpVersion version = HttpVersion::kHttp11;  // The version the response came in.
  uint64_t connection_id = 0;                  // 0: never got a connection.
  HttpTimings timings;
  std::string body;  // At most HttpRequest::max_captured_body bytes.

  bool ok() const { return error == HttpErrorKind::kNone; }
};

// Called exactly once per task, on a thread of the session's choosing (never while a lock of the
// caller's is needed: implementations call it without holding their own locks).
using HttpCompletion = absl::AnyInvocable<void(const HttpResult&)>;

class HttpTask {
 public:
  virtual ~HttpTask() = default;
  virtual uint64_t id() const = 0;
  // Starts the task. A second Resume, or a Resume after Cancel or completion, does nothing.
  virtual void Resume() = 0;
  // Any thread, any moment. Completes the task with kCancelled unless it already completed (or
  // is completing); a second Cancel, or one after completion, does nothing.
  virtual void Cancel() = 0;
  // The last state the task reached, for stuck-task reports: a string literal such as "created",
  // "queued", "running", "completed".
  virtual const char* state() const = 0;
};

// Per-connection callbacks (docs/field-notes.md story 3). Either may be empty.
struct ConnectionInfo {
  uint64_t id = 0;
  std::string peer;  // "127.0.0.1:8080", "[::1]:8080".
};
struct ConnectionObserver {
  // true once the connection is usable, false when it closed.
  std::function<void(const ConnectionInfo&, bool viable)> on_viability_changed;
  // true when a newer connection to the same peer became usable.
  std::function<void(const ConnectionInfo&, bool better_path_available)> on_better_path;
};
using ObserverId = uint64_t;

class HttpSession {
 public:
  // Implementations invalidate with InvalidateAndCancel and wait if that has not happened yet.
  virtual ~HttpSession() = default;

  // Fails with FailedPrecondition once invalidation began.
  virtual absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                             HttpCompletion on_complete) = 0;

  // Resumed tasks run to completion; tasks never resumed complete as kCancelled. When all tasks
  // completed, `on_invalidated` runs; nothing of this session is called back after it.
  // Later calls (of either kind) add their callback; InvalidateAndCancel still cancels.
  virtual void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated = nullptr) = 0;
  // Cancels every task, then completes invalidation as above.
  virtual void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated = nullptr) = 0;
  // Blocks until invalidation completed (its callbacks returned). False on timeout, and at once
  // when called from one of the session's own callbacks (it would wait for itself).
  // Destroying a session from one of its own callbacks is allowed: invalidation then finishes
  // after that callback returns.
  virtual bool WaitUntilInvalidated(absl::Duration timeout = absl::InfiniteDuration()) = 0;

  // Observes every connection of the session, current and future, until removed. After
  // RemoveConnectionObserver returns the observer is not called again (also when called from
  // inside one of its own callbacks). Fails once invalidation began.
  virtual absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver observer) = 0;
  virtual void RemoveConnectionObserver(ObserverId id) = 0;
};

struct HttpSessionOptions {
  absl::Duration connect_timeout = absl::Seconds(5);
  // Per session: 0 lets the implementation choose.
  int max_connections_per_host = 0;
  int max_concurrent_streams = 100;  // HTTP/2 streams per connection.
  // How the origin accepts h2c (for requests with HttpVersion::kH2cPriorKnowledge).
  H2cMode h2c_mode = H2cMode::kEither;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Sessions may outlive the client object.
  virtual absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(
      const HttpSessionOptions& options) = 0;
  // Whether tasks may ask for `version`. A client that speaks HTTP/1.1 only (raw-socket) says
  // false for h2c, and `netrig http` then runs no h2c tasks on it.
  virtual bool Speaks(HttpVersion /*version*/) const { return true; }
};

using HttpClientFactory = std::function<absl::StatusOr<std::unique_ptr<HttpClient>>()>;

struct HttpClientRegistration {
  std::string name;
  std::string description;
  HttpClientFactory factory;
};

// The HTTP client registry (base/registry.h): the built-ins ("curl" and the seeded-bug clients)
// and every NETRIG_REGISTER_HTTP_CLIENT / RegisterHttpClient of the program.
Registry<HttpClientRegistration>& HttpClientRegistry();

// Adds `name` to the registry. AlreadyExists if taken (the built-in names are always taken).
absl::Status RegisterHttpClient(absl::string_view name, absl::string_view description,
                                HttpClientFactory factory);
// NotFound naming the registered clients if `name` is unknown.
absl::StatusOr<std::unique_ptr<HttpClient>> MakeHttpClient(absl::string_view name);
struct HttpClientEntry {
  std::string name;
  std::string description;
};
// Every registered client, sorted by name (built-ins included).
std::vector<HttpClientEntry> HttpClientNames();

}  // namespace netrig

// NETRIG_REGISTER_HTTP_CLIENT("name", "description", factory): see the comment at the top. Any
// number may share a line (the registration object is named by __COUNTER__).
#define NETRIG_REGISTER_HTTP_CLIENT(name, description, factory) \
  NETRIG_REGISTER(::netrig::HttpClientRegistry(),               \
                  ::netrig::HttpClientRegistration{name, description, factory})

#endif  // NETRIG_HARNESS_HTTP_HTTP_CLIENT_H_
