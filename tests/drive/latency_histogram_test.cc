#include "harness/drive/latency_histogram.h"

#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace netrig {
namespace {

TEST(LatencyHistogramTest, EmptyIsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.Percentile(99), 0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int v = 1; v <= 100; ++v) histogram.RecordMicros(v);
  EXPECT_EQ(histogram.Percentile(50), 50);
  EXPECT_EQ(histogram.Percentile(99), 99);
  EXPECT_EQ(histogram.Percentile(100), 100);
  EXPECT_EQ(histogram.max_us(), 100);
}

TEST(LatencyHistogramTest, LargeValuesWithinOnePercent) {
  LatencyHistogram histogram;
  std::mt19937_64 rng(1);
  std::vector<int64_t> values;
  for (int i = 0; i < 100000; ++i) {
    values.push_back(static_cast<int64_t>(rng() % 10'000'000));
    histogram.RecordMicros(values.back());
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const int64_t exact = values[static_cast<size_t>(p / 100 * values.size()) - 1];
    const int64_t estimate = histogram.Percentile(p);
    EXPECT_GE(estimate, exact) << p;
    EXPECT_LE(estimate, exact + exact / 64 + 1) << p;
  }
  EXPECT_EQ(histogram.max_us(), values.back());
}

TEST(LatencyHistogramTest, ConcurrentRecordsAllCounted) {
  LatencyHistogram histogram;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 0; i < 10000; ++i) histogram.RecordMicros(t * 1000 + i % 1000);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(histogram.count(), 40000u);
  EXPECT_EQ(histogram.max_us(), 3999);
}

}  // namespace
}  // namespace netrig
