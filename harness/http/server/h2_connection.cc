// Connection, HTTP/2 half: an nghttp2 server session fed from the connection's input buffer
// (nghttp2_session_mem_recv) and drained into its output buffer (nghttp2_session_mem_send), so
// the socket handling stays in connection.cc. Also the raw scripted HTTP/2 mode.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "harness/http/server/response_cuts.h"
#include "harness/http/server/server_internal.h"

namespace netrig::internal {
namespace {

constexpr size_t kMaxPendingOutput = 4 << 20;

Connection* Self(void* user_data) { return static_cast<Connection*>(user_data); }

int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  return Self(user_data)->H2OnBeginHeaders(frame->hd.stream_id);
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t name_len,
             const uint8_t* value, size_t value_len, uint8_t /*flags*/, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return Self(user_data)->H2OnHeader(
      frame->hd.stream_id, absl::string_view(reinterpret_cast<const char*>(name), name_len),
      absl::string_view(reinterpret_cast<const char*>(value), value_len));
}

int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  bool request_frame = frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA;
  if (request_frame && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    return Self(user_data)->H2OnRequestComplete(frame->hd.stream_id);
  }
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t /*error_code*/, void* user_data) {
  return Self(user_data)->H2OnStreamClose(stream_id);
}

ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                 uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
  return Self(user_data)->H2ReadBody(stream_id, buf, length, data_flags);
}

// Callbacks and options are the same for every session: built once.
struct SessionSetup {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  SessionSetup() {
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
    nghttp2_option_new(&option);
    // Oversized-header plans need header blocks past nghttp2's 64 KiB default.
    nghttp2_option_set_max_send_header_block_length(option, 32 << 20);
  }
  ~SessionSetup() {
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_option_del(option);
  }
};

const SessionSetup& Setup() {
  static const SessionSetup setup;
  return setup;
}

}  // namespace

bool Connection::H2Start() {
  const SessionSetup& setup = Setup();
  if (nghttp2_session_server_new2(&h2_, setup.callbacks, this, setup.option) != 0) {
    h2_ = nullptr;
    CloseNow(false);
    return false;
  }
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
       static_cast<uint32_t>(worker_->server()->options().h2_max_concurrent_streams)},
  };
  nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  return true;
}

bool Connection::H2StartFromUpgrade(absl::string_view settings_base64, absl::string_view method,
                                    absl::string_view target, absl::string_view fault_header) {
  std::string settings;
  if (!absl::WebSafeBase64Unescape(settings_base64, &settings)) return false;
  out_.append("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  mode_ = Mode::kHttp2;
  Bump(worker_->stats().http2_connections);
  if (!H2Start()) return true;
  // The upgraded request is stream 1, already half-closed by the client.
  auto stream = std::make_unique<H2Stream>();
  stream->method.assign(method.data(), method.size());
  stream->path.assign(target.data(), target.size());
  stream->fault_header.assign(fault_header.data(), fault_header.size());
  streams_[1] = std::move(stream);
  if (nghttp2_session_upgrade2(h2_, reinterpret_cast<const uint8_t*>(settings.data()),
                               settings.size(), method == "HEAD", nullptr) != 0) {
    CloseNow(false);
    return true;
  }
  H2OnRequestComplete(1);
  return true;
}

void Connection::H2Feed() {
  if (in_off_ < in_.size()) {
    ssize_t n = nghttp2_session_mem_recv(
        h2_, reinterpret_cast<const uint8_t*>(in_.data() + in_off_), in_.size() - in_off_);
    if (n < 0) {
      CloseNow(false);
      return;
    }
    in_off_ += n;
    if (in_off_ == in_.size()) {
      in_.clear();
      in_off_ = 0;
    }
  }
  H2Pump();
}

void Connection::H2Pump() {
  while (!done_ && out_.size() - out_off_ < kMaxPendingOutput) {
    // RST_STREAMs decided inside the data callback are submitted here, outside nghttp2.
    for (auto [stream_id, error] : pending_rst_) {
      nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, stream_id, error);
    }
    pending_rst_.clear();
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(h2_, &data);
    if (n < 0) {
      CloseNow(false);
      return;
    }
    if (n == 0) {
      if (pending_rst_.empty()) break;
      continue;
    }
    out_.append(reinterpret_cast<const char*>(data), n);
  }
  if (h2_close_when_idle_ && streams_.empty()) close_after_flush_ = true;
}

