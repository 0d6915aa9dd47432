#include "harness/http/server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "harness/http/server/server_internal.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace internal {
namespace {

constexpr uint64_t kWakeKey = 0;
constexpr uint64_t kListenKeyBase = 1;  // kListenKeyBase + index into listen_fds_.
constexpr int kMaxEvents = 128;

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

absl::Status ErrnoError(absl::string_view what) {
  return absl::ErrnoToStatus(errno, absl::StrCat("http server: ", what));
}

// Returns the listening socket and its kernel-chosen port.
absl::StatusOr<std::pair<int, uint16_t>> ListenLoopback(bool ipv6) {
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage storage{};
  socklen_t len;
  if (ipv6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_loopback;
    len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sockaddr_in);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 || listen(fd, 4096) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) {
    absl::Status status = ErrnoError(ipv6 ? "bind/listen [::1]:0" : "bind/listen 127.0.0.1:0");
    close(fd);
    return status;
  }
  uint16_t port = ipv6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  return std::make_pair(fd, port);
}

}  // namespace

Worker::Worker(HttpServer* server, std::vector<int> listen_fds)
    : server_(server), listen_fds_(std::move(listen_fds)) {}

Worker::~Worker() {
  connections_.clear();  // Closes every connection's socket.
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

absl::Status Worker::Init() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return ErrnoError("epoll_create1");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return ErrnoError("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeKey;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) return ErrnoError("epoll_ctl");
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    // EPOLLEXCLUSIVE: one new connection wakes one worker, not all of them.
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListenKeyBase + i;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fds_[i], &ev) != 0) {
      return ErrnoError("epoll_ctl(listen)");
    }
  }
  return absl::OkStatus();
}

void Worker::RequestStop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void Worker::Run() {
  epoll_event events[kMaxEvents];
  while (!stop_.load(std::memory_order_acquire)) {
    // Under a controlled scheduler the wait is a probe, so other threads run meanwhile.
    const int timeout_ms = NextTimeoutMs();
    int n = UnderControl()
                ? ProbeUntil([&] { return epoll_wait(epoll_fd_, events, kMaxEvents, 0); },
                             timeout_ms, "http_server.epoll")
                : epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) Dispatch(events[i].data.u64, events[i].events);
    RunTimers();
  }
}

void Worker::Dispatch(uint64_t key, uint32_t events) {
  if (key == kWakeKey) {
    uint64_t value;
    ssize_t ignored = read(wake_fd_, &value, sizeof(value));
    (void)ignored;
    return;
  }
  if (key < kListenKeyBase + listen_fds_.size()) {
    Accept(listen_fds_[key - kListenKeyBase]);
    return;
  }
  auto it = connections_.find(key);
  if (it == connections_.end()) return;
  it->second->OnEvents(events);
  if (it->second->done()) Reap(it);
}

void Worker::Accept(int listen_fd) {
  for (int i = 0; i < 64; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN (another worker won), or a transient error.
    if (netrig::Now() < server_->options().reset_connections_until) {
      const linger reset{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      close(fd);
      Bump(stats_.connections_reset_no_path);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint64_t id = next_id_++;
    auto conn = std::make_unique<Connection>(this, fd, id);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) continue;  // conn closes fd.
    Bump(stats_.connections_accepted);
    connections_.emplace(id, std::move(conn));
  }
}

void Worker::Reap(std::unordered_map<uint64_t, std::unique_ptr<Connection>>::iterator it) {
  connections_.erase(it);
  Bump(stats_.connections_closed);
}

void Worker::CloseAll() {
  Bump(stats_.connections_closed, connections_.size());
  connections_.clear();
}

void Worker::SetInterest(Connection* conn, uint32_t old_events, uint32_t new_events) {
  if (old_events == new_events) return;
  epoll_event ev{};
  ev.events = new_events;
  ev.data.u64 = conn->id();
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn->fd(), &ev);
}

void Worker::AddTimer(uint64_t connection_id, int delay_ms, uint64_t token) {
  timers_.push(Timer{MonotonicNs() + int64_t{delay_ms} * 1'000'000, connection_id, token});
}

