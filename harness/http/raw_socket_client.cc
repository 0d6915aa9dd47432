#include "harness/http/raw_socket_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/sched/clock.h"
#include "harness/sched/thread.h"

namespace netrig {
namespace {

LiveCounter kRawSessions("http.raw_session");
LiveCounter kRawTasks("http.raw_task");
LiveCounter kRawConnections("http.raw_connection");

std::atomic<uint64_t> next_task_id{1};
std::atomic<uint64_t> next_connection_id{1};

constexpr size_t kMaxLineBytes = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kReadBytes = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// URLs: http://host[:port][/path][?query][#fragment], host a name, IPv4 or [IPv6].

struct Target {
  std::string host;  // Without brackets.
  uint16_t port = 80;
  std::string host_header;
  std::string path;
  std::string origin;  // "host:port": connections are pooled by it.
};

absl::StatusOr<Target> ParseTarget(absl::string_view url) {
  if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw-socket: only http:// URLs are supported, not '", url, "'"));
  }
  url = url.substr(0, url.find('#'));
  const size_t slash = url.find_first_of("/?");
  absl::string_view authority = url.substr(0, slash);
  Target target;
  target.path = slash == absl::string_view::npos ? "/" : std::string(url.substr(slash));
  if (target.path[0] == '?') target.path.insert(0, "/");
  target.host_header = std::string(authority);
  absl::string_view port;
  if (absl::ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("raw-socket: bad IPv6 host in '", url, "'"));
    }
    target.host = std::string(authority.substr(0, close));
    absl::string_view rest = authority.substr(close + 1);
    if (absl::ConsumePrefix(&rest, ":")) port = rest;
  } else {
    const size_t colon = authority.rfind(':');
    target.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  int port_number = 80;
  if (!port.empty() &&
      (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat("raw-socket: bad port in '", url, "'"));
  }
  if (target.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("raw-socket: no host in '", url, "'"));
  }
  target.port = static_cast<uint16_t>(port_number);
  target.origin = absl::StrCat(target.host, ":", target.port);
  return target;
}

// ---------------------------------------------------------------------------------------------
// The response parser: fed whatever arrived, consumes what it can, never reads past `data`
// (except in the seeded bug).

class ResponseParser {
 public:
  enum class Result { kNeedMore, kDone, kError };

  ResponseParser(bool head_request, size_t max_capture, bool bug_overread)
      : head_request_(head_request), max_capture_(max_capture), bug_overread_(bug_overread) {}

  // Consumes a prefix of `data`; *consumed says how much.
  Result Feed(absl::string_view data, size_t* consumed) {
    size_t pos = 0;
    Result result = Result::kNeedMore;
    while (result == Result::kNeedMore && pos < data.size()) {
      const size_t before = pos;
      result = Step(data, &pos);
      if (result == Result::kNeedMore && pos == before) break;  // Waits for more bytes.
    }
    if (result == Result::kNeedMore && phase_ == Phase::kDone) result = Result::kDone;
    *consumed = pos;
    return result;
  }

  // The connection ended (cleanly or not) after everything was fed.
  Result OnEnd(bool reset) {
    if (phase_ == Phase::kUntilClose && !reset) {
      phase_ = Phase::kDone;
      return Result::kDone;
    }
    if (phase_ == Phase::kBody || phase_ == Phase::kChunkData) {
      Fail(reset ? HttpErrorKind::kReset : HttpErrorKind::kTruncated,
           absl::StrCat("the connection ", reset ? "was reset" : "closed",
                        " before the body ended (", body_bytes_, " body bytes received)"));
    } else {
      Fail(HttpErrorKind::kReset,
           absl::StrCat("the connection ", reset ? "was reset" : "closed", " in the middle of ",
                        PhaseName(), any_byte_ ? "" : " (no response byte received)"));
    }
    return Result::kError;
  }

  bool any_byte() const { return any_byte_; }
  int status() const { return status_; }
  int64_t body_bytes() const { return body_bytes_; }
  std::string& captured() { return captured_; }
  bool reusable() const { return keep_alive_ && phase_ == Phase::kDone; }
  HttpErrorKind error() const { return error_; }
  const std::string& message() const { return message_; }

 private:
  enum class Phase {
    kStatus,
    kHeaders,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kUntilClose,
    kDone,
    kFailed
  };

  const char* PhaseName() const {
    switch (phase_) {
      case Phase::kStatus:
        return "the status line";
      case Phase::kHeaders:
        return "the headers";
      case Phase::kChunkSize:
      case Phase::kChunkDataEnd:
        return "the chunked body";
      case Phase::kTrailers:
        return "the trailers";
      default:
        return "the response";
    }
  }

  Result Fail(HttpErrorKind kind, std::string message) {
    phase_ = Phase::kFailed;
    error_ = kind;
    message_ = std::move(message);
    return Result::kError;
  }

