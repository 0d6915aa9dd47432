#include "harness/drive/latency_histogram.h"

#include <algorithm>
#include <bit>

namespace netrig {

LatencyHistogram::LatencyHistogram() {
  for (auto& bucket : buckets_) bucket.store(0, std::memory_order_relaxed);
}

int LatencyHistogram::BucketOf(uint64_t micros) {
  // Values below 2^kSubBucketBits get exact buckets; above, the top kSubBucketBits bits after the
  // leading one select the sub-bucket of the value's power of two.
  if (micros < (uint64_t{1} << kSubBucketBits)) return static_cast<int>(micros);
  const int msb = 63 - std::countl_zero(micros);
  const int shift = msb - kSubBucketBits;
  const uint64_t sub = (micros >> shift) & ((uint64_t{1} << kSubBucketBits) - 1);
  return ((shift + 1) << kSubBucketBits) + static_cast<int>(sub);
}

uint64_t LatencyHistogram::UpperBoundOf(int bucket) {
  if (bucket < (1 << kSubBucketBits)) return static_cast<uint64_t>(bucket);
  const int shift = (bucket >> kSubBucketBits) - 1;
  const uint64_t sub = static_cast<uint64_t>(bucket & ((1 << kSubBucketBits) - 1));
  const uint64_t low = ((uint64_t{1} << kSubBucketBits) | sub) << shift;
  return low + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::Record(absl::Duration latency) {
  RecordMicros(absl::ToInt64Microseconds(latency));
}

void LatencyHistogram::RecordMicros(int64_t micros) {
  if (micros < 0) micros = 0;
  const int bucket = std::min(BucketOf(static_cast<uint64_t>(micros)), kBuckets - 1);
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(micros), std::memory_order_relaxed);
  int64_t seen = max_us_.load(std::memory_order_relaxed);
  while (micros > seen && !max_us_.compare_exchange_weak(seen, micros, std::memory_order_relaxed)) {
  }
}

int64_t LatencyHistogram::Percentile(double percent) const {
  const uint64_t total = count();
  if (total == 0) return 0;
  const double wanted = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(total);
  uint64_t target = static_cast<uint64_t>(wanted);
  if (static_cast<double>(target) < wanted || target == 0) ++target;
  uint64_t seen = 0;
  for (int bucket = 0; bucket < kBuckets; ++bucket) {
    seen += buckets_[bucket].load(std::memory_order_relaxed);
    if (seen >= target) {
      return std::min<int64_t>(static_cast<int64_t>(UpperBoundOf(bucket)), max_us());
    }
  }
  return max_us();
}

double LatencyHistogram::MeanMicros() const {
  const uint64_t total = count();
  return total == 0 ? 0.0 : static_cast<double>(sum_us_.load()) / static_cast<double>(total);
}

nlohmann::json LatencyHistogram::ToJson() const {
  nlohmann::json buckets = nlohmann::json::array();
  for (int bucket = 0; bucket < kBuckets; ++bucket) {
    const uint64_t n = buckets_[bucket].load(std::memory_order_relaxed);
    if (n != 0) buckets.push_back({UpperBoundOf(bucket), n});
  }
  return {{"count", count()},      {"p50", Percentile(50)},    {"p90", Percentile(90)},
          {"p99", Percentile(99)}, {"p999", Percentile(99.9)}, {"max", max_us()},
          {"mean", MeanMicros()},  {"buckets", buckets}};
}

}  // namespace netrig
