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

namespace {

struct Registry {
  Mutex mu;
  // std::map: pointers to values stay valid as entries are added.
  std::map<std::string, FlowRegistration, std::less<>> flows ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

}  // namespace

absl::Status internal::AddFlowRegistration(FlowRegistration registration) {
  if (registration.name.empty() || !registration.flow) {
    return absl::InvalidArgumentError("a flow registration needs a name and a flow factory");
  }
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  auto [it, inserted] = registry.flows.try_emplace(registration.name);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("a flow named '", registration.name, "' is already registered"));
  }
  it->second = std::move(registration);
  return absl::OkStatus();
}

namespace {

std::string KnownNames() {
  std::vector<std::string> names;
  for (const FlowRegistration* r : RegisteredFlows()) names.push_back(r->name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::Status RegisterFlow(FlowRegistration registration) {
  internal::RegisterBuiltinFlows();
  return internal::AddFlowRegistration(std::move(registration));
}

std::vector<const FlowRegistration*> RegisteredFlows() {
  internal::RegisterBuiltinFlows();
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  std::vector<const FlowRegistration*> out;
  for (const auto& [name, registration] : registry.flows) out.push_back(&registration);
  return out;
}

const FlowRegistration* FindFlow(absl::string_view name) {
  internal::RegisterBuiltinFlows();
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  auto it = registry.flows.find(name);
  return it == registry.flows.end() ? nullptr : &it->second;
}

absl::StatusOr<std::unique_ptr<Flow>> CreateFlow(absl::string_view name,
                                                 const FlowOptions& options) {
  const FlowRegistration* registration = FindFlow(name);
  if (registration == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no flow named '", name, "'; known flows: ", KnownNames()));
  }
  return registration->flow(options);
}

absl::StatusOr<std::unique_ptr<FlowSource>> CreateFlowSource(absl::string_view name,
                                                             const FlowOptions& options) {
  const FlowRegistration* registration = FindFlow(name);
  if (registration == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no flow named '", name, "'; known flows: ", KnownNames()));
  }
  if (!registration->source) {
    return absl::FailedPreconditionError(
        absl::StrCat("flow '", name, "' has no flow source (it cannot hand out per-peer flows)"));
  }
  return registration->source(options);
}

namespace internal {

FlowRegistrar::FlowRegistrar(const char* name, const char* description, FlowFactory flow,
                             FlowSourceFactory source) {
  // Registration by a static object runs before main(); a duplicate name is a programming error
  // that must not pass silently.
  absl::Status status =
      internal::AddFlowRegistration({name, description, std::move(flow), std::move(source)});
  if (!status.ok()) {
    std::fprintf(stderr, "netrig: %s\n", std::string(status.message()).c_str());
    std::abort();
  }
}

std::vector<WriteResult> ClosedFlowWriteResults(size_t count) {
  return std::vector<WriteResult>(
      count,
      WriteResult::Rejected(absl::FailedPreconditionError("flow is closed; datagram not sent")));
}

}  // namespace internal

}  // namespace netrig
