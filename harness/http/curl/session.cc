#include "harness/http/curl/session.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/clock.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace internal {
namespace {

LiveCounter kSessionCounter("http.session");
LiveCounter kTaskCounter("http.task");
LiveCounter kConnectionCounter("http.connection");
LiveCounter kObserverCounter("http.observer");
LiveCounter kRegistrationCounter("http.observer_registration");

absl::Status GlobalInit() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return absl::InternalError(absl::StrCat("curl_global_init: ", curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

HttpErrorKind ErrorKindOf(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return HttpErrorKind::kNone;
    case CURLE_ABORTED_BY_CALLBACK:
      return HttpErrorKind::kCancelled;
    case CURLE_OPERATION_TIMEDOUT:
      return HttpErrorKind::kTimeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return HttpErrorKind::kConnect;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2_STREAM:
      return HttpErrorKind::kReset;
    case CURLE_PARTIAL_FILE:
      return HttpErrorKind::kTruncated;
    case CURLE_HTTP2:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP_RETURNED_ERROR:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return HttpErrorKind::kProtocol;
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
      return HttpErrorKind::kInvalidRequest;
    case CURLE_FILESIZE_EXCEEDED:
      return HttpErrorKind::kTooLarge;
    default:
      return HttpErrorKind::kOther;
  }
}

std::string PeerName(const struct sockaddr* address) {
  char host[64] = "?";
  int port = 0;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return "?";
}

int LocalPort(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return -1;
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  if (local.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  }
  return -1;
}

absl::Duration Micros(curl_off_t us) { return absl::Microseconds(us); }

// "http://host:port" of a URL: everything before the path, query or fragment.
std::string OriginOf(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  const size_t authority = scheme_end == absl::string_view::npos ? 0 : scheme_end + 3;
  const size_t end = url.find_first_of("/?#", authority);
  return std::string(url.substr(0, end));
}

// ---------------------------------------------------------------------------------------------
// The share handle of one client: DNS cache shared by its sessions.

class CurlShare {
 public:
  explicit CurlShare(bool with_locks) : share_(curl_share_init()) {
    if (share_ == nullptr) return;
    if (with_locks) {
      curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlShare::LockData);
      curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlShare::UnlockData);
      curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    }
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  ~CurlShare() {
    if (share_ != nullptr) curl_share_cleanup(share_);
  }
  CurlShare(const CurlShare&) = delete;
  CurlShare& operator=(const CurlShare&) = delete;

  CURLSH* handle() const { return share_; }

 private:
  // libcurl pairs each lock with an unlock on the same thread; the analysis cannot see that.
  static void LockData(CURL*, curl_lock_data data, curl_lock_access,
                       void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<CurlShare*>(user)->MutexFor(data).Lock();
  }
  static void UnlockData(CURL*, curl_lock_data data, void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<CurlShare*>(user)->MutexFor(data).Unlock();
  }
  Mutex& MutexFor(curl_lock_data data) {
    const size_t index = static_cast<size_t>(data);
    return locks_[index < locks_.size() ? index : 0];
  }

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
  std::string h2c_origin;  // Set when an h2c request went out on it.
  int local_port = -1;     // Learnt lazily (getsockname) once connected.
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

const char* TaskStateName(TaskState state) {
  switch (state) {
    case TaskState::kCreated:
      return "created";
    case TaskState::kQueued:
      return "queued";
    case TaskState::kRunning:
      return "running";
    case TaskState::kCompleted:
      return "completed";
  }
  return "unknown";
}

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
  ConnectionRecord* connection_raw_ = nullptr;    // Bug (a).
  std::string h2c_origin_;                        // "http://host:port" for h2c requests.
  absl::Time deadline_ = absl::InfiniteFuture();  // See EndOverdueTransfers.
  bool opening_h2c_connection_ = false;           // Counted in h2c_connections_by_origin_.
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
    for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
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
    // One wakeup per batch: the event thread clears wake_pending_ when it takes the inbox. Under
    // mu_, so teardown cannot free the multi handle in between (the call only writes a byte).
    // The event thread itself (a callback resuming the next task) needs no wakeup: it looks at
    // the inbox before it polls.
    if (!wake_pending_ && !OnEventThread()) {
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
  void StartTask(const std::shared_ptr<CurlTask>& task);
  void CancelTask(const std::shared_ptr<CurlTask>& task, const char* why);
  void FinishTransfer(CURL* easy, CURLcode code);
  void Complete(const std::shared_ptr<CurlTask>& task, HttpResult result);
  void EndOverdueTransfers();
  void ReleaseEasy(CurlTask* task);
  void DropH2cConnection(const std::string& origin) {
    auto it = h2c_connections_by_origin_.find(origin);
    if (it != h2c_connections_by_origin_.end() && --it->second <= 0) {
      h2c_connections_by_origin_.erase(it);
    }
  }
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
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;
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
  // Open (or being opened) h2c connections per origin; see StartTask.
  absl::flat_hash_map<std::string, int> h2c_connections_by_origin_;
  bool invalidation_seen_ = false;
  absl::Time next_overdue_check_ = absl::InfinitePast();
};

// ---- libcurl callback trampolines ----

curl_socket_t OpenSocketCallback(void* core, curlsocktype purpose, curl_sockaddr* address) {
  return static_cast<SessionCore*>(core)->OnOpenSocket(purpose, address);
}

int CloseSocketCallback(void* core, curl_socket_t fd) {
  static_cast<SessionCore*>(core)->OnCloseSocket(fd);
  return 0;
}

size_t BodyCallback(char* data, size_t size, size_t count, void* task_pointer);

// ---- Task methods ----

void CurlTask::Resume() {
  SchedulePoint("task.resume");
  TaskState expected = TaskState::kCreated;
  if (!state_.compare_exchange_strong(expected, TaskState::kQueued)) return;
  resumed_ns_.store(absl::ToUnixNanos(netrig::Now()));
  if (std::shared_ptr<SessionCore> core = core_.lock()) {
    core->PostResume(shared_from_this());
  }
}

void CurlTask::Cancel() {
  SchedulePoint("task.cancel");
  if (state_.load() == TaskState::kCompleted) return;
  std::shared_ptr<SessionCore> core = core_.lock();
  if (core == nullptr) return;
  if (core->bug_cancel_inline() && state_.load() == TaskState::kRunning) {
    // Bug (c): check-then-act. The event thread may be completing this very task right now.
    if (std::shared_ptr<HttpCompletion> completion = PeekCompletion()) {
      cancelled_inline_.store(true);
      HttpResult result;
      result.task_id = id_;
      result.error = HttpErrorKind::kCancelled;
      result.error_message = "cancelled while running";
      result.timings.created = created_;
      result.timings.completed = netrig::Now();
      (*completion)(result);
    }
  }
  core->PostCancel(shared_from_this());
}

// ---- Event thread ----

void SessionCore::Run() {
  event_thread_.BindToCurrent();
  std::vector<Command> commands;
  while (true) {
    {
      MutexLock lock(&mu_);
      commands.swap(inbox_);
      wake_pending_ = false;
    }
    for (Command& command : commands) Handle(command);
    commands.clear();

    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
      if (message->msg == CURLMSG_DONE) FinishTransfer(message->easy_handle, message->data.result);
    }
    if (bugs_.reclaim_connections_on_resume) ReclaimClosedRecords();
    EndOverdueTransfers();
    if (AdvanceInvalidation()) {
      event_thread_.Unbind();
      return;
    }

    bool more_commands = false;
    {
      MutexLock lock(&mu_);
      more_commands = !inbox_.empty();
    }
    if (!more_commands) curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
  }
}

void SessionCore::Handle(Command& command) {
  event_thread_.Check("SessionCore::Handle");
  switch (command.kind) {
    case CommandKind::kResume:
      StartTask(command.task);
      break;
    case CommandKind::kCancel:
      CancelTask(command.task, "cancelled");
      break;
    case CommandKind::kAddObserver: {
      if (command.observer->removed.load()) break;
      event_observers_.push_back(command.observer);
      for (auto& [id, record] : connections_) {
        record->registrations.push_back(Register(command.observer, record));
      }
      break;
    }
    case CommandKind::kRemoveObserver: {
      ObserverEntry* entry = command.observer.get();
      event_observers_.erase(
          std::remove_if(event_observers_.begin(), event_observers_.end(),
                         [entry](const auto& other) { return other.get() == entry; }),
          event_observers_.end());
      for (auto& [id, record] : connections_) {
        auto& registrations = record->registrations;
        registrations.erase(std::remove_if(registrations.begin(), registrations.end(),
                                           [entry](const auto& registration) {
                                             return registration->observer.get() == entry;
                                           }),
                            registrations.end());
      }
      break;
    }
    case CommandKind::kWake:
      break;
  }
}

void SessionCore::StartTask(const std::shared_ptr<CurlTask>& task) {
  event_thread_.Check("SessionCore::StartTask");
  if (task->completed_ || task->easy_ != nullptr) return;
  TaskState expected = TaskState::kQueued;
  if (!task->state_.compare_exchange_strong(expected, TaskState::kRunning)) return;
  SchedulePoint("task.start");

  CURL* easy = nullptr;
  if (!idle_easy_.empty()) {
    easy = idle_easy_.back();
    idle_easy_.pop_back();
  } else {
    easy = curl_easy_init();
  }
  if (easy == nullptr) {
    HttpResult result;
    result.error = HttpErrorKind::kOther;
    result.error_message = "curl_easy_init failed";
    Complete(task, std::move(result));
    return;
  }
  task->easy_ = easy;
  const HttpRequest& request = task->request_;

  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http");
  // No proxy, whatever http_proxy/ALL_PROXY say: a stress stream must reach the target it was
  // given (loopback unless --allow_remote), never a proxy on this machine or off it. An empty
  // string is libcurl's documented way to ignore the proxy environment variables.
  curl_easy_setopt(easy, CURLOPT_PROXY, "");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, task.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, task->error_buffer_);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &BodyCallback);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, task.get());
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &OpenSocketCallback);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CloseSocketCallback);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(
      easy, CURLOPT_PREREQFUNCTION, +[](void* task, char*, char*, int, int local_port) -> int {
        auto* curl_task = static_cast<CurlTask*>(task);
        auto core = curl_task->core_.lock();
        if (core != nullptr) core->OnRequestReady(curl_task, local_port);
        return CURL_PREREQFUNC_OK;
      });
  curl_easy_setopt(easy, CURLOPT_PREREQDATA, task.get());
  if (share_ != nullptr && share_->handle() != nullptr) {
    curl_easy_setopt(easy, CURLOPT_SHARE, share_->handle());
  }
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  if (request.timeout != absl::InfiniteDuration()) {
    curl_easy_setopt(
        easy, CURLOPT_TIMEOUT_MS,
        static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(request.timeout))));
  }
  if (request.version == HttpVersion::kH2cPriorKnowledge) {
    // libcurl 7.88 fails a prior-knowledge transfer that reuses an HTTP/2 connection ("Error in
    // the HTTP2 framing layer", curl PR #10643, fixed in 8.0). So only a transfer that will open
    // the origin's first h2c connection asks for prior knowledge; the others ask for HTTP/2,
    // which multiplexes them onto an open h2c connection or opens one with an h2c Upgrade.
    // No CURLOPT_PIPEWAIT: a transfer waiting to multiplex sits in libcurl 7.88's pending queue,
    // where CURLOPT_TIMEOUT does not apply and only another transfer's progress moves it on.
    // When the connection it waited for died (GOAWAY, RST, reset, close) before multiplexing,
    // or an HTTP/1.1 connection to the origin left its multiplexing unknown, it waited forever.
    // The prior-knowledge transfer takes a fresh connection: libcurl 7.88 would otherwise reuse
    // an idle HTTP/1.1 connection to the origin and send the HTTP/2 preface in the middle of it
    // (the server answers 400 and closes; the task fails or runs into its timeout).
    std::string origin = OriginOf(request.url);
    int& h2c_connections = h2c_connections_by_origin_[origin];
    long version = CURL_HTTP_VERSION_2_0;
    if (h2c_connections == 0) {
      version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
      curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
      ++h2c_connections;  // Counts the connection this transfer is about to open.
      task->opening_h2c_connection_ = true;
    }
    task->h2c_origin_ = std::move(origin);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, version);
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  }

  if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET" || !request.body.empty()) {
    if (request.method != "POST") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (!request.body.empty() || request.method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    }
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  // No "Expect: 100-continue" round trip for bodies.
  if (!request.body.empty()) headers = curl_slist_append(headers, "Expect:");
  task->header_list_ = headers;
  if (headers != nullptr) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);

  task->deadline_ = request.timeout == absl::InfiniteDuration()
                        ? absl::InfiniteFuture()
                        : netrig::Now() + request.timeout + kTimeoutGrace;
  running_.emplace(task->id(), task);
  const CURLMcode added = curl_multi_add_handle(multi_, easy);
  if (added != CURLM_OK) {
    running_.erase(task->id());
    HttpResult result;
    result.error = HttpErrorKind::kOther;
    result.error_message = absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(added));
    ReleaseEasy(task.get());
    Complete(task, std::move(result));
  }
}

