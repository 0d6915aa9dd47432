#include "harness/udp/null_flow.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/net/datagram_oracle.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/udp/flow_kit.h"

namespace netrig {
namespace {

class NullFlow : public Flow {
 public:
  explicit NullFlow(const FlowOptions& options)
      : loopback_only_(options.loopback_only),
        path_(DatagramPath::Loopback(options.dont_fragment)),
        largest_{LargestPayload(AddressFamily::kIPv4), LargestPayload(AddressFamily::kIPv6)} {}

  absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams,
                                             absl::Duration timeout) override {
    InFlightScope in_flight(&gate_);
    if (!in_flight.entered()) return absl::CancelledError("flow closed");
    SchedulePoint("flow.read");
    std::vector<Datagram> out;
    const absl::Time deadline = netrig::Now() + timeout;
    MutexLock lock(&mu_);
    while (queue_.empty() && !closing_) {
      const absl::Duration left = deadline - netrig::Now();
      if (left <= absl::ZeroDuration()) return out;
      readable_.WaitWithTimeout(&mu_, left);
    }
    if (closing_) return absl::CancelledError("flow closed");
    const size_t n = std::min(std::max<size_t>(max_datagrams, 1), queue_.size());
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    return out;
  }

  std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override {
    InFlightScope in_flight(&gate_);
    if (!in_flight.entered()) return internal::ClosedFlowWriteResults(datagrams.size());
    SchedulePoint("flow.write");
    std::vector<WriteResult> results(datagrams.size());
    if (waiting_.load(std::memory_order_acquire)) {
      for (WriteResult& r : results) {
        r = WriteResult::Rejected(absl::UnavailableError(
            "flow is waiting for a path (path lost): datagram not sent and not queued"));
      }
      return results;
    }
    std::vector<Datagram> echoed;
    echoed.reserve(datagrams.size());
    for (size_t i = 0; i < datagrams.size(); ++i) {
      const Datagram& datagram = datagrams[i];
      absl::StatusOr<AddressFamily> family = DestinationFamily(datagram.endpoint);
      if (!family.ok()) {
        results[i] = WriteResult::Rejected(family.status());
        continue;
      }
      const uint64_t size = datagram.payload.size();
      if (size > largest_[*family == AddressFamily::kIPv4 ? 0 : 1]) {
        absl::StatusOr<DatagramVerdict> verdict = CheckDatagram(size, *family, path_);
        if (!verdict.ok()) {
          results[i] = WriteResult::Rejected(verdict.status());
        } else {
          results[i] = WriteResult::TooLarge(absl::InvalidArgumentError(verdict->message),
                                             verdict->limit_kind, verdict->limit_bytes);
        }
        continue;
      }
      echoed.push_back(datagram);
    }
    if (!echoed.empty()) {
      MutexLock lock(&mu_);
      for (Datagram& datagram : echoed) queue_.push_back(std::move(datagram));
      readable_.SignalAll();
    }
    return results;
  }

  void Close() override {
    if (gate_.Close()) {
      MutexLock lock(&mu_);
      closing_ = true;
      readable_.SignalAll();
    }
    gate_.WaitIdle();
  }

  void OnPathEvent(PathEvent event) override {
    waiting_.store(event == PathEvent::kPathLost, std::memory_order_release);
  }

  FlowState state() const override {
    if (gate_.closed()) return FlowState::kClosed;
    return waiting_.load(std::memory_order_acquire) ? FlowState::kWaiting : FlowState::kReady;
  }

 private:
  uint64_t LargestPayload(AddressFamily family) const {
    absl::StatusOr<DatagramVerdict> verdict = CheckDatagram(kIPv6MaxPayload + 1, family, path_);
    return verdict.ok() ? verdict->limit_bytes : 0;
  }

  // The family a datagram to `endpoint` leaves by (IPv4-mapped addresses as IPv4), after the
  // checks a sending flow makes: an address to send to, loopback when required.
  absl::StatusOr<AddressFamily> DestinationFamily(const Endpoint& endpoint) {
    if (endpoint.kind() == EndpointKind::kHost) {
      MutexLock lock(&mu_);
      auto it = hosts_.find(endpoint.host());
      if (it != hosts_.end()) return it->second;
    }
    absl::StatusOr<SocketAddress> address = ResolveDestination(endpoint, loopback_only_);
    if (!address.ok()) return address.status();
    const AddressFamily family =
        address->storage.ss_family == AF_INET ? AddressFamily::kIPv4 : AddressFamily::kIPv6;
    if (endpoint.kind() == EndpointKind::kHost) {
      MutexLock lock(&mu_);
      hosts_.emplace(endpoint.host(), family);
    }
    return family;
  }

  const bool loopback_only_;
  const DatagramPath path_;
  const uint64_t largest_[2];  // Largest payload that fits, IPv4 and IPv6.
  InFlightGate gate_;
  std::atomic<bool> waiting_{false};
  Mutex mu_;
  CondVar readable_;
  std::deque<Datagram> queue_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, AddressFamily> hosts_ ABSL_GUARDED_BY(mu_);
  LiveToken live_{kLiveFlows};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Flow>> NewNullFlow(const FlowOptions& options) {
  return std::make_unique<NullFlow>(options);
}

}  // namespace netrig