int Connection::H2OnBeginHeaders(int32_t stream_id) {
  streams_[stream_id] = std::make_unique<H2Stream>();
  return 0;
}

int Connection::H2OnHeader(int32_t stream_id, absl::string_view name, absl::string_view value) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  H2Stream& stream = *it->second;
  if (name == ":method") {
    stream.method.assign(value.data(), value.size());
  } else if (name == ":path") {
    stream.path.assign(value.data(), value.size());
  } else if (name == "x-netrig-fault") {
    stream.fault_header.assign(value.data(), value.size());
  }
  return 0;
}

int Connection::H2OnRequestComplete(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  H2Stream& stream = *it->second;
  ++requests_;
  WorkerStats& stats = worker_->stats();
  Bump(stats.requests);
  bool bad_plan = false;
  std::string error;
  stream.plan = PlanForRequest(stream.path, stream.fault_header, &bad_plan, &error);
  stream.plan_note = plan_note_;
  if (bad_plan) {
    Bump(stats.bad_requests);
    stream.body = error + "\n";
    stream.plan.body_bytes = stream.body.size();
  } else {
    Bump(stats.requests_by_fault[static_cast<int>(stream.plan.kind)]);
  }
  const FaultPlan& plan = stream.plan;
  switch (plan.kind) {
    case FaultKind::kDelay:
      stream.timer_armed = true;
      worker_->AddTimer(id_, plan.delay_ms, stream_id);
      return 0;
    case FaultKind::kGoaway:
      nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, stream_id, plan.h2_error, nullptr, 0);
      close_after_flush_ = true;
      return 0;
    case FaultKind::kRstStream:
      if (plan.after_bytes == 0) {
        nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, stream_id, plan.h2_error);
        return 0;
      }
      break;
    case FaultKind::kTinyWindow: {
      nghttp2_settings_entry settings[] = {
          {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(plan.window)}};
      nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
      break;
    }
    case FaultKind::kCloseAfter:
      close_after_requests_ = std::min<uint64_t>(close_after_requests_, plan.close_after);
      break;
    default:
      break;
  }
  H2SubmitResponse(stream_id);
  return 0;
}

