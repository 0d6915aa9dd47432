// LatencyHistogram: a lock-free, log-linear histogram of microsecond latencies (about 1 %
// relative precision, 1 us to ~70 minutes), recorded from any thread, read as percentiles.
//
// Example:
//   netrig::LatencyHistogram latency;
//   latency.Record(netrig::Now() - intended_start);   // from completion callbacks
//   absl::PrintF("p99 %d us\n", latency.Percentile(99.0));
#ifndef NETRIG_HARNESS_DRIVE_LATENCY_HISTOGRAM_H_
#define NETRIG_HARNESS_DRIVE_LATENCY_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/time/time.h"
#include "harness/sched/clock.h"
#include "nlohmann/json.hpp"

namespace netrig {

class LatencyHistogram {
 public:
  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  void Record(absl::Duration latency);
  void RecordMicros(int64_t micros);

  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  int64_t max_us() const { return max_us_.load(std::memory_order_relaxed); }
  // The smallest recorded bucket value v such that at least `percent` % of samples are <= v
  // (bucket's upper bound, capped at the true maximum). 0 when empty.
  int64_t Percentile(double percent) const;
  double MeanMicros() const;

  // {"count", "p50", "p90", "p99", "p999", "max", "mean"} in microseconds, and "buckets": every
  // non-empty bucket as [upper bound in us, count], lowest first (the page draws the histogram
  // and the percentile curve from them).
  nlohmann::json ToJson() const;

 private:
  static constexpr int kSubBucketBits = 7;  // 128 sub-buckets per power of two.
  static constexpr int kBuckets = 64 << kSubBucketBits;
  static int BucketOf(uint64_t micros);
  static uint64_t UpperBoundOf(int bucket);

  std::array<std::atomic<uint64_t>, kBuckets> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_us_{0};
  std::atomic<uint64_t> sum_us_{0};
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_LATENCY_HISTOGRAM_H_
