// Flags that more than one stress subcommand takes (`netrig udp`, `netrig http`). Abseil flag
// names are global, so each is defined once, in stress/shared_flags.cc; a subcommand lists the
// ones it accepts in its Subcommand::shared_flags (stress/command.h), and `netrig help NAME`
// shows them with its own flags. Also the one check of the command line those subcommands share:
// flags only, no positional arguments.
//
// Example (in stress/foo_command.cc):
//   #include "stress/shared_flags.h"
//   absl::Duration duration = absl::GetFlag(FLAGS_duration);
//   if (!netrig::cli::NoPositionalArgs("foo", args)) return netrig::cli::kExitUsage;
#ifndef NETRIG_STRESS_SHARED_FLAGS_H_
#define NETRIG_STRESS_SHARED_FLAGS_H_

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(absl::Duration, duration);
ABSL_DECLARE_FLAG(double, rate);
ABSL_DECLARE_FLAG(int, threads);
ABSL_DECLARE_FLAG(std::string, seed);
ABSL_DECLARE_FLAG(bool, perturb);
ABSL_DECLARE_FLAG(std::string, faults);
ABSL_DECLARE_FLAG(std::string, json_file);
ABSL_DECLARE_FLAG(std::string, finding_dir);

namespace netrig::cli {
// The names above, for Subcommand::shared_flags.
inline constexpr const char* kStressSharedFlags =
    "duration,rate,threads,seed,perturb,faults,json_file,finding_dir";

// True when `args` (the positional arguments of `netrig COMMAND`) is empty; else says on stderr
// that COMMAND takes none.
bool NoPositionalArgs(absl::string_view command, const std::vector<absl::string_view>& args);
}  // namespace netrig::cli

#endif  // NETRIG_STRESS_SHARED_FLAGS_H_
