// Connection: the parts shared by both protocols (reading, sniffing, writing, closing, plans)
// and HTTP/1.1. HTTP/2 lives in h2_connection.cc.
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "harness/http/server/response_cuts.h"
#include "harness/http/server/server_internal.h"

namespace netrig::internal {
namespace {

constexpr absl::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxBufferedInput = 1 << 20;
constexpr size_t kMaxRequestHead = 64 * 1024;
constexpr int64_t kMaxRequestBody = 64 << 20;
constexpr size_t kHeaderLineBytes = 4096;

absl::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

void AppendBody(std::string* out, int64_t n, int64_t offset) {
  static constexpr absl::string_view kPattern =
      "ok netrig body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
  size_t at = offset % kPattern.size();
  while (n > 0) {
    size_t take = std::min<int64_t>(n, kPattern.size() - at);
    out->append(kPattern.data() + at, take);
    n -= take;
    at = 0;
  }
}

void AppendPaddingHeaders(std::string* out, int64_t bytes, absl::string_view separator) {
  for (int i = 0; bytes > 0; ++i) {
    size_t value = std::min<int64_t>(bytes, kHeaderLineBytes);
    absl::StrAppend(out, "X-Netrig-Padding-", i, separator);
    out->append(value, 'p');
    out->append("\r\n");
    bytes -= value;
  }
}

Connection::Connection(Worker* worker, int fd, uint64_t id)
    : worker_(worker),
      fd_(fd),
      id_(id),
      connection_index_(worker->server()->NextConnectionIndex()),
      interest_(EPOLLIN) {}

Connection::~Connection() {
  if (h2_ != nullptr) nghttp2_session_del(h2_);
  close(fd_);
}

void Connection::OnEvents(uint32_t events) {
  if (events & EPOLLERR) {
    CloseNow(false);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP)) ReadAvailable();
  if (done_) return;
  switch (mode_) {
    case Mode::kSniffing:
      Sniff();
      break;
    case Mode::kHttp1:
      H1Process();
      break;
    case Mode::kHttp2:
      H2Feed();
      break;
    case Mode::kHttp2Scripted:
      H2ScriptedFeed();
      break;
  }
  if (done_) return;
  Flush();
  if (done_) return;
  if (peer_closed_) {
    // The client is gone (or half-closed): finish what is in progress, then close.
    bool busy = h1_busy_ || out_off_ < out_.size();
    if (!busy || mode_ == Mode::kHttp2 || mode_ == Mode::kSniffing) {
      CloseNow(false);
      return;
    }
    close_after_flush_ = true;
  }
  UpdateInterest();
}

void Connection::OnTimer(uint64_t token) {
  if (done_) return;
  if (mode_ == Mode::kHttp1) {
    if (token != timer_token_ || step_state_ != StepState::kArmed) return;
    step_state_ = StepState::kFired;
    H1AdvanceSteps();
    if (!h1_busy_) H1Process();
  } else if (mode_ == Mode::kHttp2Scripted) {
    if (token != timer_token_ || step_state_ != StepState::kArmed) return;
    step_state_ = StepState::kFired;
    H1AdvanceSteps();
  } else if (mode_ == Mode::kHttp2) {
    H2OnTimer(static_cast<int32_t>(token));
  }
  if (done_) return;
  Flush();
  if (done_) return;
  UpdateInterest();
}

void Connection::ReadAvailable() {
  char buf[kReadChunk];
  while (in_.size() - in_off_ < kMaxBufferedInput) {
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n > 0) {
      Bump(worker_->stats().bytes_received, n);
      in_.append(buf, n);
      if (static_cast<size_t>(n) < sizeof(buf)) return;  // Drained: skip the EAGAIN read.
    } else if (n == 0) {
      peer_closed_ = true;
      return;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else {
      CloseNow(false);
      return;
    }
  }
}

void Connection::Sniff() {
  absl::string_view data(in_.data() + in_off_, in_.size() - in_off_);
  size_t n = std::min(data.size(), kH2Preface.size());
  if (n == 0) return;
  if (data.substr(0, n) != kH2Preface.substr(0, n)) {
    mode_ = Mode::kHttp1;
    Bump(worker_->stats().http1_connections);
    H1Process();
    return;
  }
  if (n < kH2Preface.size()) return;  // Could still be either: wait for more.
  Bump(worker_->stats().http2_connections);
  if (worker_->server()->CurrentScript() != nullptr) {
    mode_ = Mode::kHttp2Scripted;
    in_off_ += kH2Preface.size();
    // An empty SETTINGS frame and an ACK of the client's SETTINGS; the script writes the rest.
    static constexpr char kSettingsAndAck[] = {0, 0, 0, 4, 0, 0, 0, 0, 0,
                                               0, 0, 0, 4, 1, 0, 0, 0, 0};
    out_.append(kSettingsAndAck, sizeof(kSettingsAndAck));
    H2ScriptedFeed();
    return;
  }
  mode_ = Mode::kHttp2;
  if (H2Start()) H2Feed();
}

void Connection::Flush() {
  while (out_off_ < out_.size()) {
    ssize_t n = send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      Bump(worker_->stats().bytes_sent, n);
      out_off_ += n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      CloseNow(false);
      return;
    }
  }
  out_.clear();
  out_off_ = 0;
  if (reset_after_flush_) {
    CloseNow(true);
  } else if (close_after_flush_) {
    CloseNow(false);
  } else if (mode_ == Mode::kHttp2 && h2_ != nullptr && !nghttp2_session_want_read(h2_) &&
             !nghttp2_session_want_write(h2_)) {
    CloseNow(false);
  }
}

