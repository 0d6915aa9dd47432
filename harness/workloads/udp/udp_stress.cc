#include "harness/workloads/udp/udp_stress.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "harness/drive/fault_mix.h"
#include "harness/drive/seeds.h"
#include "harness/net/loopback.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"
#include "harness/workloads/udp/dns_query.h"
#include "harness/workloads/udp/stress_datagram.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig {

absl::string_view FamilyChoiceName(FamilyChoice family) {
  switch (family) {
    case FamilyChoice::kIPv4:
      return "ipv4";
    case FamilyChoice::kIPv6:
      return "ipv6";
    case FamilyChoice::kBoth:
      break;
  }
  return "both";
}

absl::StatusOr<FamilyChoice> ParseFamilyChoice(absl::string_view text) {
  if (text == "ipv4") return FamilyChoice::kIPv4;
  if (text == "ipv6") return FamilyChoice::kIPv6;
  if (text == "both") return FamilyChoice::kBoth;
  return absl::InvalidArgumentError(
      absl::StrCat("--family must be ipv4, ipv6 or both, not '", text, "'"));
}

absl::StatusOr<RelayFaults> ParseFaultSpec(absl::string_view spec) {
  static constexpr FaultMixItem kItems[] = {{"drop"},     {"duplicate"},
                                            {"reorder"},  {"delay"},
                                            {"truncate"}, {"max_delay", FaultMixItem::kDuration}};
  absl::StatusOr<FaultMix> mix = ParseFaultMix(spec, kItems);
  if (!mix.ok()) return mix.status();
  RelayFaults faults;
  if (mix->is_default) {
    faults.drop = 0.005;
    faults.duplicate = 0.005;
    faults.reorder = 0.01;
    faults.delay = 0.01;
    faults.truncate = 0.002;
    faults.max_delay = absl::Milliseconds(10);
    return faults;
  }
  faults.drop = mix->Probability("drop");
  faults.duplicate = mix->Probability("duplicate");
  faults.reorder = mix->Probability("reorder");
  faults.delay = mix->Probability("delay");
  faults.truncate = mix->Probability("truncate");
  if (std::optional<absl::Duration> max_delay = mix->DurationOf("max_delay")) {
    faults.max_delay = *max_delay;
  }
  return faults;
}

namespace {

// A comma list of endpoints; with `bare_addresses`, "10.0.0.1" and "fd00::1" too (port 0).
absl::StatusOr<std::vector<Endpoint>> ParseEndpointList(absl::string_view text,
                                                        bool bare_addresses) {
  std::vector<Endpoint> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    if (out.size() >= 16) return absl::InvalidArgumentError("at most 16 endpoints");
    absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(item);
    if (!endpoint.ok() && bare_addresses) {
      endpoint = Endpoint::Parse(absl::StrContains(item, ':') ? absl::StrCat("[", item, "]:0")
                                                              : absl::StrCat(item, ":0"));
    }
    if (!endpoint.ok()) return endpoint.status();
    out.push_back(*std::move(endpoint));
  }
  return out;
}

std::string JoinEndpoints(const std::vector<Endpoint>& endpoints) {
  std::vector<std::string> texts;
  for (const Endpoint& endpoint : endpoints) texts.push_back(endpoint.ToString());
  return absl::StrJoin(texts, ",");
}

