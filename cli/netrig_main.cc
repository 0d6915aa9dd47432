// `netrig`: the command-line entry point. See `netrig --help`.
//
// Users who plug in their own Flow or HttpClient link netrig::main (this file and the
// subcommands) plus their registration, and get the same command with their client selectable.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cli/command.h"
#include "harness/base/crash_context.h"
#include "harness/base/program_name.h"
#include "harness/check/violation_kinds.h"
#include "harness/sched/controlled.h"

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
       &RunEndpoint, &EndpointFlagsHelp},
      {"domains", "route hosts by match and exception lists; judge a domain matcher",
       "netrig domains [--matcher NAME] --match LIST [--except LIST] [--bare exact|subtree]\n"
       "               [--wildcard any_depth|one_label] [--json] HOST...\n"
       "netrig domains --stress [--matcher NAME] [--seed N] [--threads 4] [--time 10s]\n"
       "netrig domains --list\n\n"
       "Prints, for each HOST, handle or bypass and why: which pattern of which list decided\n"
       "and by what rule (exceptions win; wildcards match at label boundaries; case, trailing\n"
       "dots and Unicode versus A-labels do not matter; IP literals match only IP patterns).\n"
       "With --matcher, also that matcher's answer, and DISAGREES where it differs from the\n"
       "oracle. --stress judges the matcher over generated rules and hosts, then while its\n"
       "rules are reloaded from another thread under load (never a mix of old and new rules,\n"
       "never old rules after a reload returned). Exit 0 agree/clean, 1 disagreement or\n"
       "violation, 2 invalid pattern, host or usage.",
       &RunDomains, &DomainsFlagsHelp},
      {"demo", "a short tour of endpoints and the datagram-size oracle",
       "netrig demo\n\n"
       "Parses the endpoint strings from docs/field-notes.md and asks the datagram-size oracle\n"
       "about sizes around every limit. Exits 0.",
       &RunDemo},
      {"http", "stress an HTTP client: task sessions under cancels, invalidation, faults",
       "netrig http [--client curl] [--rate N | --concurrency N] [--duration 10s] [--json FILE]\n"
       "            [--http 1.1|h2c|mixed] [--faults default|none|kind=p,...] [--seed N]\n"
       "            [--target http://127.0.0.1:PORT/ [--allow_remote]]\n\n"
       "Spawns HTTP tasks from several threads through the client's sessions against the\n"
       "embedded loopback HTTP/1.1 + h2c server with seeded per-request faults (or --target),\n"
       "open loop at --rate tasks/s (latency from each task's intended start) or closed loop.\n"
       "Cancels at every moment, replaces sessions every --tasks_per_session tasks, adds and\n"
       "removes connection observers, perturbs schedule points. Checks exactly-once completion,\n"
       "nothing after invalidation, no stuck task, live objects back to zero (and LSan in ASan\n"
       "builds). Prints a status line each second and a summary; --json FILE writes a report,\n"
       "--html FILE the run's page (see netrig help report).\n"
       "--faults kinds: delay, status, chunked, truncate, reset, drip, close_after,\n"
       "big_headers, rst_stream, goaway, tiny_window, split (e.g. --faults=reset=0.05,delay=0.1).\n"
       "Ctrl-C cancels what is in flight. Exit 0 no violation, 1 violations (a finding file in\n"
       "--finding_dir), 2 usage error, 3 inconclusive (most tasks failed with no injected\n"
       "fault), 130 interrupted.",
       &RunHttp, &HttpFlagsHelp},
      {"udp", "stress a UDP flow: sizes on every limit, endpoint encodings, faults, path events",
       "netrig udp [--flow socket] [--duration 10s] [--rate N] [--threads N] [--flows N]\n"
       "           [--faults default|none|drop=P,...] [--path_events 500ms] [--mtu N]\n"
       "           [--family ipv4|ipv6|both] [--seed N] [--json FILE]\n\n"
       "Drives a registered Flow (--list_flows) through a seeded fault relay to a loopback echo\n"
       "peer: datagram sizes just under, at and over every limit of the datagram-size oracle\n"
       "plus 50-200 byte ones, endpoints in every encoding (numeric, IPv4-mapped, scoped,\n"
       "host name) echoed back as read and re-encoded, flows closed and reopened, the path\n"
       "taken down and brought back, the flow source put to sleep and woken, schedule\n"
       "points perturbed. Checks: no datagram that fits is rejected, every rejection names\n"
       "a true limit and its value, no silent loss, flows leave \"waiting\" when the path is\n"
       "back, flows after a wake reach the handler, no flow object leaks. A status line each\n"
       "second, a summary, --json FILE a report, --html FILE its page. --faults kinds: drop,\n"
       "duplicate, reorder, delay, truncate, and max_delay=DURATION. Exit 0 no violation, 1\n"
       "violations (a finding file in --finding_dir), 2 usage error, 130 interrupted (a\n"
       "second Ctrl-C ends the drain at once).",
       &RunUdp, &UdpFlagsHelp},
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
       &RunReplay, &ReplayFlagsHelp},
      {"report", "draw a run's HTML page from its JSON report or finding file",
       "netrig report RUN.json -o PAGE.html\n\n"
       "Draws the page `netrig udp|http --html` writes (one self-contained HTML file: a\n"
       "timeline per second with errors, in-flight work, path and sleep bands, injected\n"
       "faults and violation marks; latency histogram and percentile curve; violations;\n"
       "accounting; configuration and the replay command) from a --json report or a finding\n"
       "file. A report from before the per-second series still renders, without the\n"
       "timeline. Exit 0 written, 2 unreadable or not a netrig report, or -o not writable.",
       &RunReport, &ReportFlagsHelp},
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
       &RunFuzz, &FuzzFlagsHelp},
      {"findings", "summarize a nightly run directory: summary.md, junit.xml, summary.html",
       "netrig findings DIR [--previous OLD1,OLD2]\n\n"
       "Reads what scripts/nightly wrote into DIR (steps.tsv, junit/*.xml from ctest, fuzz/\n"
       "session artifacts, stress/ finding files, reports and logs), deduplicates the\n"
       "findings by stack signature (or finding signature), and writes DIR/summary.md,\n"
       "DIR/junit.xml and DIR/summary.html (steps, findings with replay commands, fuzz corpus\n"
       "sizes and coverage, stress runs with their pages; with --previous, trends across\n"
       "those nights). Exit 0 clean, 1 any finding or failed step, 2 usage.",
       &RunFindings, &FindingsFlagsHelp},
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
               "       netrig help SUBCOMMAND     (or: netrig SUBCOMMAND --help)\n"
               "       netrig help violations     (what each violation kind means)\n\n"
               "subcommands:\n");
  for (const auto& command : Subcommands()) {
    std::fprintf(out, "  %-10s %s\n", std::string(command.name).c_str(),
                 std::string(command.summary).c_str());
  }
  std::fprintf(out,
               "\nexit status: 0 ok, 1 a finding, 2 bad input or usage, 3 inconclusive (most\n"
               "operations failed with no injected fault), 81 ASan, 82 UBSan, 83 LSan, 84 TSan,\n"
               "128+N interrupted by signal N (130: Ctrl-C).\n");
}