void Connection::UpdateInterest() {
  uint32_t want = 0;
  bool closing = close_after_flush_ || reset_after_flush_;
  if (!peer_closed_ && !closing && in_.size() - in_off_ < kMaxBufferedInput) want |= EPOLLIN;
  if (out_off_ < out_.size()) want |= EPOLLOUT;
  worker_->SetInterest(this, interest_, want);
  interest_ = want;
}

void Connection::CloseNow(bool reset) {
  if (done_) return;
  done_ = true;
  if (reset) {
    linger lg{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  } else {
    // Unread input makes close() send a reset; drain it (bounded) so a clean close stays clean.
    char buf[kReadChunk];
    for (int i = 0; i < 64 && read(fd_, buf, sizeof(buf)) > 0; ++i) {
    }
    shutdown(fd_, SHUT_WR);
  }
  // The destructor closes fd_.
}

FaultPlan Connection::PlanForRequest(absl::string_view target, absl::string_view fault_header,
                                     bool* bad_plan, std::string* error) {
  *bad_plan = false;
  plan_note_.clear();
  HttpServer* server = worker_->server();
  absl::string_view encoded;
  bool asked = false;
  if (server->options().honor_fault_requests) {
    if (absl::ConsumePrefix(&target, "/fault/")) {
      encoded = target.substr(0, target.find_first_of("?#/"));
      asked = true;
    } else if (!fault_header.empty()) {
      encoded = absl::StripAsciiWhitespace(fault_header);
      asked = true;
    }
  }
  if (asked) {
    absl::StatusOr<FaultPlan> plan = DecodeFaultPlan(encoded);
    if (plan.ok()) return *plan;
    *bad_plan = true;
    *error = std::string(plan.status().message());
    return FaultPlan{.kind = FaultKind::kStatus, .status = 400};
  }
  plan_note_.clear();
  if (const FaultPlanner* planner = server->planner()) {
    uint64_t index = server->NextRequestIndex();
    FaultPlan plan = planner->PlanFor(index);
    // Lets a client log which plan it met: "<request index> <encoded plan>".
    absl::StrAppend(&plan_note_, index, " ", EncodeFaultPlan(plan));
    return plan;
  }
  return FaultPlan{};
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

void Connection::H1Process() {
  while (!done_ && !h1_busy_ && !close_after_flush_ && !reset_after_flush_) {
    if (!H1HandleOneRequest()) break;
  }
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  } else if (in_off_ > kMaxBufferedInput / 4) {
    in_.erase(0, in_off_);
    in_off_ = 0;
  }
}

bool Connection::H1HandleOneRequest() {
  absl::string_view data(in_.data() + in_off_, in_.size() - in_off_);
  // Tolerate stray CRLFs between requests (RFC 9112 section 2.2).
  while (absl::ConsumePrefix(&data, "\r\n")) in_off_ += 2;
  if (data.empty()) return false;
  size_t head_end = data.find("\r\n\r\n");
  auto reject = [this](int status, absl::string_view why) {
    Bump(worker_->stats().bad_requests);
    absl::StrAppend(&out_, "HTTP/1.1 ", status, " ", Reason(status),
                    "\r\nContent-Length: ", why.size() + 1, "\r\nConnection: close\r\n\r\n", why,
                    "\n");
    in_off_ = in_.size();
    close_after_flush_ = true;
    return true;
  };
  if (head_end == absl::string_view::npos) {
    if (data.size() > kMaxRequestHead) return reject(431, "request head too large");
    return false;
  }
  if (head_end > kMaxRequestHead) return reject(431, "request head too large");
  absl::string_view head = data.substr(0, head_end);
  size_t line_end = head.find("\r\n");
  absl::string_view request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.rfind(' ');
  if (sp1 == absl::string_view::npos || sp2 == sp1) return reject(400, "bad request line");
  absl::string_view method = request_line.substr(0, sp1);
  absl::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  absl::string_view version = request_line.substr(sp2 + 1);
  if (!absl::StartsWith(version, "HTTP/1.")) return reject(400, "bad HTTP version");
  bool keep_alive = version != "HTTP/1.0";
  int64_t content_length = 0;
  absl::string_view fault_header;
  absl::string_view upgrade;
  absl::string_view http2_settings;
  bool expect_continue = false;
  absl::string_view rest =
      line_end == absl::string_view::npos ? absl::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    size_t eol = rest.find("\r\n");
    absl::string_view line = rest.substr(0, eol);
    rest = eol == absl::string_view::npos ? absl::string_view() : rest.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return reject(400, "bad header line");
    absl::string_view name = line.substr(0, colon);
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      if (!absl::SimpleAtoi(value, &content_length) || content_length < 0) {
        return reject(400, "bad content-length");
      }
      if (content_length > kMaxRequestBody) return reject(413, "request body too large");
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      return reject(501, "request transfer-encoding not supported");
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      std::string lower = absl::AsciiStrToLower(value);
      if (absl::StrContains(lower, "close")) keep_alive = false;
      if (absl::StrContains(lower, "keep-alive")) keep_alive = true;
    } else if (absl::EqualsIgnoreCase(name, "x-netrig-fault")) {
      fault_header = value;
    } else if (absl::EqualsIgnoreCase(name, "expect")) {
      expect_continue = absl::EqualsIgnoreCase(value, "100-continue");
    } else if (absl::EqualsIgnoreCase(name, "upgrade")) {
      upgrade = value;
    } else if (absl::EqualsIgnoreCase(name, "http2-settings")) {
      http2_settings = value;
    }
  }
  size_t total = head_end + 4 + static_cast<size_t>(content_length);
  if (data.size() < total) {  // The body is still coming.
    if (expect_continue && !continue_sent_) {
      out_.append("HTTP/1.1 100 Continue\r\n\r\n");
      continue_sent_ = true;
    }
    return false;
  }
  continue_sent_ = false;

  if (upgrade == "h2c" && content_length == 0 && requests_ == 0 &&
      worker_->server()->CurrentScript() == nullptr) {
    in_off_ += total;  // The views stay valid: in_ is not touched until H2Feed.
    if (H2StartFromUpgrade(http2_settings, method, target, fault_header)) {
      if (mode_ == Mode::kHttp2 && !done_) H2Feed();
      return false;  // The connection is HTTP/2 now.
    }
    in_off_ -= total;
  }
  ++requests_;
  WorkerStats& stats = worker_->stats();
  Bump(stats.requests);
  if (std::shared_ptr<const ScriptFunction> script = worker_->server()->CurrentScript()) {
    ScriptedRequest request{.protocol = HttpProtocol::kHttp1,
                            .connection_index = connection_index_,
                            .request_on_connection = requests_ - 1,
                            .method = method,
                            .target = target};
    ScriptedResponse response = (*script)(request);
    Bump(stats.scripted_responses);
    in_off_ += total;
    const After after = response.then == ScriptedResponse::Then::kKeepOpen ? After::kKeepAlive
                        : response.then == ScriptedResponse::Then::kClose  ? After::kClose
                                                                           : After::kReset;
    std::vector<size_t> cuts = response.pause_after;
    if (response.split_at_structure) {
      std::vector<size_t> structural = Http1StructuralCuts(response.bytes);
      cuts.insert(cuts.end(), structural.begin(), structural.end());
      std::sort(cuts.begin(), cuts.end());
    }
    WriteInPieces(std::move(response.bytes), cuts, /*pause_ms=*/1, after);
    return true;
  }
  bool bad_plan = false;
  std::string error;
  FaultPlan plan = PlanForRequest(target, fault_header, &bad_plan, &error);
  bool head_request = method == "HEAD";
  in_off_ += total;  // `method`, `target` and `fault_header` are invalid from here on.
  if (bad_plan) {
    Bump(stats.bad_requests);
    absl::StrAppend(&out_, "HTTP/1.1 400 Bad Request\r\nContent-Length: ", error.size() + 1,
                    keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n", error, "\n");
    H1Finish(keep_alive ? After::kKeepAlive : After::kClose);
    return true;
  }
  Bump(stats.requests_by_fault[static_cast<int>(plan.kind)]);
  H1Respond(plan, keep_alive, head_request);
  return true;
}

