// The `netrig` command's subcommands. Each lives in stress/<name>_command.cc, declares its
// options once in an OptionTable (harness/base/option_table.h), parses its arguments with it and
// calls into the library; `netrig help NAME` prints the same table.
//
// Exit codes: harness/base/exit_codes.h (0 ok, 1 a finding, 2 bad input or usage, 3
// inconclusive, 81-84 a sanitizer report, 128+N interrupted by signal N).
//
// Example (in cli/foo_command.cc):
//   struct FooOptions { absl::Duration time = absl::Minutes(1); };
//   const OptionTable<FooOptions>& FooTable() { ... }
//   int RunFoo(const std::vector<std::string>& args) {
//     FooOptions options;
//     std::optional<std::vector<std::string>> positional =
//         ParseCommandLine("foo", FooTable(), args, options);
//     if (!positional) return kExitUsage;
//     ...
//   }
#ifndef NETRIG_CLI_COMMAND_H_
#define NETRIG_CLI_COMMAND_H_

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "harness/base/exit_codes.h"
#include "harness/base/option_table.h"

namespace netrig::cli {

struct Subcommand {
  absl::string_view name;
  absl::string_view summary;  // One line for `netrig --help`.
  absl::string_view usage;    // Synopsis and description for `netrig help NAME`.
  // `args` are the arguments after `netrig NAME`.
  int (*run)(const std::vector<std::string>& args);
  // The flags section of `netrig help NAME`, from the command's OptionTable; null: no flags.
  std::string (*flags_help)() = nullptr;
};

// The table of subcommands, in the order `netrig --help` lists them (cli/netrig_main.cc).
const std::vector<Subcommand>& Subcommands();

int RunEndpoint(const std::vector<std::string>& args);
int RunDomains(const std::vector<std::string>& args);
int RunDemo(const std::vector<std::string>& args);
int RunHttp(const std::vector<std::string>& args);
int RunUdp(const std::vector<std::string>& args);
int RunFuzz(const std::vector<std::string>& args);
int RunFindings(const std::vector<std::string>& args);
int RunReplay(const std::vector<std::string>& args);
int RunReport(const std::vector<std::string>& args);

std::string EndpointFlagsHelp();
std::string DomainsFlagsHelp();
std::string HttpFlagsHelp();
std::string UdpFlagsHelp();
std::string FuzzFlagsHelp();
std::string ReplayFlagsHelp();
std::string ReportFlagsHelp();
std::string FindingsFlagsHelp();

// Parses `args` into `options` with `table`. On an error prints one line naming the flag and the
// expected form ("error: netrig udp: --threads='two': expected an integer in [1-64]") and a
// pointer to `netrig help COMMAND`, and returns nullopt (the caller exits kExitUsage).
template <typename T>
std::optional<std::vector<std::string>> ParseCommandLine(absl::string_view command,
                                                         const OptionTable<T>& table,
                                                         const std::vector<std::string>& args,
                                                         T& options) {
  absl::StatusOr<std::vector<std::string>> positional = table.Parse(args, options);
  if (!positional.ok()) {
    std::fprintf(stderr, "error: netrig %s: %s (see: netrig help %s)\n",
                 std::string(command).c_str(), std::string(positional.status().message()).c_str(),
                 std::string(command).c_str());
    return std::nullopt;
  }
  return *std::move(positional);
}

// True when `positional` is empty; else says on stderr that COMMAND takes none.
bool NoPositionalArgs(absl::string_view command, const std::vector<std::string>& positional);

// Prints "error: netrig COMMAND: MESSAGE" on stderr, the message cut to a few hundred bytes (a
// hostile input must not become a megabyte of terminal output).
void PrintError(absl::string_view command, absl::string_view message);

}  // namespace netrig::cli

#endif  // NETRIG_CLI_COMMAND_H_
