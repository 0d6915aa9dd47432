// `netrig findings DIR`: summarizes a nightly run directory (scripts/nightly) into DIR/summary.md
// and DIR/junit.xml, findings deduplicated by signature (harness/findings/nightly_summary.h).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "harness/base/file_io.h"
#include "harness/findings/nightly_summary.h"
#include "cli/command.h"

namespace netrig::cli {

int RunFindings(const std::vector<std::string>& args) {
  if (args.size() != 1 || (!args.empty() && args[0].size() > 1 && args[0][0] == '-')) {
    PrintError("findings", "usage: netrig findings DIR (a scripts/nightly output directory)");
    return kExitUsage;
  }
  const std::string dir(args[0]);
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir);
  if (!summary.ok()) {
    PrintError("findings", summary.status().message());
    return kExitUsage;
  }
  const std::string markdown = NightlyMarkdown(*summary);
  for (const auto& [name, text] : {std::pair<const char*, std::string>{"summary.md", markdown},
                                   {"junit.xml", NightlyJunit(*summary)}}) {
    if (absl::Status written = WriteFileAtomically(dir + "/" + name, text); !written.ok()) {
      PrintError("findings", absl::StrCat("could not write ", name, ": ", written.message()));
      return kExitUsage;
    }
  }
  std::printf("%s\nwrote %s/summary.md and %s/junit.xml\n", markdown.c_str(), dir.c_str(),
              dir.c_str());
  return summary->clean() ? kExitOk : kExitFinding;
}

}  // namespace netrig::cli
