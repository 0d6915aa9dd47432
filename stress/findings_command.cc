// `netrig findings DIR`: summarizes a nightly run directory (scripts/nightly) into DIR/summary.md
// and DIR/junit.xml, findings deduplicated by signature (harness/findings/nightly_summary.h).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "harness/findings/nightly_summary.h"
#include "stress/command.h"

namespace netrig::cli {

int RunFindings(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr,
                 "error: usage: netrig findings DIR (a scripts/nightly output directory)\n");
    return kExitUsage;
  }
  const std::string dir(args[0]);
  absl::StatusOr<NightlySummary> summary = CollectNightly(dir);
  if (!summary.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(summary.status().message()).c_str());
    return kExitUsage;
  }
  const std::string markdown = NightlyMarkdown(*summary);
  std::ofstream(dir + "/summary.md") << markdown;
  std::ofstream(dir + "/junit.xml") << NightlyJunit(*summary);
  std::printf("%s\nwrote %s/summary.md and %s/junit.xml\n", markdown.c_str(), dir.c_str(),
              dir.c_str());
  return summary->clean() ? kExitOk : kExitFinding;
}

}  // namespace netrig::cli
