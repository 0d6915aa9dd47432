// `netrig udp`: the UDP stress driver. Parses flags into UdpStressOptions and runs the workload
// (harness/udp/udp_stress.h); prints the seed first, a status line each second, a summary at the
// end, and on a violation writes a finding file that `netrig replay FILE` reruns.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness/drive/driver.h"
#include "harness/drive/report.h"
#include "harness/drive/seeds.h"
#include "harness/findings/finding_file.h"
#include "harness/udp/flow.h"
#include "harness/udp/udp_stress.h"
#include "stress/command.h"
#include "stress/shared_flags.h"

ABSL_FLAG(std::string, flow, "socket", "The flow under test, by registered name (--list_flows).");
ABSL_FLAG(bool, list_flows, false, "List the registered flows and exit.");
ABSL_FLAG(int, flows, 4, "Flows open at once (each is closed and reopened mid-traffic).");
ABSL_FLAG(int, batch, 16, "Datagrams per Write() call.");
ABSL_FLAG(absl::Duration, path_events, absl::Milliseconds(500),
          "Take the path down, and back up, every this long; 0 disables.");
ABSL_FLAG(bool, sleep_wake, true,
          "Sleep and wake the flow's source (when it has one) while its flows open and close.");
ABSL_FLAG(bool, reopen, true, "Close and reopen flows mid-traffic.");
ABSL_FLAG(int, mtu, 0,
          "Path MTU model. 0: the real path (loopback, or 1500 with --peer). On loopback with\n"
          "--dont_fragment, the relay drops what would not fit this MTU, as a counted fault.");
ABSL_FLAG(bool, dont_fragment, true, "Set IP_PMTUDISC_DO / IPV6_DONTFRAG on the flows.");
ABSL_FLAG(std::string, family, "both", "ipv4, ipv6 or both.");
ABSL_FLAG(uint64_t, size, 0,
          "Fixed payload size in bytes; 0: sizes on every oracle limit (just under, at, just\n"
          "over) plus 50-200 byte datagrams.");
ABSL_FLAG(double, bounce, 0.1,
          "Fraction of returned datagrams written back to the endpoint as read (or re-encoded).");
ABSL_FLAG(std::string, peer, "",
          "Comma list of address endpoints of an external UDP echo peer (e.g. inside a test\n"
          "network namespace) instead of the in-process loopback echo; no relay then.");
ABSL_FLAG(std::string, bind, "",
          "Comma list of local addresses for the flow's sockets (with --peer).");
ABSL_FLAG(std::string, scope_interface, "",
          "Interface for the scoped IPv6 endpoint encodings (default: lo on loopback).");
ABSL_FLAG(absl::Duration, drain, absl::Seconds(2),
          "A retired flow's datagrams still out count as lost once none has come back for this "
          "long (quiet time, so a slow machine delays answers without losing them; at most five "
          "times this after the flow is retired).");
ABSL_FLAG(absl::Duration, wake_deadline, absl::Seconds(2),
          "A peer that arrives while the flow source is awake must reach the handler within this.");
ABSL_FLAG(absl::Duration, waiting_deadline, absl::Seconds(1),
          "A flow must leave \"waiting\" within this after the path comes back.");
ABSL_FLAG(bool, stop_on_violation, true, "Stop traffic at the first violation.");

namespace netrig::cli {
namespace {

absl::StatusOr<std::vector<Endpoint>> ParseEndpointList(absl::string_view flag,
                                                        absl::string_view text, bool address_only) {
  std::vector<Endpoint> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(item);
    if (!endpoint.ok() && address_only) {
      // --bind takes bare addresses too.
      endpoint = Endpoint::Parse(absl::StrContains(item, ':') ? absl::StrCat("[", item, "]:0")
                                                              : absl::StrCat(item, ":0"));
    }
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": ", endpoint.status().message()));
    }
    out.push_back(*std::move(endpoint));
  }
  return out;
}

