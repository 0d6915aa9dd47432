#include "harness/udp/flow.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harness/base/mutex.h"

namespace netrig {

LiveCounter kLiveFlows("udp.flow");
LiveCounter kLiveFlowSources("udp.flow_source");

absl::string_view WriteOutcomeName(WriteResult::Outcome outcome) {
  switch (outcome) {
    case WriteResult::Outcome::kAccepted:
      return "accepted";
    case WriteResult::Outcome::kQueued:
      return "queued";
    case WriteResult::Outcome::kRejected:
      break;
  }
  return "rejected";
}

absl::string_view FlowStateName(FlowState state) {
  switch (state) {
    case FlowState::kReady:
      return "ready";
    case FlowState::kWaiting:
      return "waiting";
    case FlowState::kClosed:
      break;
  }
  return "closed";
}

Registry<FlowRegistration>& FlowRegistry() {
  // Never destroyed: registrations run during static initialization, lookups during exit.
  static auto* const registry = new Registry<FlowRegistration>(
      "flow", [](const Registry<FlowRegistration>::Adder& add) {
        internal::RegisterBuiltinFlows(add);
        internal::RegisterBuiltinBugFlows(add);
      });
  return *registry;
}

absl::Status RegisterFlow(FlowRegistration registration) {
  if (!registration.flow) {
    return absl::InvalidArgumentError(
        absl::StrCat("flow '", registration.name, "' has no flow factory"));
  }
  return FlowRegistry().Add(std::move(registration));
}

std::vector<const FlowRegistration*> RegisteredFlows() { return FlowRegistry().All(); }

const FlowRegistration* FindFlow(absl::string_view name) { return FlowRegistry().Find(name); }

absl::StatusOr<std::unique_ptr<Flow>> CreateFlow(absl::string_view name,
                                                 const FlowOptions& options) {
  const FlowRegistration* registration = FindFlow(name);
  if (registration == nullptr) return FlowRegistry().NotFound(name);
  return registration->flow(options);
}

absl::StatusOr<std::unique_ptr<FlowSource>> CreateFlowSource(absl::string_view name,
                                                             const FlowOptions& options) {
  const FlowRegistration* registration = FindFlow(name);
  if (registration == nullptr) return FlowRegistry().NotFound(name);
  if (!registration->source) {
    return absl::FailedPreconditionError(
        absl::StrCat("flow '", name, "' has no flow source (it cannot hand out per-peer flows)"));
  }
  return registration->source(options);
}

namespace internal {

std::vector<WriteResult> ClosedFlowWriteResults(size_t count) {
  return std::vector<WriteResult>(
      count,
      WriteResult::Rejected(absl::FailedPreconditionError("flow is closed; datagram not sent")));
}

}  // namespace internal

}  // namespace netrig
