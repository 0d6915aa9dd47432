// `netrig udp`: the UDP stress driver. Parses its arguments with UdpOptionTable() and runs the
// workload (harness/workloads/udp/udp_stress.h) under the run core (harness/drive/stress_run.h), which
// prints the header, a status line each second and the summary, writes the JSON report and the
// finding file, and decides the exit status.
#include <cstdio>
#include <string>
#include <vector>

#include "harness/udp/flow.h"
#include "harness/workloads/udp/udp_stress.h"
#include "cli/command.h"

namespace netrig::cli {

std::string UdpFlagsHelp() { return UdpOptionTable().Help(); }

int RunUdp(const std::vector<std::string>& args) {
  UdpStressOptions options;
  std::optional<std::vector<std::string>> positional =
      ParseCommandLine("udp", UdpOptionTable(), args, options);
  if (!positional || !NoPositionalArgs("udp", *positional)) return kExitUsage;
  if (options.list_flows) {
    for (const FlowRegistration* flow : RegisteredFlows()) {
      std::printf("%-28s %s%s\n", flow->name.c_str(), flow->description.c_str(),
                  flow->source ? " [has a flow source]" : "");
    }
    return kExitOk;
  }
  options.handle_signals = true;
  absl::StatusOr<StressResult> result = RunUdpStress(options);
  if (!result.ok()) {
    PrintError("udp", result.status().message());
    return kExitUsage;
  }
  return result->exit_code;
}

}  // namespace netrig::cli
