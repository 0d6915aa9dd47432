#include "harness/conformance/not_applicable.h"

#include "absl/strings/cord.h"

namespace netrig::conformance {
namespace {
constexpr absl::string_view kNotApplicableUrl = "netrig.conformance/not-applicable";
}  // namespace

absl::Status NotApplicable(absl::string_view reason) {
  absl::Status status = absl::UnavailableError(reason);
  status.SetPayload(kNotApplicableUrl, absl::Cord("1"));
  return status;
}

bool IsNotApplicable(const absl::Status& status) {
  return status.GetPayload(kNotApplicableUrl).has_value();
}

}  // namespace netrig::conformance