  // The next complete line at data[*pos]: true with `line` (its CR dropped) and *pos past its LF;
  // false when its LF has not arrived yet.
  bool NextLine(absl::string_view data, size_t* pos, absl::string_view* line) {
    const size_t lf = data.find('\n', *pos);
    if (lf == absl::string_view::npos) return false;
    size_t end = lf;
    if (end > *pos && data[end - 1] == '\r') --end;
    *line = data.substr(*pos, end - *pos);
    *pos = lf + 1;
    return true;
  }

  // NextLine as bug-chunk-overread writes it for chunk-size lines: the pending bytes go into a
  // scratch buffer of exactly their size, which is scanned for the LF without a bound.
  bool NextLineOverread(absl::string_view data, size_t* pos, absl::string_view* line) {
    const size_t n = data.size() - *pos;
    std::unique_ptr<char[]> scratch(new char[n]);
    std::memcpy(scratch.get(), data.data() + *pos, n);
    size_t lf = 0;
    while (scratch[lf] != '\n') ++lf;  // The bug: nothing stops this at n.
    if (lf >= n) return false;
    return NextLine(data, pos, line);
  }

  Result Step(absl::string_view data, size_t* pos) {
    any_byte_ = true;
    absl::string_view line;
    switch (phase_) {
      case Phase::kStatus: {
        if (!NextLine(data, pos, &line)) return LineTooLong(data, *pos);
        return StatusLine(line);
      }
      case Phase::kHeaders: {
        if (!NextLine(data, pos, &line)) return LineTooLong(data, *pos);
        header_bytes_ += line.size() + 2;
        if (header_bytes_ > kMaxHeaderBytes) {
          return Fail(HttpErrorKind::kTooLarge, "response headers over 1 MiB");
        }
        if (line.empty()) return EndOfHeaders();
        return HeaderLine(line);
      }
      case Phase::kBody: {
        const size_t n = std::min<uint64_t>(remaining_, data.size() - *pos);
        Body(data.substr(*pos, n));
        *pos += n;
        remaining_ -= n;
        if (remaining_ == 0) phase_ = Phase::kDone;
        return Result::kNeedMore;
      }
      case Phase::kUntilClose:
        Body(data.substr(*pos));
        *pos = data.size();
        return Result::kNeedMore;
      case Phase::kChunkSize: {
        const bool complete =
            bug_overread_ ? NextLineOverread(data, pos, &line) : NextLine(data, pos, &line);
        if (!complete) return LineTooLong(data, *pos);
        return ChunkSizeLine(line);
      }
      case Phase::kChunkData: {
        const size_t n = std::min<uint64_t>(remaining_, data.size() - *pos);
        Body(data.substr(*pos, n));
        *pos += n;
        remaining_ -= n;
        if (remaining_ == 0) phase_ = Phase::kChunkDataEnd;
        return Result::kNeedMore;
      }
      case Phase::kChunkDataEnd: {
        const absl::string_view rest = data.substr(*pos);
        if (absl::StartsWith(rest, "\n")) {
          *pos += 1;
        } else if (absl::StartsWith(rest, "\r\n")) {
          *pos += 2;
        } else if (rest != "\r") {
          return Fail(HttpErrorKind::kProtocol, "chunk data not followed by CRLF");
        }
        if (*pos != data.size() - rest.size()) phase_ = Phase::kChunkSize;
        return Result::kNeedMore;
      }
      case Phase::kTrailers: {
        if (!NextLine(data, pos, &line)) return LineTooLong(data, *pos);
        header_bytes_ += line.size() + 2;
        if (header_bytes_ > kMaxHeaderBytes) {
          return Fail(HttpErrorKind::kTooLarge, "response trailers over 1 MiB");
        }
        if (line.empty()) {
          phase_ = Phase::kDone;
          return Result::kDone;
        }
        if (line.find(':') == absl::string_view::npos ||
            line.find('\0') != absl::string_view::npos) {
          return Fail(HttpErrorKind::kProtocol, "malformed trailer line");
        }
        return Result::kNeedMore;
      }
      case Phase::kDone:
        return Result::kDone;
      case Phase::kFailed:
        return Result::kError;
    }
    return Result::kError;
  }

  Result LineTooLong(absl::string_view data, size_t pos) {
    if (data.size() - pos > kMaxLineBytes) {
      return Fail(HttpErrorKind::kTooLarge,
                  absl::StrCat("a line of ", PhaseName(), " over 64 KiB"));
    }
    return Result::kNeedMore;
  }

