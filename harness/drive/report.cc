#include "harness/drive/report.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace netrig {

absl::Status WriteJsonReport(absl::string_view path, const nlohmann::json& report) {
  const std::string text = report.dump(2) + "\n";
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return absl::OkStatus();
  }
  const std::string final_path(path);
  const std::string temp_path = absl::StrCat(final_path, ".tmp.", getpid());
  {
    std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
    if (!out) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot write report to ", final_path, ": ", std::strerror(errno)));
    }
    out << text;
    if (!out.flush()) {
      return absl::InternalError(absl::StrCat("writing ", temp_path, " failed"));
    }
  }
  if (std::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    const int error = errno;
    std::remove(temp_path.c_str());
    return absl::InvalidArgumentError(
        absl::StrCat("cannot move report to ", final_path, ": ", std::strerror(error)));
  }
  return absl::OkStatus();
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
