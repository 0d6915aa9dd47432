#include "harness/drive/run_series.h"

#include <algorithm>

namespace netrig {
namespace {

// The increase of a cumulative counter; a counter that went backwards counts as no increase.
uint64_t Increase(uint64_t now, uint64_t before) { return now >= before ? now - before : 0; }

template <typename T>
void HalveVector(std::vector<T>& values, bool sum) {
  std::vector<T> out;
  out.reserve(values.size() / 2 + 1);
  for (size_t i = 0; i < values.size(); i += 2) {
    if (i + 1 >= values.size()) {
      out.push_back(values[i]);
    } else {
      out.push_back(sum ? values[i] + values[i + 1] : std::max(values[i], values[i + 1]));
    }
  }
  values = std::move(out);
}

}  // namespace

RunSeries::RunSeries(std::string unit, std::string in_flight_unit)
    : unit_(std::move(unit)), in_flight_unit_(std::move(in_flight_unit)) {}

void RunSeries::Start(absl::Time origin) { origin_ = origin; }

double RunSeries::Seconds(absl::Time t) const {
  return std::max(0.0, absl::ToDoubleSeconds(t - origin()));
}

void RunSeries::Sample(absl::Time now, const SeriesSample& sample) {
  if (!origin_.has_value()) Start(now);
  const size_t index = ends_.size();
  ends_.push_back(Seconds(now));
  const uint64_t started = sample.started.value_or(last_started_);
  started_.push_back(Increase(started, last_started_));
  succeeded_.push_back(Increase(sample.succeeded, last_succeeded_));
  in_flight_.push_back(sample.in_flight);
  last_started_ = started;
  last_succeeded_ = sample.succeeded;
  // A kind seen for the first time gets zeros for the points before it.
  auto add = [&](const std::vector<std::pair<std::string, uint64_t>>& counts,
                 std::map<std::string, uint64_t>& last,
                 std::map<std::string, std::vector<uint64_t>>& series) {
    for (const auto& [kind, count] : counts) {
      std::vector<uint64_t>& values = series[kind];
      values.resize(index, 0);
      values.push_back(Increase(count, last[kind]));
      last[kind] = count;
    }
    for (auto& [kind, values] : series) values.resize(index + 1, 0);
  };
  add(sample.errors, last_errors_, errors_);
  add(sample.faults, last_faults_, faults_);
  if (ends_.size() >= kMaxSeriesPoints) Halve();
}

void RunSeries::Halve() {
  // Keeps each pair's later end time; counts add up, the in-flight gauge keeps its maximum.
  std::vector<double> ends;
  for (size_t i = 0; i < ends_.size(); i += 2)
    ends.push_back(ends_[std::min(i + 1, ends_.size() - 1)]);
  ends_ = std::move(ends);
  HalveVector(started_, true);
  HalveVector(succeeded_, true);
  HalveVector(in_flight_, false);
  for (auto& [kind, values] : errors_) HalveVector(values, true);
  for (auto& [kind, values] : faults_) HalveVector(values, true);
  interval_multiple_ *= 2;
}

void RunSeries::Bands(absl::Time now, const std::vector<std::pair<std::string, bool>>& states) {
  if (!origin_.has_value()) Start(now);
  const double t = Seconds(now);
  for (const auto& [name, on] : states) {
    auto open = open_bands_.find(name);
    if (on && open == open_bands_.end()) {
      open_bands_[name] = t;
    } else if (!on && open != open_bands_.end()) {
      std::vector<std::pair<double, double>>& intervals = bands_[name];
      if (intervals.size() < kMaxBandIntervals) {
        intervals.emplace_back(open->second, t);
      } else {
        ++bands_dropped_;
      }
      open_bands_.erase(open);
    }
  }
}

void RunSeries::Finish(absl::Time end) {
  std::vector<std::pair<std::string, bool>> all_off;
  for (const auto& [name, from] : open_bands_) all_off.emplace_back(name, false);
  Bands(end, all_off);
}

nlohmann::json RunSeries::ToJson() const {
  nlohmann::json errors = nlohmann::json::object(), faults = nlohmann::json::object();
  // A kind that never happened is left out: the page draws what did.
  auto any = [](const std::vector<uint64_t>& values) {
    return std::any_of(values.begin(), values.end(), [](uint64_t n) { return n != 0; });
  };
  for (const auto& [kind, values] : errors_) {
    if (any(values)) errors[kind] = values;
  }
  for (const auto& [kind, values] : faults_) {
    if (any(values)) faults[kind] = values;
  }
  nlohmann::json bands = nlohmann::json::object();
  for (const auto& [name, intervals] : bands_) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [from, to] : intervals) list.push_back({from, to});
    bands[name] = list;
  }
  return {{"version", 1},
          {"origin", absl::FormatTime(absl::RFC3339_full, origin(), absl::UTCTimeZone())},
          {"interval_s", interval_multiple_},
          {"unit", unit_},
          {"in_flight_unit", in_flight_unit_},
          {"t_s", ends_},
          {"started", started_},
          {"succeeded", succeeded_},
          {"in_flight", in_flight_},
          {"errors", errors},
          {"faults", faults},
          {"bands", bands},
          {"bands_dropped", bands_dropped_}};
}

}  // namespace netrig