  Result StatusLine(absl::string_view line) {
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (line.size() < 12 || !absl::StartsWith(line, "HTTP/1.") || !absl::ascii_isdigit(line[7]) ||
        line[8] != ' ' || !absl::ascii_isdigit(line[9]) || !absl::ascii_isdigit(line[10]) ||
        !absl::ascii_isdigit(line[11]) || (line.size() > 12 && line[12] != ' ')) {
      return Fail(HttpErrorKind::kProtocol,
                  absl::StrCat("malformed status line '", absl::CEscape(line.substr(0, 64)), "'"));
    }
    status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status_ < 100) return Fail(HttpErrorKind::kProtocol, "status code under 100");
    keep_alive_ = line[7] != '0';
    content_length_ = -1;
    chunked_ = false;
    other_coding_ = false;
    phase_ = Phase::kHeaders;
    return Result::kNeedMore;
  }

  Result HeaderLine(absl::string_view line) {
    if (line.find('\0') != absl::string_view::npos) {
      return Fail(HttpErrorKind::kProtocol, "NUL in a header line");
    }
    if (line[0] == ' ' || line[0] == '\t') return Result::kNeedMore;  // obs-fold: ignored.
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return Fail(HttpErrorKind::kProtocol, "header line without a name and colon");
    }
    const absl::string_view name = line.substr(0, colon);
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      int64_t length = -1;
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return absl::ascii_isdigit(c); }) ||
          !absl::SimpleAtoi(value, &length)) {
        return Fail(HttpErrorKind::kProtocol, "malformed Content-Length");
      }
      if (content_length_ >= 0 && content_length_ != length) {
        return Fail(HttpErrorKind::kProtocol, "conflicting Content-Length headers");
      }
      content_length_ = length;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      // The last coding decides: chunked, or anything else (read to the close).
      const absl::string_view last = absl::StripAsciiWhitespace(
          value.substr(value.rfind(',') == absl::string_view::npos ? 0 : value.rfind(',') + 1));
      chunked_ = absl::EqualsIgnoreCase(last, "chunked");
      other_coding_ = !chunked_;
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) keep_alive_ = false;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) keep_alive_ = true;
      }
    }
    return Result::kNeedMore;
  }

  Result EndOfHeaders() {
    if (status_ == 101) return Fail(HttpErrorKind::kProtocol, "101 Switching Protocols unasked");
    if (status_ < 200) {  // Interim: the final response follows.
      phase_ = Phase::kStatus;
      header_bytes_ = 0;
      return Result::kNeedMore;
    }
    if (head_request_ || status_ == 204 || status_ == 304) {
      phase_ = Phase::kDone;
    } else if (chunked_) {
      phase_ = Phase::kChunkSize;
    } else if (other_coding_ || content_length_ < 0) {
      phase_ = Phase::kUntilClose;
      keep_alive_ = false;
    } else {
      remaining_ = content_length_;
      phase_ = remaining_ == 0 ? Phase::kDone : Phase::kBody;
    }
    return phase_ == Phase::kDone ? Result::kDone : Result::kNeedMore;
  }

  Result ChunkSizeLine(absl::string_view line) {
    uint64_t size = 0;
    size_t digits = 0;
    while (digits < line.size() && absl::ascii_isxdigit(line[digits])) {
      if (digits == 15) return Fail(HttpErrorKind::kProtocol, "chunk size too large");
      const char c = absl::ascii_tolower(line[digits]);
      size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
      ++digits;
    }
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(digits));
    if (digits == 0 || (!rest.empty() && rest[0] != ';')) {
      return Fail(HttpErrorKind::kProtocol,
                  absl::StrCat("malformed chunk size '", absl::CEscape(line.substr(0, 32)), "'"));
    }
    if (size == 0) {
      phase_ = Phase::kTrailers;
      header_bytes_ = 0;
    } else {
      remaining_ = size;
      phase_ = Phase::kChunkData;
    }
    return Result::kNeedMore;
  }

  void Body(absl::string_view bytes) {
    body_bytes_ += bytes.size();
    if (captured_.size() < max_capture_) {
      const absl::string_view kept = bytes.substr(0, max_capture_ - captured_.size());
      captured_.append(kept.data(), kept.size());
    }
  }

  const bool head_request_;
  const size_t max_capture_;
  const bool bug_overread_;
  Phase phase_ = Phase::kStatus;
  bool any_byte_ = false;
  int status_ = 0;
  bool keep_alive_ = true;
  int64_t content_length_ = -1;
  bool chunked_ = false;
  bool other_coding_ = false;
  uint64_t remaining_ = 0;
  size_t header_bytes_ = 0;
  int64_t body_bytes_ = 0;
  std::string captured_;
  HttpErrorKind error_ = HttpErrorKind::kNone;
  std::string message_;
};

// ---------------------------------------------------------------------------------------------
// Sessions.

class Core;
class RawTask;

struct Connection {
  uint64_t id = 0;
  int fd = -1;
  std::string origin;
  bool connecting = true;
  bool used_before = false;
  uint32_t interest = 0;
  std::string out;
  size_t out_off = 0;
  std::string in;
  std::shared_ptr<RawTask> task;  // Null while idle.
  std::unique_ptr<ResponseParser> parser;
  LiveToken live{kRawConnections};
};

