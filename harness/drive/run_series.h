// RunSeries: the per-second story of a stress run, for the JSON report's "series" and the HTML
// page drawn from it (html_report.h): operations started and succeeded, errors by kind, work in
// flight and injected faults, one value per second, plus bands (stretches during which a state
// held: the path was down, the flow source slept).
//
// One sampler for every workload: Drive() (driver.h) asks the workload once a second for its
// cumulative counters (Workload::SampleSeries) and every tick (20 ms) for its band states
// (Workload::SampleBands), and hands both here; the series stores each second's increase. Only
// the thread that runs Drive() touches it, so it needs no lock. A run longer than
// kMaxSeriesPoints seconds keeps its whole length: pairs of points are merged and the interval
// doubles.
//
// Example:
//   netrig::RunSeries series;
//   series.Start(netrig::Now());
//   netrig::SeriesSample sample;  // each second
//   sample.started = 1200; sample.succeeded = 1190; sample.errors = {{"timeout", 10}};
//   series.Sample(netrig::Now(), sample);
//   series.Bands(netrig::Now(), {{"path_down", true}});  // each tick
//   series.Finish(netrig::Now());
//   report["series"] = series.ToJson();
#ifndef NETRIG_HARNESS_DRIVE_RUN_SERIES_H_
#define NETRIG_HARNESS_DRIVE_RUN_SERIES_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace netrig {

// What a workload reports once a second. Counts are cumulative since the start of traffic.
struct SeriesSample {
  std::optional<uint64_t> started;  // Unset: the driver's count of started operations.
  uint64_t succeeded = 0;
  std::vector<std::pair<std::string, uint64_t>> errors;  // By kind.
  std::vector<std::pair<std::string, uint64_t>> faults;  // Injected, by kind.
  int64_t in_flight = 0;                                 // A gauge: the value now.
};

// Band names the page knows how to draw (others are drawn too, in grey).
inline constexpr char kBandPathDown[] = "path_down";
inline constexpr char kBandSourceAsleep[] = "source_asleep";

inline constexpr size_t kMaxSeriesPoints = 4096;
inline constexpr size_t kMaxBandIntervals = 4096;

class RunSeries {
 public:
  // `unit` names what started and succeeded count ("tasks", "datagrams"), `in_flight_unit` what
  // in_flight counts ("tasks", "bytes").
  explicit RunSeries(std::string unit = "operations", std::string in_flight_unit = "operations");
  void set_units(std::string unit, std::string in_flight_unit) {
    unit_ = std::move(unit);
    in_flight_unit_ = std::move(in_flight_unit);
  }

  // The origin of every time in the series (the start of traffic).
  void Start(absl::Time origin);
  // Closes the interval since the previous sample with `sample`'s counters.
  void Sample(absl::Time now, const SeriesSample& sample);
  // Band states now; a band that changed state opens or closes an interval.
  void Bands(absl::Time now, const std::vector<std::pair<std::string, bool>>& states);
  // Closes open bands at `end`.
  void Finish(absl::Time end);

  bool started() const { return origin_.has_value(); }
  absl::Time origin() const { return origin_.value_or(absl::UnixEpoch()); }
  size_t points() const { return ends_.size(); }

  // {"version": 1, "origin": RFC 3339, "interval_s", "unit", "in_flight_unit",
  //  "t_s": [end of each interval, seconds since origin], "started": [count in the interval],
  //  "succeeded": [...], "in_flight": [...], "errors": {kind: [...]}, "faults": {kind: [...]},
  //  "bands": {name: [[from_s, to_s], ...]}, "bands_dropped": n}. Error and fault kinds that
  //  stayed at zero are left out.
  nlohmann::json ToJson() const;

 private:
  void Halve();  // Merges pairs of points; the interval doubles.
  double Seconds(absl::Time t) const;

  std::string unit_, in_flight_unit_;
  std::optional<absl::Time> origin_;
  int interval_multiple_ = 1;
  // The previous sample's cumulative counts.
  uint64_t last_started_ = 0, last_succeeded_ = 0;
  std::map<std::string, uint64_t> last_errors_, last_faults_;
  // One entry per point.
  std::vector<double> ends_;
  std::vector<uint64_t> started_, succeeded_;
  std::vector<int64_t> in_flight_;
  std::map<std::string, std::vector<uint64_t>> errors_, faults_;
  // Bands: closed intervals, and the start of the open one.
  std::map<std::string, std::vector<std::pair<double, double>>> bands_;
  std::map<std::string, double> open_bands_;
  uint64_t bands_dropped_ = 0;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_RUN_SERIES_H_
