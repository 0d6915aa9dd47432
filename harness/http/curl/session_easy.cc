#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/http/curl/session_internal.h"
#include "harness/http/http_client.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"

namespace netrig::internal::curl_session {
namespace {

// ---- libcurl callback trampolines ----

curl_socket_t OpenSocketCallback(void* core, curlsocktype purpose, curl_sockaddr* address) {
  return static_cast<SessionCore*>(core)->OnOpenSocket(purpose, address);
}

int CloseSocketCallback(void* core, curl_socket_t fd) {
  static_cast<SessionCore*>(core)->OnCloseSocket(fd);
  return 0;
}

}  // namespace

void SessionCore::StartTask(const std::shared_ptr<CurlTask>& task) {
  event_thread_.Check("SessionCore::StartTask");
  if (task->completed_ || task->easy_ != nullptr) return;
  TaskState expected = TaskState::kQueued;
  if (!task->state_.compare_exchange_strong(expected, TaskState::kRunning)) return;
  SchedulePoint("task.start");
  if (bugs_.remember_unreachable_forever && share_ != nullptr &&
      share_->marked_unreachable.load(std::memory_order_relaxed)) {
    HttpResult result;
    result.error = HttpErrorKind::kConnect;
    result.error_message = "origin marked unreachable";
    Complete(task, std::move(result));
    return;
  }

  CURL* easy = TakeEasy();
  if (easy == nullptr) {
    HttpResult result;
    result.error = HttpErrorKind::kOther;
    result.error_message = "curl_easy_init failed";
    Complete(task, std::move(result));
    return;
  }
  task->easy_ = easy;
  const HttpRequest& request = task->request_;
  bool h2c_routed = false;  // See RouteH2cTask.

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
        static_cast<long>(std::max<int64_t>(1, bugs_.timeout_in_wrong_unit
                                                   ? absl::ToInt64Seconds(request.timeout)
                                                   : absl::ToInt64Milliseconds(request.timeout))));
  }
  if (request.version == HttpVersion::kH2cPriorKnowledge &&
      options_.h2c_mode == H2cMode::kPriorKnowledge) {
    // A server that speaks h2c only by prior knowledge (nghttpd, nginx's h2c listener) fails an
    // Upgrade, and libcurl 7.88 fails a prior-knowledge transfer that reuses a connection, also
    // when it multiplexes onto one (a bare multi loop against nghttpd: 1,999 of 2,000 failed
    // "Error in the HTTP2 framing layer", sequential or 32 at once). So every such transfer
    // opens a connection of its own and leaves it for no one: fresh and never reused.
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
                     static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
  } else if (request.version == HttpVersion::kH2cPriorKnowledge) {
    // kUpgrade and kEither: HTTP/2 without prior knowledge, on a connection RouteH2cTask
    // chooses (session_h2c.cc); kEither's opener of a connection asks for prior knowledge there.
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2_0));
    task->h2c_origin_ = OriginOf(request.url);
    h2c_routed = true;
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
  if (h2c_routed && !RouteH2cTask(task)) return;  // Held until its connection is up.
  AddToMulti(task);
}

void SessionCore::AddToMulti(const std::shared_ptr<CurlTask>& task) {
  const CURLMcode added = curl_multi_add_handle(multi_, task->easy_);
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
      if (record->h2c_alias >= 0) RetireH2cAlias(record->h2c_origin, record->h2c_alias);
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
  if (task->h2c_opener_) H2cOpenerConnected(task, *found);
  task->connection_id_ = found->id;
  if (bugs_.reclaim_connections_on_resume) task->connection_raw_ = found;
  found->queued_tasks.push_back(task->id());
  if (!found->established) {
    found->established = true;
    NotifyViability(*found, true);
    NotifyBetterPath(*found);
  }
}

}  // namespace netrig::internal::curl_session
