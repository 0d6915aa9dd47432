// The one grammar of every workload's --faults flag:
//
//   default                      the workload's mild mix, in which every fault kind appears
//   none                         no injected fault
//   kind=P[,kind=P...]           only these kinds, each with probability P in [0, 1]; a
//                                parameter of the mix (udp's max_delay) takes its own value type
//
// A workload declares its kinds and parameters; ParseFaultMix checks the spec against them and
// the workload turns the result into its own fault configuration (the UDP relay's RelayFaults,
// the HTTP server's FaultPlannerOptions).
//
// Example:
//   constexpr netrig::FaultMixItem kKinds[] = {{"drop"}, {"delay"},
//                                              {"max_delay", netrig::FaultMixItem::kDuration}};
//   absl::StatusOr<netrig::FaultMix> mix = netrig::ParseFaultMix("drop=0.01,max_delay=20ms", kKinds);
//   if (mix.ok() && !mix->is_default) double drop = mix->Probability("drop");
#ifndef NETRIG_HARNESS_DRIVE_FAULT_MIX_H_
#define NETRIG_HARNESS_DRIVE_FAULT_MIX_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace netrig {

struct FaultMixItem {
  enum Type { kProbability, kDuration };
  const char* name;
  Type type = kProbability;
};

struct FaultMix {
  bool is_default = false;  // "default": the workload's own mix; nothing else is set.
  std::vector<std::pair<std::string, double>> probabilities;
  std::vector<std::pair<std::string, absl::Duration>> durations;

  // The value given for `name`, else `fallback`.
  double Probability(absl::string_view name, double fallback = 0) const;
  std::optional<absl::Duration> DurationOf(absl::string_view name) const;
};

// InvalidArgument naming the bad item and listing the known ones.
absl::StatusOr<FaultMix> ParseFaultMix(absl::string_view spec,
                                       absl::Span<const FaultMixItem> known);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_FAULT_MIX_H_
