// Internals of the reference libcurl session (session.h): the session core, its tasks, the
// connection records and observer registrations, the client's share handle, and the helpers they
// share. Not a public API. The code is split by concern:
//
//   session.cc          the public objects (CurlSession, CurlClient), NewCurlClient, the
//                       live-object counters
//   session_share.cc    libcurl's global init and the client's share handle (CurlShare)
//   session_errors.cc   CURLcode -> HttpErrorKind, and the small socket and URL helpers
//   session_task.cc     the task (CurlTask): its state names, Resume and Cancel
//   session_easy.cc     easy-handle setup (SessionCore::StartTask), the libcurl callbacks (body,
//                       open/close socket, request ready)
//   session_h2c.cc      which connection an h2c transfer takes, and when (libcurl 7.88 left to
//                       itself puts them on busy HTTP/1.1 connections)
//   session_loop.cc     the event loop: commands, transfers ending, completion, invalidation,
//                       teardown, observer notifications
//
// Threading: see session.h. Members marked "event thread only" belong to the session's event
// thread (SessionCore::event_thread_); the rest is atomics or guarded by the Mutex named in its
// ABSL_GUARDED_BY.
#ifndef NETRIG_HARNESS_HTTP_CURL_SESSION_INTERNAL_H_
#define NETRIG_HARNESS_HTTP_CURL_SESSION_INTERNAL_H_

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/http/curl/session.h"
#include "harness/http/http_client.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig::internal::curl_session {

// The live-object counters (session.h), defined in session.cc.
extern LiveCounter kSessionCounter;
extern LiveCounter kTaskCounter;
extern LiveCounter kConnectionCounter;
extern LiveCounter kObserverCounter;
extern LiveCounter kRegistrationCounter;

// What CurlEasyHandleCounters() reads (session.cc); relaxed atomics, counted on event threads.
struct EasyHandleCounters {
  std::atomic<int64_t> transfers_started{0};
  std::atomic<int64_t> handles_created{0};
  std::atomic<int64_t> handles_destroyed{0};
  std::atomic<int64_t> handles_pooled{0};

  void Add(std::atomic<int64_t>& counter, int64_t n) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
};
extern EasyHandleCounters kEasyHandles;

// curl_global_init, once per process (session_share.cc).
absl::Status GlobalInit();

// ---- session_errors.cc ----

// The HttpErrorKind of a CURLcode alone (no transfer to look at).
HttpErrorKind ErrorKindOf(CURLcode code);
// The HttpErrorKind of a finished transfer: the party at fault, from what happened on `easy`
// (whether response bytes arrived, whether the socket failed), where the code alone is
// ambiguous. A malformed response is kProtocol, whichever code libcurl chose for it.
HttpErrorKind ErrorKindOf(CURL* easy, CURLcode code);
// "host:port" or "[host]:port" of an IPv4 or IPv6 address; "?" for any other family.
std::string PeerName(const struct sockaddr* address);
// The local port a socket is bound to; -1 if unknown.
int LocalPort(int fd);
absl::Duration Micros(curl_off_t us);
// "http://host:port" of a URL: everything before the path, query or fragment.
std::string OriginOf(absl::string_view url);

// ---------------------------------------------------------------------------------------------
// The share handle of one client: DNS cache shared by its sessions.

class CurlShare {
 public:
  explicit CurlShare(bool with_locks);
  ~CurlShare();
  CurlShare(const CurlShare&) = delete;
  CurlShare& operator=(const CurlShare&) = delete;

  CURLSH* handle() const { return share_; }

  // Client-wide state of the seeded bug CurlSessionBugs::remember_unreachable_forever.
  std::atomic<bool> marked_unreachable{false};

