// Every kind of violation a netrig check reports, in one documented catalogue (as Abseil lists
// its StatusCodes): the names finding files, JSON reports, the README and `netrig help
// violations` use. A check reports only kinds listed here: tests/check/violation_kinds_test.cc
// reads every reporting site in harness/ and fuzzers/ and holds it to this list.
//
// Example:
//   for (const netrig::ViolationKindInfo& kind : netrig::ViolationCatalogue()) {
//     std::printf("%-32s %s\n", kind.name.data(), kind.meaning.data());
//   }
#ifndef NETRIG_HARNESS_CHECK_VIOLATION_KINDS_H_
#define NETRIG_HARNESS_CHECK_VIOLATION_KINDS_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace netrig {

struct ViolationKindInfo {
  absl::string_view name;
  absl::string_view scope;    // "any", "udp", "http", "domain": which workloads report it.
  absl::string_view meaning;  // One sentence: what broke.
};

const std::vector<ViolationKindInfo>& ViolationCatalogue();
bool IsKnownViolationKind(absl::string_view name);

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_VIOLATION_KINDS_H_