OptionTable<UdpStressOptions> MakeUdpOptionTable() {
  using O = UdpStressOptions;
  OptionTable<O> table;
  table.String("flow", &O::flow, "The flow under test, by registered name (--list_flows).", "NAME")
      .Bool("list", &O::list_flows, "List the registered flows and exit.", OptionRole::kAction)
      .Alias("list_flows");
  AddStressOptions(table);
  table.Int("flows", &O::flows, 1, 64, "Flows open at once (each is closed and reopened).")
      .Int("batch", &O::batch, 1, 256, "Datagrams per Write() call.")
      .Duration("path_events", &O::path_events, absl::ZeroDuration(), absl::Hours(1),
                "Take the path down, and back up, every this long; 0 disables.")
      .Bool("sleep_wake", &O::sleep_wake,
            "Sleep and wake the flow's source (when it has one) while its flows open and close.")
      .Bool("reopen", &O::reopen, "Close and reopen flows mid-traffic.")
      .UInt32("mtu", &O::mtu, 0, 65535,
              "Path MTU model. 0: the real path (loopback, or the route MTU towards --peer). On\n"
              "loopback with --dont_fragment, the relay drops what would not fit this MTU, as a\n"
              "counted fault.")
      .Bool("dont_fragment", &O::dont_fragment, "Set IP_PMTUDISC_DO / IPV6_DONTFRAG on the flows.")
      .Enum("family", &O::family,
            {{"ipv4", FamilyChoice::kIPv4},
             {"ipv6", FamilyChoice::kIPv6},
             {"both", FamilyChoice::kBoth}},
            "Address families of the flows' destinations.")
      .UInt64("size", &O::size, 0, 65535,
              "Fixed payload size in bytes (at least the 32-byte datagram header); 0: sizes on\n"
              "every oracle limit (just under, at, just over) plus 50-200 byte datagrams.")
      .Double("bounce", &O::bounce, 0, 1,
              "Fraction of returned datagrams written back to the endpoint as read (or\n"
              "re-encoded).")
      .Custom(
          "peer", "ENDPOINTS",
          "Comma list of address endpoints of an external UDP echo peer (e.g. inside a test\n"
          "network namespace) instead of the in-process loopback echo; no relay then. Loopback\n"
          "only unless --allow_remote.",
          [](absl::string_view text, O& options) -> absl::Status {
            absl::StatusOr<std::vector<Endpoint>> peers = ParseEndpointList(text, false);
            if (!peers.ok()) return peers.status();
            options.peers = *std::move(peers);
            return absl::OkStatus();
          },
          [](const O& options) { return JoinEndpoints(options.peers); })
      .RecordedWhen([](const O& options) { return !options.peers.empty(); })
      .Custom(
          "bind", "ADDRESSES",
          "Comma list of local addresses for the flow's sockets (with --peer). Loopback only\n"
          "unless --allow_remote.",
          [](absl::string_view text, O& options) -> absl::Status {
            absl::StatusOr<std::vector<Endpoint>> bind = ParseEndpointList(text, true);
            if (!bind.ok()) return bind.status();
            options.bind = *std::move(bind);
            return absl::OkStatus();
          },
          [](const O& options) { return JoinEndpoints(options.bind); })
      .RecordedWhen([](const O& options) { return !options.bind.empty(); })
      .Enum("peer_protocol", &O::peer_protocol,
            {{"echo", PeerProtocol::kEcho}, {"dns", PeerProtocol::kDns}},
            "What the peers speak. echo: every datagram comes back unchanged. dns: every\n"
            "datagram is a DNS query for a name under --dns_zone, every answer is matched to its\n"
            "query by DNS id and question (a DNS server such as dnsmasq as --peer, or a\n"
            "forwarding flow's --dns_upstream; without either, the in-process peer answers).")
      .RecordedWhen([](const O& options) { return options.peer_protocol != PeerProtocol::kEcho; })
      .String("dns_zone", &O::dns_zone,
              "With --peer_protocol=dns: the zone the queries ask under (the peers must answer\n"
              "for it, e.g. dnsmasq --address=/example.test/127.0.0.1).",
              "NAME")
      .RecordedWhen([](const O& options) { return options.peer_protocol == PeerProtocol::kDns; })
      .UInt64(
          "dns_max_query", &O::dns_max_query, 0, 65535,
          "With --peer_protocol=dns: the largest query in bytes (what the peers accept;\n"
          "dnsmasq 2.90 answers up to 1232 over UDP, 65535 over TCP). Queries run from the\n"
          "smallest one (111 bytes for example.test) up to this, on every oracle limit between.")
      .RecordedWhen([](const O& options) { return options.peer_protocol == PeerProtocol::kDns; })
      .Custom(
          "dns_upstream", "ENDPOINT",
          "The DNS-over-TCP upstream of a forwarding flow (dns-proxy) instead of the in-process\n"
          "one, e.g. a dnsmasq. Needs --peer_protocol=dns. Loopback only unless --allow_remote.",
          [](absl::string_view text, O& options) -> absl::Status {
            absl::StatusOr<Endpoint> upstream = Endpoint::Parse(text);
            if (!upstream.ok()) return upstream.status();
            options.dns_upstream = *std::move(upstream);
            return absl::OkStatus();
          },
          [](const O& options) {
            return options.dns_upstream ? options.dns_upstream->ToString() : std::string();
          })
      .RecordedWhen([](const O& options) { return options.dns_upstream.has_value(); })
      .Bool("allow_remote", &O::allow_remote,
            "Allow --peer, --bind and --dns_upstream addresses that are not loopback (a test "
            "namespace's, or a\n"
            "host you own). Never taken from a finding file.",
            OptionRole::kAuthority)
      .String("scope_interface", &O::scope_interface,
              "Interface for the scoped IPv6 endpoint encodings (default: lo on loopback).", "NAME")
      .RecordedWhen([](const O& options) { return !options.scope_interface.empty(); })
      .Duration("drain", &O::drain, absl::Milliseconds(10), absl::Minutes(10),
                "A retired flow's datagrams still out count as lost once none has come back for\n"
                "this long (quiet time, so a slow machine delays answers without losing them; at\n"
                "most five times this after the flow is retired).")
      .Duration("wake_deadline", &O::wake_deadline, absl::Milliseconds(10), absl::Minutes(10),
                "A peer that arrives while the flow source is awake must reach the handler\n"
                "within this.")
      .Duration("waiting_deadline", &O::waiting_deadline, absl::Milliseconds(10), absl::Minutes(10),
                "A flow must leave \"waiting\" within this after the path "
                "comes back.");
  return table;
}

}  // namespace

