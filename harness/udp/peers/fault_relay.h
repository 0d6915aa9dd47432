// FaultRelay: a userspace UDP relay between flows and one peer that injects faults (netem is not
// available here): drop, duplicate, reorder, delay, truncate, clamp to an MTU, and take the path
// down and bring it back.
//
// A client (a flow) sends to endpoint(); the relay forwards each datagram to the peer from a
// socket of its own per client, and forwards the peer's answers back to that client. Every
// decision comes from DecideFaults(faults, seed, direction, index): a pure function of the seed
// and the datagram's index in its direction, so a run with the same seed and the same arrival
// order makes the same decisions.
//
// Accounting, per direction: every datagram that enters is delivered, dropped by a fault
// (random drop, MTU clamp, path down), lost to a relay send error, or still in flight (delayed):
//   received == delivered + dropped_by_fault + send_errors + in_flight
// Duplicated copies are counted apart (duplicates). A driver that compares what its flows wrote
// with these counters can tell a fault from a silent loss. Datagrams the kernel dropped before
// the relay could read them (its receive buffer full) never enter; they are counted apart
// (dropped_by_kernel) so that a loss the relay caused is not blamed on a flow.
//
// Example:
//   netrig::RelayOptions options{.peer = echo->ipv4_endpoint(), .seed = 42};
//   options.faults.drop = 0.01;
//   absl::StatusOr<std::unique_ptr<netrig::FaultRelay>> relay = netrig::FaultRelay::Start(options);
//   flow->Write({{(*relay)->endpoint(), payload}});
//   (*relay)->SetPathUp(false);   // every datagram now dropped as "path down"
//   (*relay)->Drain(absl::Seconds(1));
//   EXPECT_TRUE((*relay)->counters(netrig::RelayDirection::kToPeer).Balanced());
#ifndef NETRIG_HARNESS_UDP_PEERS_FAULT_RELAY_H_
#define NETRIG_HARNESS_UDP_PEERS_FAULT_RELAY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/net/endpoint.h"
#include "harness/udp/socket_util.h"

namespace netrig {

struct RelayFaults {
  // Probabilities per datagram, each drawn independently.
  double drop = 0;
  double duplicate = 0;
  double reorder = 0;   // held back by reorder_hold, so later datagrams overtake it
  double delay = 0;     // held back by a random time up to max_delay
  double truncate = 0;  // cut to a random shorter length
  absl::Duration max_delay = absl::Milliseconds(20);
  absl::Duration reorder_hold = absl::Milliseconds(2);
  // Datagrams with a payload above this are dropped ("mtu"), as a don't-fragment path would.
  // 0: no clamp.
  uint64_t mtu_payload = 0;

  bool any() const {
    return drop > 0 || duplicate > 0 || reorder > 0 || delay > 0 || truncate > 0 || mtu_payload > 0;
  }
};

enum class RelayDirection { kToPeer = 0, kToClient = 1 };
// "to_peer", "to_client".
absl::string_view RelayDirectionName(RelayDirection direction);

struct FaultDecision {
  bool drop = false;
  bool duplicate = false;
  bool reorder = false;
  absl::Duration delay = absl::ZeroDuration();
  std::optional<size_t> truncate_to;  // new payload size, smaller than the original
};

// The decision for datagram `index` (0, 1, ...) of `direction`. Pure: same inputs, same answer.
FaultDecision DecideFaults(const RelayFaults& faults, uint64_t seed, RelayDirection direction,
                           uint64_t index, size_t payload_size);

struct RelayCounters {
  uint64_t received = 0;
  uint64_t delivered = 0;  // originals forwarded (truncated ones included)
  uint64_t dropped_by_fault = 0;
  uint64_t dropped_random = 0;
  uint64_t dropped_mtu = 0;
  uint64_t dropped_path_down = 0;
  uint64_t send_errors = 0;  // the relay failed to forward: a loss that is no fault
  uint64_t in_flight = 0;    // delayed or reordered, not yet forwarded
  uint64_t duplicates = 0;   // extra copies forwarded (not in `delivered`)
  uint64_t truncated = 0;
  uint64_t delayed = 0;
  uint64_t reordered = 0;
  // Dropped by the kernel at the relay's full receive buffers (front socket for kToPeer, the
  // per-client sockets for kToClient), read with SO_MEMINFO at most 100 ms ago. Not in received.
  uint64_t dropped_by_kernel = 0;

  bool Balanced() const {
    return received == delivered + dropped_by_fault + send_errors + in_flight;
  }
  // "received 10 delivered 8 dropped 2 (random 1, mtu 0, path down 1) errors 0 in flight 0 ...
  //  kernel drops 0"
  std::string ToString() const;
};

struct RelayOptions {
  // Where the relay forwards to (an address endpoint; loopback unless allow_non_loopback).
  std::optional<Endpoint> peer;
  RelayFaults faults;
  uint64_t seed = 0;
  // Clients (distinct source endpoints) served; datagrams from more count as send errors.
  int max_clients = 1024;
  bool allow_non_loopback = false;
  // Called on the relay thread, under the relay's counter lock, for each datagram a fault drops
  // ("drop", "mtu", "path_down"), truncates ("truncate", with the payload before the cut) or the
  // relay fails to forward ("send_error"), so a driver can account for each datagram by its
  // content. It must not call back into the relay. Optional.
  std::function<void(RelayDirection direction, absl::string_view payload, const char* fault)>
      on_fault;
  // The identity a datagram's fault decisions are keyed by (a driver's own datagram id), so the
  // same seed makes the same decisions for the same datagram whatever order datagrams arrive
  // in. Nullopt, or no function: the arrival index in that direction.
  std::function<std::optional<uint64_t>(absl::string_view payload)> fault_key;
};

class FaultRelay {
 public:
  static absl::StatusOr<std::unique_ptr<FaultRelay>> Start(const RelayOptions& options);
  ~FaultRelay();
  FaultRelay(const FaultRelay&) = delete;
  FaultRelay& operator=(const FaultRelay&) = delete;

  // Where clients send: the relay's front socket, same family and loopback address as the peer.
  Endpoint endpoint() const { return endpoint_; }

  // Path down: every datagram arriving (or leaving the delay queue) is dropped as "path down".
  void SetPathUp(bool up);
  bool path_up() const;

  RelayCounters counters(RelayDirection direction) const;
  // Waits until nothing is in flight in either direction. False on timeout.
  bool Drain(absl::Duration timeout);
  // Forwards what is still delayed at once, then stops. Idempotent.
  void Stop();

 private:
  struct Impl;
  FaultRelay(std::unique_ptr<Impl> impl, Endpoint endpoint);

  std::unique_ptr<Impl> impl_;
  const Endpoint endpoint_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_PEERS_FAULT_RELAY_H_
