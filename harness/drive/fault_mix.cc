#include "harness/drive/fault_mix.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "harness/base/option_table.h"

namespace netrig {

double FaultMix::Probability(absl::string_view name, double fallback) const {
  for (const auto& [item, value] : probabilities) {
    if (item == name) return value;
  }
  return fallback;
}

std::optional<absl::Duration> FaultMix::DurationOf(absl::string_view name) const {
  for (const auto& [item, value] : durations) {
    if (item == name) return value;
  }
  return std::nullopt;
}

absl::StatusOr<FaultMix> ParseFaultMix(absl::string_view spec,
                                       absl::Span<const FaultMixItem> known) {
  FaultMix mix;
  const absl::string_view text = absl::StripAsciiWhitespace(spec);
  if (text == "default") {
    mix.is_default = true;
    return mix;
  }
  if (text == "none" || text.empty()) return mix;
  auto known_list = [&] {
    std::vector<std::string> names;
    for (const FaultMixItem& item : known) {
      names.push_back(absl::StrCat(item.name, item.type == FaultMixItem::kDuration ? "=DURATION"
                                                                                   : "=P"));
    }
    return absl::StrJoin(names, ",");
  };
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    const size_t equals = part.find('=');
    const absl::string_view name = absl::StripAsciiWhitespace(part.substr(0, equals));
    const FaultMixItem* item = nullptr;
    for (const FaultMixItem& candidate : known) {
      if (name == candidate.name) item = &candidate;
    }
    if (item == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--faults: unknown fault '", option_internal::Shorten(name),
          "' (use default, none, or ", known_list(), ")"));
    }
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--faults: '", name, "' needs a value after '='"));
    }
    const absl::string_view value = absl::StripAsciiWhitespace(part.substr(equals + 1));
    if (item->type == FaultMixItem::kDuration) {
      absl::Duration duration;
      if (!absl::ParseDuration(value, &duration) || duration < absl::ZeroDuration() ||
          duration > absl::Minutes(10)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--faults: ", name, "=", option_internal::Shorten(value),
            " needs a duration with a unit between 0 and 10m (e.g. 20ms)"));
      }
      mix.durations.emplace_back(std::string(name), duration);
      continue;
    }
    double probability = 0;
    if (!absl::SimpleAtod(value, &probability) || !std::isfinite(probability) ||
        probability < 0 || probability > 1) {
      return absl::InvalidArgumentError(absl::StrCat("--faults: ", name, "=",
                                                     option_internal::Shorten(value),
                                                     " needs a probability between 0 and 1"));
    }
    mix.probabilities.emplace_back(std::string(name), probability);
  }
  return mix;
}

}  // namespace netrig