int Worker::NextTimeoutMs() {
  if (timers_.empty()) return -1;
  int64_t wait_ns = timers_.top().deadline_ns - MonotonicNs();
  if (wait_ns <= 0) return 0;
  return static_cast<int>((wait_ns + 999'999) / 1'000'000);
}

void Worker::RunTimers() {
  if (timers_.empty()) return;
  int64_t now = MonotonicNs();
  // Timers armed while firing wait for the next round, so a zero delay cannot spin here.
  std::vector<Timer> due;
  while (!timers_.empty() && timers_.top().deadline_ns <= now) {
    due.push_back(timers_.top());
    timers_.pop();
  }
  for (const Timer& timer : due) {
    auto it = connections_.find(timer.connection_id);
    if (it == connections_.end()) continue;
    it->second->OnTimer(timer.token);
    if (it->second->done()) Reap(it);
  }
}

}  // namespace internal

HttpServer::HttpServer(HttpServerOptions options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  if (started_) return absl::FailedPreconditionError("HttpServer::Start called twice");
  started_ = true;
  if (options_.threads < 1 || options_.threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("http server: threads must be in [1, 64], not ", options_.threads));
  }
  if (options_.default_body_bytes < 0) {
    return absl::InvalidArgumentError("http server: default_body_bytes must be >= 0");
  }
  if (options_.faults) {
    absl::Status valid = ValidateFaultPlannerOptions(*options_.faults);
    if (!valid.ok()) return valid;
    planner_.emplace(*options_.faults);
  }
  std::vector<int> listen_fds;
  absl::StatusOr<std::pair<int, uint16_t>> v4 = internal::ListenLoopback(false);
  if (!v4.ok()) return v4.status();
  listen_fd_ = v4->first;
  port_ = v4->second;
  listen_fds.push_back(listen_fd_);
  if (options_.listen_ipv6) {
    absl::StatusOr<std::pair<int, uint16_t>> v6 = internal::ListenLoopback(true);
    if (!v6.ok()) {
      Stop();
      return v6.status();
    }
    listen6_fd_ = v6->first;
    ipv6_port_ = v6->second;
    listen_fds.push_back(listen6_fd_);
  }
  for (int i = 0; i < options_.threads; ++i) {
    auto worker = std::make_unique<internal::Worker>(this, listen_fds);
    absl::Status init = worker->Init();
    if (!init.ok()) {
      Stop();
      return init;
    }
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) {
    threads_.emplace_back("http.server", [w = worker.get()] { w->Run(); });
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& worker : workers_) worker->RequestStop();
  for (Thread& thread : threads_) thread.join();
  threads_.clear();
  // Workers are kept (not destroyed) so Stats() still reports after Stop; their connections go.
  for (auto& worker : workers_) worker->CloseAll();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (listen6_fd_ >= 0) close(listen6_fd_);
  listen_fd_ = listen6_fd_ = -1;
}

std::string HttpServer::url() const {
  if (port_ == 0) return "";
  return absl::StrCat("http://127.0.0.1:", port_);
}

std::string HttpServer::ipv6_url() const {
  if (ipv6_port_ == 0) return "";
  return absl::StrCat("http://[::1]:", ipv6_port_);
}

void HttpServer::SetScriptedResponse(ScriptFunction script) {
  MutexLock lock(&script_mu_);
  if (script) {
    script_ = std::make_shared<const ScriptFunction>(std::move(script));
  } else {
    script_.reset();
  }
  script_set_.store(script_ != nullptr, std::memory_order_release);
}

std::shared_ptr<const ScriptFunction> HttpServer::CurrentScript() const {
  if (!script_set_.load(std::memory_order_acquire)) return nullptr;
  MutexLock lock(&script_mu_);
  return script_;
}

HttpServerStats HttpServer::Stats() const {
  HttpServerStats out;
  uint64_t closed = 0;
  for (const auto& worker : workers_) {
    const internal::WorkerStats& s = worker->stats();
    auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    out.connections_accepted += get(s.connections_accepted);
    out.connections_reset_no_path += get(s.connections_reset_no_path);
    closed += get(s.connections_closed);
    out.http1_connections += get(s.http1_connections);
    out.http2_connections += get(s.http2_connections);
    out.requests += get(s.requests);
    for (int i = 0; i < kFaultKindCount; ++i)
      out.requests_by_fault[i] += get(s.requests_by_fault[i]);
    out.scripted_responses += get(s.scripted_responses);
    out.bad_requests += get(s.bad_requests);
    out.bytes_received += get(s.bytes_received);
    out.bytes_sent += get(s.bytes_sent);
  }
  out.connections_open = out.connections_accepted - closed;
  return out;
}

}  // namespace netrig
