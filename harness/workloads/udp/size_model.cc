#include "harness/workloads/udp/size_model.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "harness/udp/flow_kit.h"
#include "harness/udp/socket_util.h"
#include "harness/workloads/udp/dns_query.h"
#include "harness/workloads/udp/stress_datagram.h"
#include "harness/workloads/udp/stress_encodings.h"

namespace netrig::internal::udp_stress {

namespace {

DatagramPath PathTowardsPeers(const UdpStressOptions& options, AddressFamily family) {
  if (options.peers.empty()) return DatagramPath::Loopback(options.dont_fragment);
  if (options.mtu > 0) return DatagramPath::Interface(options.mtu, options.dont_fragment);
  std::optional<int> smallest;
  bool all_loopback = true;
  for (const Endpoint& peer : options.peers) {
    if (peer.family() != family) continue;
    absl::StatusOr<SocketAddress> address = peer.ToSockaddr();
    if (!address.ok()) continue;
    absl::StatusOr<int> mtu = RouteMtu(*address);
    if (!mtu.ok() || *mtu <= 0) continue;
    smallest = smallest.has_value() ? std::min(*smallest, *mtu) : *mtu;
    all_loopback &= IsLoopbackAddress(*address);
  }
  if (!smallest.has_value()) return DatagramPath::Interface(1500, options.dont_fragment);
  if (all_loopback && *smallest == static_cast<int>(kLoopbackMtu)) {
    return DatagramPath::Loopback(options.dont_fragment);
  }
  return DatagramPath::Interface(static_cast<uint32_t>(*smallest), options.dont_fragment);
}

}  // namespace

SizeModel::SizeModel(const UdpStressOptions& options, std::vector<AddressFamily> localhost_families)
    : fixed_size_(options.size),
      smallest_(options.peer_protocol == PeerProtocol::kDns ? DnsQueryMinSize(options.dns_zone)
                                                            : kHeaderBytes),
      largest_(options.peer_protocol == PeerProtocol::kDns ? options.dns_max_query : 65535),
      localhost_families_(std::move(localhost_families)),
      paths_{PathTowardsPeers(options, AddressFamily::kIPv4),
             PathTowardsPeers(options, AddressFamily::kIPv6)} {
  for (AddressFamily family : {AddressFamily::kIPv4, AddressFamily::kIPv6}) {
    std::vector<uint64_t>& sizes = boundary_sizes_[family == AddressFamily::kIPv6 ? 1 : 0];
    std::vector<uint64_t> limits;
    absl::StatusOr<std::vector<DatagramLimit>> applicable = ApplicableLimits(family, path(family));
    if (applicable.ok()) {
      for (const DatagramLimit& limit : *applicable) limits.push_back(limit.payload_bytes);
    }
    if (options.peers.empty() && options.mtu > 0) {
      absl::StatusOr<DatagramLimit> modeled =
          BindingLimit(family, DatagramPath::Interface(options.mtu, options.dont_fragment));
      if (modeled.ok()) limits.push_back(modeled->payload_bytes);
    }
    // The largest query the DNS peers accept is a boundary of its own.
    if (options.peer_protocol == PeerProtocol::kDns) limits.push_back(largest_);
    for (uint64_t limit : limits) {
      for (uint64_t size : {limit - 1, limit, limit + 1}) {
        if (size >= smallest_ && size <= largest_ &&
            std::find(sizes.begin(), sizes.end(), size) == sizes.end()) {
          sizes.push_back(size);
        }
      }
    }
    if (sizes.empty()) sizes.push_back(std::clamp<uint64_t>(1400, smallest_, largest_));
  }
}

std::vector<AddressFamily> SizeModel::Families(const Endpoint& endpoint) const {
  switch (endpoint.kind()) {
    case EndpointKind::kAddress:
      // Mapped endpoints leave as IPv4 from a socket flow; a flow may also treat them as IPv6.
      if (IsMapped(endpoint)) return {AddressFamily::kIPv4, AddressFamily::kIPv6};
      return {endpoint.family()};
    case EndpointKind::kHost:
      if (!localhost_families_.empty()) return localhost_families_;
      return {AddressFamily::kIPv4, AddressFamily::kIPv6};
    case EndpointKind::kRedacted:
      break;
  }
  return {endpoint.family()};
}

std::string SizeModel::PathsToString() const {
  const std::string ipv4 = paths_[0].ToString();
  const std::string ipv6 = paths_[1].ToString();
  return ipv4 == ipv6 ? ipv4 : absl::StrCat("IPv4 ", ipv4, "; IPv6 ", ipv6);
}

uint64_t SizeModel::Draw(OperationRandom& rng, AddressFamily family) const {
  if (fixed_size_ > 0) return fixed_size_;
  const uint64_t r = rng() % 100;
  // Story 2: 50-200 byte datagrams (DNS queries: the smallest and 150 bytes above it).
  if (r < 45) return std::min(largest_, std::max<uint64_t>(smallest_, 50) + rng() % 151);
  if (r < 55) return std::min(largest_, std::max<uint64_t>(smallest_, 201) + rng() % 1200);
  const std::vector<uint64_t>& sizes = boundary_sizes_[family == AddressFamily::kIPv6 ? 1 : 0];
  return sizes[rng() % sizes.size()];
}

SizeModel::Judgement SizeModel::Judge(const Datagram& datagram, const WriteResult& result,
                                      bool excusable) const {
  DatagramRejection rejection;
  rejection.message = std::string(result.error.message());
  if (result.limit_kind != DatagramLimitKind::kNone) {
    rejection.claimed_kind = result.limit_kind;
    rejection.claimed_limit_bytes = result.limit_bytes;
  }
  const uint64_t size = datagram.payload.size();
  std::vector<RejectionJudgement> judgements;
  for (AddressFamily family : Families(datagram.endpoint)) {
    absl::StatusOr<RejectionJudgement> j = JudgeRejection(size, family, path(family), rejection);
    if (j.ok()) judgements.push_back(*std::move(j));
  }
  if (judgements.empty()) return {Judgement::kExcused, DatagramLimitKind::kNone, ""};
  for (const RejectionJudgement& j : judgements) {
    if (j.finding == RejectionFinding::kTrueLimit) {
      return {Judgement::kTrueLimit,
              j.claim.kind.value_or(result.limit_kind != DatagramLimitKind::kNone
                                        ? result.limit_kind
                                        : j.oracle.limit_kind),
              ""};
    }
  }
  for (const RejectionJudgement& j : judgements) {
    if (j.finding == RejectionFinding::kTrueButUnnamed) {
      return {Judgement::kUnnamed, DatagramLimitKind::kNone,
              absl::StrCat("the rejection does not name the limit and its value; ", j.message)};
    }
  }
  bool all_fit = true;
  bool none_fit = true;
  bool all_not_size = true;
  for (const RejectionJudgement& j : judgements) {
    all_fit = all_fit && j.oracle.fits;
    none_fit = none_fit && !j.oracle.fits;
    all_not_size = all_not_size && j.finding == RejectionFinding::kNotASizeRejection;
  }
  const RejectionJudgement& first = judgements.front();
  if (all_not_size) {
    if (excusable) return {Judgement::kExcused, DatagramLimitKind::kNone, ""};
    if (all_fit) {
      return {Judgement::kWronglyRejected, DatagramLimitKind::kNone,
              absl::StrCat("the flow was ready and the datagram fits: ", first.oracle.message)};
    }
    if (none_fit) {
      return {Judgement::kUnnamed, DatagramLimitKind::kNone,
              absl::StrCat("the rejection does not say the datagram is too large; ",
                           first.oracle.message)};
    }
    return {Judgement::kExcused, DatagramLimitKind::kNone, ""};
  }
  if (all_fit) {
    return {Judgement::kWronglyRejected, DatagramLimitKind::kNone,
            absl::StrCat("rejected as too large, but ", first.message)};
  }
  return {Judgement::kWrongLimit, DatagramLimitKind::kNone, first.message};
}

}  // namespace netrig::internal::udp_stress
