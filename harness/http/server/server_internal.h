// Internals of HttpServer (server.h): the per-thread event loop (Worker) and one accepted
// connection (Connection). Not a public API.
//
// Threading: a Worker and every Connection it accepted live on the worker's thread; nothing here
// is shared across threads except WorkerStats (atomics, read by HttpServer::Stats()).
// Connections are never destroyed inside their own callbacks: a connection sets done() and the
// worker destroys it after the event or timer that it was handling.
#ifndef NETRIG_HARNESS_HTTP_SERVER_SERVER_INTERNAL_H_
#define NETRIG_HARNESS_HTTP_SERVER_SERVER_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "harness/http/server/fault_plan.h"
#include "harness/http/server/server.h"

struct nghttp2_session;

namespace netrig::internal {

struct alignas(64) WorkerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_reset_no_path{0};
  std::atomic<uint64_t> connections_closed{0};
  std::atomic<uint64_t> http1_connections{0};
  std::atomic<uint64_t> http2_connections{0};
  std::atomic<uint64_t> requests{0};
  std::array<std::atomic<uint64_t>, kFaultKindCount> requests_by_fault{};
  std::atomic<uint64_t> scripted_responses{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};
};

// Only the owning worker writes, so a relaxed load + store is enough (and cheaper than an RMW).
inline void Bump(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

class Worker;

// Appends `n` bytes of the response body pattern, starting `offset` bytes into the body.
void AppendBody(std::string* out, int64_t n, int64_t offset = 0);
// Appends `bytes` worth of "X-Netrig-Padding-<i><separator><value>\r\n" lines (4 KiB values).
void AppendPaddingHeaders(std::string* out, int64_t bytes, absl::string_view separator);

// One HTTP/2 request/response exchange.
struct H2Stream {
  std::string method;
  std::string path;
  std::string fault_header;
  FaultPlan plan;
  std::string plan_note;  // See Connection::plan_note_.
  std::string body;
  size_t sent = 0;
  // Body bytes to send before `at_limit` happens (body.size() for a normal response).
  size_t limit = 0;
  enum class AtLimit { kEof, kEofShort, kRstStream, kResetConnection } at_limit = AtLimit::kEof;
  size_t frame_bytes = 0;  // Max DATA payload per read (0: as nghttp2 likes).
  bool submitted = false;  // The response HEADERS are queued.
  bool drip = false;
  bool piece_ready = false;
  bool timer_armed = false;
  bool stalled = false;  // Deferred for good (reset pending).
};

class Connection {
 public:
  Connection(Worker* worker, int fd, uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void OnEvents(uint32_t events);
  void OnTimer(uint64_t token);
  bool done() const { return done_; }
  uint64_t id() const { return id_; }
  int fd() const { return fd_; }

  // HTTP/2 callbacks (h2_connection.cc), public for the C callback trampolines.
  int H2OnBeginHeaders(int32_t stream_id);
  int H2OnHeader(int32_t stream_id, absl::string_view name, absl::string_view value);
  int H2OnRequestComplete(int32_t stream_id);
  int H2OnStreamClose(int32_t stream_id);
  ssize_t H2ReadBody(int32_t stream_id, uint8_t* buf, size_t length, uint32_t* data_flags);

 private:
  enum class Mode { kSniffing, kHttp1, kHttp2, kHttp2Scripted };
  enum class After { kKeepAlive, kClose, kReset };
  struct Step {
    int delay_ms = 0;
    std::string data;
  };

  void ReadAvailable();
  void Sniff();
  void Flush();
  void UpdateInterest();
  void CloseNow(bool reset);
  FaultPlan PlanForRequest(absl::string_view target, absl::string_view fault_header, bool* bad_plan,
                           std::string* error);

  // HTTP/1.1 (connection.cc).
  void H1Process();
  // Parses and answers one request at in_[in_off_...]; false if it is incomplete.
  bool H1HandleOneRequest();
  void H1Respond(const FaultPlan& plan, bool keep_alive, bool head);
  // Writes `bytes` in the pieces between `cuts` (ascending; others are skipped), `pause_ms`
  // apart, from timers; then `after`. Used by HTTP/1.1 and the scripted HTTP/2 mode.
  void WriteInPieces(std::string bytes, const std::vector<size_t>& cuts, int pause_ms, After after);
  void H1AdvanceSteps();
  void H1Finish(After after);

  // HTTP/2 (h2_connection.cc).
  // Creates the nghttp2 session and queues the server SETTINGS; false (and closed) on failure.
  bool H2Start();
  // HTTP/1.1 "Upgrade: h2c": answers 101 and continues as HTTP/2 with the request as stream 1.
  // False if the HTTP2-Settings header is not base64url (then the request is served as HTTP/1.1).
  bool H2StartFromUpgrade(absl::string_view settings_base64, absl::string_view method,
                          absl::string_view target, absl::string_view fault_header);
  void H2Feed();
  void H2Pump();
  void H2SubmitResponse(int32_t stream_id);
  void H2ScriptedFeed();
  void H2OnTimer(int32_t stream_id);

  Worker* const worker_;
  const int fd_;
  const uint64_t id_;
  const uint64_t connection_index_;
  Mode mode_ = Mode::kSniffing;
  bool done_ = false;
  bool peer_closed_ = false;
  bool close_after_flush_ = false;
  bool reset_after_flush_ = false;
  uint32_t interest_ = 0;

  std::string in_;
  size_t in_off_ = 0;
  std::string out_;
  size_t out_off_ = 0;

  // "<request index> <encoded plan>" when the last plan came from the planner, else empty;
  // sent back as the X-Netrig-Plan response header.
  std::string plan_note_;
  uint64_t requests_ = 0;
  uint64_t close_after_requests_ = UINT64_MAX;

  // HTTP/1.1 response in progress (only delays and drips stay here across events).
  bool h1_busy_ = false;
  bool continue_sent_ = false;  // "100 Continue" sent for the request being received.
  std::vector<Step> steps_;
  size_t step_ = 0;
  enum class StepState { kNotArmed, kArmed, kFired } step_state_ = StepState::kNotArmed;
  After h1_after_ = After::kKeepAlive;
  uint64_t timer_token_ = 0;

  // HTTP/2.
  nghttp2_session* h2_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<H2Stream>> streams_;
  std::vector<std::pair<int32_t, uint32_t>> pending_rst_;
  bool h2_close_when_idle_ = false;
  bool h2_scripted_sent_ = false;
  ScriptedResponse::Then h2_scripted_then_ = ScriptedResponse::Then::kClose;
};

class Worker {
 public:
  Worker(HttpServer* server, std::vector<int> listen_fds);
  ~Worker();
  absl::Status Init();
  void Run();
  void RequestStop();
  // After Run() has returned: closes every connection.
  void CloseAll();

  HttpServer* server() { return server_; }
  WorkerStats& stats() { return stats_; }
  const WorkerStats& stats() const { return stats_; }
  // Arms a one-shot timer that calls conn->OnTimer(token) after `delay_ms`, if the connection
  // still exists then.
  void AddTimer(uint64_t connection_id, int delay_ms, uint64_t token);
  void SetInterest(Connection* conn, uint32_t old_events, uint32_t new_events);

 private:
  struct Timer {
    int64_t deadline_ns;
    uint64_t connection_id;
    uint64_t token;
    bool operator>(const Timer& o) const { return deadline_ns > o.deadline_ns; }
  };
  void Accept(int listen_fd);
  void Dispatch(uint64_t key, uint32_t events);
  void RunTimers();
  int NextTimeoutMs();
  void Reap(std::unordered_map<uint64_t, std::unique_ptr<Connection>>::iterator it);

  HttpServer* const server_;
  const std::vector<int> listen_fds_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  uint64_t next_id_ = 16;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  WorkerStats stats_;
};

}  // namespace netrig::internal

#endif  // NETRIG_HARNESS_HTTP_SERVER_SERVER_INTERNAL_H_
