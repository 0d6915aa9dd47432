// `netrig`: the command-line entry point. See `netrig --help`.
//
// Users who plug in their own Flow or HttpClient link netrig::main (this file and the
// subcommands) plus their registration, and get the same command with their client selectable.
#include <cstdio>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "harness/base/crash_context.h"
#include "stress/command.h"

namespace netrig::cli {

const std::vector<Subcommand>& Subcommands() {
  static const auto* const kSubcommands = new std::vector<Subcommand>{
      {"endpoint", "parse endpoints in every encoding and print their canonical form",
       "netrig endpoint [--json] TEXT...\n\n"
       "Parses each TEXT as an endpoint (host:port, 1.2.3.4:53, [2001:db8::1]:443,\n"
       "[fe80::1%eth0]:5353, fe80::1%en5.54442, IPv4#e5b4bb04:443, ...) and prints its\n"
       "canonical form, kind (host/address/redacted), family, address, port and scope.\n"
       "With --json, one JSON object per line with keys input, canonical, kind, family,\n"
       "address, port, scope, error. Invalid inputs are reported after the valid ones are\n"
       "printed, and the exit status is then 2.",
       "stress/endpoint_command.cc", &RunEndpoint},
      {"demo", "a short tour of endpoints and the datagram-size oracle",
       "netrig demo\n\n"
       "Parses the endpoint strings from the field notes and asks the datagram-size oracle\n"
       "about sizes around every limit. Exits 0.",
       "stress/demo_command.cc", &RunDemo},
      {"fuzz", "run a fuzz target locally: merge new coverage, triage and dedup crashes",
       "netrig fuzz TARGET [--time 10m] [--jobs N] [-- LIBFUZZER_FLAGS...]\n"
       "netrig fuzz --list\n\n"
       "Runs build/fuzz/fuzzers/TARGET_fuzzer (the fuzz preset) on a working copy of\n"
       "corpora/TARGET with its .dict and .options for --time (fork mode with --jobs > 1).\n"
       "Afterwards, also after Ctrl-C, it merges coverage-increasing inputs into\n"
       "corpora/TARGET (set-cover merge; nothing is removed) and triages crashes into\n"
       "artifacts/TARGET/crashes/<signature>/: minimized input, report.md, crash.json and\n"
       "replay.sh, deduplicated by stack signature. A second Ctrl-C skips merge and triage.\n"
       "Exit 0 no crash, 1 crashes found, 2 usage error or fuzz binary not built.",
       "stress/fuzz_command.cc", &RunFuzz},
      {"findings", "summarize a nightly run directory: summary.md, junit.xml, deduplicated",
       "netrig findings DIR\n\n"
       "Reads what scripts/nightly wrote into DIR (steps.tsv, junit/*.xml from ctest, fuzz/\n"
       "session artifacts, stress/ finding files and logs), deduplicates the findings by\n"
       "stack signature (or finding signature), and writes DIR/summary.md and DIR/junit.xml.\n"
       "Exit 0 clean, 1 any finding or failed step, 2 usage.",
       "stress/findings_command.cc", &RunFindings},
  };
  return *kSubcommands;
}

namespace {

const Subcommand* Find(absl::string_view name) {
  for (const auto& command : Subcommands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

void PrintTopLevelHelp(FILE* out) {
  std::fprintf(out,
               "netrig: a fuzzing and concurrency stress harness for network clients.\n\n"
               "usage: netrig SUBCOMMAND [FLAGS] [ARGS]\n"
               "       netrig help SUBCOMMAND     (or: netrig SUBCOMMAND --help)\n\n"
               "subcommands:\n");
  for (const auto& command : Subcommands()) {
    std::fprintf(out, "  %-10s %s\n", std::string(command.name).c_str(),
                 std::string(command.summary).c_str());
  }
  std::fprintf(out,
               "\nexit status: 0 ok, 1 a finding, 2 bad input or usage, 81 ASan, 82 UBSan,\n"
               "83 LSan, 84 TSan.\n");
}

// The flags that belong to `command`: those defined in its file.
std::vector<absl::CommandLineFlag*> FlagsOf(const Subcommand& command) {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), command.flag_file)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->Name() < b->Name(); });
  return flags;
}

void PrintSubcommandHelp(const Subcommand& command, FILE* out) {
  std::fprintf(out, "usage: %s\n", std::string(command.usage).c_str());
  const auto flags = FlagsOf(command);
  if (!flags.empty()) std::fprintf(out, "\nflags:\n");
  for (const auto* flag : flags) {
    std::fprintf(out, "  --%s (default: %s)\n", std::string(flag->Name()).c_str(),
                 flag->DefaultValue().c_str());
    for (absl::string_view line : absl::StrSplit(flag->Help(), '\n')) {
      std::fprintf(out, "      %s\n", std::string(line).c_str());
    }
  }
}

// Rejects flags that exist in the binary but belong to another subcommand, so that a typo or a
// misplaced flag is an error instead of silently ignored.
bool CheckFlagsBelong(const Subcommand& command, int argc, char** argv) {
  const auto own = FlagsOf(command);
  for (int i = 2; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::StartsWith(arg, "-")) continue;
    arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
    const std::string name(arg.substr(0, arg.find('=')));
    if (name == "help" || name == "helpfull") continue;
    auto belongs = [&](absl::string_view candidate) {
      for (const auto* flag : own) {
        if (flag->Name() == candidate) return true;
      }
      return false;
    };
    if (belongs(name) || (absl::StartsWith(name, "no") && belongs(name.substr(2)))) continue;
    std::fprintf(stderr, "error: netrig %s has no flag --%s (see: netrig help %s)\n",
                 std::string(command.name).c_str(), name.c_str(),
                 std::string(command.name).c_str());
    return false;
  }
  return true;
}

}  // namespace
}  // namespace netrig::cli

int main(int argc, char** argv) {
  using namespace netrig::cli;
  netrig::InstallCrashContextSignalHandlers();
  absl::SetProgramUsageMessage("netrig SUBCOMMAND [FLAGS] [ARGS]; see `netrig --help`");
  if (argc < 2 || absl::string_view(argv[1]) == "--help" || absl::string_view(argv[1]) == "-h" ||
      absl::string_view(argv[1]) == "help") {
    if (argc >= 3 && absl::string_view(argv[1]) == "help") {
      const Subcommand* command = Find(argv[2]);
      if (command == nullptr) {
        std::fprintf(stderr, "error: unknown subcommand '%s'\n\n", argv[2]);
        PrintTopLevelHelp(stderr);
        return kExitUsage;
      }
      PrintSubcommandHelp(*command, stdout);
      return kExitOk;
    }
    PrintTopLevelHelp(argc < 2 ? stderr : stdout);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const Subcommand* command = Find(argv[1]);
  if (command == nullptr) {
    std::fprintf(stderr, "error: unknown subcommand '%s'\n\n", argv[1]);
    PrintTopLevelHelp(stderr);
    return kExitUsage;
  }
  for (int i = 2; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      PrintSubcommandHelp(*command, stdout);
      return kExitOk;
    }
  }
  if (!CheckFlagsBelong(*command, argc, argv)) return kExitUsage;

  // Abseil parses argv[1..] as if the subcommand were the program.
  std::vector<char*> rest(argv + 1, argv + argc);
  std::vector<char*> positional_raw = absl::ParseCommandLine(static_cast<int>(rest.size()), rest.data());
  std::vector<absl::string_view> positional(positional_raw.begin() + 1, positional_raw.end());
  return command->run(positional);
}
