#include "harness/udp/peers/fault_relay.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <queue>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "harness/net/loopback.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"

namespace netrig {

absl::string_view RelayDirectionName(RelayDirection direction) {
  return direction == RelayDirection::kToPeer ? "to_peer" : "to_client";
}

namespace {

// Uniform in [0, 1) from 53 bits of x.
double Unit(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }

}  // namespace

FaultDecision DecideFaults(const RelayFaults& faults, uint64_t seed, RelayDirection direction,
                           uint64_t index, size_t payload_size) {
  const uint64_t base = internal::Mix64(
      seed ^ internal::Mix64(index * 2 + static_cast<uint64_t>(direction) + 0x5bd1e995ULL));
  // One independent draw per decision, so enabling one fault never shifts another's choices.
  auto draw = [base](uint64_t which) {
    return internal::Mix64(base + which * 0x9e3779b97f4a7c15ULL);
  };
  FaultDecision decision;
  decision.drop = faults.drop > 0 && Unit(draw(1)) < faults.drop;
  decision.duplicate = faults.duplicate > 0 && Unit(draw(2)) < faults.duplicate;
  decision.reorder = faults.reorder > 0 && Unit(draw(3)) < faults.reorder;
  if (faults.delay > 0 && Unit(draw(4)) < faults.delay) {
    decision.delay = faults.max_delay * Unit(draw(5));
  }
  if (faults.truncate > 0 && payload_size > 0 && Unit(draw(6)) < faults.truncate) {
    decision.truncate_to = static_cast<size_t>(draw(7) % payload_size);
  }
  return decision;
}

std::string RelayCounters::ToString() const {
  return absl::StrCat("received ", received, " delivered ", delivered, " dropped ",
                      dropped_by_fault, " (random ", dropped_random, ", mtu ", dropped_mtu,
                      ", path down ", dropped_path_down, ") errors ", send_errors, " in flight ",
                      in_flight, " duplicates ", duplicates, " truncated ", truncated, " delayed ",
                      delayed, " reordered ", reordered, " kernel drops ", dropped_by_kernel);
}

struct FaultRelay::Impl {
  struct Client {
    SocketAddress address;  // the client's address, as the front socket saw it
    internal::UniqueFd back;
  };
  struct Held {
    absl::Time release;
    uint64_t order;
    RelayDirection direction;
    size_t client;
    std::string payload;
    bool duplicate;
    bool operator>(const Held& other) const {
      return release != other.release ? release > other.release : order > other.order;
    }
  };

  RelayOptions options;
  SocketAddress peer;
  internal::UniqueFd front;
  internal::UniqueFd wake;
  Thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> path_up{true};
  uint64_t next_index[2] = {0, 0};  // relay thread only
  uint64_t next_order = 0;          // relay thread only
  absl::Time next_drop_sample;      // relay thread only

  // Relay thread only.
  std::vector<Client> clients;
  absl::flat_hash_map<std::string, size_t> client_by_address;
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held;

  mutable Mutex mu;
  CondVar drained;
  RelayCounters counters[2] ABSL_GUARDED_BY(mu);

  RelayCounters& Of(RelayDirection d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return counters[static_cast<int>(d)];
  }

