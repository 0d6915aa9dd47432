#include "harness/http/server/fault_plan.h"

#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace netrig {
namespace {

constexpr absl::string_view kKindNames[kFaultKindCount] = {
    "none",        "delay",       "status",     "chunked", "truncate",    "reset", "drip",
    "close_after", "big_headers", "rst_stream", "goaway",  "tiny_window", "split",
};

constexpr int64_t kMaxBodyBytes = int64_t{64} << 20;
constexpr int64_t kMaxHeaderBytes = int64_t{16} << 20;
constexpr int64_t kMaxDelayMs = 60'000;

// splitmix64: spreads (seed, index) into a well-mixed generator seed.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

absl::Status ParseInt(absl::string_view key, absl::string_view value, int64_t min, int64_t max,
                      int64_t* out) {
  if (!absl::SimpleAtoi(value, out) || *out < min || *out > max) {
    return absl::InvalidArgumentError(absl::StrCat("fault plan parameter '", key, "': '", value,
                                                   "' is not an integer in [", min, ", ", max,
                                                   "]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view FaultKindName(FaultKind kind) {
  int index = static_cast<int>(kind);
  if (index < 0 || index >= kFaultKindCount) return "invalid";
  return kKindNames[index];
}

absl::StatusOr<FaultKind> ParseFaultKind(absl::string_view name) {
  for (int i = 0; i < kFaultKindCount; ++i) {
    if (kKindNames[i] == name) return static_cast<FaultKind>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown fault kind '", name, "'"));
}

std::string EncodeFaultPlan(const FaultPlan& plan) {
  const FaultPlan defaults;
  std::string out(FaultKindName(plan.kind));
  auto add = [&out](absl::string_view key, int64_t value) {
    absl::StrAppend(&out, ",", key, "=", value);
  };
  if (plan.body_bytes != defaults.body_bytes) add("body", plan.body_bytes);
  if (plan.status != defaults.status) add("code", plan.status);
  if (plan.delay_ms != defaults.delay_ms) add("ms", plan.delay_ms);
  if (plan.chunk_bytes != defaults.chunk_bytes) add("bytes", plan.chunk_bytes);
  if (plan.close_after != defaults.close_after) add("n", plan.close_after);
  if (plan.header_bytes != defaults.header_bytes) add("headers", plan.header_bytes);
  if (plan.after_bytes != defaults.after_bytes) add("after", plan.after_bytes);
  if (plan.h2_error != defaults.h2_error) add("error", plan.h2_error);
  if (plan.window != defaults.window) add("window", plan.window);
  return out;
}

absl::StatusOr<FaultPlan> DecodeFaultPlan(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  FaultPlan plan;
  absl::StatusOr<FaultKind> kind = ParseFaultKind(parts[0]);
  if (!kind.ok()) return kind.status();
  plan.kind = *kind;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(parts[i], '=');
    absl::string_view key = kv.first;
    int64_t v = 0;
    absl::Status status;
    if (key == "body") {
      status = ParseInt(key, kv.second, -1, kMaxBodyBytes, &v);
      plan.body_bytes = v;
    } else if (key == "code") {
      status = ParseInt(key, kv.second, 100, 999, &v);
      plan.status = static_cast<int>(v);
    } else if (key == "ms") {
      status = ParseInt(key, kv.second, 0, kMaxDelayMs, &v);
      plan.delay_ms = static_cast<int>(v);
    } else if (key == "bytes") {
      status = ParseInt(key, kv.second, 1, 1 << 20, &v);
      plan.chunk_bytes = static_cast<int>(v);
    } else if (key == "n") {
      status = ParseInt(key, kv.second, 1, 1 << 30, &v);
      plan.close_after = static_cast<int>(v);
    } else if (key == "headers") {
      status = ParseInt(key, kv.second, 0, kMaxHeaderBytes, &v);
      plan.header_bytes = v;
    } else if (key == "after") {
      status = ParseInt(key, kv.second, -1, kMaxBodyBytes, &v);
      plan.after_bytes = v;
    } else if (key == "error") {
      status = ParseInt(key, kv.second, 0, 0xffffffffLL, &v);
      plan.h2_error = static_cast<uint32_t>(v);
    } else if (key == "window") {
      status = ParseInt(key, kv.second, 0, (int64_t{1} << 31) - 1, &v);
      plan.window = static_cast<int>(v);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown fault plan parameter '", key, "' in '", text, "'"));
    }
    if (!status.ok()) return status;
  }
  return plan;
}

absl::Status ValidateFaultPlannerOptions(const FaultPlannerOptions& options) {
  double sum = 0;
  for (int i = 1; i < kFaultKindCount; ++i) {
    double p = options.probability[i];
    if (!(p >= 0 && p <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("fault probability for '", kKindNames[i], "' must be in [0, 1], not ", p));
    }
    sum += p;
  }
  if (sum > 1 + 1e-9) {
    return absl::InvalidArgumentError(
        absl::StrCat("fault probabilities sum to ", sum, ", more than 1"));
  }
  if (options.max_delay_ms < 1 || options.max_drip_pieces < 1 || options.max_close_after < 1 ||
      options.oversized_header_bytes < 0) {
    return absl::InvalidArgumentError("fault planner ranges must be positive");
  }
  return absl::OkStatus();
}

FaultPlanner::FaultPlanner(const FaultPlannerOptions& options) : options_(options) {
  double sum = 0;
  for (int i = 1; i < kFaultKindCount; ++i) {
    sum += options_.probability[i];
    cumulative_[i] = sum;
  }
}

FaultPlan FaultPlanner::PlanFor(uint64_t request_index) const {
  std::mt19937_64 rng(Mix(options_.seed ^ Mix(request_index)));
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  FaultPlan plan;
  double u = std::uniform_real_distribution<double>(0, 1)(rng);
  for (int i = 1; i < kFaultKindCount; ++i) {
    if (options_.probability[i] > 0 && u < cumulative_[i]) {
      plan.kind = static_cast<FaultKind>(i);
      break;
    }
  }
  switch (plan.kind) {
    case FaultKind::kNone:
      break;
    case FaultKind::kDelay:
      plan.delay_ms = static_cast<int>(uniform(1, options_.max_delay_ms));
      break;
    case FaultKind::kStatus: {
      static constexpr int kCodes[] = {404, 500, 502, 503, 429};
      plan.status = kCodes[uniform(0, std::size(kCodes) - 1)];
      break;
    }
    case FaultKind::kChunked:
      plan.chunk_bytes = static_cast<int>(uniform(1, 64));
      plan.body_bytes = uniform(0, 512);
      break;
    case FaultKind::kTruncatedBody:
      plan.body_bytes = uniform(2, 512);
      break;
    case FaultKind::kResetMidBody:
      plan.body_bytes = uniform(2, 512);
      plan.after_bytes = -1;
      break;
    case FaultKind::kSlowDrip: {
      int pieces = static_cast<int>(uniform(1, options_.max_drip_pieces));
      plan.chunk_bytes = static_cast<int>(uniform(1, 16));
      plan.body_bytes = int64_t{pieces} * plan.chunk_bytes;
      plan.delay_ms = static_cast<int>(uniform(0, 2));
      break;
    }
    case FaultKind::kCloseAfter:
      plan.close_after = static_cast<int>(uniform(1, options_.max_close_after));
      break;
    case FaultKind::kOversizedHeaders:
      plan.header_bytes = options_.oversized_header_bytes;
      break;
    case FaultKind::kRstStream:
      plan.body_bytes = uniform(0, 512);
      plan.after_bytes = uniform(0, plan.body_bytes);
      plan.h2_error = uniform(0, 3) == 0 ? 8 /* CANCEL */ : 2 /* INTERNAL_ERROR */;
      break;
    case FaultKind::kGoaway:
      break;
    case FaultKind::kTinyWindow:
      plan.window = static_cast<int>(uniform(1, 64));
      plan.chunk_bytes = static_cast<int>(uniform(1, 64));
      plan.body_bytes = uniform(0, 1024);
      break;
    case FaultKind::kSplit:
      // A few chunks, so that every kind of cut point appears and a response stays short
      // (about 20 pieces of 1 ms).
      plan.chunk_bytes = static_cast<int>(uniform(1, 32));
      plan.body_bytes = uniform(0, 3 * plan.chunk_bytes);
      break;
  }
  return plan;
}

}  // namespace netrig
