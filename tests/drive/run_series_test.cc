#include "harness/drive/run_series.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace netrig {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

absl::Time At(double seconds) { return kStart + absl::Seconds(seconds); }

TEST(RunSeriesTest, StoresEachIntervalsIncreaseOfCumulativeCounters) {
  RunSeries series("tasks", "tasks");
  series.Start(kStart);
  SeriesSample sample;
  sample.started = 100;
  sample.succeeded = 90;
  sample.errors = {{"timeout", 4}};
  sample.in_flight = 7;
  series.Sample(At(1), sample);
  sample.started = 250;
  sample.succeeded = 230;
  sample.errors = {{"timeout", 10}, {"reset", 3}};  // "reset" appears in the second interval
  sample.in_flight = 2;
  series.Sample(At(2), sample);
  const nlohmann::json json = series.ToJson();
  EXPECT_EQ(json["unit"], "tasks");
  EXPECT_EQ(json["t_s"], nlohmann::json({1.0, 2.0}));
  EXPECT_EQ(json["started"], nlohmann::json({100, 150}));
  EXPECT_EQ(json["succeeded"], nlohmann::json({90, 140}));
  EXPECT_EQ(json["in_flight"], nlohmann::json({7, 2}));
  EXPECT_EQ(json["errors"]["timeout"], nlohmann::json({4, 6}));
  EXPECT_EQ(json["errors"]["reset"], nlohmann::json({0, 3}));
  EXPECT_EQ(json["origin"], "2023-11-14T22:13:20+00:00");
}

TEST(RunSeriesTest, LeavesOutKindsThatNeverHappened) {
  RunSeries series;
  series.Start(kStart);
  SeriesSample sample;
  sample.faults = {{"drop", 0}, {"delay", 5}};
  series.Sample(At(1), sample);
  const nlohmann::json json = series.ToJson();
  EXPECT_FALSE(json["faults"].contains("drop"));
  EXPECT_EQ(json["faults"]["delay"], nlohmann::json({5}));
}

TEST(RunSeriesTest, ACounterThatGoesBackwardsCountsAsNoIncrease) {
  RunSeries series;
  series.Start(kStart);
  SeriesSample sample;
  sample.succeeded = 10;
  series.Sample(At(1), sample);
  sample.succeeded = 4;
  series.Sample(At(2), sample);
  EXPECT_EQ(series.ToJson()["succeeded"], nlohmann::json({10, 0}));
}

TEST(RunSeriesTest, BandsBecomeIntervalsAndFinishClosesOpenOnes) {
  RunSeries series;
  series.Start(kStart);
  series.Bands(At(0), {{kBandPathDown, false}, {kBandSourceAsleep, true}});
  series.Bands(At(0.5), {{kBandPathDown, true}, {kBandSourceAsleep, true}});
  series.Bands(At(1.0), {{kBandPathDown, false}, {kBandSourceAsleep, false}});
  series.Bands(At(2.0), {{kBandPathDown, true}});
  series.Finish(At(2.5));
  const nlohmann::json bands = series.ToJson()["bands"];
  EXPECT_EQ(bands[kBandPathDown], nlohmann::json({{0.5, 1.0}, {2.0, 2.5}}));
  EXPECT_EQ(bands[kBandSourceAsleep], nlohmann::json({{0.0, 1.0}}));
}

TEST(RunSeriesTest, ALongRunKeepsItsWholeLengthByDoublingTheInterval) {
  RunSeries series;
  series.Start(kStart);
  SeriesSample sample;
  uint64_t total = 0;
  const size_t seconds = kMaxSeriesPoints + 10;
  for (size_t i = 1; i <= seconds; ++i) {
    total += 3;
    sample.started = total;
    series.Sample(At(static_cast<double>(i)), sample);
  }
  const nlohmann::json json = series.ToJson();
  EXPECT_EQ(json["interval_s"], 2);
  EXPECT_LT(json["t_s"].size(), kMaxSeriesPoints);
  EXPECT_DOUBLE_EQ(json["t_s"].back().get<double>(), static_cast<double>(seconds));
  uint64_t sum = 0;
  for (const auto& n : json["started"]) sum += n.get<uint64_t>();
  EXPECT_EQ(sum, total);  // nothing lost in the merge
}

}  // namespace
}  // namespace netrig
