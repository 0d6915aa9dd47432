// `netrig`: the command-line entry point. See `netrig --help`.
//
// Users who plug in their own Flow or HttpClient link netrig::main (this file and the
// subcommands) plus their registration, and get the same command with their client selectable.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "harness/base/crash_context.h"
#include "stress/command.h"
#include "stress/shared_flags.h"

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
      {"http", "stress an HTTP client: task sessions under cancels, invalidation, faults",
       "netrig http [--client curl] [--rate N | --concurrency N] [--duration 10s] [--json FILE]\n"
       "            [--http 1.1|h2c|mixed] [--faults default|none|kind=p,...] [--seed N]\n"
       "            [--target http://127.0.0.1:PORT/ [--allow-remote]]\n\n"
       "Spawns HTTP tasks from several threads through the client's sessions against the\n"
       "embedded loopback HTTP/1.1 + h2c server with seeded per-request faults (or --target),\n"
       "open loop at --rate tasks/s (latency from each task's intended start) or closed loop.\n"
       "Cancels at every moment, replaces sessions every --tasks_per_session tasks, adds and\n"
       "removes connection observers, perturbs schedule points. Checks exactly-once completion,\n"
       "nothing after invalidation, no stuck task, live objects back to zero (and LSan in ASan\n"
       "builds). Prints a status line each second and a summary; --json FILE writes a report.\n"
       "--faults kinds: delay, status, chunked, truncate, reset, drip, close_after,\n"
       "big_headers, rst_stream, goaway, tiny_window (e.g. --faults=reset=0.05,delay=0.1).\n"
       "Exit 0 no violation, 1 violations (a finding file in --finding_dir), 2 usage error.",
       "stress/http_command.cc", &RunHttp, kStressSharedFlags},
      {"udp", "stress a UDP flow: sizes on every limit, endpoint encodings, faults, path events",
       "netrig udp [--flow socket] [--duration 10s] [--rate N] [--threads N] [--flows N]\n"
       "           [--faults mild|none|drop=P,...] [--path_events 500ms] [--mtu N]\n"
       "           [--family ipv4|ipv6|both] [--seed N] [--json FILE]\n\n"
       "Drives a registered Flow (--list_flows) through a seeded fault relay to a loopback echo\n"
       "peer: datagram sizes just under, at and over every limit of the datagram-size oracle\n"
       "plus 50-200 byte ones, endpoints in every encoding (numeric, IPv4-mapped, scoped,\n"
       "host name) echoed back as read and re-encoded, flows closed and reopened, the path\n"
       "taken down and brought back, the flow source put to sleep and woken, schedule\n"
       "points perturbed. Checks: no datagram that fits is rejected, every rejection names\n"
       "a true limit and its value, no silent loss, flows leave \"waiting\" when the path is\n"
       "back, flows after a wake reach the handler, no flow object leaks. A status line each\n"
       "second, a summary, --json FILE a report. Exit 0 no violation, 1 violations (a\n"
       "finding file in --finding_dir), 2 usage error.",
       "stress/udp_command.cc", &RunUdp, kStressSharedFlags},
      {"replay", "rerun a stress finding file with its seeds: did it reproduce?",
       "netrig replay FILE [--times 3] [--expect reproduce|clean]\n"
       "netrig replay FILE --promote NAME [--promote_expect clean|reproduce]\n\n"
       "Reruns `netrig udp|http ARGS` from a finding file (written by a stress run into\n"
       "--finding_dir, or committed in corpora/regressions/) with the exact recorded\n"
       "arguments, seeds and perturbation seed, as a child process, up to --times runs, and\n"
       "prints each run's summary. A run reproduces when it reports every recorded violation\n"
       "kind (or exits with the recorded sanitizer code). --expect defaults to the file's\n"
       "\"expect\" field, else reproduce. --promote NAME: after it reproduces, copy the file to\n"
       "corpora/regressions/NAME.json with \"expect\" set (CTest replays it, label replay).\n"
       "Exit: reproduce 0 reproduced / 1 not; clean 0 no violation in any run / 1 any;\n"
       "2 bad file or usage.",
       "stress/replay_command.cc", &RunReplay},
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
  const std::vector<absl::string_view> shared =
      absl::StrSplit(command.shared_flags, ',', absl::SkipEmpty());
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), command.flag_file) ||
        (absl::EndsWith(flag->Filename(), "stress/shared_flags.cc") &&
         std::find(shared.begin(), shared.end(), name) != shared.end())) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(), [](auto* a, auto* b) { return a->Name() < b->Name(); });
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

// Accepts `--allow-remote` for `--allow_remote` (flag names cannot contain '-'), and `--json`
// for `--json_file` in subcommands that write a JSON report: `--json` is taken by `netrig
// endpoint`'s bool flag, and flag names are global. Rewrites argv in place.
void NormalizeFlagSpellings(const Subcommand& command, int argc, char** argv) {
  static std::vector<std::string>* const storage = new std::vector<std::string>();
  storage->reserve(static_cast<size_t>(argc));
  bool has_json_file = false;
  for (const auto* flag : FlagsOf(command)) has_json_file |= flag->Name() == "json_file";
  for (int i = 2; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::StartsWith(arg, "--")) continue;
    const size_t equals = arg.find('=');
    std::string name(arg.substr(2, equals == absl::string_view::npos ? arg.npos : equals - 2));
    std::replace(name.begin(), name.end(), '-', '_');
    if (has_json_file && name == "json") name = "json_file";
    std::string rewritten =
        absl::StrCat("--", name, equals == absl::string_view::npos ? "" : arg.substr(equals));
    if (rewritten == arg) continue;
    storage->push_back(std::move(rewritten));
    argv[i] = storage->back().data();
  }
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
  NormalizeFlagSpellings(*command, argc, argv);
  if (!CheckFlagsBelong(*command, argc, argv)) return kExitUsage;

  // Abseil parses argv[1..] as if the subcommand were the program.
  std::vector<char*> rest(argv + 1, argv + argc);
  std::vector<char*> positional_raw =
      absl::ParseCommandLine(static_cast<int>(rest.size()), rest.data());
  std::vector<absl::string_view> positional(positional_raw.begin() + 1, positional_raw.end());
  return command->run(positional);
}