 private:
  // libcurl pairs each lock with an unlock on the same thread; the analysis cannot see that.
  static void LockData(CURL*, curl_lock_data data, curl_lock_access,
                       void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  static void UnlockData(CURL*, curl_lock_data data, void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS;
  Mutex& MutexFor(curl_lock_data data);

  CURLSH* const share_;
  std::array<Mutex, CURL_LOCK_DATA_LAST> locks_;
};

// ---------------------------------------------------------------------------------------------
// Observers and connection records.

struct ObserverEntry {
  explicit ObserverEntry(ObserverId id, ConnectionObserver callbacks)
      : id(id), callbacks(std::move(callbacks)) {}
  LiveToken live{kObserverCounter};
  const ObserverId id;
  const ConnectionObserver callbacks;
  // Held by the event thread while calling back; RemoveConnectionObserver from another thread
  // takes it to wait out a call in progress.
  Mutex call_mu;
  std::atomic<bool> removed{false};
};

struct ConnectionRecord;

// One observer attached to one connection.
struct ObserverRegistration {
  LiveToken live{kRegistrationCounter};
  std::shared_ptr<ObserverEntry> observer;
  // Bug (d) only: the registration keeps "its" connection, which keeps the registration.
  std::shared_ptr<ConnectionRecord> retained_connection;
};

struct ConnectionRecord {
  LiveToken live{kConnectionCounter};
  uint64_t id = 0;
  curl_socket_t fd = CURL_SOCKET_BAD;
  std::string peer;
  std::string h2c_origin;  // With h2c_alias: the h2c route this connection was opened for.
  int h2c_alias = -1;
  int local_port = -1;  // Learnt lazily (getsockname) once connected.
  bool established = false;
  bool closed = false;
  // Ids of the tasks whose requests went out on this connection and have not completed: the
  // connection's queue (docs/field-notes.md story 1 crashed dequeuing from one of these).
  std::vector<uint64_t> queued_tasks;
  std::vector<std::shared_ptr<ObserverRegistration>> registrations;

  ConnectionInfo Info() const { return ConnectionInfo{id, peer}; }
  void DequeueTask(uint64_t task_id) {
    auto it = std::find(queued_tasks.begin(), queued_tasks.end(), task_id);
    if (it != queued_tasks.end()) queued_tasks.erase(it);
  }
};

class SessionCore;

// ---------------------------------------------------------------------------------------------
// Tasks.

// How long past HttpRequest::timeout the session waits for libcurl to end a transfer before it
// ends the transfer itself (SessionCore::EndOverdueTransfers).
constexpr absl::Duration kTimeoutGrace = absl::Seconds(1);

enum class TaskState : int { kCreated, kQueued, kRunning, kCompleted };

const char* TaskStateName(TaskState state);

// libcurl's write callback (session_easy.cc): counts the body and keeps its first
// HttpRequest::max_captured_body bytes.
size_t BodyCallback(char* data, size_t size, size_t count, void* task_pointer);

class CurlTask final : public HttpTask, public std::enable_shared_from_this<CurlTask> {
 public:
  CurlTask(uint64_t id, HttpRequest request, HttpCompletion on_complete,
           std::weak_ptr<SessionCore> core)
      : id_(id),
        request_(std::move(request)),
        core_(std::move(core)),
        completion_(std::make_shared<HttpCompletion>(std::move(on_complete))) {
    created_ = netrig::Now();
  }

  uint64_t id() const override { return id_; }
  void Resume() override;
  void Cancel() override;
  const char* state() const override { return TaskStateName(state_.load()); }

  TaskState state_value() const { return state_.load(); }
  // Takes the completion callback (the first caller wins, later ones get nullptr).
  std::shared_ptr<HttpCompletion> TakeCompletion() {
    MutexLock lock(&completion_mu_);
    return std::move(completion_);
  }
  // Bug (c): a copy, leaving the callback in place for the event thread.
  std::shared_ptr<HttpCompletion> PeekCompletion() {
    MutexLock lock(&completion_mu_);
    return completion_;
  }

 private:
  friend class SessionCore;
  friend size_t BodyCallback(char* data, size_t size, size_t count, void* task_pointer);

  LiveToken live_{kTaskCounter};
  const uint64_t id_;
  const HttpRequest request_;
  const std::weak_ptr<SessionCore> core_;
  std::atomic<TaskState> state_{TaskState::kCreated};
  std::atomic<bool> cancelled_inline_{false};  // Bug (c).
  std::atomic<int64_t> resumed_ns_{0};         // absl::ToUnixNanos of the first Resume.
  absl::Time created_;

  Mutex completion_mu_;
  std::shared_ptr<HttpCompletion> completion_ ABSL_GUARDED_BY(completion_mu_);

  // Event thread only.
  bool completed_ = false;
  CURL* easy_ = nullptr;
  curl_slist* header_list_ = nullptr;
  int64_t body_bytes_ = 0;
  std::string body_;
  uint64_t connection_id_ = 0;
  ConnectionRecord* connection_raw_ = nullptr;  // Bug (a).
  std::string h2c_origin_;                      // "http://host:port" for h2c requests.
  int h2c_alias_ = -1;       // Routed by RouteH2cTask (counted in its alias) until released.
  bool h2c_opener_ = false;  // Opens its alias's connection; see RouteH2cTask.
  absl::Time deadline_ = absl::InfiniteFuture();  // See EndOverdueTransfers.
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

// ---------------------------------------------------------------------------------------------
// The session core: shared by the session object, its tasks (weakly) and its event thread.

class SessionCore : public std::enable_shared_from_this<SessionCore> {
 public:
  SessionCore(const HttpSessionOptions& options, const CurlClientOptions& client_options,
              std::shared_ptr<CurlShare> share)
      : options_(options),
        client_options_(client_options),
        bugs_(client_options.bugs),
        share_(std::move(share)) {}

  ~SessionCore() {
    // Normally empty by now; a session torn down with the event thread never started.
    DestroyPooledEasyHandles();
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
    for (auto& [name, origin] : h2c_origins_) {
      for (H2cAlias& alias : origin.aliases) alias.Free();
    }
  }

  absl::Status Start() {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) return absl::InternalError("curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    if (options_.max_connections_per_host > 0) {
      curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS,
                        static_cast<long>(options_.max_connections_per_host));
    }
    if (options_.max_concurrent_streams > 0) {
      curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS,
                        static_cast<long>(options_.max_concurrent_streams));
    }
    std::shared_ptr<SessionCore> self = shared_from_this();
    thread_ = Thread("curl.session", [self] { self->Run(); });
    return absl::OkStatus();
  }

