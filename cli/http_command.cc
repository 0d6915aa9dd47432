// `netrig http`: the HTTP task-session stress driver. Parses its arguments with
// HttpOptionTable() and runs the workload (harness/workloads/http/http_stress.h) under the run core
// (harness/drive/stress_run.h).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/command.h"
#include "harness/http/http_client.h"
#include "harness/workloads/http/http_stress.h"

namespace netrig::cli {

std::string HttpFlagsHelp() { return HttpOptionTable().Help(); }

int RunHttp(const std::vector<std::string>& args) {
  HttpStressOptions options;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("http", HttpOptionTable(), args, options);
  if (!positional || !NoPositionalArgs("http", *positional)) return kExitUsage;
  if (options.list_clients || options.client == "list") {
    for (const HttpClientEntry& entry : HttpClientNames()) {
      std::printf("%-24s %s\n", entry.name.c_str(), entry.description.c_str());
    }
    return kExitOk;
  }
  options.handle_signals = true;
  absl::StatusOr<StressResult> result = RunHttpStress(options);
  if (!result.ok()) {
    PrintError("http", result.status().message());
    return kExitUsage;
  }
  if (result->operations_wedged) {
    // A hang left threads blocked inside the client, pointing into objects kept alive for them:
    // end here, without the static destructors exit() would run under them.
    std::fflush(nullptr);
    std::_Exit(result->exit_code);
  }
  return result->exit_code;
}

}  // namespace netrig::cli