const OptionTable<UdpStressOptions>& UdpOptionTable() {
  return OptionTable<UdpStressOptions>::Once(&MakeUdpOptionTable);
}

absl::Status ValidateUdpStressOptions(const UdpStressOptions& options) {
  if (FindFlow(options.flow) == nullptr) {
    std::vector<std::string> names;
    for (const FlowRegistration* r : RegisteredFlows()) names.push_back(r->name);
    return absl::NotFoundError(absl::StrCat("no flow named '",
                                            option_internal::Shorten(options.flow),
                                            "'; known flows: ", absl::StrJoin(names, ", ")));
  }
  if (absl::StatusOr<RelayFaults> faults = ParseFaultSpec(options.faults); !faults.ok()) {
    return faults.status();
  }
  if (options.size != 0 &&
      (options.size < internal::udp_stress::kHeaderBytes || options.size > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--size must be 0 (the limit-seeking mix) or between ",
                     internal::udp_stress::kHeaderBytes, " and 65535"));
  }
  if (options.mtu != 0 && options.mtu < kIPv4MinMtu) {
    return absl::InvalidArgumentError(absl::StrCat("--mtu must be 0 or at least ", kIPv4MinMtu));
  }
  if (options.threads < 1 || options.threads > 64 || options.flows < 1 || options.flows > 64 ||
      options.batch < 1 || options.batch > 256) {
    return absl::InvalidArgumentError(
        "--threads (1-64), --flows (1-64) and --batch (1-256) are out of range");
  }
  if (options.duration <= absl::ZeroDuration() || options.rate < 0 || options.bounce < 0 ||
      options.bounce > 1 || options.drain <= absl::ZeroDuration() ||
      options.wake_deadline <= absl::ZeroDuration() ||
      options.waiting_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--duration, --drain, --wake_deadline and --waiting_deadline must be positive, --rate "
        "not negative, --bounce in [0, 1]");
  }
  if (options.peer_protocol == PeerProtocol::kDns) {
    if (absl::Status zone = internal::udp_stress::ValidateDnsZone(options.dns_zone); !zone.ok()) {
      return zone;
    }
    const uint64_t smallest = internal::udp_stress::DnsQueryMinSize(options.dns_zone);
    if (options.dns_max_query < smallest) {
      return absl::InvalidArgumentError(absl::StrCat("--dns_max_query=", options.dns_max_query,
                                                     " is below the smallest query for --dns_zone=",
                                                     options.dns_zone, " (", smallest, " bytes)"));
    }
    if (options.size != 0 && (options.size < smallest || options.size > options.dns_max_query)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--size=", options.size,
                       " with --peer_protocol=dns must be 0 or a "
                       "query size between ",
                       smallest, " and --dns_max_query=", options.dns_max_query));
    }
  }
  if (options.dns_upstream) {
    if (options.peer_protocol != PeerProtocol::kDns) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dns_upstream ", options.dns_upstream->ToString(),
                       " needs --peer_protocol=dns: a real DNS server answers DNS queries only"));
    }
    if (options.dns_upstream->kind() != EndpointKind::kAddress ||
        options.dns_upstream->port() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--dns_upstream ", options.dns_upstream->ToString(),
                       " must be a numeric address endpoint with a port (127.0.0.1:5353)"));
    }
  }
  if (!options.allow_remote) {
    std::vector<std::pair<const char*, const Endpoint*>> targets;
    for (const Endpoint& endpoint : options.peers) targets.emplace_back("--peer ", &endpoint);
    for (const Endpoint& endpoint : options.bind) targets.emplace_back("--bind ", &endpoint);
    if (options.dns_upstream) targets.emplace_back("--dns_upstream ", &*options.dns_upstream);
    for (const auto& [flag, endpoint] : targets) {
      if (!IsLoopbackEndpoint(*endpoint)) {
        return absl::PermissionDeniedError(
            absl::StrCat(flag, endpoint->ToString(),
                         " is not a loopback address; netrig sends only to this machine unless "
                         "--allow_remote is given on the command line (a test namespace, or a "
                         "host you own)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<StressResult> RunUdpStress(UdpStressOptions options) {
  if (absl::Status valid = ValidateUdpStressOptions(options); !valid.ok()) return valid;
  ResolveSeeds(options);
  internal::udp_stress::UdpStress workload(options);
  return RunStress(options, "udp", UdpOptionTable().Render(options), workload);
}

namespace internal::udp_stress {

void UdpStress::ReportViolation(absl::string_view kind, std::string message) {
  {
    // Past 200 of a kind the message adds nothing; the count still goes up.
    MutexLock lock(&reported_mu_);
    if (++reported_by_kind_[std::string(kind)] > 200) message = "(same as above)";
  }
  violations_->Report(kind, std::move(message));
}

// ---- Status, run, teardown, report -------------------------------------------------------------

std::string UdpStress::StatusFragment() {
  const uint64_t waiting = path_ != nullptr ? path_->CountWaiting() : 0;
  std::string fragment = absl::StrFormat(
      "sent %s deliv %s rej %s fault %s in-flight %sB | reopen %d path %s waiting %d",
      HumanCount(static_cast<double>(Get(counters_.accepted) + Get(counters_.queued))),
      HumanCount(static_cast<double>(Get(counters_.delivered))),
      HumanCount(static_cast<double>(Get(counters_.rejected))),
      HumanCount(
          static_cast<double>(Get(counters_.fault_dropped) + Get(counters_.fault_truncated))),
      HumanCount(static_cast<double>(std::max<int64_t>(0, ledger_.budget().in_flight()))),
      Get(counters_.reopens), path_ != nullptr && path_->down() ? "down" : "up", waiting);
  if (source_ != nullptr) {
    absl::StrAppendFormat(&fragment, " | src %d/%d %s", Get(counters_.peers_delivered),
                          Get(counters_.peers_opened), source_->asleep() ? "asleep" : "awake");
  }
  return fragment;
}

void UdpStress::SampleSeries(SeriesSample& sample) {
  sample.started = Get(counters_.accepted) + Get(counters_.queued);
  sample.succeeded = Get(counters_.delivered);
  sample.errors = {
      {"rejected_limit", Get(counters_.rejected_family_maximum) + Get(counters_.rejected_path_mtu) +
                             Get(counters_.rejected_buffer)},
      {"rejected_waiting", Get(counters_.rejected_waiting)},
      {"rejected_closing", Get(counters_.rejected_closing)},
      {"wrongly_rejected", Get(counters_.wrongly_rejected)},
      {"silent_loss", Get(counters_.lost)},
      {"read_errors", Get(counters_.read_errors)},
  };
  uint64_t duplicated = 0, delayed = 0, reordered = 0;
  for (const auto& relay : relays_) {
    for (RelayDirection direction : {RelayDirection::kToPeer, RelayDirection::kToClient}) {
      const RelayCounters c = relay->counters(direction);
      duplicated += c.duplicates;
      delayed += c.delayed;
      reordered += c.reordered;
    }
  }
  sample.faults = {{"drop", Get(counters_.fault_dropped)},
                   {"truncate", Get(counters_.fault_truncated)},
                   {"duplicate", duplicated},
                   {"delay", delayed},
                   {"reorder", reordered}};
  sample.in_flight = std::max<int64_t>(0, ledger_.budget().in_flight());
}

void UdpStress::SampleBands(std::vector<std::pair<std::string, bool>>& states) {
  if (path_ != nullptr) states.emplace_back(kBandPathDown, path_->down());
  if (source_ != nullptr) states.emplace_back(kBandSourceAsleep, source_->asleep());
}

std::string UdpStress::Describe() const {
  const bool dns = options_.peer_protocol == PeerProtocol::kDns;
  // A forwarding flow sends to its upstream, not to the peers.
  const std::string peer =
      options_.dns_upstream
          ? absl::StrCat("DNS-over-TCP upstream ", options_.dns_upstream->ToString())
          : absl::StrCat(options_.peers.empty()
                             ? (dns ? "loopback DNS responder" : "loopback echo peer")
                             : (dns ? "external DNS peer" : "external peer"),
                         use_relay_ ? " through the fault relay" : "");
  return absl::StrCat("flow ", options_.flow, ", ", peer,
                      dns ? absl::StrCat(", DNS queries under ", options_.dns_zone, " of at most ",
                                         options_.dns_max_query, " bytes")
                          : "");
}

absl::Status UdpStress::Setup(const StressContext& context) {
  violations_ = context.violations;
  seed_ = context.seed;
  bounce_seed_ = DeriveSeed(seed_, "bounce");
  path_appears_ = context.path_appears;
  return SetupWorkload();
}

void UdpStress::AdjustDrive(DriveOptions& drive) {
  // Each operation writes a batch of datagrams: --rate counts datagrams.
  drive.rate = options_.rate > 0 ? options_.rate / op_batch_ : 0;
  traffic_end_ = netrig::Now() + drive.duration;
  chaos_ = Thread("udp.chaos", [this] { ChaosLoop(); });
  if (source_ != nullptr) source_->StartThread();
}

void UdpStress::Finish(const DriveResult& /*drive*/, bool interrupted) { Teardown(interrupted); }

OperationTally UdpStress::Tally() const {
  OperationTally tally;
  tally.unit = "datagrams";
  tally.ended = Get(counters_.accepted) + Get(counters_.queued);
  const uint64_t accounted = Get(counters_.delivered) + Get(counters_.delivered_truncated) +
                             Get(counters_.fault_dropped) + Get(counters_.fault_truncated) +
                             Get(counters_.abandoned);
  tally.failed = tally.ended > accounted ? tally.ended - accounted : 0;
  tally.faults_injected = Get(counters_.fault_dropped) + Get(counters_.fault_truncated);
  if (tally.failed > 0) tally.failures = absl::StrCat("unaccounted ", tally.failed);
  tally.peer_is_embedded = options_.peers.empty();
  return tally;
}

void UdpStress::AddReport(const DriveResult& drive, nlohmann::json& report,
                          std::vector<std::pair<std::string, std::string>>& summary) {
  const double seconds = std::max(1e-9, absl::ToDoubleSeconds(drive.elapsed));
  const uint64_t sent = Get(counters_.accepted) + Get(counters_.queued);
  const HarnessLosses harness = HarnessLossesNow();
  nlohmann::json seeds = nlohmann::json::object();
  for (const char* name : {"sizes", "bounce", "chaos", "source", "faults", "perturb"}) {
    seeds[name] = DeriveSeed(seed_, name);
  }
  nlohmann::json relay = nlohmann::json::array();
  for (const auto& r : relays_) {
    for (RelayDirection direction : {RelayDirection::kToPeer, RelayDirection::kToClient}) {
      const RelayCounters c = r->counters(direction);
      relay.push_back({{"relay", r->endpoint().ToString()},
                       {"direction", std::string(RelayDirectionName(direction))},
                       {"received", c.received},
                       {"delivered", c.delivered},
                       {"dropped_by_fault", c.dropped_by_fault},
                       {"dropped_random", c.dropped_random},
                       {"dropped_mtu", c.dropped_mtu},
                       {"dropped_path_down", c.dropped_path_down},
                       {"send_errors", c.send_errors},
                       {"duplicates", c.duplicates},
                       {"truncated", c.truncated},
                       {"dropped_by_kernel", c.dropped_by_kernel}});
    }
  }
  report.update({
      {"flow", options_.flow},
      {"peer_protocol", options_.peer_protocol == PeerProtocol::kDns ? "dns" : "echo"},
      {"dns_upstream", options_.dns_upstream ? nlohmann::json(options_.dns_upstream->ToString())
                                             : nlohmann::json(nullptr)},
      {"seeds", seeds},
      {"faults", options_.faults},
      {"total_s", absl::ToDoubleSeconds(netrig::Now() - start_)},
      {"datagrams_written", Get(counters_.written)},
      {"datagrams_sent", sent},
      {"datagrams_queued", Get(counters_.queued)},
      {"bytes_sent", Get(counters_.bytes_sent)},
      {"datagrams_delivered", Get(counters_.delivered)},
      {"datagrams_delivered_truncated", Get(counters_.delivered_truncated)},
      {"duplicates_delivered", Get(counters_.duplicates)},
      {"datagrams_dropped_by_fault", Get(counters_.fault_dropped) + Get(counters_.fault_truncated)},
      {"datagrams_truncated_by_fault", Get(counters_.fault_truncated)},
      {"datagrams_rejected", Get(counters_.rejected)},
      {"rejected_true_limit",
       {{"family_maximum", Get(counters_.rejected_family_maximum)},
        {"path_mtu_dont_fragment", Get(counters_.rejected_path_mtu)},
        {"buffer", Get(counters_.rejected_buffer)}}},
      {"rejected_while_waiting", Get(counters_.rejected_waiting)},
      {"rejected_while_closing", Get(counters_.rejected_closing)},
      {"wrongly_rejected", Get(counters_.wrongly_rejected)},
      {"wrong_limit", Get(counters_.wrong_limit)},
      {"unnamed_limit", Get(counters_.unnamed_limit)},
      {"silent_loss", Get(counters_.lost)},
      {"harness_losses",
       {{"relay_kernel_drops", harness.relay_kernel_drops},
        {"echo_kernel_drops", harness.echo_kernel_drops},
        {"echo_send_errors", harness.echo_send_errors},
        {"external_peer_drops", !harness.external_peers ? nlohmann::json(nullptr)
                                : harness.external_peer_drops.has_value()
                                    ? nlohmann::json(*harness.external_peer_drops)
                                    : nlohmann::json("unknown")}}},
      {"silent_loss_not_blamed", Get(counters_.lost_not_blamed)},
      {"abandoned_at_close", Get(counters_.abandoned)},
      {"strays", Get(counters_.strays)},
      {"bounces", Get(counters_.bounces)},
      {"budget_stalls", Get(counters_.budget_stalls)},
      {"datagrams_per_sec", static_cast<double>(sent) / seconds},
      {"round_trips_per_sec", static_cast<double>(Get(counters_.delivered)) / seconds},
      {"latency_us", latency_.ToJson()},
      {"flows_opened", Get(counters_.flows_opened)},
      {"reopens", Get(counters_.reopens)},
      {"path_events", Get(counters_.path_events)},
      {"path", sizes_ != nullptr ? sizes_->PathsToString() : ""},
      {"relay_used", use_relay_},
      {"relay", relay},
      {"echo", echo_ == nullptr ? nlohmann::json(nullptr)
                                : nlohmann::json{{"received", echo_->received()},
                                                 {"echoed", echo_->echoed()},
                                                 {"errors", echo_->echo_errors()}}},
      {"source",
       {{"peers_opened", Get(counters_.peers_opened)},
        {"peers_handed_out", Get(counters_.peers_delivered)},
        {"sleeps", Get(counters_.source_sleeps)},
        {"wakes", Get(counters_.source_wakes)},
        {"echoes", Get(counters_.source_echoes)}}},
  });
  summary = {
      {"datagrams sent",
       absl::StrFormat("%d (%s/s, %s)", sent, HumanCount(static_cast<double>(sent) / seconds),
                       HumanCount(static_cast<double>(Get(counters_.bytes_sent))) + "B")},
      {"delivered back",
       absl::StrFormat("%d (+%d truncated, %d duplicates)", Get(counters_.delivered),
                       Get(counters_.delivered_truncated), Get(counters_.duplicates))},
      {"dropped by fault", absl::StrFormat("%d (+%d truncated)", Get(counters_.fault_dropped),
                                           Get(counters_.fault_truncated))},
      {"rejected",
       absl::StrFormat("%d: true limit %d (family max %d, path MTU %d), while waiting "
                       "%d, while closing %d",
                       Get(counters_.rejected),
                       Get(counters_.rejected_family_maximum) + Get(counters_.rejected_path_mtu) +
                           Get(counters_.rejected_buffer),
                       Get(counters_.rejected_family_maximum), Get(counters_.rejected_path_mtu),
                       Get(counters_.rejected_waiting), Get(counters_.rejected_closing))},
      {"wrongly rejected", absl::StrCat(Get(counters_.wrongly_rejected))},
      {"silent loss", Get(counters_.lost_not_blamed) == 0
                          ? absl::StrCat(Get(counters_.lost))
                          : absl::StrFormat("%d, of which %d not blamed on the flow: %s",
                                            Get(counters_.lost), Get(counters_.lost_not_blamed),
                                            harness.external_peer_drops.has_value()
                                                ? "the peers' own sockets dropped at least as many"
                                                : "the peers' drops cannot be read here")},
      {"harness losses",
       absl::StrFormat("%d (kernel drops: %s)", harness.total(), harness.Describe())},
      {"flows",
       absl::StrFormat("%d opened, %d reopened, %d path events", Get(counters_.flows_opened),
                       Get(counters_.reopens), Get(counters_.path_events))},
      {"round trip", absl::StrFormat("p50 %d us, p99 %d us, max %d us", latency_.Percentile(50),
                                     latency_.Percentile(99), latency_.max_us())},
  };
  if (registration_ != nullptr && registration_->source && options_.sleep_wake) {
    summary.push_back({"flow source",
                       absl::StrFormat("%d peers, %d handed out, %d sleeps, %d wakes",
                                       Get(counters_.peers_opened), Get(counters_.peers_delivered),
                                       Get(counters_.source_sleeps), Get(counters_.source_wakes))});
  } else if (options_.sleep_wake) {
    summary.push_back({"flow source", "none registered for this flow: sleep/wake skipped"});
  }
}

void UdpStress::Teardown(bool /*interrupted*/) {
  if (torn_down_) return;
  torn_down_ = true;
  stopping_.store(true, std::memory_order_release);
  if (source_ != nullptr) source_->RequestStop();
  if (chaos_.joinable()) chaos_.join();  // brings the path back up on its way out
  // A flow must leave "waiting" within the deadline of the last path-back event.
  for (const absl::Time until = netrig::Now() + options_.waiting_deadline + absl::Milliseconds(50);
       path_ != nullptr && netrig::Now() < until && !DrainCutRequested();
       netrig::SleepFor(absl::Milliseconds(5))) {
    path_->CheckWaiting(netrig::Now());
    if (!path_->WaitingChecksPending()) break;
  }
  if (source_ != nullptr) source_->Stop();
  // Retire every current flow gracefully; what does not come back within the drain is lost.
  for (auto& slot : slots_) {
    Instance* instance;
    {
      MutexLock lock(&slot->mu);
      instance = slot->current;
      slot->current = nullptr;
    }
    if (instance != nullptr) Retire(instance, /*graceful=*/true);
  }
  while (true) {
    if (DrainCutRequested()) {
      // Asked twice to stop: what is still out was never given its drain, so it is abandoned,
      // not lost.
      for (Instance* instance : retiring_) instance->graceful = false;
      break;
    }
    const absl::Time now = netrig::Now();
    bool drained = true;
    for (Instance* instance : retiring_) {
      if (!DrainOver(instance, now)) drained = false;
    }
    if (drained) break;
    netrig::SleepFor(absl::Milliseconds(2));
  }
  if (path_ != nullptr && !DrainCutRequested()) path_->CheckWaiting(netrig::Now());
  for (Instance* instance : retiring_) CloseAndFinalize(instance);
  retiring_.clear();
  for (auto& relay : relays_) relay->Stop();
  if (echo_ != nullptr) echo_->Stop();
  if (upstream_ != nullptr) upstream_->Stop();
  source_.reset();
}

UdpStress::HarnessLosses UdpStress::HarnessLossesNow() const {
  HarnessLosses losses;
  for (const auto& relay : relays_) {
    for (RelayDirection direction : {RelayDirection::kToPeer, RelayDirection::kToClient}) {
      losses.relay_kernel_drops += relay->counters(direction).dropped_by_kernel;
    }
  }
  if (echo_ != nullptr) {
    losses.echo_kernel_drops = echo_->kernel_drops();
    losses.echo_send_errors = echo_->echo_errors();
  }
  if (!options_.peers.empty()) {
    losses.external_peers = true;
    uint64_t drops = 0;
    bool known = !external_peer_drops_at_start_.empty();
    size_t i = 0;
    for (const Endpoint& peer : options_.peers) {
      const AddressFamily family = IsMapped(peer) ? AddressFamily::kIPv4 : peer.family();
      if ((family == AddressFamily::kIPv4 && options_.family == FamilyChoice::kIPv6) ||
          (family == AddressFamily::kIPv6 && options_.family == FamilyChoice::kIPv4)) {
        continue;  // Not driven (SetupPeers skipped it too).
      }
      const std::optional<uint64_t> start = i < external_peer_drops_at_start_.size()
                                                ? external_peer_drops_at_start_[i]
                                                : std::nullopt;
      ++i;
      const std::optional<uint64_t> now = start.has_value() ? PeerSocketDrops(peer) : std::nullopt;
      if (!now.has_value()) {
        known = false;
        continue;
      }
      drops += *now >= *start ? *now - *start : 0;
    }
    if (known) losses.external_peer_drops = drops;
  }
  return losses;
}

std::string UdpStress::HarnessLosses::Describe() const {
  if (external_peers) {
    return absl::StrFormat(
        "relay %d, peer %s", relay_kernel_drops,
        external_peer_drops.has_value()
            ? absl::StrCat(*external_peer_drops)
            : std::string("unknown (its socket is not visible here: another host or network "
                          "namespace)"));
  }
  return absl::StrFormat("relay %d, echo peer %d; echo send errors %d", relay_kernel_drops,
                         echo_kernel_drops, echo_send_errors);
}

}  // namespace internal::udp_stress

}  // namespace netrig