size_t BodyCallback(char* data, size_t size, size_t count, void* task_pointer) {
  auto* task = static_cast<CurlTask*>(task_pointer);
  const size_t bytes = size * count;
  SchedulePoint("task.body");
  task->body_bytes_ += static_cast<int64_t>(bytes);
  const size_t room = task->request_.max_captured_body -
                      std::min(task->request_.max_captured_body, task->body_.size());
  if (room > 0) task->body_.append(data, std::min(room, bytes));
  return bytes;
}

void SessionCore::CancelTask(const std::shared_ptr<CurlTask>& task, const char* why) {
  event_thread_.Check("SessionCore::CancelTask");
  if (task->completed_) return;
  const bool was_running = task->easy_ != nullptr;
  if (was_running) {
    curl_multi_remove_handle(multi_, task->easy_);
    running_.erase(task->id());
    ReleaseEasy(task.get());
  }
  if (task->cancelled_inline_.load()) {
    // Bug (c): the caller's thread already delivered the cancellation.
    task->completed_ = true;
    task->state_.store(TaskState::kCompleted);
    {
      MutexLock lock(&mu_);
      live_tasks_.erase(task->id());
    }
    task->TakeCompletion();
    return;
  }
  HttpResult result;
  result.error = HttpErrorKind::kCancelled;
  result.error_message = absl::StrCat(why, was_running ? " while running" : " before it started");
  Complete(task, std::move(result));
}