  void Loop();
  void ReceiveFront();
  void ReceiveBack(size_t client);
  void Admit(RelayDirection direction, size_t client, std::string payload);
  void Release(Held item);
  // Sends one copy; true on success.
  bool Forward(RelayDirection direction, size_t client, const std::string& payload);
  void Settle();
  // Reads the kernel's drop counters of every relay socket into the counters.
  void SampleKernelDrops();
};

bool FaultRelay::Impl::Forward(RelayDirection direction, size_t client,
                               const std::string& payload) {
  ssize_t sent;
  do {
    if (direction == RelayDirection::kToPeer) {
      sent = ::send(clients[client].back.get(), payload.data(), payload.size(), 0);
    } else {
      sent = ::sendto(front.get(), payload.data(), payload.size(), 0, clients[client].address.get(),
                      clients[client].address.length);
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const int fd =
          direction == RelayDirection::kToPeer ? clients[client].back.get() : front.get();
      pollfd p{fd, POLLOUT, 0};
      if (netrig::Poll(&p, 1, 100) <= 0) return false;
      continue;
    }
  } while (sent < 0 && errno == EINTR);
  return sent >= 0;
}

void FaultRelay::Impl::Admit(RelayDirection direction, size_t client, std::string payload) {
  const uint64_t index = next_index[static_cast<int>(direction)]++;
  std::optional<uint64_t> key;
  if (options.fault_key) key = options.fault_key(payload);
  // Arrival indices and datagram keys live in separate halves of the key space.
  const uint64_t decision_key =
      key.has_value() ? (*key | (uint64_t{1} << 63)) : (index & ~(uint64_t{1} << 63));
  const FaultDecision decision =
      DecideFaults(options.faults, options.seed, direction, decision_key, payload.size());
  SchedulePoint("relay.admit");
  {
    MutexLock lock(&mu);
    RelayCounters& c = Of(direction);
    ++c.received;
    auto drop = [&](uint64_t& reason, const char* fault) {
      ++reason;
      ++c.dropped_by_fault;
      if (options.on_fault) options.on_fault(direction, payload, fault);
    };
    if (!path_up.load(std::memory_order_acquire)) return drop(c.dropped_path_down, "path_down");
    if (options.faults.mtu_payload > 0 && payload.size() > options.faults.mtu_payload) {
      return drop(c.dropped_mtu, "mtu");
    }
    if (decision.drop) return drop(c.dropped_random, "drop");
    if (decision.truncate_to) {
      if (options.on_fault) options.on_fault(direction, payload, "truncate");
      payload.resize(*decision.truncate_to);
      ++c.truncated;
    }
    if (decision.reorder || decision.delay > absl::ZeroDuration()) {
      ++c.in_flight;
      if (decision.reorder) ++c.reordered;
      if (decision.delay > absl::ZeroDuration()) ++c.delayed;
    }
  }
  if (decision.reorder || decision.delay > absl::ZeroDuration()) {
    const absl::Duration hold = std::max(
        decision.delay, decision.reorder ? options.faults.reorder_hold : absl::ZeroDuration());
    held.push({netrig::Now() + hold, next_order++, direction, client, std::move(payload),
               decision.duplicate});
    return;
  }
  const bool ok = Forward(direction, client, payload);
  const bool duplicate_ok = decision.duplicate && Forward(direction, client, payload);
  MutexLock lock(&mu);
  RelayCounters& c = Of(direction);
  ++(ok ? c.delivered : c.send_errors);
  if (!ok && options.on_fault) options.on_fault(direction, payload, "send_error");
  if (duplicate_ok) ++c.duplicates;
}

void FaultRelay::Impl::Release(Held item) {
  bool delivered = false;
  bool duplicated = false;
  const bool up = path_up.load(std::memory_order_acquire);
  if (up) {
    delivered = Forward(item.direction, item.client, item.payload);
    duplicated = item.duplicate && Forward(item.direction, item.client, item.payload);
  }
  MutexLock lock(&mu);
  RelayCounters& c = Of(item.direction);
  --c.in_flight;
  if (!up) {
    ++c.dropped_path_down;
    ++c.dropped_by_fault;
    if (options.on_fault) options.on_fault(item.direction, item.payload, "path_down");
  } else {
    ++(delivered ? c.delivered : c.send_errors);
    if (!delivered && options.on_fault)
      options.on_fault(item.direction, item.payload, "send_error");
    if (duplicated) ++c.duplicates;
  }
  if (c.in_flight == 0) drained.SignalAll();
}

void FaultRelay::Impl::ReceiveFront() {
  std::string buffer(65536, '\0');
  for (int i = 0; i < 64; ++i) {
    SocketAddress source;
    source.length = sizeof(source.storage);
    const ssize_t n = ::recvfrom(front.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 source.get(), &source.length);
    if (n < 0) return;
    const std::string key(reinterpret_cast<const char*>(&source.storage), source.length);
    auto it = client_by_address.find(key);
    size_t client;
    if (it != client_by_address.end()) {
      client = it->second;
    } else {
      internal::UniqueFd back;
      if (static_cast<int>(clients.size()) < options.max_clients) {
        absl::StatusOr<internal::UniqueFd> fd = internal::BindUdp(
            peer.storage.ss_family == AF_INET6 ? AddressFamily::kIPv6 : AddressFamily::kIPv4, 0);
        if (fd.ok() && ::connect(fd->get(), peer.get(), peer.length) == 0) back = std::move(*fd);
        // Room for the peer's answers while this thread is busy (the kernel drops the rest).
        const int buffer_bytes = 4 << 20;
        if (back.valid()) {
          ::setsockopt(back.get(), SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
        }
      }
      if (!back.valid()) {
        MutexLock lock(&mu);
        ++Of(RelayDirection::kToPeer).received;
        ++Of(RelayDirection::kToPeer).send_errors;
        continue;
      }
      client = clients.size();
      clients.push_back({source, std::move(back)});
      client_by_address.emplace(key, client);
    }
    Admit(RelayDirection::kToPeer, client, std::string(buffer.data(), static_cast<size_t>(n)));
  }
}

void FaultRelay::Impl::ReceiveBack(size_t client) {
  std::string buffer(65536, '\0');
  for (int i = 0; i < 64; ++i) {
    const ssize_t n =
        ::recv(clients[client].back.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) return;
    Admit(RelayDirection::kToClient, client, std::string(buffer.data(), static_cast<size_t>(n)));
  }
}

void FaultRelay::Impl::Settle() {
  while (!held.empty() && held.top().release <= netrig::Now()) {
    Held item = std::move(const_cast<Held&>(held.top()));
    held.pop();
    Release(std::move(item));
  }
}

void FaultRelay::Impl::SampleKernelDrops() {
  const uint64_t to_peer = internal::KernelDrops(front.get());
  uint64_t to_client = 0;
  for (const Client& c : clients) to_client += internal::KernelDrops(c.back.get());
  MutexLock lock(&mu);
  Of(RelayDirection::kToPeer).dropped_by_kernel = to_peer;
  Of(RelayDirection::kToClient).dropped_by_kernel = to_client;
}

void FaultRelay::Impl::Loop() {
  std::vector<pollfd> fds;
  while (!stopping.load(std::memory_order_acquire)) {
    if (const absl::Time now = netrig::Now(); now >= next_drop_sample) {
      SampleKernelDrops();
      next_drop_sample = now + absl::Milliseconds(100);
    }
    fds.clear();
    fds.push_back({wake.get(), POLLIN, 0});
    fds.push_back({front.get(), POLLIN, 0});
    for (const Client& c : clients) fds.push_back({c.back.get(), POLLIN, 0});
    absl::Duration wait = absl::Milliseconds(200);
    if (!held.empty()) wait = std::min(wait, held.top().release - netrig::Now());
    const int ready = netrig::Poll(fds.data(), fds.size(), internal::PollTimeoutMs(wait));
    if (ready > 0) {
      if (fds[1].revents & POLLIN) ReceiveFront();
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents & POLLIN) ReceiveBack(i - 2);
      }
    }
    Settle();
  }
  // Stopping: what is still held goes out now, so every datagram ends delivered or dropped.
  while (!held.empty()) {
    Held item = std::move(const_cast<Held&>(held.top()));
    held.pop();
    Release(std::move(item));
  }
  SampleKernelDrops();
}

