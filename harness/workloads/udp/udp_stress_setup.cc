#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "harness/check/live_objects.h"
#include "harness/drive/seeds.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"
#include "harness/workloads/udp/stress_datagram.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

// ---- Setup -------------------------------------------------------------------------------------

absl::Status UdpStress::SetupPeers() {
  const bool want4 = options_.family != FamilyChoice::kIPv6;
  const bool want6 = options_.family != FamilyChoice::kIPv4;
  std::vector<Endpoint> peers;
  if (options_.peers.empty()) {
    absl::StatusOr<std::unique_ptr<EchoServer>> echo =
        EchoServer::Start({.threads = 2, .batch = 32, .dns_responder = dns_});
    if (!echo.ok()) return echo.status();
    echo_ = std::move(*echo);
    if (want4) peers.push_back(echo_->ipv4_endpoint());
    if (want6 && echo_->ipv6_endpoint()) peers.push_back(*echo_->ipv6_endpoint());
    if (peers.empty())
      return absl::FailedPreconditionError("this host has no ::1 for --family=ipv6");
  } else {
    for (const Endpoint& peer : options_.peers) {
      if (peer.kind() != EndpointKind::kAddress) {
        return absl::InvalidArgumentError(
            absl::StrCat("--peer ", peer.ToString(), " must be a numeric address endpoint"));
      }
      const AddressFamily family = IsMapped(peer) ? AddressFamily::kIPv4 : peer.family();
      if ((family == AddressFamily::kIPv4 && want4) || (family == AddressFamily::kIPv6 && want6)) {
        peers.push_back(peer);
        // Its socket's drop count now, where this namespace can see it (loopback peers).
        external_peer_drops_at_start_.push_back(PeerSocketDrops(peer));
      }
    }
    if (peers.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("no --peer of the family --family=", FamilyChoiceName(options_.family)));
    }
  }
  const bool model_mtu = options_.peers.empty() && options_.mtu > 0 && options_.dont_fragment;
  use_relay_ = options_.peers.empty() &&
               (faults_.any() || options_.path_events > absl::ZeroDuration() || model_mtu);
  for (const Endpoint& peer : peers) {
    const AddressFamily family = peer.family();
    if (!use_relay_) {
      targets_.push_back(peer);
      target_families_.push_back(family);
      continue;
    }
    RelayOptions relay;
    relay.peer = peer;
    relay.faults = faults_;
    relay.seed = DeriveSeed(DeriveSeed(seed_, "faults"), AddressFamilyName(family));
    relay.max_clients = static_cast<int>(kMaxInstances) + 64;
    if (model_mtu) {
      absl::StatusOr<DatagramLimit> limit =
          BindingLimit(family, DatagramPath::Interface(options_.mtu, /*dont_fragment=*/true));
      if (!limit.ok()) return limit.status();
      relay.faults.mtu_payload = limit->payload_bytes;
    }
    relay.on_fault = [this](RelayDirection, absl::string_view payload, const char* fault) {
      OnRelayFault(payload, fault);
    };
    // Faults keyed by the datagram's own id (instance, seq, hop), not by arrival order.
    relay.fault_key = [this](absl::string_view payload) -> std::optional<uint64_t> {
      Header h;
      if (!ReadHeader(payload, &h)) return std::nullopt;
      return (uint64_t{h.instance} << 40) ^ (uint64_t{h.hop} << 32) ^ h.seq;
    };
    absl::StatusOr<std::unique_ptr<FaultRelay>> started = FaultRelay::Start(relay);
    if (!started.ok()) return started.status();
    targets_.push_back((*started)->endpoint());
    target_families_.push_back(family);
    relays_.push_back(std::move(*started));
  }
  // Room for every flow instance that can be alive at once (current, retiring, handed out by the
  // source) with margin: the harness's own peer must never be the limit a flow is blamed for.
  if (options_.dns_upstream) {
    flow_options_.dns_upstream = options_.dns_upstream;
  } else {
    absl::StatusOr<std::unique_ptr<DnsUpstream>> upstream =
        DnsUpstream::Start({.max_connections = 4 * options_.flows + 64});
    if (!upstream.ok()) return upstream.status();
    upstream_ = std::move(*upstream);
    flow_options_.dns_upstream = upstream_->ipv4_endpoint();
  }

  flow_options_.batch = options_.batch;
  flow_options_.dont_fragment = options_.dont_fragment;
  flow_options_.loopback_only = options_.peers.empty();
  for (const Endpoint& local : options_.bind) {
    if (local.kind() != EndpointKind::kAddress) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bind ", local.ToString(), " must be a numeric address"));
    }
    (local.family() == AddressFamily::kIPv4 ? flow_options_.bind_ipv4 : flow_options_.bind_ipv6) =
        local;
  }
  return absl::OkStatus();
}