class RawTask : public HttpTask, public std::enable_shared_from_this<RawTask> {
 public:
  RawTask(std::shared_ptr<Core> core, uint64_t id, HttpRequest request, Target target,
          HttpCompletion on_complete)
      : core_(std::move(core)),
        id_(id),
        request_(std::move(request)),
        target_(std::move(target)),
        on_complete_(std::move(on_complete)),
        created_(netrig::Now()) {}

  uint64_t id() const override { return id_; }
  void Resume() override;
  void Cancel() override;
  const char* state() const override { return state_.load(std::memory_order_acquire); }

 private:
  friend class Core;
  const std::shared_ptr<Core> core_;
  const uint64_t id_;
  const HttpRequest request_;
  const Target target_;
  std::atomic<const char*> state_{"created"};
  // The event thread's alone from here on.
  HttpCompletion on_complete_;
  const absl::Time created_;
  absl::Time resumed_ = absl::InfinitePast();
  absl::Time deadline_ = absl::InfiniteFuture();
  absl::Duration connect_time_;
  absl::Duration first_byte_;
  bool started_ = false;
  bool completed_ = false;
  bool retried_ = false;
  LiveToken live_{kRawTasks};
};

// The session whose callback this thread is running (WaitUntilInvalidated returns false there).
thread_local const Core* running_callback_of = nullptr;

class ScopedCallback {
 public:
  explicit ScopedCallback(const Core* core) : previous_(running_callback_of) {
    running_callback_of = core;
  }
  ~ScopedCallback() { running_callback_of = previous_; }

 private:
  const Core* const previous_;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(const HttpSessionOptions& options, const RawSocketClientOptions& client_options)
      : options_(options), client_options_(client_options) {}