absl::StatusOr<std::unique_ptr<FaultRelay>> FaultRelay::Start(const RelayOptions& options) {
  if (!options.peer || options.peer->kind() != EndpointKind::kAddress) {
    return absl::InvalidArgumentError("a fault relay needs a peer given as an address endpoint");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  absl::StatusOr<SocketAddress> peer = options.peer->ToSockaddr();
  if (!peer.ok()) return peer.status();
  if (!options.allow_non_loopback && !IsLoopbackAddress(*peer)) {
    return absl::PermissionDeniedError(
        absl::StrCat("relay peer ", options.peer->ToString(), " is not a loopback address"));
  }
  impl->peer = *peer;
  absl::StatusOr<internal::UniqueFd> front = internal::BindUdp(options.peer->family(), 0);
  if (!front.ok()) return front.status();
  impl->front = std::move(*front);
  const int buffer_bytes = 4 << 20;
  ::setsockopt(impl->front.get(), SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
  absl::StatusOr<internal::UniqueFd> wake = internal::MakeWakeFd();
  if (!wake.ok()) return wake.status();
  impl->wake = std::move(*wake);
  absl::StatusOr<Endpoint> endpoint = internal::LocalEndpoint(impl->front.get());
  if (!endpoint.ok()) return endpoint.status();
  std::unique_ptr<FaultRelay> relay(new FaultRelay(std::move(impl), *std::move(endpoint)));
  relay->impl_->thread = Thread("udp.relay", [i = relay->impl_.get()] { i->Loop(); });
  return relay;
}

FaultRelay::FaultRelay(std::unique_ptr<Impl> impl, Endpoint endpoint)
    : impl_(std::move(impl)), endpoint_(std::move(endpoint)) {}

FaultRelay::~FaultRelay() { Stop(); }

void FaultRelay::Stop() {
  if (impl_->stopping.exchange(true)) return;
  internal::SignalWakeFd(impl_->wake.get());
  impl_->thread.join();
}

void FaultRelay::SetPathUp(bool up) {
  SchedulePoint(up ? "relay.path_up" : "relay.path_down");
  impl_->path_up.store(up, std::memory_order_release);
}

bool FaultRelay::path_up() const { return impl_->path_up.load(std::memory_order_acquire); }

RelayCounters FaultRelay::counters(RelayDirection direction) const {
  MutexLock lock(&impl_->mu);
  return impl_->counters[static_cast<int>(direction)];
}

bool FaultRelay::Drain(absl::Duration timeout) {
  const absl::Time deadline = netrig::Now() + timeout;
  MutexLock lock(&impl_->mu);
  while (impl_->counters[0].in_flight + impl_->counters[1].in_flight > 0) {
    const absl::Duration remaining = deadline - netrig::Now();
    if (remaining <= absl::ZeroDuration()) return false;
    impl_->drained.WaitWithTimeout(&impl_->mu, remaining);
  }
  return true;
}

}  // namespace netrig