absl::Status UdpStress::SetupEncodings() {
  // How this host resolves "localhost", as a flow would (first answer decides where it goes).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  std::optional<AddressFamily> localhost_first;
  if (::getaddrinfo("localhost", nullptr, &hints, &results) == 0) {
    for (addrinfo* r = results; r != nullptr; r = r->ai_next) {
      const AddressFamily family = r->ai_family == AF_INET    ? AddressFamily::kIPv4
                                   : r->ai_family == AF_INET6 ? AddressFamily::kIPv6
                                                              : AddressFamily::kUnspecified;
      if (family == AddressFamily::kUnspecified) continue;
      if (!localhost_first) localhost_first = family;
      if (std::find(localhost_families_.begin(), localhost_families_.end(), family) ==
          localhost_families_.end()) {
        localhost_families_.push_back(family);
      }
    }
    ::freeaddrinfo(results);
  }
  std::string scope = options_.scope_interface;
  if (scope.empty() && options_.peers.empty()) scope = "lo";
  const unsigned scope_index = scope.empty() ? 0 : ::if_nametoindex(scope.c_str());

  for (size_t t = 0; t < targets_.size(); ++t) {
    const Endpoint& target = targets_[t];
    const uint8_t index = static_cast<uint8_t>(t);
    auto add = [&](Encoding encoding, absl::StatusOr<Endpoint> endpoint) {
      if (endpoint.ok()) encodings_.push_back({encoding, index, *std::move(endpoint)});
    };
    const std::string port = absl::StrCat(target.port());
    if (target_families_[t] == AddressFamily::kIPv4) {
      add(kIPv4Numeric, target);
      add(kIPv4FromText, Endpoint::Parse(absl::StrCat(target.host(), ":", port)));
      add(kIPv4Mapped, Endpoint::Parse(absl::StrCat("[::ffff:", target.host(), "]:", port)));
    } else {
      add(kIPv6Numeric, target);
      if (scope_index != 0) {
        add(kIPv6ScopedName,
            Endpoint::Parse(absl::StrCat("[", target.host(), "%", scope, "]:", port)));
        add(kIPv6ScopedIndex,
            Endpoint::Parse(absl::StrCat(target.host(), "%", scope_index, ".", port)));
      }
    }
    const bool loopback_target = target.host() == "127.0.0.1" || target.host() == "::1";
    if (loopback_target && localhost_first == target_families_[t]) {
      add(kHostName, Endpoint::Parse(absl::StrCat("localhost:", port)));
    }
  }
  if (encodings_.empty()) return absl::InternalError("no endpoint encoding could be built");
  return absl::OkStatus();
}