  ~Core() {
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  absl::Status Start() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
      return absl::InternalError(absl::StrCat("raw-socket: epoll/eventfd: ", strerror(errno)));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    thread_ = Thread("raw-socket", [self = shared_from_this()] { self->Loop(); });
    return absl::OkStatus();
  }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) {
    absl::StatusOr<Target> target = ParseTarget(request.url);
    const uint64_t id = next_task_id.fetch_add(1, std::memory_order_relaxed);
    auto task = std::make_shared<RawTask>(shared_from_this(), id, std::move(request),
                                          target.ok() ? *std::move(target) : Target{},
                                          std::move(on_complete));
    if (!target.ok()) task->state_.store("bad-url", std::memory_order_release);
    MutexLock lock(&mu_);
    if (invalidating_) return absl::FailedPreconditionError("the session is being invalidated");
    pending_.emplace(id, task);
    return task;
  }

  void Post(bool cancel, std::shared_ptr<RawTask> task) {
    {
      MutexLock lock(&mu_);
      // After invalidation nothing runs (every task completed): a kept command would only tie
      // the task and the session to each other for good.
      if (invalidated_) return;
      commands_.push_back(Command{cancel, std::move(task)});
    }
    Wake();
  }

  void Invalidate(bool cancel, absl::AnyInvocable<void()> callback) {
    bool run_now = false;
    {
      MutexLock lock(&mu_);
      if (invalidated_) {
        run_now = true;
      } else {
        if (callback != nullptr) on_invalidated_.push_back(std::move(callback));
        invalidating_ = true;
        if (cancel) cancel_all_ = true;
      }
    }
    if (run_now) {
      if (callback != nullptr) callback();
      return;
    }
    Wake();
  }

  bool WaitUntilInvalidated(absl::Duration timeout) {
    if (running_callback_of == this || event_thread_.IsCurrent()) return false;
    const absl::Time deadline =
        timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : netrig::Now() + timeout;
    MutexLock lock(&mu_);
    while (!invalidated_) {
      if (deadline == absl::InfiniteFuture()) {
        invalidated_cv_.Wait(&mu_);
      } else {
        const absl::Duration left = deadline - netrig::Now();
        if (left <= absl::ZeroDuration()) return false;
        invalidated_cv_.WaitWithTimeout(&mu_, left);
      }
    }
    return true;
  }

  // The session handle is going away: wait for the event thread, or let it finish on its own
  // when this is the event thread (a session destroyed from its own callback).
  void Release() {
    Invalidate(/*cancel=*/true, nullptr);
    if (event_thread_.IsCurrent()) {
      thread_.detach();
      return;
    }
    WaitUntilInvalidated(absl::InfiniteDuration());
    thread_.join();
  }

  absl::StatusOr<ObserverId> AddObserver(ConnectionObserver observer) {
    MutexLock lock(&mu_);
    if (invalidating_) return absl::FailedPreconditionError("the session is being invalidated");
    const ObserverId id = next_observer_++;
    observers_.emplace(id, std::move(observer));
    return id;
  }
  void RemoveObserver(ObserverId id) {
    MutexLock lock(&mu_);
    observers_.erase(id);
  }

 private:
  struct Command {
    bool cancel;
    std::shared_ptr<RawTask> task;
  };
  struct Origin {
    std::vector<Connection*> idle;
    int open = 0;
    std::deque<std::shared_ptr<RawTask>> waiting;
  };

  void Wake() {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }

  void Loop() {
    event_thread_.BindToCurrent();
    epoll_event events[64];
    for (;;) {
      const int n = epoll_wait(epoll_fd_, events, 64, TimeoutMs());
      for (int i = 0; i < n; ++i) {
        // epoll_event is packed on x86-64: copy the id out rather than bind a reference to it.
        const uint64_t id = events[i].data.u64;
        if (id == 0) {
          uint64_t drained;
          (void)!read(wake_fd_, &drained, sizeof(drained));
          continue;
        }
        auto it = connections_.find(id);
        if (it != connections_.end()) OnEvents(it->second.get(), events[i].events);
      }
      RunCommands();
      ExpireDeadlines();
      if (MaybeFinishInvalidation()) break;
    }
    stopping_ = true;
    while (!connections_.empty()) Close(connections_.begin()->second.get());
    std::deque<Command> late;  // Posted while the last callbacks ran; released outside the lock.
    {
      MutexLock lock(&mu_);
      late.swap(commands_);
    }
    event_thread_.Unbind();
  }

  int TimeoutMs() {
    absl::Time next = absl::InfiniteFuture();
    for (const auto& [id, conn] : connections_) {
      if (conn->task != nullptr) next = std::min(next, conn->task->deadline_);
    }
    for (const auto& [key, origin] : origins_) {
      for (const auto& task : origin.waiting) next = std::min(next, task->deadline_);
    }
    if (next == absl::InfiniteFuture()) return -1;
    const int64_t ms = absl::ToInt64Milliseconds(next - netrig::Now()) + 1;
    return static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
  }

  void RunCommands() {
    for (;;) {
      std::deque<Command> commands;
      bool cancel_all = false;
      // Seen with the commands, under one lock: every Resume() posted before the invalidation
      // is then in `commands` and starts before the sweep below, which must not call it "never
      // resumed". An invalidation that comes after the swap is swept on the next round.
      bool sweep = false;
      {
        MutexLock lock(&mu_);
        commands.swap(commands_);
        cancel_all = std::exchange(cancel_all_, false);
        sweep = invalidating_;
        if (commands.empty() && !cancel_all && !(invalidating_ && !swept_)) return;
      }
      for (Command& command : commands) {
        if (command.cancel) {
          Complete(*command.task, HttpErrorKind::kCancelled, "cancelled");
        } else {
          StartTask(command.task);
        }
      }
      // After the commands given before it, invalidation cancels what never started, and
      // InvalidateAndCancel everything.
      std::vector<std::shared_ptr<RawTask>> cancelled;
      {
        MutexLock lock(&mu_);
        if (sweep) {
          swept_ = true;
          for (const auto& [id, task] : pending_) {
            if (cancel_all || !task->started_) cancelled.push_back(task);
          }
        }
      }
      for (const auto& task : cancelled) {
        Complete(*task, HttpErrorKind::kCancelled,
                 task->started_ ? "cancelled by InvalidateAndCancel" : "never resumed");
      }
    }
  }

  bool MaybeFinishInvalidation() {
    {
      MutexLock lock(&mu_);
      if (!invalidating_ || !pending_.empty() || !commands_.empty() || cancel_all_) return false;
    }
    for (;;) {
      std::vector<absl::AnyInvocable<void()>> run;
      {
        MutexLock lock(&mu_);
        if (on_invalidated_.empty()) {
          invalidated_ = true;
          invalidated_cv_.SignalAll();
          return true;
        }
        run.swap(on_invalidated_);
      }
      ScopedCallback in_callback(this);
      for (auto& callback : run) callback();
    }
  }

  void StartTask(const std::shared_ptr<RawTask>& task) {
    if (task->completed_ || task->started_) return;
    task->started_ = true;
    task->resumed_ = netrig::Now();
    if (task->request_.timeout != absl::InfiniteDuration()) {
      task->deadline_ = task->resumed_ + task->request_.timeout;
    }
    if (task->target_.host.empty()) {
      absl::StatusOr<Target> target = ParseTarget(task->request_.url);
      Complete(*task, HttpErrorKind::kInvalidRequest, std::string(target.status().message()));
      return;
    }
    if (task->request_.version != HttpVersion::kHttp11) {
      Complete(*task, HttpErrorKind::kInvalidRequest, "raw-socket speaks HTTP/1.1 only, not h2c");
      return;
    }
    task->state_.store("queued", std::memory_order_release);
    Dispatch(task);
  }

  // Puts the task on an idle connection of its origin, a new one, or the origin's wait list.
  void Dispatch(const std::shared_ptr<RawTask>& task) {
    Origin& origin = origins_[task->target_.origin];
    if (!origin.idle.empty()) {
      Connection* conn = origin.idle.back();
      origin.idle.pop_back();
      Assign(conn, task);
      return;
    }
    if (options_.max_connections_per_host > 0 && origin.open >= options_.max_connections_per_host) {
      origin.waiting.push_back(task);
      return;
    }
    Connection* conn = Open(*task);
    if (conn != nullptr) Assign(conn, task);
  }

  Connection* Open(RawTask& task) {
    sockaddr_storage address{};
    socklen_t length = 0;
    const Target& target = task.target_;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    if (inet_pton(AF_INET, target.host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(target.port);
      length = sizeof(*v4);
    } else if (inet_pton(AF_INET6, target.host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(target.port);
      length = sizeof(*v6);
    } else {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      if (getaddrinfo(target.host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
        Complete(task, HttpErrorKind::kConnect,
                 absl::StrCat("could not resolve host '", target.host, "'"));
        return nullptr;
      }
      std::memcpy(&address, found->ai_addr, found->ai_addrlen);
      length = found->ai_addrlen;
      freeaddrinfo(found);
      if (address.ss_family == AF_INET) v4->sin_port = htons(target.port);
      if (address.ss_family == AF_INET6) v6->sin6_port = htons(target.port);
    }
    const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      Complete(task, HttpErrorKind::kConnect, absl::StrCat("socket: ", strerror(errno)));
      return nullptr;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 && errno != EINPROGRESS) {
      const int error = errno;
      close(fd);
      Complete(task, HttpErrorKind::kConnect,
               absl::StrCat("connect to ", target.origin, ": ", strerror(error)));
      return nullptr;
    }
    auto owned = std::make_unique<Connection>();
    Connection* conn = owned.get();
    conn->id = next_connection_id.fetch_add(1, std::memory_order_relaxed);
    conn->fd = fd;
    conn->origin = target.origin;
    conn->interest = EPOLLIN | EPOLLOUT;
    epoll_event ev{};
    ev.events = conn->interest;
    ev.data.u64 = conn->id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    connections_.emplace(conn->id, std::move(owned));
    ++origins_[target.origin].open;
    return conn;
  }

  void Assign(Connection* conn, const std::shared_ptr<RawTask>& task) {
    conn->task = task;
    conn->in.clear();
    const HttpRequest& request = task->request_;
    conn->parser =
        std::make_unique<ResponseParser>(request.method == "HEAD", request.max_captured_body,
                                         client_options_.bug_chunk_size_overread);
    conn->out.clear();
    conn->out_off = 0;
    absl::StrAppend(&conn->out, request.method, " ", task->target_.path,
                    " HTTP/1.1\r\nHost: ", task->target_.host_header, "\r\n");
    for (const auto& [name, value] : request.headers) {
      absl::StrAppend(&conn->out, name, ": ", value, "\r\n");
    }
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
      absl::StrAppend(&conn->out, "Content-Length: ", request.body.size(), "\r\n");
    }
    absl::StrAppend(&conn->out, "\r\n", request.body);
    task->state_.store(conn->connecting ? "connecting" : "sending", std::memory_order_release);
    const uint64_t id = conn->id;
    if (!conn->connecting) Write(conn);  // May close the connection.
    if (connections_.contains(id)) SetInterest(conn);
  }

  void SetInterest(Connection* conn) {
    const uint32_t want = EPOLLIN | (conn->connecting || conn->out_off < conn->out.size()
                                         ? static_cast<uint32_t>(EPOLLOUT)
                                         : 0u);
    if (want == conn->interest) return;
    conn->interest = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = conn->id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn->fd, &ev);
  }

  void OnEvents(Connection* conn, uint32_t events) {
    const uint64_t id = conn->id;
    if (conn->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int error = 0;
      socklen_t length = sizeof(error);
      getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        std::shared_ptr<RawTask> task = conn->task;
        Close(conn);
        if (task != nullptr) {
          Complete(*task, HttpErrorKind::kConnect, absl::StrCat("connect: ", strerror(error)));
        }
        return;
      }
      conn->connecting = false;
      if (conn->task != nullptr) {
        conn->task->connect_time_ = netrig::Now() - conn->task->resumed_;
        conn->task->state_.store("sending", std::memory_order_release);
      }
    }
    if (events & EPOLLOUT) Write(conn);
    if (!connections_.contains(id)) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(conn);
    if (connections_.contains(id)) SetInterest(conn);
  }

  void Write(Connection* conn) {
    while (conn->out_off < conn->out.size()) {
      const ssize_t n = send(conn->fd, conn->out.data() + conn->out_off,
                             conn->out.size() - conn->out_off, MSG_NOSIGNAL);
      if (n > 0) {
        conn->out_off += n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        Broken(conn, /*reset=*/true);  // The response may still be readable: Read decides.
        return;
      }
    }
    if (conn->task != nullptr) conn->task->state_.store("waiting", std::memory_order_release);
  }

  void Read(Connection* conn) {
    char buf[kReadBytes];
    for (;;) {
      const ssize_t n = read(conn->fd, buf, sizeof(buf));
      if (n > 0) {
        if (conn->task == nullptr) {  // Bytes on an idle connection: nothing asked for them.
          Close(conn);
          return;
        }
        if (conn->parser->body_bytes() == 0 && !conn->parser->any_byte()) {
          conn->task->first_byte_ = netrig::Now() - conn->task->resumed_;
          conn->task->state_.store("receiving", std::memory_order_release);
        }
        conn->in.append(buf, n);
        size_t consumed = 0;
        const ResponseParser::Result result = conn->parser->Feed(conn->in, &consumed);
        conn->in.erase(0, consumed);
        if (result == ResponseParser::Result::kDone) {
          Done(conn);
          return;
        }
        if (result == ResponseParser::Result::kError) {
          std::shared_ptr<RawTask> task = conn->task;
          const HttpErrorKind kind = conn->parser->error();
          const std::string message = conn->parser->message();
          Close(conn);
          Complete(*task, kind, message);
          return;
        }
        if (static_cast<size_t>(n) < sizeof(buf)) return;
      } else if (n == 0) {
        Broken(conn, /*reset=*/false);
        return;
      } else if (errno == EINTR) {
        continue;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;
      } else {
        Broken(conn, /*reset=*/true);
        return;
      }
    }
  }

  // The connection ended (a close, a reset, a failed write).
  void Broken(Connection* conn, bool reset) {
    std::shared_ptr<RawTask> task = conn->task;
    if (task == nullptr) {
      Close(conn);
      return;
    }
    const bool nothing_came = !conn->parser->any_byte();
    const bool reused = conn->used_before;
    const ResponseParser::Result result = conn->parser->OnEnd(reset);
    if (result == ResponseParser::Result::kDone) {
      conn->task = nullptr;   // Read to the close: the connection is spent.
      Succeed(*task, *conn);  // Reads the parser: before Close frees the connection.
      Close(conn);
      return;
    }
    const HttpErrorKind kind = conn->parser->error();
    const std::string message = conn->parser->message();
    conn->task = nullptr;
    Close(conn);
    // A keep-alive connection the server closed while it was idle: send the request again once.
    const absl::string_view method = task->request_.method;
    if (nothing_came && reused && !task->retried_ && (method == "GET" || method == "HEAD")) {
      task->retried_ = true;
      Dispatch(task);
      return;
    }
    Complete(*task, kind, message);
  }

  void Done(Connection* conn) {
    std::shared_ptr<RawTask> task = std::move(conn->task);
    const bool reusable = conn->parser->reusable() && conn->in.empty();
    Succeed(*task, *conn);  // Callbacks only post commands: the connection is still here.
    if (!reusable) {
      Close(conn);
      return;
    }
    conn->used_before = true;
    conn->parser.reset();
    Origin& origin = origins_[conn->origin];
    if (!origin.waiting.empty()) {
      std::shared_ptr<RawTask> next = std::move(origin.waiting.front());
      origin.waiting.pop_front();
      Assign(conn, next);
      return;
    }
    origin.idle.push_back(conn);
  }

  void Succeed(RawTask& task, Connection& conn) {
    if (task.completed_) return;
    HttpResult result;
    result.status = conn.parser->status();
    result.body_bytes = conn.parser->body_bytes();
    result.body = std::move(conn.parser->captured());
    result.connection_id = conn.id;
    Deliver(task, std::move(result));
  }

  void Complete(RawTask& task, HttpErrorKind kind, std::string message) {
    if (task.completed_) return;
    // A task still on a connection or in a wait list leaves it (the connection is mid-response).
    for (auto& [id, conn] : connections_) {
      if (conn->task.get() == &task) {
        conn->task = nullptr;
        Close(conn.get());
        break;
      }
    }
    auto origin = origins_.find(task.target_.origin);
    if (origin != origins_.end()) {
      std::erase_if(origin->second.waiting, [&task](const auto& t) { return t.get() == &task; });
    }
    HttpResult result;
    result.error = kind;
    result.error_message = std::move(message);
    Deliver(task, std::move(result));
  }

  void Deliver(RawTask& task, HttpResult result) {
    task.completed_ = true;
    task.state_.store("completed", std::memory_order_release);
    const absl::Time now = netrig::Now();
    result.task_id = task.id_;
    result.version = HttpVersion::kHttp11;
    result.timings.created = task.created_;
    result.timings.resumed = task.resumed_;
    result.timings.completed = now;
    if (task.started_) {
      result.timings.connect = task.connect_time_;
      result.timings.first_byte = task.first_byte_;
      result.timings.total = now - task.resumed_;
    }
    std::shared_ptr<RawTask> self;  // The session's reference, dropped after the callback.
    {
      MutexLock lock(&mu_);
      auto it = pending_.find(task.id_);
      if (it != pending_.end()) {
        self = std::move(it->second);
        pending_.erase(it);
      }
    }
    HttpCompletion callback = std::move(task.on_complete_);
    {
      ScopedCallback in_callback(this);
      if (callback) callback(result);
    }
  }

  void ExpireDeadlines() {
    const absl::Time now = netrig::Now();
    std::vector<std::shared_ptr<RawTask>> expired;
    for (const auto& [id, conn] : connections_) {
      if (conn->task != nullptr && conn->task->deadline_ <= now) expired.push_back(conn->task);
    }
    for (const auto& [key, origin] : origins_) {
      for (const auto& task : origin.waiting) {
        if (task->deadline_ <= now) expired.push_back(task);
      }
    }
    for (const auto& task : expired) {
      Complete(*task, HttpErrorKind::kTimeout,
               absl::StrCat("no complete response within ",
                            absl::FormatDuration(task->request_.timeout)));
    }
  }

  void Close(Connection* conn) {
    auto it = connections_.find(conn->id);
    if (it == connections_.end()) return;
    Origin& origin = origins_[conn->origin];
    std::erase(origin.idle, conn);
    --origin.open;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn->fd, nullptr);
    close(conn->fd);
    std::unique_ptr<Connection> owned = std::move(it->second);
    connections_.erase(it);
    // A freed slot lets a waiting task of the origin open a connection.
    if (!origin.waiting.empty() && !stopping_) {
      std::shared_ptr<RawTask> next = std::move(origin.waiting.front());
      origin.waiting.pop_front();
      Dispatch(next);
    }
  }

  const HttpSessionOptions options_;
  const RawSocketClientOptions client_options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  Thread thread_;
  ThreadAffinity event_thread_;
  bool stopping_ = false;

  Mutex mu_;
  CondVar invalidated_cv_;
  std::deque<Command> commands_ ABSL_GUARDED_BY(mu_);
  bool invalidating_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_all_ ABSL_GUARDED_BY(mu_) = false;
  bool swept_ ABSL_GUARDED_BY(mu_) = false;  // Unstarted tasks cancelled once invalidating.
  bool invalidated_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint64_t, std::shared_ptr<RawTask>> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::AnyInvocable<void()>> on_invalidated_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<ObserverId, ConnectionObserver> observers_ ABSL_GUARDED_BY(mu_);
  ObserverId next_observer_ ABSL_GUARDED_BY(mu_) = 1;

  // The event thread's.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  absl::flat_hash_map<std::string, Origin> origins_;
  LiveToken live_{kRawSessions};
};