void Connection::H1Respond(const FaultPlan& plan, bool keep_alive, bool head) {
  const int64_t body_bytes =
      plan.body_bytes >= 0 ? plan.body_bytes : worker_->server()->options().default_body_bytes;
  After after = keep_alive ? After::kKeepAlive : After::kClose;
  if (plan.kind == FaultKind::kGoaway) {  // No response at all.
    H1Finish(After::kClose);
    return;
  }
  if (plan.kind == FaultKind::kCloseAfter) {
    close_after_requests_ = std::min<uint64_t>(close_after_requests_, plan.close_after);
  }
  int status = plan.kind == FaultKind::kStatus ? plan.status : 200;
  std::string head_bytes;
  absl::StrAppend(&head_bytes, "HTTP/1.1 ", status, " ", Reason(status), "\r\n");
  if (plan.kind == FaultKind::kChunked || plan.kind == FaultKind::kSplit) {
    head_bytes.append("Transfer-Encoding: chunked\r\n");
  } else {
    absl::StrAppend(&head_bytes, "Content-Length: ", body_bytes, "\r\n");
  }
  if (plan.kind == FaultKind::kOversizedHeaders) {
    AppendPaddingHeaders(&head_bytes, plan.header_bytes, ": ");
  }
  if (!plan_note_.empty()) absl::StrAppend(&head_bytes, "X-Netrig-Plan: ", plan_note_, "\r\n");
  if (!keep_alive) head_bytes.append("Connection: close\r\n");
  head_bytes.append("\r\n");
  if (plan.kind == FaultKind::kSplit) {
    std::string bytes = std::move(head_bytes);
    if (!head) {
      for (int64_t sent = 0; sent < body_bytes; sent += plan.chunk_bytes) {
        int64_t n = std::min<int64_t>(plan.chunk_bytes, body_bytes - sent);
        absl::StrAppend(&bytes, absl::Hex(n), "\r\n");
        AppendBody(&bytes, n, sent);
        bytes.append("\r\n");
      }
      bytes.append("0\r\nX-Netrig-Trailer: split\r\n\r\n");
    }
    const std::vector<size_t> cuts = Http1StructuralCuts(bytes);
    WriteInPieces(std::move(bytes), cuts, std::max(plan.delay_ms, 1), after);
    return;
  }
  if (head) {
    out_.append(head_bytes);
    H1Finish(after);
    return;
  }

  switch (plan.kind) {
    case FaultKind::kDelay: {
      steps_.clear();
      steps_.push_back(Step{plan.delay_ms, std::move(head_bytes)});
      AppendBody(&steps_.back().data, body_bytes);
      break;
    }
    case FaultKind::kSlowDrip: {
      steps_.clear();
      steps_.push_back(Step{0, std::move(head_bytes)});
      for (int64_t sent = 0; sent < body_bytes; sent += plan.chunk_bytes) {
        steps_.push_back(Step{std::max(plan.delay_ms, 1), {}});
        AppendBody(&steps_.back().data, std::min<int64_t>(plan.chunk_bytes, body_bytes - sent),
                   sent);
      }
      break;
    }
    case FaultKind::kChunked: {
      out_.append(head_bytes);
      for (int64_t sent = 0; sent < body_bytes; sent += plan.chunk_bytes) {
        int64_t n = std::min<int64_t>(plan.chunk_bytes, body_bytes - sent);
        absl::StrAppend(&out_, absl::Hex(n), "\r\n");
        AppendBody(&out_, n, sent);
        out_.append("\r\n");
      }
      out_.append("0\r\n\r\n");
      H1Finish(after);
      return;
    }
    case FaultKind::kTruncatedBody:
      out_.append(head_bytes);
      AppendBody(&out_, body_bytes / 2);
      H1Finish(After::kClose);
      return;
    case FaultKind::kResetMidBody:
    case FaultKind::kRstStream: {
      int64_t sent = plan.after_bytes < 0 ? body_bytes / 2 : plan.after_bytes;
      out_.append(head_bytes);
      AppendBody(&out_, std::min(sent, std::max<int64_t>(body_bytes - 1, 0)));
      H1Finish(After::kReset);
      return;
    }
    default:
      out_.append(head_bytes);
      AppendBody(&out_, body_bytes);
      H1Finish(after);
      return;
  }
  // Delay or drip: the steps run from timers.
  h1_busy_ = true;
  step_ = 0;
  step_state_ = StepState::kNotArmed;
  h1_after_ = after;
  H1AdvanceSteps();
}

