// The flags shared by the stress subcommands (see stress/shared_flags.h).
#include "stress/shared_flags.h"

#include <cstdio>

#include "absl/flags/flag.h"

ABSL_FLAG(absl::Duration, duration, absl::Seconds(10),
          "How long the run drives traffic (e.g. 3s, 10m); draining comes after.");
ABSL_FLAG(double, rate, 0,
          "Open loop: operations per second (udp: datagrams, http: tasks), latency from each\n"
          "operation's intended start. 0: closed loop, as fast as possible.");
ABSL_FLAG(int, threads, 2, "Driver threads issuing operations (udp: writers, http: spawners).");
ABSL_FLAG(std::string, seed, "",
          "Master seed (decimal); every decision's seed derives from it. Empty: a fresh one,\n"
          "printed first.");
ABSL_FLAG(bool, perturb, true, "Perturb schedule points (seeded yields and short sleeps).");
ABSL_FLAG(std::string, faults, "default",
          "Fault mix: default (a mild mix), none, or kind=probability,... (the kinds are listed\n"
          "in the subcommand's usage).");
ABSL_FLAG(std::string, json_file, "",
          "Write the JSON report here (\"-\": stdout). `--json FILE` is the same flag.");
ABSL_FLAG(std::string, finding_dir, "artifacts/findings",
          "On a violation, write a finding file here (`netrig replay FILE` reruns it); empty:\n"
          "none.");

namespace netrig::cli {

bool NoPositionalArgs(absl::string_view command, const std::vector<absl::string_view>& args) {
  if (args.empty()) return true;
  std::fprintf(stderr, "error: netrig %s takes no positional arguments (got '%s')\n",
               std::string(command).c_str(), std::string(args[0]).c_str());
  return false;
}

}  // namespace netrig::cli