void RawTask::Resume() { core_->Post(/*cancel=*/false, shared_from_this()); }
void RawTask::Cancel() { core_->Post(/*cancel=*/true, shared_from_this()); }

class RawSession : public HttpSession {
 public:
  explicit RawSession(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~RawSession() override { core_->Release(); }

  absl::StatusOr<std::shared_ptr<HttpTask>> MakeTask(HttpRequest request,
                                                     HttpCompletion on_complete) override {
    return core_->MakeTask(std::move(request), std::move(on_complete));
  }
  void FinishTasksAndInvalidate(absl::AnyInvocable<void()> on_invalidated) override {
    core_->Invalidate(/*cancel=*/false, std::move(on_invalidated));
  }
  void InvalidateAndCancel(absl::AnyInvocable<void()> on_invalidated) override {
    core_->Invalidate(/*cancel=*/true, std::move(on_invalidated));
  }
  bool WaitUntilInvalidated(absl::Duration timeout) override {
    return core_->WaitUntilInvalidated(timeout);
  }
  absl::StatusOr<ObserverId> AddConnectionObserver(ConnectionObserver observer) override {
    return core_->AddObserver(std::move(observer));
  }
  void RemoveConnectionObserver(ObserverId id) override { core_->RemoveObserver(id); }

 private:
  const std::shared_ptr<Core> core_;
};

class RawSocketClient : public HttpClient {
 public:
  explicit RawSocketClient(RawSocketClientOptions options) : options_(options) {}

  absl::StatusOr<std::unique_ptr<HttpSession>> NewSession(
      const HttpSessionOptions& options) override {
    auto core = std::make_shared<Core>(options, options_);
    if (absl::Status started = core->Start(); !started.ok()) return started;
    return std::make_unique<RawSession>(std::move(core));
  }
  bool Speaks(HttpVersion version) const override { return version == HttpVersion::kHttp11; }

 private:
  const RawSocketClientOptions options_;
};

}  // namespace

std::unique_ptr<HttpClient> NewRawSocketHttpClient(RawSocketClientOptions options) {
  return std::make_unique<RawSocketClient>(options);
}

}  // namespace netrig