absl::Status UdpStress::SetupWorkload() {
  // Options are checked by ValidateUdpStressOptions (RunUdpStress calls it first); a workload
  // built some other way is checked here again rather than trusted.
  if (absl::Status valid = ValidateUdpStressOptions(options_); !valid.ok()) return valid;
  registration_ = FindFlow(options_.flow);
  absl::StatusOr<RelayFaults> faults = ParseFaultSpec(options_.faults);
  if (!faults.ok()) return faults.status();
  faults_ = *faults;
  if (!options_.peers.empty()) faults_ = RelayFaults{};  // no relay on an external path
  dns_ = options_.peer_protocol == PeerProtocol::kDns;
  // A cut DNS message is no query any more (a server ignores it, or answers what it can read):
  // the relay does not cut in DNS mode.
  if (dns_) faults_.truncate = 0;

  run_tag_ = static_cast<uint32_t>(DeriveSeed(seed_, "run_tag")) | 1u;
  if (absl::Status s = SetupPeers(); !s.ok()) return s;
  if (absl::Status s = SetupEncodings(); !s.ok()) return s;
  sizes_ = std::make_unique<SizeModel>(options_, localhost_families_);

  op_batch_ = options_.rate > 0
                  ? std::clamp(static_cast<int>(options_.rate / 200), 1, options_.batch)
                  : options_.batch;
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  // Each flow instance costs a few descriptors here and one per relay; stay well inside.
  max_reopens_ = static_cast<int>(
      std::min<uint64_t>(kMaxInstances - 2 * static_cast<uint64_t>(options_.flows) - 8,
                         files.rlim_cur > 512 ? (files.rlim_cur - 256) / 6 : 32));

  for (int w = 0; w < options_.threads; ++w) {
    auto state = std::make_unique<WorkerState>(DeriveSeed(DeriveSeed(seed_, "sizes"), w));
    state->datagrams.resize(options_.batch);
    for (Datagram& d : state->datagrams) d.endpoint = encodings_[0].endpoint;
    state->encodings.resize(options_.batch);
    state->targets.resize(options_.batch);
    workers_.push_back(std::move(state));
  }
  std::vector<FaultRelay*> relays;
  for (auto& relay : relays_) relays.push_back(relay.get());
  path_ = std::make_unique<PathState>(options_, std::move(relays), &counters_,
                                      [this](absl::string_view kind, std::string message) {
                                        ReportViolation(kind, std::move(message));
                                      });
  for (int s = 0; s < options_.flows; ++s) slots_.push_back(std::make_unique<Slot>());
  // --no_path_at_start: the flows are opened with the path already down (they are told at once)
  // and the chaos thread brings it up when the window ends.
  if (options_.no_path_at_start > absl::ZeroDuration()) path_->Set(/*up=*/false);
  start_ = netrig::Now();
  for (int s = 0; s < options_.flows; ++s) {
    absl::StatusOr<Instance*> instance = OpenInstance(s);
    if (!instance.ok()) {
      return absl::Status(
          instance.status().code(),
          absl::StrCat("cannot open flow '", options_.flow, "': ", instance.status().message()));
    }
    MutexLock lock(&slots_[s]->mu);
    slots_[s]->current = *instance;
  }
  if (options_.sleep_wake && registration_->source) {
    absl::StatusOr<std::unique_ptr<FlowSource>> source =
        CreateFlowSource(options_.flow, flow_options_);
    if (!source.ok()) return source.status();
    SourceExerciser::Context context;
    context.options = &options_;
    context.seed = seed_;
    context.run_tag = run_tag_;
    context.counters = &counters_;
    context.report = [this](absl::string_view kind, std::string message) {
      ReportViolation(kind, std::move(message));
    };
    context.wrong_rejection = [this](const Datagram& datagram,
                                     const WriteResult& result) -> std::optional<std::string> {
      const SizeModel::Judgement judgement = sizes_->Judge(datagram, result, /*excusable=*/false);
      if (judgement.kind == SizeModel::Judgement::kTrueLimit ||
          judgement.kind == SizeModel::Judgement::kExcused) {
        return std::nullopt;
      }
      return judgement.explanation;
    };
    absl::StatusOr<std::unique_ptr<SourceExerciser>> exerciser =
        SourceExerciser::Start(std::move(*source), std::move(context));
    if (!exerciser.ok()) return exerciser.status();
    source_ = std::move(*exerciser);
  }
  return absl::OkStatus();
}

// ---- Flow instances ----------------------------------------------------------------------------

absl::StatusOr<Instance*> UdpStress::OpenInstance(int slot) {
  const uint32_t id = next_instance_.fetch_add(1);
  if (id >= kMaxInstances) return absl::ResourceExhaustedError("too many flow instances");
  auto owned = std::make_unique<Instance>();
  Instance* instance = owned.get();
  instance->id = id;
  instance->slot = slot;
  absl::Status opened =
      path_->OpenLive(instance, [this] { return CreateFlow(options_.flow, flow_options_); });
  if (!opened.ok()) return opened;
  Add(counters_.flows_opened);
  instance_table_[id].store(instance, std::memory_order_release);
  {
    MutexLock lock(&instances_mu_);
    owned_.push_back(std::move(owned));
  }
  instance->reader = Thread("udp.reader", [this, instance] { ReaderLoop(instance); });
  return instance;
}

}  // namespace netrig::internal::udp_stress
