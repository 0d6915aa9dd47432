// Per-request fault plans for the embedded loopback HTTP server (harness/http/server/server.h).
//
// A FaultPlan says how the server answers one request: normally, or with one fault (a delay, an
// error status, a chunked or truncated body, a reset mid-body, a slow drip, a close after the
// response, oversized headers; for HTTP/2 also RST_STREAM, GOAWAY and a tiny flow-control
// window). A FaultPlanner draws plans from a seeded generator: the plan for request index i
// depends only on (seed, i), so a run's faults replay from its seed.
//
// Plans also travel in text, so a test (or a fuzzer) can ask the server for one fixed plan:
// either the path `/fault/<encoded>` or the request header `X-Netrig-Fault: <encoded>`.
// The encoding is the kind name followed by optional `,key=value` parameters, for example
// `delay,ms=20`, `status,code=503`, `drip,bytes=4,ms=1`, `truncate,body=100`,
// `rst_stream,after=10`, `split,body=40,bytes=7`.
//
// Example:
//   netrig::FaultPlannerOptions options;
//   options.seed = 42;
//   options[netrig::FaultKind::kDelay] = 0.1;
//   netrig::FaultPlanner planner(options);
//   netrig::FaultPlan plan = planner.PlanFor(/*request_index=*/7);   // same for every run
//   std::string text = netrig::EncodeFaultPlan(plan);                 // e.g. "delay,ms=3"
//   absl::StatusOr<netrig::FaultPlan> back = netrig::DecodeFaultPlan(text);
#ifndef NETRIG_HARNESS_HTTP_SERVER_FAULT_PLAN_H_
#define NETRIG_HARNESS_HTTP_SERVER_FAULT_PLAN_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace netrig {

enum class FaultKind : int {
  kNone = 0,
  kDelay,             // Wait `delay_ms` before answering (never blocks the event loop).
  kStatus,            // Answer with `status` (e.g. 404, 500, 503) and a small body.
  kChunked,           // HTTP/1.1: Transfer-Encoding: chunked, `chunk_bytes` per chunk.
  kTruncatedBody,     // Content-Length says `body_bytes`, half is sent, then a clean close.
  kResetMidBody,      // Headers and part of the body, then a TCP reset (SO_LINGER 0).
  kSlowDrip,          // The body `chunk_bytes` at a time, `delay_ms` between pieces.
  kCloseAfter,        // Close the connection once it has served `close_after` requests
                      // (HTTP/1.1: without announcing it; HTTP/2: GOAWAY, then close).
  kOversizedHeaders,  // `header_bytes` of extra response headers (4 KiB lines).
  kRstStream,         // HTTP/2: RST_STREAM(`h2_error`) after `after_bytes` of body (0: before
                      // any response). HTTP/1.1 falls back to kResetMidBody.
  kGoaway,            // HTTP/2: GOAWAY(`h2_error`) naming this stream last, no response, close.
                      // HTTP/1.1 falls back to closing the connection without a response.
  kTinyWindow,        // HTTP/2: SETTINGS_INITIAL_WINDOW_SIZE=`window` for the connection and
                      // the body in `chunk_bytes` DATA frames. HTTP/1.1: answered normally.
  kSplit,             // HTTP/1.1: a chunked response (`chunk_bytes` per chunk, one trailer)
                      // written in pieces cut at every structural point (response_cuts.h),
                      // max(`delay_ms`, 1) ms between pieces. HTTP/2: the body in `chunk_bytes`
                      // DATA frames with the same pauses (a drip; see server.h for why no more).
};
inline constexpr int kFaultKindCount = 13;

// "none", "delay", "status", "chunked", "truncate", "reset", "drip", "close_after",
// "big_headers", "rst_stream", "goaway", "tiny_window", "split".
absl::string_view FaultKindName(FaultKind kind);
absl::StatusOr<FaultKind> ParseFaultKind(absl::string_view name);

struct FaultPlan {
  FaultKind kind = FaultKind::kNone;
  // Response body size; -1 means the server's default body.
  int64_t body_bytes = -1;
  int status = 200;                   // kStatus.
  int delay_ms = 0;                   // kDelay; pause between pieces for kSlowDrip, kSplit.
  int chunk_bytes = 16;               // kChunked, kSlowDrip, kTinyWindow, kSplit.
  int close_after = 1;                // kCloseAfter.
  int64_t header_bytes = 512 * 1024;  // kOversizedHeaders.
  int64_t after_bytes = 0;            // kRstStream, kResetMidBody: body bytes sent first (-1 =
                                      // half the body).
  uint32_t h2_error = 2;              // kRstStream, kGoaway: HTTP/2 error code (2 = INTERNAL).
  int window = 1;                     // kTinyWindow.

  friend bool operator==(const FaultPlan&, const FaultPlan&) = default;
};

// Text form for `/fault/<encoded>` and `X-Netrig-Fault`. Only parameters that differ from the
// defaults are written; Decode(Encode(p)) == p.
std::string EncodeFaultPlan(const FaultPlan& plan);
// Accepts what EncodeFaultPlan writes. Unknown kinds or keys, and values out of range, are
// errors naming the offending part. Sizes are capped (body 64 MiB, headers 16 MiB, delay 60 s).
absl::StatusOr<FaultPlan> DecodeFaultPlan(absl::string_view text);

struct FaultPlannerOptions {
  uint64_t seed = 0;
  // Probability per kind (indexed by FaultKind); kNone takes whatever is left. The sum of the
  // others must not exceed 1. Kinds the protocol cannot express fall back as documented above.
  std::array<double, kFaultKindCount> probability{};
  // Parameter ranges the planner draws from.
  int max_delay_ms = 20;
  int max_drip_pieces = 8;
  int max_close_after = 4;
  int64_t oversized_header_bytes = 512 * 1024;

  double& operator[](FaultKind kind) { return probability[static_cast<int>(kind)]; }
};

// Draws plans. Stateless after construction and thread-safe: PlanFor only reads.
class FaultPlanner {
 public:
  explicit FaultPlanner(const FaultPlannerOptions& options);
  // Deterministic in (options.seed, request_index).
  FaultPlan PlanFor(uint64_t request_index) const;
  const FaultPlannerOptions& options() const { return options_; }

 private:
  FaultPlannerOptions options_;
  std::array<double, kFaultKindCount> cumulative_{};
};

// Checks a planner's options (probabilities in [0, 1], sum <= 1, ranges positive).
absl::Status ValidateFaultPlannerOptions(const FaultPlannerOptions& options);

}  // namespace netrig

#endif  // NETRIG_HARNESS_HTTP_SERVER_FAULT_PLAN_H_