  // Called by ~CurlSession.
  void Shutdown() {
    InvalidateAndCancel(nullptr);
    if (OnEventThread()) {
      // Destroyed from one of its own callbacks: the event thread finishes invalidation after
      // the callback returns and then ends, holding the core until then.
      thread_.detach();
      return;
    }
    WaitUntilInvalidated(absl::InfiniteDuration());
    if (thread_.joinable()) thread_.join();
  }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) {
    SchedulePoint("task.create");
    MutexLock lock(&mu_);
    if (phase_ != Phase::kOpen) {
      return absl::FailedPreconditionError("the session is invalidated; make a new session");
    }
    auto task = std::make_shared<CurlTask>(next_task_id_++, std::move(request),
                                           std::move(on_complete), weak_from_this());
    live_tasks_.emplace(task->id(), task);
    return task;
  }

  void PostResume(std::shared_ptr<CurlTask> task) {
    if (bugs_.reclaim_connections_on_resume) {
      // Bug (a): "tidy up" closed connections while we are here, on the caller's thread.
      SchedulePoint("connection.reclaim");
      MutexLock lock(&closed_mu_);
      closed_records_.clear();
    }
    Post(Command{CommandKind::kResume, std::move(task), nullptr});
  }
  void PostCancel(std::shared_ptr<CurlTask> task) {
    Post(Command{CommandKind::kCancel, std::move(task), nullptr});
  }

  bool bug_cancel_inline() const { return bugs_.cancel_completes_inline; }

  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) {
    BeginInvalidation(Phase::kFinishing, std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) {
    BeginInvalidation(Phase::kCancelling, std::move(on_invalidated));
  }

  bool WaitUntilInvalidated(absl::Duration timeout) {
    if (OnEventThread()) return false;  // It would wait for itself.
    const absl::Time deadline = netrig::Now() + timeout;
    MutexLock lock(&mu_);
    while (phase_ != Phase::kInvalidated) {
      if (timeout == absl::InfiniteDuration()) {
        invalidated_cv_.Wait(&mu_);
      } else {
        const absl::Duration left = deadline - netrig::Now();
        if (left <= absl::ZeroDuration()) return false;
        invalidated_cv_.WaitWithTimeout(&mu_, left);
      }
    }
    return true;
  }

  absl::StatusOr<ObserverId> AddObserver(ConnectionObserver callbacks) {
    SchedulePoint("observer.add");
    std::shared_ptr<ObserverEntry> entry;
    {
      MutexLock lock(&mu_);
      if (phase_ != Phase::kOpen) {
        return absl::FailedPreconditionError("the session is invalidated");
      }
      entry = std::make_shared<ObserverEntry>(next_observer_id_++, std::move(callbacks));
      observers_.emplace(entry->id, entry);
    }
    const ObserverId id = entry->id;
    Post(Command{CommandKind::kAddObserver, nullptr, std::move(entry)});
    return id;
  }

  void RemoveObserver(ObserverId id) {
    SchedulePoint("observer.remove");
    std::shared_ptr<ObserverEntry> entry;
    {
      MutexLock lock(&mu_);
      auto it = observers_.find(id);
      if (it == observers_.end()) return;
      entry = std::move(it->second);
      observers_.erase(it);
    }
    if (OnEventThread()) {
      entry->removed.store(true);  // We may be inside its callback, holding call_mu.
    } else {
      MutexLock wait_for_call(&entry->call_mu);
      entry->removed.store(true);
    }
    Post(Command{CommandKind::kRemoveObserver, nullptr, std::move(entry)});
  }

  // libcurl callbacks (event thread).
  curl_socket_t OnOpenSocket(curlsocktype purpose, curl_sockaddr* address);
  void OnCloseSocket(curl_socket_t fd);
  void OnRequestReady(CurlTask* task, int local_port);

 private:
  enum class Phase { kOpen, kFinishing, kCancelling, kInvalidated };
  enum class CommandKind { kResume, kCancel, kAddObserver, kRemoveObserver, kWake };
  struct Command {
    CommandKind kind;
    std::shared_ptr<CurlTask> task;
    std::shared_ptr<ObserverEntry> observer;
  };

  bool OnEventThread() const { return event_thread_.IsCurrent(); }

  void Post(Command command) {
    MutexLock lock(&mu_);
    // Once teardown began nothing is live any more: late cancels and removals have no effect.
    if (!accepting_commands_) return;
    inbox_.push_back(std::move(command));
    inbox_filled_.store(true, std::memory_order_release);
    // A wakeup only when the event thread may be asleep in curl_multi_poll (it set
    // may_sleep_ under mu_ after it found the inbox empty) and nobody woke it yet: while it
    // works, it takes this command with the next batch without one (a write and a read saved,
    // and no extra loop turn). Both flags are cleared when it takes the inbox. Under mu_, so
    // teardown cannot free the multi handle in between (the call only writes a byte). The event
    // thread itself (a callback resuming the next task) needs no wakeup: it looks at the inbox
    // before it polls.
    if (may_sleep_ && !wake_pending_ && !OnEventThread()) {
      wake_pending_ = true;
      curl_multi_wakeup(multi_);
    }
  }

  void BeginInvalidation(Phase phase, absl::AnyInvocable<void()> on_invalidated) {
    SchedulePoint("session.invalidate");
    {
      MutexLock lock(&mu_);
      if (phase_ == Phase::kInvalidated) {
        // Already done: honour the callback right away (nothing else will ever run).
      } else {
        if (on_invalidated) invalidated_callbacks_.push_back(std::move(on_invalidated));
        on_invalidated = nullptr;
        if (phase_ == Phase::kOpen || phase == Phase::kCancelling) phase_ = phase;
      }
    }
    if (on_invalidated) {
      on_invalidated();
      return;
    }
    Post(Command{CommandKind::kWake, nullptr, nullptr});
  }

  // ---- Event thread ----
  void Run();
  void Handle(Command& command);
  // Waits for a socket event, a timer of libcurl's or a command (curl_multi_poll, woken by
  // curl_multi_wakeup); under a controlled scheduler, as probes.
  void WaitForWork();
  void StartTask(const std::shared_ptr<CurlTask>& task);
  // curl_multi_add_handle for a task StartTask set up; completes the task if libcurl refuses.
  void AddToMulti(const std::shared_ptr<CurlTask>& task);
  // ---- h2c routing (session_h2c.cc) ----
  // True if an h2c task set up for HTTP/2 (kUpgrade, kEither) may be added now, on the route
  // chosen for it; false if it is held until its origin's next connection is up.
  bool RouteH2cTask(const std::shared_ptr<CurlTask>& task);
  // The opener's request is about to go out on `connection` (CURLOPT_PREREQFUNCTION).
  void H2cOpenerConnected(CurlTask* task, ConnectionRecord& connection);
  // The task's easy handle is returned: it leaves its alias.
  void ReleaseH2cRoute(CurlTask* task);
  // The alias's connection closed: no transfer goes there again until it is reopened.
  void RetireH2cAlias(const std::string& origin, int alias);
  // Held tasks whose gate opened go to the multi handle after this loop turn's
  // curl_multi_perform, never from inside a libcurl callback (where adding one is not allowed).
  void StartReleasedH2cTasks();
  void CancelTask(const std::shared_ptr<CurlTask>& task, const char* why);
  void FinishTransfer(CURL* easy, CURLcode code);
  void Complete(const std::shared_ptr<CurlTask>& task, HttpResult result);
  void EndOverdueTransfers();
  void ReleaseEasy(CurlTask* task);
  // A pooled easy handle (reset to libcurl's defaults when it was pooled) or a new one; nullptr
  // when curl_easy_init fails.
  CURL* TakeEasy();
  void DestroyPooledEasyHandles();
  void ReclaimClosedRecords() {
    MutexLock lock(&closed_mu_);
    closed_records_.clear();
  }
  // Returns true when invalidation finished (the loop ends).
  bool AdvanceInvalidation();
  void Teardown();
  void NotifyViability(ConnectionRecord& record, bool viable);
  void NotifyBetterPath(ConnectionRecord& record);
  template <typename Call>
  void CallObserver(ObserverEntry& entry, Call&& call) {
    if (entry.removed.load()) return;
    MutexLock lock(&entry.call_mu);
    if (entry.removed.load()) return;
    call(entry.callbacks);
  }
  std::shared_ptr<ObserverRegistration> Register(const std::shared_ptr<ObserverEntry>& observer,
                                                 const std::shared_ptr<ConnectionRecord>& record) {
    auto registration = std::make_shared<ObserverRegistration>();
    registration->observer = observer;
    if (bugs_.observers_retain_connections) registration->retained_connection = record;
    return registration;
  }

  const HttpSessionOptions options_;
  const CurlClientOptions client_options_;
  const CurlSessionBugs bugs_;
  const std::shared_ptr<CurlShare> share_;
  CURLM* multi_ = nullptr;
  Thread thread_;
  // The event thread: every easy handle, connection record and observer list is its alone.
  ThreadAffinity event_thread_;

  mutable Mutex mu_;
  CondVar invalidated_cv_;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kOpen;
  uint64_t next_task_id_ ABSL_GUARDED_BY(mu_) = 1;
  ObserverId next_observer_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Command> inbox_ ABSL_GUARDED_BY(mu_);
  // inbox_ is not empty (set with it, cleared when the event thread takes it): what the event
  // thread's probes look at under a controlled scheduler, where taking mu_ would be a
  // scheduling point of its own.
  std::atomic<bool> inbox_filled_{false};
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;
  // The event thread found the inbox empty and is about to wait (or waits) for work.
  bool may_sleep_ ABSL_GUARDED_BY(mu_) = false;
  bool accepting_commands_ ABSL_GUARDED_BY(mu_) = true;
  // Every task made and not yet completed.
  absl::flat_hash_map<uint64_t, std::shared_ptr<CurlTask>> live_tasks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ObserverId, std::shared_ptr<ObserverEntry>> observers_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::AnyInvocable<void()>> invalidated_callbacks_ ABSL_GUARDED_BY(mu_);

  // Bug (a): closed records waiting to be reclaimed.
  Mutex closed_mu_;
  std::vector<std::shared_ptr<ConnectionRecord>> closed_records_ ABSL_GUARDED_BY(closed_mu_);

  // Event thread only.
  LiveToken live_{kSessionCounter};
  std::vector<CURL*> idle_easy_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<CurlTask>> running_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<ConnectionRecord>> connections_;  // By id.
  absl::flat_hash_map<curl_socket_t, uint64_t> connection_by_fd_;
  std::vector<std::shared_ptr<ObserverEntry>> event_observers_;
  uint64_t next_connection_id_ = 1;
  // h2c routing state: see session_h2c.cc.
  struct H2cAlias {
    curl_slist* connect_to = nullptr;  // "::ALIAS:"; nullptr: the origin's own name.
    curl_slist* resolve = nullptr;     // "ALIAS:PORT:ADDRESS".
    int in_flight = 0;                 // Transfers routed here and not yet released.
    bool retired = false;              // Its connection closed, or never opened.
    void Free() {
      curl_slist_free_all(connect_to);
      curl_slist_free_all(resolve);
      connect_to = resolve = nullptr;
    }
  };
  struct H2cOrigin {
    std::string host;  // As in the URL ("[::1]" for IPv6).
    std::string port;
    bool address_literal = false;
    std::vector<H2cAlias> aliases;
    int current = -1;        // The alias new transfers join; -1: the next one opens one.
    bool gate_open = false;  // The current alias's opener is through: others may join it.
    std::vector<std::shared_ptr<CurlTask>> held;
  };
  H2cOrigin& H2cOriginOf(const std::string& origin);
  void OpenH2cGate(H2cOrigin& origin);
  absl::flat_hash_map<std::string, H2cOrigin> h2c_origins_;
  std::vector<std::shared_ptr<CurlTask>> h2c_released_;
  bool invalidation_seen_ = false;
  absl::Time next_overdue_check_ = absl::InfinitePast();
};

}  // namespace netrig::internal::curl_session

#endif  // NETRIG_HARNESS_HTTP_CURL_SESSION_INTERNAL_H_