void Connection::H2SubmitResponse(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  H2Stream& stream = *it->second;
  const FaultPlan& plan = stream.plan;
  stream.submitted = true;
  const bool error_body = !stream.body.empty();  // A bad plan's explanation.
  const int64_t body_bytes =
      plan.body_bytes >= 0 ? plan.body_bytes : worker_->server()->options().default_body_bytes;
  if (!error_body) AppendBody(&stream.body, body_bytes);
  stream.limit = stream.body.size();
  switch (plan.kind) {
    case FaultKind::kTruncatedBody:
      stream.limit = body_bytes / 2;
      stream.at_limit = H2Stream::AtLimit::kEofShort;
      break;
    case FaultKind::kResetMidBody:
      stream.limit = std::min<int64_t>(plan.after_bytes < 0 ? body_bytes / 2 : plan.after_bytes,
                                       std::max<int64_t>(body_bytes - 1, 0));
      stream.at_limit = H2Stream::AtLimit::kResetConnection;
      break;
    case FaultKind::kRstStream:
      stream.limit =
          std::min<int64_t>(plan.after_bytes < 0 ? body_bytes / 2 : plan.after_bytes, body_bytes);
      stream.at_limit = H2Stream::AtLimit::kRstStream;
      break;
    case FaultKind::kSlowDrip:
    case FaultKind::kSplit:
      stream.drip = true;
      stream.frame_bytes = plan.chunk_bytes;
      break;
    case FaultKind::kChunked:
    case FaultKind::kTinyWindow:
      stream.frame_bytes = plan.chunk_bytes;
      break;
    default:
      break;
  }
  std::string status =
      absl::StrCat(error_body ? 400 : (plan.kind == FaultKind::kStatus ? plan.status : 200));
  std::string length = absl::StrCat(stream.body.size());
  std::vector<std::string> padding;
  std::vector<nghttp2_nv> nva;
  auto add = [&nva](absl::string_view name, absl::string_view value) {
    nva.push_back(nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                             const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                             name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  add(":status", status);
  add("content-length", length);
  add("content-type", "text/plain");
  if (!stream.plan_note.empty()) add("x-netrig-plan", stream.plan_note);
  if (plan.kind == FaultKind::kOversizedHeaders) {
    for (int64_t left = plan.header_bytes, i = 0; left > 0; left -= 4096, ++i) {
      padding.push_back(absl::StrCat("x-netrig-padding-", i));
      padding.push_back(std::string(std::min<int64_t>(left, 4096), 'p'));
    }
    for (size_t i = 0; i < padding.size(); i += 2) add(padding[i], padding[i + 1]);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = ReadBody;
  bool head = stream.method == "HEAD";
  nghttp2_submit_response(h2_, stream_id, nva.data(), nva.size(), head ? nullptr : &provider);
  if (requests_ >= close_after_requests_ && !h2_close_when_idle_) {
    // Graceful: this stream completes, later ones are refused, then the connection closes.
    nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR, nullptr, 0);
    h2_close_when_idle_ = true;
  }
}

ssize_t Connection::H2ReadBody(int32_t stream_id, uint8_t* buf, size_t length,
                               uint32_t* data_flags) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  H2Stream& stream = *it->second;
  if (stream.stalled) return NGHTTP2_ERR_DEFERRED;
  if (stream.drip && !stream.piece_ready) {
    if (!stream.timer_armed) {
      stream.timer_armed = true;
      worker_->AddTimer(id_, std::max(stream.plan.delay_ms, 1), stream_id);
    }
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t remaining = stream.limit - stream.sent;
  bool eof_at_limit =
      stream.at_limit == H2Stream::AtLimit::kEof || stream.at_limit == H2Stream::AtLimit::kEofShort;
  if (remaining == 0) {
    switch (stream.at_limit) {
      case H2Stream::AtLimit::kEof:
      case H2Stream::AtLimit::kEofShort:
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      case H2Stream::AtLimit::kRstStream:
        pending_rst_.emplace_back(stream_id, stream.plan.h2_error);
        break;
      case H2Stream::AtLimit::kResetConnection:
        reset_after_flush_ = true;
        break;
    }
    stream.stalled = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = std::min(length, remaining);
  if (stream.frame_bytes > 0) n = std::min(n, stream.frame_bytes);
  memcpy(buf, stream.body.data() + stream.sent, n);
  stream.sent += n;
  stream.piece_ready = false;
  if (stream.sent == stream.limit && eof_at_limit) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int Connection::H2OnStreamClose(int32_t stream_id) {
  streams_.erase(stream_id);
  return 0;
}

void Connection::H2OnTimer(int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  H2Stream& stream = *it->second;
  stream.timer_armed = false;
  if (!stream.submitted) {
    H2SubmitResponse(stream_id);
  } else if (stream.drip) {
    stream.piece_ready = true;
    nghttp2_session_resume_data(h2_, stream_id);
  }
  H2Pump();
}

void Connection::H2ScriptedFeed() {
  while (!done_ && in_.size() - in_off_ >= 9) {
    const auto* p = reinterpret_cast<const uint8_t*>(in_.data() + in_off_);
    size_t length = (size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2];
    uint8_t type = p[3];
    if (length > (1 << 20)) {  // Not a frame a real client sends: give up on the connection.
      CloseNow(false);
      return;
    }
    if (in_.size() - in_off_ < 9 + length) break;
    in_off_ += 9 + length;
    if (type == NGHTTP2_HEADERS && !h2_scripted_sent_) {
      h2_scripted_sent_ = true;
      std::shared_ptr<const ScriptFunction> script = worker_->server()->CurrentScript();
      WorkerStats& stats = worker_->stats();
      ++requests_;
      Bump(stats.requests);
      if (script == nullptr) {  // Unset since the connection started: just close.
        close_after_flush_ = true;
        continue;
      }
      ScriptedRequest request;
      request.protocol = HttpProtocol::kHttp2;
      request.connection_index = connection_index_;
      ScriptedResponse response = (*script)(request);
      Bump(stats.scripted_responses);
      std::vector<size_t> cuts = response.pause_after;
      if (response.split_at_structure) {
        std::vector<size_t> frames = H2FrameCuts(response.bytes);
        cuts.insert(cuts.end(), frames.begin(), frames.end());
        std::sort(cuts.begin(), cuts.end());
      }
      const After after = response.then == ScriptedResponse::Then::kClose   ? After::kClose
                          : response.then == ScriptedResponse::Then::kReset ? After::kReset
                                                                            : After::kKeepAlive;
      WriteInPieces(std::move(response.bytes), cuts, /*pause_ms=*/1, after);
    }
  }
  if (in_off_ == in_.size()) {
    in_.clear();
    in_off_ = 0;
  }
}

}  // namespace netrig::internal