void Connection::WriteInPieces(std::string bytes, const std::vector<size_t>& cuts, int pause_ms,
                               After after) {
  steps_.clear();
  size_t from = 0;
  for (size_t at : cuts) {
    if (at <= from || at >= bytes.size()) continue;  // Unsorted, repeated or out of range.
    steps_.push_back(Step{steps_.empty() ? 0 : pause_ms, bytes.substr(from, at - from)});
    from = at;
  }
  steps_.push_back(Step{steps_.empty() ? 0 : pause_ms, bytes.substr(from)});
  h1_busy_ = true;
  step_ = 0;
  step_state_ = StepState::kNotArmed;
  h1_after_ = after;
  H1AdvanceSteps();
}

void Connection::H1AdvanceSteps() {
  while (step_ < steps_.size()) {
    Step& step = steps_[step_];
    if (step.delay_ms > 0 && step_state_ != StepState::kFired) {
      if (step_state_ == StepState::kNotArmed) {
        step_state_ = StepState::kArmed;
        worker_->AddTimer(id_, step.delay_ms, ++timer_token_);
      }
      return;
    }
    out_.append(step.data);
    ++step_;
    step_state_ = StepState::kNotArmed;
  }
  steps_.clear();
  h1_busy_ = false;
  H1Finish(h1_after_);
}

void Connection::H1Finish(After after) {
  if (after == After::kReset) {
    reset_after_flush_ = true;
  } else if (after == After::kClose || requests_ >= close_after_requests_) {
    close_after_flush_ = true;
  }
}

}  // namespace netrig::internal