void SessionCore::FinishTransfer(CURL* easy, CURLcode code) {
  event_thread_.Check("SessionCore::FinishTransfer");
  CurlTask* raw = nullptr;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &raw);
  auto it = raw == nullptr ? running_.end() : running_.find(raw->id());
  if (it == running_.end()) {
    curl_multi_remove_handle(multi_, easy);
    return;
  }
  std::shared_ptr<CurlTask> task = std::move(it->second);
  running_.erase(it);

  HttpResult result;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  result.status = static_cast<int>(status);
  long version = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  result.version =
      version == CURL_HTTP_VERSION_2_0 ? HttpVersion::kH2cPriorKnowledge : HttpVersion::kHttp11;
  curl_off_t connect_us = 0, first_byte_us = 0, total_us = 0;
  curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
  curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte_us);
  curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us);
  result.timings.connect = Micros(connect_us);
  result.timings.first_byte = Micros(first_byte_us);
  result.timings.total = Micros(total_us);
  result.error = ErrorKindOf(code);
  if (code != CURLE_OK) {
    result.error_message = task->error_buffer_[0] != '\0'
                               ? absl::StrCat(curl_easy_strerror(code), ": ", task->error_buffer_)
                               : std::string(curl_easy_strerror(code));
  }
  curl_multi_remove_handle(multi_, easy);
  ReleaseEasy(task.get());
  Complete(task, std::move(result));
}

