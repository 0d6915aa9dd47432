#include "harness/drive/report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/base/file_io.h"

namespace netrig {

absl::Status WriteJsonReport(absl::string_view path, const nlohmann::json& report) {
  // Replacement, not an exception, for bytes that are not UTF-8 (a hostile endpoint in a
  // violation message must not lose the report).
  return WriteFileAtomically(
      path, report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void PrintSummary(FILE* out, absl::string_view title,
                  const std::vector<std::pair<std::string, std::string>>& rows,
                  const ViolationLog& violations) {
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  absl::FPrintF(out, "\n%s\n", title);
  for (const auto& [label, value] : rows) {
    absl::FPrintF(out, "  %-*s  %s\n", static_cast<int>(width) + 1, label + ":", value);
  }
  if (violations.empty()) {
    absl::FPrintF(out, "  no violations\n");
    return;
  }
  absl::FPrintF(out, "  VIOLATIONS: %d\n", violations.total());
  for (const auto& [kind, count] : violations.CountsByKind()) {
    absl::FPrintF(out, "    %-24s %d\n", kind, count);
  }
  const auto kept = violations.Kept();
  const size_t shown = std::min<size_t>(kept.size(), 10);
  for (size_t i = 0; i < shown; ++i) {
    absl::FPrintF(out, "    - [%s] %s\n", kept[i].kind, kept[i].message);
  }
  if (kept.size() > shown)
    absl::FPrintF(out, "    ... %d more in the JSON report\n", kept.size() - shown);
  absl::FPrintF(out, "  replay with: %s\n", violations.recipe().dump());
}

}  // namespace netrig
