// The `netrig udp` workload's datagram-size model: which sizes to send and whether a flow was
// right to reject one. Sizes are mostly small (story 2 in docs/field-notes.md: 50-200 bytes),
// with the boundaries (limit - 1, limit, limit + 1) of every limit that applies on the judged
// path (loopback, or an interface of --mtu). A rejection is judged by the datagram-size oracle
// (harness/net/datagram_oracle.h) for every family the endpoint may leave as. With
// --peer_protocol=dns every size is a query size, from the smallest query up to --dns_max_query:
// the limits in that range, and that maximum, are drawn as boundaries. Immutable once
// built: any thread may use it. Not a public API.
//
//   SizeModel sizes(options, localhost_families);
//   datagram.payload.resize(sizes.Draw(rng, family));
//   SizeModel::Judgement j = sizes.Judge(datagram, result, /*excusable=*/overlapped_path_event);
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_SIZE_MODEL_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_SIZE_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "harness/drive/seeds.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"
#include "harness/udp/flow.h"
#include "harness/workloads/udp/udp_stress.h"

namespace netrig::internal::udp_stress {

class SizeModel {
 public:
  // `localhost_families`: how this host resolves "localhost", first answer first (the families a
  // host-name endpoint may leave as).
  SizeModel(const UdpStressOptions& options, std::vector<AddressFamily> localhost_families);

  struct Judgement {
    enum Kind { kTrueLimit, kExcused, kWronglyRejected, kWrongLimit, kUnnamed } kind;
    DatagramLimitKind limit = DatagramLimitKind::kNone;
    std::string explanation;
  };
  // Judges the rejection `result` of `datagram`. `excusable`: the flow was not ready (the path
  // changed during the write, or the flow was closing), so a rejection that is not about size
  // is excused.
  Judgement Judge(const Datagram& datagram, const WriteResult& result, bool excusable) const;

  // A payload size for a datagram to an endpoint of `family`.
  uint64_t Draw(OperationRandom& rng, AddressFamily family) const;

  // The path rejections of datagrams of `family` are judged against: loopback without --peer;
  // with --peer, --mtu when given, else the kernel's route MTU towards the family's peers (the
  // smallest; 1500 when it cannot be read), as the flow under test sees it.
  const DatagramPath& path(AddressFamily family) const {
    return paths_[family == AddressFamily::kIPv6 ? 1 : 0];
  }
  // One path ("loopback MTU 65536, ...") or, when the families differ, "IPv4 ...; IPv6 ...".
  std::string PathsToString() const;

 private:
  std::vector<AddressFamily> Families(const Endpoint& endpoint) const;

  const uint64_t fixed_size_;  // --size, or 0
  // The sizes that may be drawn: [32-byte header, 65535], or with --peer_protocol=dns, from the
  // smallest query to --dns_max_query.
  const uint64_t smallest_;
  const uint64_t largest_;
  const std::vector<AddressFamily> localhost_families_;
  DatagramPath paths_[2];                    // per family: IPv4, IPv6
  std::vector<uint64_t> boundary_sizes_[2];  // per family: IPv4, IPv6
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_SIZE_MODEL_H_