void SessionCore::EndOverdueTransfers() {
  event_thread_.Check("SessionCore::EndOverdueTransfers");
  // A backstop for HttpRequest::timeout: libcurl 7.88 does not time out a transfer waiting in
  // its pending queue for a connection (e.g. CURLMOPT_MAX_HOST_CONNECTIONS reached).
  const absl::Time now = netrig::Now();
  if (now < next_overdue_check_) return;
  next_overdue_check_ = now + absl::Milliseconds(100);
  std::vector<std::shared_ptr<CurlTask>> overdue;
  for (const auto& [id, task] : running_) {
    if (task->deadline_ < now) overdue.push_back(task);
  }
  for (const auto& task : overdue) {
    curl_multi_remove_handle(multi_, task->easy_);
    running_.erase(task->id());
    ReleaseEasy(task.get());
    HttpResult result;
    result.error = HttpErrorKind::kTimeout;
    result.error_message = absl::StrCat("Timeout was reached: libcurl had not ended the transfer ",
                                        absl::FormatDuration(kTimeoutGrace),
                                        " after its timeout (waiting for a connection?)");
    Complete(task, std::move(result));
  }
}

void SessionCore::ReleaseEasy(CurlTask* task) {
  CURL* easy = task->easy_;
  task->easy_ = nullptr;
  if (task->opening_h2c_connection_) {
    task->opening_h2c_connection_ = false;
    DropH2cConnection(task->h2c_origin_);
  }
  if (task->header_list_ != nullptr) {
    curl_slist_free_all(task->header_list_);
    task->header_list_ = nullptr;
  }
  if (easy == nullptr) return;
  if (idle_easy_.size() < client_options_.max_pooled_easy_handles) {
    curl_easy_reset(easy);
    idle_easy_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

void SessionCore::Complete(const std::shared_ptr<CurlTask>& task, HttpResult result) {
  event_thread_.Check("SessionCore::Complete");
  if (task->completed_) return;
  task->completed_ = true;
  SchedulePoint("task.complete");

  // Dequeue the task from its connection's queue.
  if (bugs_.reclaim_connections_on_resume) {
    if (task->connection_raw_ != nullptr) task->connection_raw_->DequeueTask(task->id());
  } else if (task->connection_id_ != 0) {
    auto it = connections_.find(task->connection_id_);
    if (it != connections_.end()) it->second->DequeueTask(task->id());
  }
  task->connection_raw_ = nullptr;

  result.task_id = task->id();
  result.connection_id = task->connection_id_;
  result.body_bytes = task->body_bytes_;
  result.body = std::move(task->body_);
  result.timings.created = task->created_;
  const int64_t resumed_ns = task->resumed_ns_.load();
  result.timings.resumed = resumed_ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(resumed_ns);
  {
    MutexLock lock(&mu_);
    live_tasks_.erase(task->id());
  }
  std::shared_ptr<HttpCompletion> completion = task->TakeCompletion();
  if (bugs_.cancel_completes_inline) {
    // Bug (c): the state flips only after the callback ran, so a concurrent Cancel() still sees
    // "running" while the completion is being delivered.
    result.timings.completed = netrig::Now();
    if (completion != nullptr && *completion) (*completion)(result);
    task->state_.store(TaskState::kCompleted);
    return;
  }
  task->state_.store(TaskState::kCompleted);
  result.timings.completed = netrig::Now();
  if (completion != nullptr && *completion) (*completion)(result);
}

bool SessionCore::AdvanceInvalidation() {
  event_thread_.Check("SessionCore::AdvanceInvalidation");
  std::vector<std::shared_ptr<CurlTask>> to_cancel;
  bool cancelling = false;
  {
    MutexLock lock(&mu_);
    if (phase_ == Phase::kOpen) return false;
    cancelling = phase_ == Phase::kCancelling;
    if (!invalidation_seen_ || cancelling) {
      // Tasks never resumed are cancelled; with InvalidateAndCancel, running ones too.
      for (const auto& [id, task] : live_tasks_) {
        if (cancelling || task->easy_ == nullptr) to_cancel.push_back(task);
      }
    }
    invalidation_seen_ = true;
  }
  for (const auto& task : to_cancel) {
    // A task resumed after FinishTasksAndInvalidate (its command not handled yet) still runs.
    if (!cancelling && task->state_value() == TaskState::kQueued) {
      StartTask(task);
      continue;
    }
    CancelTask(task, cancelling ? "session invalidated and cancelled" : "session invalidated");
  }
  {
    MutexLock lock(&mu_);
    if (!live_tasks_.empty() || !inbox_.empty()) return false;
  }
  if (!running_.empty()) return false;
  Teardown();
  return true;
}

void SessionCore::Teardown() {
  SchedulePoint("session.invalidate");
  {
    MutexLock lock(&mu_);
    accepting_commands_ = false;
  }
  for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
  idle_easy_.clear();
  // Closes every connection: OnCloseSocket tells the observers, then drops the records.
  curl_multi_cleanup(multi_);
  multi_ = nullptr;
  connections_.clear();
  connection_by_fd_.clear();
  event_observers_.clear();
  if (bugs_.reclaim_connections_on_resume) ReclaimClosedRecords();
  std::vector<absl::AnyInvocable<void()>> callbacks;
  {
    MutexLock lock(&mu_);
    observers_.clear();
    callbacks.swap(invalidated_callbacks_);
  }
  // The last things this session calls.
  for (auto& callback : callbacks) callback();
  MutexLock lock(&mu_);
  // Late callbacks registered while the above ran.
  while (!invalidated_callbacks_.empty()) {
    callbacks.clear();
    callbacks.swap(invalidated_callbacks_);
    mu_.Unlock();
    for (auto& callback : callbacks) callback();
    mu_.Lock();
  }
  phase_ = Phase::kInvalidated;
  inbox_.clear();
  invalidated_cv_.SignalAll();
}

curl_socket_t SessionCore::OnOpenSocket(curlsocktype purpose, curl_sockaddr* address) {
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  SchedulePoint("connection.open");
  auto record = std::make_shared<ConnectionRecord>();
  record->id = next_connection_id_++;
  record->fd = fd;
  record->peer = PeerName(&address->addr);
  for (const auto& observer : event_observers_) {
    record->registrations.push_back(Register(observer, record));
  }
  connection_by_fd_[fd] = record->id;
  connections_.emplace(record->id, std::move(record));
  return fd;
}

void SessionCore::OnCloseSocket(curl_socket_t fd) {
  SchedulePoint("connection.close");
  auto by_fd = connection_by_fd_.find(fd);
  if (by_fd != connection_by_fd_.end()) {
    auto it = connections_.find(by_fd->second);
    connection_by_fd_.erase(by_fd);
    if (it != connections_.end()) {
      std::shared_ptr<ConnectionRecord> record = std::move(it->second);
      connections_.erase(it);
      record->closed = true;
      if (!record->h2c_origin.empty()) DropH2cConnection(record->h2c_origin);
      if (record->established) NotifyViability(*record, false);
      if (!bugs_.observers_retain_connections) record->registrations.clear();
      if (bugs_.reclaim_connections_on_resume) {
        MutexLock lock(&closed_mu_);
        closed_records_.push_back(std::move(record));
      }
    }
  }
  close(fd);
}

void SessionCore::OnRequestReady(CurlTask* task, int local_port) {
  SchedulePoint("connection.assign");
  ConnectionRecord* found = nullptr;
  for (auto& [id, record] : connections_) {
    if (record->local_port < 0) record->local_port = LocalPort(record->fd);
    if (record->local_port == local_port) {
      found = record.get();
      break;
    }
  }
  if (found == nullptr) return;
  // On a reused HTTP/1.1 connection the previous task may not have been dequeued yet.
  if (task->connection_id_ != 0 && task->connection_id_ != found->id) {
    auto previous = connections_.find(task->connection_id_);
    if (previous != connections_.end()) previous->second->DequeueTask(task->id());
  }
  if (!task->h2c_origin_.empty()) {
    if (found->h2c_origin.empty()) {
      found->h2c_origin = task->h2c_origin_;
      ++h2c_connections_by_origin_[found->h2c_origin];
    }
    if (task->opening_h2c_connection_) {
      task->opening_h2c_connection_ = false;
      DropH2cConnection(task->h2c_origin_);
    }
  }
  task->connection_id_ = found->id;
  if (bugs_.reclaim_connections_on_resume) task->connection_raw_ = found;
  found->queued_tasks.push_back(task->id());
  if (!found->established) {
    found->established = true;
    NotifyViability(*found, true);
    NotifyBetterPath(*found);
  }
}

void SessionCore::NotifyViability(ConnectionRecord& record, bool viable) {
  const ConnectionInfo info = record.Info();
  // Copy: a callback may remove observers (which edits the list on a later command only, but
  // keep the iteration independent of that anyway).
  auto registrations = record.registrations;
  for (const auto& registration : registrations) {
    CallObserver(*registration->observer, [&](const ConnectionObserver& callbacks) {
      if (callbacks.on_viability_changed) callbacks.on_viability_changed(info, viable);
    });
  }
}

void SessionCore::NotifyBetterPath(ConnectionRecord& newer) {
  for (auto& [id, record] : connections_) {
    if (record.get() == &newer || !record->established || record->peer != newer.peer) continue;
    const ConnectionInfo info = record->Info();
    auto registrations = record->registrations;
    for (const auto& registration : registrations) {
      CallObserver(*registration->observer, [&](const ConnectionObserver& callbacks) {
        if (callbacks.on_better_path) callbacks.on_better_path(info, true);
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The public objects.

class CurlSession final : public HttpSession {
 public:
  explicit CurlSession(std::shared_ptr<SessionCore> core) : core_(std::move(core)) {}
  ~CurlSession() override { core_->Shutdown(); }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) override {
    return core_->MakeTask(std::move(request), std::move(on_complete));
  }
  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    core_->FinishTasksAndInvalidate(std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    core_->InvalidateAndCancel(std::move(on_invalidated));
  }
  bool WaitUntilInvalidated(absl::Duration timeout) override {
    return core_->WaitUntilInvalidated(timeout);
  }
  absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver observer) override {
    return core_->AddObserver(std::move(observer));
  }
  void RemoveConnectionObserver(ObserverId id) override { core_->RemoveObserver(id); }

 private:
  const std::shared_ptr<SessionCore> core_;
};

class CurlClient final : public HttpClient {
 public:
  CurlClient(const CurlClientOptions& options, std::shared_ptr<CurlShare> share)
      : options_(options), share_(std::move(share)) {}

  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(
      const HttpSessionOptions& options) override {
    auto core = std::make_shared<SessionCore>(options, options_, share_);
    if (absl::Status started = core->Start(); !started.ok()) return started;
    return std::make_unique<CurlSession>(std::move(core));
  }

 private:
  const CurlClientOptions options_;
  const std::shared_ptr<CurlShare> share_;
};

}  // namespace
}  // namespace internal

absl::StatusOr<std::unique_ptr<HttpClient>> NewCurlClient(const CurlClientOptions& options) {
  if (absl::Status init = internal::GlobalInit(); !init.ok()) return init;
  std::shared_ptr<internal::CurlShare> share;
  if (options.share_dns || options.bugs.share_without_locks) {
    share = std::make_shared<internal::CurlShare>(!options.bugs.share_without_locks);
    if (share->handle() == nullptr) return absl::InternalError("curl_share_init failed");
  }
  return std::make_unique<internal::CurlClient>(options, std::move(share));
}

CurlLiveCounts CurlLiveObjects() {
  CurlLiveCounts counts;
  counts.sessions = internal::kSessionCounter.live();
  counts.tasks = internal::kTaskCounter.live();
  counts.connections = internal::kConnectionCounter.live();
  counts.observers = internal::kObserverCounter.live();
  counts.observer_registrations = internal::kRegistrationCounter.live();
  return counts;
}

}  // namespace netrig