absl::StatusOr<UdpStressOptions> OptionsFromFlags() {
  UdpStressOptions options;
  options.flow = absl::GetFlag(FLAGS_flow);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.flows = absl::GetFlag(FLAGS_flows);
  options.rate = absl::GetFlag(FLAGS_rate);
  options.batch = absl::GetFlag(FLAGS_batch);
  const std::string seed = absl::GetFlag(FLAGS_seed);
  if (seed.empty()) {
    options.seed = FreshSeed();
  } else if (!absl::SimpleAtoi(seed, &options.seed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--seed must be a decimal 64-bit number, not '", seed, "'"));
  }
  options.perturb = absl::GetFlag(FLAGS_perturb);
  options.faults = absl::GetFlag(FLAGS_faults);
  if (absl::StatusOr<RelayFaults> faults = ParseFaultSpec(options.faults); !faults.ok()) {
    return faults.status();
  }
  options.path_events = absl::GetFlag(FLAGS_path_events);
  options.sleep_wake = absl::GetFlag(FLAGS_sleep_wake);
  options.reopen = absl::GetFlag(FLAGS_reopen);
  if (absl::GetFlag(FLAGS_mtu) < 0) return absl::InvalidArgumentError("--mtu must not be negative");
  options.mtu = static_cast<uint32_t>(absl::GetFlag(FLAGS_mtu));
  options.dont_fragment = absl::GetFlag(FLAGS_dont_fragment);
  absl::StatusOr<FamilyChoice> family = ParseFamilyChoice(absl::GetFlag(FLAGS_family));
  if (!family.ok()) return family.status();
  options.family = *family;
  options.size = absl::GetFlag(FLAGS_size);
  options.bounce = absl::GetFlag(FLAGS_bounce);
  absl::StatusOr<std::vector<Endpoint>> peers =
      ParseEndpointList("peer", absl::GetFlag(FLAGS_peer), /*address_only=*/false);
  if (!peers.ok()) return peers.status();
  options.peers = *std::move(peers);
  absl::StatusOr<std::vector<Endpoint>> bind =
      ParseEndpointList("bind", absl::GetFlag(FLAGS_bind), /*address_only=*/true);
  if (!bind.ok()) return bind.status();
  options.bind = *std::move(bind);
  options.scope_interface = absl::GetFlag(FLAGS_scope_interface);
  options.drain = absl::GetFlag(FLAGS_drain);
  options.wake_deadline = absl::GetFlag(FLAGS_wake_deadline);
  options.waiting_deadline = absl::GetFlag(FLAGS_waiting_deadline);
  options.stop_on_violation = absl::GetFlag(FLAGS_stop_on_violation);
  return options;
}

extern "C" void StopOnSignal(int) { RequestStop(); }

void WriteFinding(const UdpStressOptions& options, const UdpStressResult& result,
                  const ViolationLog& violations) {
  const std::string dir = absl::GetFlag(FLAGS_finding_dir);
  if (dir.empty()) return;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  Finding finding;
  finding.command = "udp";
  finding.args = UdpStressArgs(options);
  finding.seed = options.seed;
  if (options.perturb) finding.perturb_seed = DeriveSeed(options.seed, "perturb");
  finding.violations = violations.ToJson();
  finding.report = result.report;
  const std::string path = absl::StrCat(dir, "/udp-", options.flow, "-", options.seed, "-",
                                        absl::ToUnixSeconds(absl::Now()), ".json");
  if (absl::Status written = WriteFindingFile(path, finding); !written.ok()) {
    std::fprintf(stderr, "warning: finding file not written: %s\n",
                 std::string(written.message()).c_str());
    return;
  }
  std::printf("  finding written: %s (rerun: netrig replay %s)\n", path.c_str(), path.c_str());
}

}  // namespace

int RunUdp(const std::vector<absl::string_view>& args) {
  if (!NoPositionalArgs("udp", args)) return kExitUsage;
  if (absl::GetFlag(FLAGS_list_flows)) {
    for (const FlowRegistration* flow : RegisteredFlows()) {
      std::printf("%-28s %s%s\n", flow->name.c_str(), flow->description.c_str(),
                  flow->source ? " [has a flow source]" : "");
    }
    return kExitOk;
  }
  absl::StatusOr<UdpStressOptions> options = OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(options.status().message()).c_str());
    return kExitUsage;
  }
  std::printf("netrig udp: flow %s, seed %llu, perturbation %s\n", options->flow.c_str(),
              static_cast<unsigned long long>(options->seed),
              options->perturb ? absl::StrCat("seed ", DeriveSeed(options->seed, "perturb")).c_str()
                               : "off");
  std::fflush(stdout);
  ViolationLog violations(UdpStressRecipe(*options));
  std::signal(SIGINT, StopOnSignal);
  std::signal(SIGTERM, StopOnSignal);
  absl::StatusOr<UdpStressResult> result = RunUdpStress(*options, &violations);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!result.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(result.status().message()).c_str());
    return kExitUsage;
  }
  PrintSummary(stdout, "netrig udp", result->summary, violations);
  if (const std::string json = absl::GetFlag(FLAGS_json_file); !json.empty()) {
    if (absl::Status written = WriteJsonReport(json, result->report); !written.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(written.message()).c_str());
      return kExitUsage;
    }
  }
  if (result->exit_code() != 0) WriteFinding(*options, *result, violations);
  std::fflush(stdout);
  return result->exit_code();
}

}  // namespace netrig::cli
