// `netrig report RUN.json -o PAGE.html`: draws a run's HTML page (harness/drive/html_report.h)
// from its JSON report (--json) or from a finding file, so older runs and findings can be looked
// at later. The input is someone else's file: a missing, malformed, huge or deeply nested one is
// one line on stderr and exit 2, never a crash.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "harness/base/file_io.h"
#include "harness/drive/html_report.h"

namespace netrig::cli {
namespace {

struct ReportOptions {
  std::string output;
};

const OptionTable<ReportOptions>& ReportTable() {
  static const auto* const table = new OptionTable<ReportOptions>(
      OptionTable<ReportOptions>()
          .String("output", &ReportOptions::output,
                  "Write the page here (\"-\": stdout). Required.", "FILE", OptionRole::kOutput)
          .Alias("o"));
  return *table;
}

}  // namespace

std::string ReportFlagsHelp() { return ReportTable().Help(); }

int RunReport(const std::vector<std::string>& args) {
  ReportOptions options;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("report", ReportTable(), args, options);
  if (!positional) return kExitUsage;
  if (positional->size() != 1 || options.output.empty()) {
    PrintError("report",
               "usage: netrig report RUN.json -o PAGE.html (RUN.json: a --json report "
               "or a finding file)");
    return kExitUsage;
  }
  const std::string& input = (*positional)[0];
  absl::StatusOr<LoadedReport> loaded = LoadRunReport(input);
  if (!loaded.ok()) {
    PrintError("report", loaded.status().message());
    return kExitUsage;
  }
  const std::string page = RenderHtmlReport(loaded->report, loaded->options);
  if (absl::Status written = WriteFileAtomically(options.output, page); !written.ok()) {
    PrintError("report", absl::StrCat("-o: ", written.message()));
    return kExitUsage;
  }
  if (options.output != kStdoutPath) {
    std::fprintf(stderr, "netrig report: wrote %s (%zu bytes)\n", options.output.c_str(),
                 page.size());
  }
  return kExitOk;
}

}  // namespace netrig::cli