void PrintSubcommandHelp(const Subcommand& command, FILE* out) {
  std::fprintf(out, "usage: %s\n", std::string(command.usage).c_str());
  if (command.flags_help != nullptr) {
    std::fprintf(out, "\nflags (--name=VALUE or --name VALUE; a bool also --name / --noname):\n%s",
                 command.flags_help().c_str());
  }
}

}  // namespace
}  // namespace netrig::cli

int main(int argc, char** argv) {
  using namespace netrig::cli;
  netrig::InstallCrashContextSignalHandlers();
  // Replay commands name this binary: a user's own (examples/) knows flows `netrig` does not.
  netrig::SetProgramName(argc > 0 ? argv[0] : "");
  if (argc < 2 || absl::string_view(argv[1]) == "--help" || absl::string_view(argv[1]) == "-h" ||
      absl::string_view(argv[1]) == "help") {
    if (argc >= 3 && absl::string_view(argv[1]) == "help" &&
        absl::string_view(argv[2]) == "violations") {
      std::printf("Violation kinds (what a finding file's \"kind\" means):\n");
      for (const netrig::ViolationKindInfo& kind : netrig::ViolationCatalogue()) {
        std::printf("  %-30s %-6s %s\n", std::string(kind.name).c_str(),
                    std::string(kind.scope).c_str(), std::string(kind.meaning).c_str());
      }
      return netrig::kExitOk;
    }
    if (argc >= 3 && absl::string_view(argv[1]) == "help") {
      const Subcommand* command = Find(argv[2]);
      if (command == nullptr) {
        PrintError("help", absl::StrCat("unknown subcommand '", argv[2], "'"));
        PrintTopLevelHelp(stderr);
        return netrig::kExitUsage;
      }
      PrintSubcommandHelp(*command, stdout);
      return netrig::kExitOk;
    }
    PrintTopLevelHelp(argc < 2 ? stderr : stdout);
    return argc < 2 ? netrig::kExitUsage : netrig::kExitOk;
  }
  const Subcommand* command = Find(argv[1]);
  if (command == nullptr) {
    std::fprintf(stderr, "error: unknown subcommand '%s'\n\n",
                 netrig::option_internal::Shorten(argv[1]).c_str());
    PrintTopLevelHelp(stderr);
    return netrig::kExitUsage;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const std::string& arg : args) {
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      PrintSubcommandHelp(*command, stdout);
      return netrig::kExitOk;
    }
  }
  // A controlled run (--schedule other than off) re-executes itself once with ASLR off, so
  // that address-dependent orders repeat on replay (harness/sched/controlled.h).
  if (absl::string_view(argv[1]) == "udp" || absl::string_view(argv[1]) == "http") {
    for (size_t i = 0; i < args.size() && args[i] != "--"; ++i) {
      const std::string& arg = args[i];
      const bool controlled = (absl::StartsWith(arg, "--schedule=") && arg != "--schedule=off") ||
                              (arg == "--schedule" && i + 1 < args.size() && args[i + 1] != "off");
      if (controlled) {
        netrig::ReexecWithoutAddressRandomization(argv);
        break;
      }
    }
  }
  return command->run(args);
}
