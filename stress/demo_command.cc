#include <cstdio>

#include "stress/command.h"

namespace netrig::cli {
int RunDemo(const std::vector<absl::string_view>&) {
  std::printf("netrig demo: not built yet\n");
  return kExitUsage;
}
}  // namespace netrig::cli
