// `netrig findings DIR [--previous OLD1,OLD2]`: summarizes a nightly run directory
// (scripts/nightly) into DIR/summary.md, DIR/junit.xml and DIR/summary.html, findings
// deduplicated by signature (harness/findings/nightly_summary.h); with --previous, the page also
// draws trends across those earlier nights' directories and this one.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/command.h"
#include "harness/base/file_io.h"
#include "harness/findings/nightly_summary.h"

namespace netrig::cli {
namespace {

struct FindingsOptions {
  std::string previous;
};

const OptionTable<FindingsOptions>& FindingsTable() {
  static const auto* const table =
      new OptionTable<FindingsOptions>(OptionTable<FindingsOptions>().String(
          "previous", &FindingsOptions::previous,
          "Comma list of earlier nights' output directories, oldest first: summary.html then\n"
          "draws trends (findings, failed steps, tests, fuzz coverage and corpus sizes, stress\n"
          "rates) across them and DIR. A directory that cannot be read is skipped with a\n"
          "warning.",
          "DIRS"));
  return *table;
}

// The night's label: its directory's name ("nightly-20250101T020000Z").
std::string NightLabel(const std::string& dir) {
  std::filesystem::path path(dir);
  if (!path.has_filename()) path = path.parent_path();
  return path.filename().string();
}

}  // namespace

std::string FindingsFlagsHelp() { return FindingsTable().Help(); }

int RunFindings(const std::vector<std::string>& args) {
  FindingsOptions options;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("findings", FindingsTable(), args, options);
  if (!positional) return kExitUsage;
  if (positional->size() != 1) {
    PrintError("findings",
               "usage: netrig findings DIR [--previous OLD1,OLD2] (a scripts/nightly output "
               "directory)");
    return kExitUsage;
  }
  const std::string dir((*positional)[0]);
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir);
  if (!summary.ok()) {
    PrintError("findings", summary.status().message());
    return kExitUsage;
  }
  std::vector<NightlyNight> previous;
  for (absl::string_view old : absl::StrSplit(options.previous, ',', absl::SkipWhitespace())) {
    absl::StatusOr<NightlySummary> night = CollectNightly(std::string(old));
    if (!night.ok()) {
      std::fprintf(stderr, "netrig findings: warning: --previous %s skipped: %s\n",
                   option_internal::Shorten(old).c_str(),
                   option_internal::Shorten(night.status().message()).c_str());
      continue;
    }
    previous.push_back({NightLabel(std::string(old)), *std::move(night)});
  }
  std::error_code error;
  const std::string absolute = std::filesystem::absolute(dir, error).lexically_normal().string();
  const std::string markdown = NightlyMarkdown(*summary);
  for (const auto& [name, text] :
       {std::pair<const char*, std::string>{"summary.md", markdown},
        {"junit.xml", NightlyJunit(*summary)},
        {"summary.html", NightlyHtml(*summary, NightLabel(absolute), absolute, previous)}}) {
    if (absl::Status written = WriteFileAtomically(dir + "/" + name, text); !written.ok()) {
      PrintError("findings", absl::StrCat("could not write ", name, ": ", written.message()));
      return kExitUsage;
    }
  }
  std::printf("%s\nwrote %s/summary.md, %s/junit.xml and %s/summary.html\n", markdown.c_str(),
              dir.c_str(), dir.c_str(), dir.c_str());
  return summary->clean() ? kExitOk : kExitFinding;
}

}  // namespace netrig::cli
