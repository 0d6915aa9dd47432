// Seeded-bug flows (check/seeded_bugs.h): small variations of the reference
// `socket` flow and flow source, each registered by name so `--flow NAME` runs netrig against a
// known bug. The reference flows share the same code with every knob off.
//
//   bug-address-too-large   (a) story 2: a write whose endpoint is in address form (as every
//                           Read hands it out) fails "The datagram was too large", whatever
//                           its size.
//   bug-scope-mangle        (b) story 2/7: a scoped IPv6 endpoint is re-encoded by cutting the
//                           text at '%', which mangles it; the write is rejected for no true
//                           reason.
//   bug-close-race-uaf      (c) Close() frees the receive buffers while a read is in flight: a
//                           heap use-after-free that ASan reports when reads and close overlap.
//   bug-waiting-drop        (d) story 5: writes while waiting are reported accepted and vanish.
//   bug-sleep-wake-source   (e) story 4: the flow source stops handing out new flows after its
//                           third sleep/wake cycle.
#include <memory>

#include "absl/strings/str_cat.h"
#include "harness/check/seeded_bugs.h"
#include "harness/udp/flow.h"
#include "harness/udp/flow_source.h"
#include "harness/udp/socket_flow.h"

namespace netrig::internal {

namespace {

FlowFactory SocketFlowWith(SocketFlowBugs bugs) {
  return [bugs](const FlowOptions& options) -> absl::StatusOr<std::unique_ptr<Flow>> {
    absl::StatusOr<std::unique_ptr<SocketFlow>> flow = SocketFlow::Open(options, bugs);
    if (!flow.ok()) return flow.status();
    return std::unique_ptr<Flow>(std::move(*flow));
  };
}

FlowSourceFactory SourceWith(FlowSourceBugs bugs) {
  return [bugs](const FlowOptions& options) -> absl::StatusOr<std::unique_ptr<FlowSource>> {
    absl::StatusOr<std::unique_ptr<LoopbackFlowSource>> source =
        LoopbackFlowSource::Open(options, bugs);
    if (!source.ok()) return source.status();
    return std::unique_ptr<FlowSource>(std::move(*source));
  };
}

}  // namespace

void RegisterBuiltinBugFlows(const Registry<FlowRegistration>::Adder& add) {
  // Each flow's description comes from the seeded-bug catalogue (check/seeded_bugs.h).
  auto must = [&add](const char* name, FlowFactory flow, FlowSourceFactory source) {
    const SeededBug* bug = FindSeededBug(name);
    if (bug == nullptr) std::abort();  // Every seeded flow is in the catalogue.
    const absl::Status added =
        add({name,
             absl::StrCat("seeded bug (story ", bug->story, ", found as ", bug->found_as,
                          "): ", bug->summary),
             std::move(flow), std::move(source)});
    if (!added.ok()) std::abort();
  };
  must("bug-address-too-large", SocketFlowWith({.address_too_large = true}), SourceWith({}));
  must("bug-scope-mangle", SocketFlowWith({.scope_mangle = true}), SourceWith({}));
  must("bug-close-race-uaf", SocketFlowWith({.close_race_uaf = true}), SourceWith({}));
  must("bug-waiting-drop", SocketFlowWith({.waiting_drop = true}), SourceWith({}));
  must("bug-sleep-wake-source", SocketFlowWith({}), SourceWith({.stop_after_wakes = 3}));
}

absl::StatusOr<std::unique_ptr<FlowSource>> MakeLoopbackFlowSource(const FlowOptions& options) {
  return SourceWith({})(options);
}

}  // namespace netrig::internal
