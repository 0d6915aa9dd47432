// How a conformance property says "cannot be checked here" (no ::1 on this host, a flow without a
// FlowSource, a claim the client does not make) apart from "broken": a Status carrying a marker
// payload, which the GoogleTest suites turn into SKIPPED with the reason.
//
// Example:
//   if (!echo.ipv6_endpoint()) return netrig::conformance::NotApplicable("this host has no ::1");
//   ...
//   absl::Status held = netrig::conformance::CheckFlowCloseWakesBlockedReads("my-flow", {});
//   if (netrig::conformance::IsNotApplicable(held)) { /* skipped, held.message() says why */ }
#ifndef NETRIG_HARNESS_CONFORMANCE_NOT_APPLICABLE_H_
#define NETRIG_HARNESS_CONFORMANCE_NOT_APPLICABLE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace netrig::conformance {

// An Unavailable status marked as "not applicable", with `reason` as its message.
absl::Status NotApplicable(absl::string_view reason);
bool IsNotApplicable(const absl::Status& status);

}  // namespace netrig::conformance

#endif  // NETRIG_HARNESS_CONFORMANCE_NOT_APPLICABLE_H_
