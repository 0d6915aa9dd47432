#include <cstdio>

#include "absl/flags/flag.h"
#include "stress/command.h"

ABSL_FLAG(bool, json, false, "Print one JSON object per input line instead of text.");

namespace netrig::cli {
int RunEndpoint(const std::vector<absl::string_view>& args) {
  std::fprintf(stderr, "netrig endpoint: not built yet (%zu args)\n", args.size());
  return kExitUsage;
}
}  // namespace netrig::cli
