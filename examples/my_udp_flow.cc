// A user's own UDP flow, registered as "example-udp": plain blocking sockets (one per family),
// poll() with a wake-up eventfd so Close() can interrupt a blocked Read(). Every netrig UDP driver
// and fuzzer runs against it with `--flow example-udp`.
//
// Its flow source is a dual-stack listener, the way transparent proxies listen: one AF_INET6
// socket with IPV6_V6ONLY off, so IPv4 peers arrive in the IPv4-mapped form
// "[::ffff:127.0.0.1]:port" (netrig treats that as the same peer as "127.0.0.1:port").
//
// Where to send, what a failed send means and how Close() waits for reads and writes come from
// netrig's flow kit (harness/udp/flow_kit.h); the objects it creates are counted with live-object
// counters (harness/check/live_objects.h), which `netrig udp` checks are back to zero at the end.
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/base/mutex.h"
#include "harness/check/live_objects.h"
#include "harness/sched/thread.h"
#include "harness/udp/flow.h"
#include "harness/udp/flow_kit.h"

namespace {

using netrig::Datagram;
using netrig::Endpoint;
using netrig::WriteResult;

// Counted so that `netrig udp` reports any of them still alive after the run (live_objects).
netrig::LiveCounter kLiveSourceCores("example-udp.source_core");
netrig::LiveCounter kLivePeerQueues("example-udp.peer_queue");

class ExampleUdpFlow final : public netrig::Flow {
 public:
  static absl::StatusOr<std::unique_ptr<netrig::Flow>> Create(const netrig::FlowOptions& options) {
    auto flow = std::unique_ptr<ExampleUdpFlow>(new ExampleUdpFlow(options));
    if (absl::Status status = flow->Open(); !status.ok()) return status;
    return flow;
  }

  ~ExampleUdpFlow() override { Close(); }

  absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams,
                                             absl::Duration timeout) override {
    netrig::InFlightScope in_flight(&gate_);
    if (!in_flight.entered()) return absl::CancelledError("flow closed");
    pollfd fds[3] = {{fd4_, POLLIN, 0}, {fd6_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    if (poll(fds, 3, ms) < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (gate_.closed()) return absl::CancelledError("flow closed");
    std::vector<Datagram> out;
    char buffer[65536];  // Per call: reads may run on several threads at once.
    // Drain each ready socket: reading one datagram per poll() lets the kernel queue overflow.
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      while (out.size() < max_datagrams) {
        sockaddr_storage from{};
        socklen_t from_length = sizeof(from);
        const ssize_t n = recvfrom(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
        if (n < 0) break;
        absl::StatusOr<Endpoint> peer =
            Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&from), from_length);
        if (!peer.ok()) continue;
        out.push_back({*peer, std::string(buffer, static_cast<size_t>(n))});
      }
    }
    return out;
  }

  std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override {
    std::vector<WriteResult> results;
    netrig::InFlightScope in_flight(&gate_);
    for (const Datagram& datagram : datagrams) {
      if (!in_flight.entered()) {
        results.push_back(WriteResult::Rejected(absl::FailedPreconditionError("flow closed")));
      } else if (waiting_.load()) {
        // Never drop silently while there is no path: say so.
        results.push_back(WriteResult::Rejected(absl::UnavailableError("no path (waiting)")));
      } else {
        results.push_back(SendOne(datagram));
      }
    }
    return results;
  }

  void Close() override {
    // Concurrent Close() calls take turns: else a second one could close the wake-up fd while
    // the first still writes to it (TSan reported it). Reads and writes never take close_mu_.
    netrig::MutexLock lock(&close_mu_);
    if (gate_.Close()) {  // The first Close() wakes blocked reads.
      const uint64_t one = 1;
      (void)!write(wake_fd_, &one, sizeof(one));
    }
    gate_.WaitIdle();  // No read or write uses the sockets any more.
    for (int* fd : {&fd4_, &fd6_, &wake_fd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  void OnPathEvent(netrig::PathEvent event) override {
    waiting_.store(event == netrig::PathEvent::kPathLost);
  }

  netrig::FlowState state() const override {
    if (gate_.closed()) return netrig::FlowState::kClosed;
    return waiting_.load() ? netrig::FlowState::kWaiting : netrig::FlowState::kReady;
  }

 private:
  explicit ExampleUdpFlow(const netrig::FlowOptions& options) : options_(options) {}

  absl::Status Open() {
    fd4_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    fd6_ = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd4_ < 0 || fd6_ < 0 || wake_fd_ < 0) return absl::ErrnoToStatus(errno, "socket");
    const int one = 1;
    setsockopt(fd6_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    const int buffer_bytes = 4 << 20;  // Bursts of 64 KiB datagrams must not overflow the queue.
    for (int fd : {fd4_, fd6_}) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    }
    if (options_.dont_fragment) {
      const int pmtu = IP_PMTUDISC_DO;
      setsockopt(fd4_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
      setsockopt(fd6_, IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof(one));
    }
    return absl::OkStatus();
  }

  WriteResult SendOne(const Datagram& datagram) {
    absl::StatusOr<netrig::SocketAddress> to =
        netrig::ResolveDestination(datagram.endpoint, options_.loopback_only);
    if (!to.ok()) return WriteResult::Rejected(to.status());
    const int fd = to->storage.ss_family == AF_INET6 ? fd6_ : fd4_;
    if (sendto(fd, datagram.payload.data(), datagram.payload.size(), 0, to->get(), to->length) <
        0) {
      return netrig::SendErrorResult(errno, datagram, *to);  // EMSGSIZE names its limit.
    }
    return WriteResult::Accepted();
  }

  const netrig::FlowOptions options_;
  // Every flow netrig drives holds a live token, so leaks show in the live-object counters.
  netrig::LiveToken live_{netrig::kLiveFlows};
  int fd4_ = -1;
  int fd6_ = -1;
  int wake_fd_ = -1;
  netrig::InFlightGate gate_;
  std::atomic<bool> waiting_{false};
  netrig::Mutex close_mu_;  // Concurrent Close() calls close each socket once.
};

// The dual-stack flow source: a dispatcher thread reads the one listening socket and queues each
// datagram on its peer's flow, handing a new peer's flow to the handler (or parking it while the
// source sleeps). Flows write from the listening socket, so replies come from where peers wrote.
class DualStackSource final : public netrig::FlowSource {
 public:
  static absl::StatusOr<std::unique_ptr<netrig::FlowSource>> Create(const netrig::FlowOptions&) {
    auto source = std::unique_ptr<DualStackSource>(new DualStackSource());
    if (absl::Status status = source->Open(); !status.ok()) return status;
    return source;
  }
  ~DualStackSource() override {
    Stop();
    for (int fd : {core_->fd, core_->wake_fd}) {
      if (fd >= 0) close(fd);
    }
  }

  absl::Status Start(Handler handler) override {
    handler_ = std::move(handler);
    dispatcher_ = netrig::Thread("example.source", [this] { Dispatch(); });
    return absl::OkStatus();
  }
  void Sleep() override {
    netrig::MutexLock lock(&core_->mu);
    asleep_ = true;
  }
  void Wake() override {
    std::vector<Parked> ready;
    {
      netrig::MutexLock lock(&core_->mu);
      asleep_ = false;
      ready.swap(parked_);
    }
    for (Parked& parked : ready) HandOut(std::move(parked));
  }
  void Stop() override {
    if (stopped_.exchange(true)) return;
    const uint64_t one = 1;
    (void)!write(core_->wake_fd, &one, sizeof(one));
    if (dispatcher_.joinable()) dispatcher_.join();
  }
  std::vector<Endpoint> LocalEndpoints() const override { return {local_}; }

 private:
  // A peer's queue, shared by the dispatcher and the peer's flow.
  struct PeerQueue {
    std::deque<Datagram> datagrams;
    bool closed = false;
    netrig::LiveToken live{kLivePeerQueues};
  };
  // What the dispatcher and the flows share; it outlives the source while flows hold it.
  struct Core {
    int fd = -1;
    int wake_fd = -1;
    netrig::Mutex mu;
    netrig::CondVar changed;
    std::map<std::string, std::shared_ptr<PeerQueue>> peers ABSL_GUARDED_BY(mu);
    netrig::LiveToken live{kLiveSourceCores};
  };
  struct Parked {
    Endpoint peer;
    std::shared_ptr<PeerQueue> queue;
  };

  class PeerFlow final : public netrig::Flow {
   public:
    PeerFlow(std::shared_ptr<Core> core, std::shared_ptr<PeerQueue> queue, std::string key)
        : core_(std::move(core)), queue_(std::move(queue)), key_(std::move(key)) {}
    ~PeerFlow() override { Close(); }

    absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams,
                                               absl::Duration timeout) override {
      const absl::Time deadline = absl::Now() + timeout;
      netrig::MutexLock lock(&core_->mu);
      while (queue_->datagrams.empty() && !queue_->closed) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration() || !core_->changed.WaitWithTimeout(&core_->mu, left)) {
          break;
        }
      }
      if (queue_->closed) return absl::CancelledError("flow closed");
      std::vector<Datagram> out;
      while (!queue_->datagrams.empty() && out.size() < max_datagrams) {
        out.push_back(std::move(queue_->datagrams.front()));
        queue_->datagrams.pop_front();
      }
      return out;
    }

    std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override {
      std::vector<WriteResult> results;
      for (const Datagram& datagram : datagrams) {
        if (closed_.load()) {
          results.push_back(WriteResult::Rejected(absl::FailedPreconditionError("flow closed")));
          continue;
        }
        absl::StatusOr<netrig::SocketAddress> to =
            netrig::ResolveDestination(datagram.endpoint, /*loopback_only=*/true);
        if (!to.ok()) {
          results.push_back(WriteResult::Rejected(to.status()));
          continue;
        }
        // The listening socket is AF_INET6: IPv4 destinations go out IPv4-mapped.
        const netrig::SocketAddress v6 = netrig::MapToIPv6(*to);
        results.push_back(sendto(core_->fd, datagram.payload.data(), datagram.payload.size(), 0,
                                 v6.get(), v6.length) >= 0
                              ? WriteResult::Accepted()
                              : netrig::SendErrorResult(errno, datagram, *to));
      }
      return results;
    }

    void Close() override {
      if (closed_.exchange(true)) return;
      netrig::MutexLock lock(&core_->mu);
      queue_->closed = true;
      // Forget the peer: its next datagram opens a new flow.
      auto it = core_->peers.find(key_);
      if (it != core_->peers.end() && it->second == queue_) core_->peers.erase(it);
      core_->changed.SignalAll();
    }
    void OnPathEvent(netrig::PathEvent) override {}
    netrig::FlowState state() const override {
      return closed_.load() ? netrig::FlowState::kClosed : netrig::FlowState::kReady;
    }

   private:
    const std::shared_ptr<Core> core_;
    const std::shared_ptr<PeerQueue> queue_;
    const std::string key_;
    std::atomic<bool> closed_{false};
    netrig::LiveToken live_{netrig::kLiveFlows};
  };

  DualStackSource() : core_(std::make_shared<Core>()) {}

  // IPv4 loopback through the mapped address: binding "::" would listen on every interface.
  absl::Status Open() {
    core_->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    core_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (core_->fd < 0 || core_->wake_fd < 0) return absl::ErrnoToStatus(errno, "socket");
    const int off = 0;
    setsockopt(core_->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr.s6_addr[10] = 0xff;
    address.sin6_addr.s6_addr[11] = 0xff;
    address.sin6_addr.s6_addr[12] = 127;
    address.sin6_addr.s6_addr[15] = 1;
    if (bind(core_->fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      return absl::ErrnoToStatus(errno, "bind [::ffff:127.0.0.1]:0");
    }
    socklen_t length = sizeof(address);
    getsockname(core_->fd, reinterpret_cast<sockaddr*>(&address), &length);
    local_ = Endpoint::IPv4({127, 0, 0, 1}, ntohs(address.sin6_port));
    return absl::OkStatus();
  }

  void Dispatch() {
    char buffer[65536];
    while (!stopped_.load()) {
      pollfd fds[2] = {{core_->fd, POLLIN, 0}, {core_->wake_fd, POLLIN, 0}};
      if (poll(fds, 2, 100) <= 0 || !(fds[0].revents & POLLIN)) continue;
      sockaddr_storage from{};
      socklen_t from_length = sizeof(from);
      const ssize_t n = recvfrom(core_->fd, buffer, sizeof(buffer), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0) continue;
      absl::StatusOr<Endpoint> peer =
          Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&from), from_length);
      if (!peer.ok()) continue;
      const std::string key = peer->ToString();
      std::optional<Parked> fresh;
      {
        netrig::MutexLock lock(&core_->mu);
        std::shared_ptr<PeerQueue>& queue = core_->peers[key];
        const bool is_new = queue == nullptr;
        if (is_new) queue = std::make_shared<PeerQueue>();
        queue->datagrams.push_back({*peer, std::string(buffer, static_cast<size_t>(n))});
        core_->changed.SignalAll();
        if (is_new) {
          if (asleep_) {
            parked_.push_back({*peer, queue});
          } else {
            fresh = Parked{*peer, queue};
          }
        }
      }
      if (fresh.has_value()) HandOut(std::move(*fresh));
    }
  }

  void HandOut(Parked parked) {
    handler_(std::make_unique<PeerFlow>(core_, parked.queue, parked.peer.ToString()), parked.peer);
  }

  const std::shared_ptr<Core> core_;
  Endpoint local_ = Endpoint::IPv4({127, 0, 0, 1}, 0);
  Handler handler_;
  netrig::Thread dispatcher_;
  std::atomic<bool> stopped_{false};
  bool asleep_ ABSL_GUARDED_BY(core_->mu) = false;
  std::vector<Parked> parked_ ABSL_GUARDED_BY(core_->mu);
  netrig::LiveToken live_{netrig::kLiveFlowSources};
};

NETRIG_REGISTER_FLOW("example-udp",
                     "examples/: a user's blocking-socket UDP flow, with a dual-stack flow source",
                     ExampleUdpFlow::Create, DualStackSource::Create);

}  // namespace
