// The `netrig` command's subcommands. Each lives in stress/<name>_command.cc, defines its flags
// with ABSL_FLAG in that file (so `netrig help NAME` lists exactly them) and only parses flags
// before calling into the library.
//
// Exit codes shared by every subcommand: 0 ok, 1 a finding (violation), 2 bad input or usage,
// 81-84 a sanitizer report (see harness/base/sanitizer_defaults.cc).
#ifndef NETRIG_STRESS_COMMAND_H_
#define NETRIG_STRESS_COMMAND_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace netrig::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFinding = 1;
inline constexpr int kExitUsage = 2;

struct Subcommand {
  absl::string_view name;
  absl::string_view summary;    // One line for `netrig --help`.
  absl::string_view usage;      // Synopsis and description for `netrig help NAME`.
  absl::string_view flag_file;  // Source file whose ABSL_FLAGs belong to this subcommand.
  // `args` are the positional arguments left after flag parsing.
  int (*run)(const std::vector<absl::string_view>& args);
  // Comma list of flags defined in stress/shared_flags.cc that this subcommand also takes.
  absl::string_view shared_flags = "";
};

// The table of subcommands, in the order `netrig --help` lists them (stress/netrig_main.cc).
const std::vector<Subcommand>& Subcommands();

int RunEndpoint(const std::vector<absl::string_view>& args);
int RunDemo(const std::vector<absl::string_view>& args);
int RunHttp(const std::vector<absl::string_view>& args);
int RunUdp(const std::vector<absl::string_view>& args);
int RunFuzz(const std::vector<absl::string_view>& args);
int RunFindings(const std::vector<absl::string_view>& args);
int RunReplay(const std::vector<absl::string_view>& args);

}  // namespace netrig::cli

#endif  // NETRIG_STRESS_COMMAND_H_
