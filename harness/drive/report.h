// Reports: the JSON file a run writes with --json, and a readable summary block.
//
// Example:
//   nlohmann::json report = {{"tasks_started", n}, {"violations", violations.ToJson()}};
//   if (absl::Status s = netrig::WriteJsonReport(path, report); !s.ok()) ...
//   netrig::PrintSummary(stdout, "netrig http", {{"tasks/s", "41.2k"}, {"p99", "812 us"}});
#ifndef NETRIG_HARNESS_DRIVE_REPORT_H_
#define NETRIG_HARNESS_DRIVE_REPORT_H_

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "harness/check/violation.h"
#include "nlohmann/json.hpp"

namespace netrig {

// Writes `report` pretty-printed to `path` by WriteFileAtomically's rules (base/file_io.h):
// "-" is stdout, a device or FIFO is written in place, a regular file is replaced atomically.
absl::Status WriteJsonReport(absl::string_view path, const nlohmann::json& report);

// Prints a titled block of aligned "label: value" rows, then each kept violation (with its kind)
// and the replay recipe when there are any.
void PrintSummary(FILE* out, absl::string_view title,
                  const std::vector<std::pair<std::string, std::string>>& rows,
                  const ViolationLog& violations);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_REPORT_H_
