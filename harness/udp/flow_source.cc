#include "harness/udp/flow_source.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"
#include "harness/udp/flow_kit.h"

namespace netrig {
namespace internal {

inline constexpr size_t kPeerQueueLimit = 4096;

// One peer's inbound datagrams.
struct PeerQueue {
  Mutex mu;
  CondVar changed;
  std::deque<Datagram> datagrams ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
};

// What the source and its flows share; lives until the last of them is gone.
struct SourceCore {
  UniqueFd ipv4;
  UniqueFd ipv6;
  uint16_t port = 0;
  Mutex mu;
  absl::flat_hash_map<std::string, std::weak_ptr<PeerQueue>> peers ABSL_GUARDED_BY(mu);
  struct Parked {
    std::shared_ptr<PeerQueue> queue;
    Endpoint peer;
    std::string key;
  };
  std::vector<Parked> parked ABSL_GUARDED_BY(mu);  // opened, not yet handed out
  bool sleeping ABSL_GUARDED_BY(mu) = false;
  std::atomic<uint64_t> handed_out{0};
  std::atomic<uint64_t> overflows{0};
};

namespace {

class PeerFlow : public Flow {
 public:
  PeerFlow(std::shared_ptr<SourceCore> core, std::shared_ptr<PeerQueue> queue, std::string key,
           bool loopback_only)
      : core_(std::move(core)),
        queue_(std::move(queue)),
        key_(std::move(key)),
        loopback_only_(loopback_only) {}
  ~PeerFlow() override { Close(); }

  absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams,
                                             absl::Duration timeout) override {
    SchedulePoint("flow.read");
    const absl::Time deadline = netrig::Now() + timeout;
    std::vector<Datagram> out;
    MutexLock lock(&queue_->mu);
    while (queue_->datagrams.empty() && !queue_->closed) {
      const absl::Duration remaining = deadline - netrig::Now();
      if (remaining <= absl::ZeroDuration()) return out;
      queue_->changed.WaitWithTimeout(&queue_->mu, remaining);
    }
    if (queue_->closed) return absl::CancelledError("flow is closed");
    while (!queue_->datagrams.empty() && out.size() < std::max<size_t>(max_datagrams, 1)) {
      out.push_back(std::move(queue_->datagrams.front()));
      queue_->datagrams.pop_front();
    }
    return out;
  }

  std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override {
    SchedulePoint("flow.write");
    std::vector<WriteResult> results(datagrams.size());
    for (size_t i = 0; i < datagrams.size(); ++i) {
      if (closed_.load(std::memory_order_acquire)) {
        results[i] = WriteResult::Rejected(
            absl::FailedPreconditionError("flow is closed; datagram not sent"));
        continue;
      }
      if (waiting_.load(std::memory_order_acquire)) {
        results[i] = WriteResult::Rejected(absl::UnavailableError(
            "flow is waiting for a path (path lost): datagram not sent and not queued"));
        continue;
      }
      const Datagram& d = datagrams[i];
      absl::StatusOr<SocketAddress> to = ResolveDestination(d.endpoint, loopback_only_);
      if (!to.ok()) {
        results[i] = WriteResult::Rejected(to.status());
        continue;
      }
      const bool ipv6 = to->storage.ss_family == AF_INET6;
      const int fd = ipv6 ? core_->ipv6.get() : core_->ipv4.get();
      if (fd < 0) {
        results[i] = WriteResult::Rejected(absl::FailedPreconditionError("no IPv6 socket"));
        continue;
      }
      ssize_t sent;
      int full_waits = 0;
      while (true) {
        sent =
            ::sendto(fd, d.payload.data(), d.payload.size(), MSG_DONTWAIT, to->get(), to->length);
        if (sent >= 0 || errno == EINTR) {
          if (sent >= 0) break;
          continue;
        }
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && full_waits++ < 50) {
          pollfd p{fd, POLLOUT, 0};
          netrig::Poll(&p, 1, 100);
          continue;
        }
        break;
      }
      if (sent < 0) {
        results[i] = SendErrorResult(errno, d, *to);
      }
    }
    return results;
  }

  void Close() override {
    if (closed_.exchange(true, std::memory_order_acq_rel)) return;
    SchedulePoint("flow.close");
    {
      MutexLock lock(&queue_->mu);
      queue_->closed = true;
      queue_->changed.SignalAll();
    }
    MutexLock lock(&core_->mu);
    auto it = core_->peers.find(key_);
    if (it != core_->peers.end() && it->second.lock() == queue_) core_->peers.erase(it);
  }

  void OnPathEvent(PathEvent event) override {
    SchedulePoint(event == PathEvent::kPathLost ? "flow.path_lost" : "flow.path_back");
    waiting_.store(event == PathEvent::kPathLost, std::memory_order_release);
  }

  FlowState state() const override {
    if (closed_.load(std::memory_order_acquire)) return FlowState::kClosed;
    return waiting_.load(std::memory_order_acquire) ? FlowState::kWaiting : FlowState::kReady;
  }

  std::vector<Endpoint> LocalEndpoints() const override {
    std::vector<Endpoint> out;
    for (int fd : {core_->ipv4.get(), core_->ipv6.get()}) {
      if (fd < 0) continue;
      absl::StatusOr<Endpoint> local = LocalEndpoint(fd);
      if (local.ok()) out.push_back(*std::move(local));
    }
    return out;
  }

 private:
  LiveToken live_{kLiveFlows};
  const std::shared_ptr<SourceCore> core_;
  const std::shared_ptr<PeerQueue> queue_;
  const std::string key_;
  const bool loopback_only_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> waiting_{false};
};

}  // namespace
}  // namespace internal

absl::StatusOr<std::unique_ptr<LoopbackFlowSource>> LoopbackFlowSource::Open(
    const FlowOptions& options, internal::FlowSourceBugs bugs) {
  std::unique_ptr<LoopbackFlowSource> source(new LoopbackFlowSource(options, bugs));
  source->core_ = std::make_shared<internal::SourceCore>();
  absl::Status bound =
      internal::BindUdpPair(&source->core_->ipv4, &source->core_->ipv6, &source->core_->port);
  if (!bound.ok()) return bound;
  for (internal::UniqueFd* fd : {&source->stop_, &source->kick_}) {
    absl::StatusOr<internal::UniqueFd> made = internal::MakeWakeFd();
    if (!made.ok()) return made.status();
    *fd = std::move(*made);
  }
  return source;
}

LoopbackFlowSource::LoopbackFlowSource(const FlowOptions& options, internal::FlowSourceBugs bugs)
    : options_(options), bugs_(bugs) {}

LoopbackFlowSource::~LoopbackFlowSource() { Stop(); }

absl::Status LoopbackFlowSource::Start(Handler handler) {
  if (!handler) return absl::InvalidArgumentError("a flow source needs a handler");
  if (started_.exchange(true)) return absl::FailedPreconditionError("flow source already started");
  handler_ = std::move(handler);
  dispatcher_ = Thread("udp.dispatcher", [this] { Dispatch(); });
  return absl::OkStatus();
}

void LoopbackFlowSource::Sleep() {
  SchedulePoint("source.sleep");
  MutexLock lock(&core_->mu);
  core_->sleeping = true;
}

void LoopbackFlowSource::Wake() {
  SchedulePoint("source.wake");
  const int wakes = ++wakes_;
  if (bugs_.stop_after_wakes > 0 && wakes > bugs_.stop_after_wakes) {
    return;  // Seeded bug (e): the dispatcher is never re-armed again.
  }
  {
    MutexLock lock(&core_->mu);
    core_->sleeping = false;
  }
  internal::SignalWakeFd(kick_.get());
}

void LoopbackFlowSource::Stop() {
  if (stopping_.exchange(true)) return;
  SchedulePoint("source.stop");
  internal::SignalWakeFd(stop_.get());
  if (dispatcher_.joinable()) dispatcher_.join();
}

std::vector<Endpoint> LoopbackFlowSource::LocalEndpoints() const {
  std::vector<Endpoint> out;
  for (int fd : {core_->ipv4.get(), core_->ipv6.get()}) {
    if (fd < 0) continue;
    absl::StatusOr<Endpoint> local = internal::LocalEndpoint(fd);
    if (local.ok()) out.push_back(*std::move(local));
  }
  return out;
}

uint64_t LoopbackFlowSource::flows_handed_out() const { return core_->handed_out.load(); }
uint64_t LoopbackFlowSource::queue_overflows() const { return core_->overflows.load(); }

void LoopbackFlowSource::Dispatch() {
  internal::SourceCore& core = *core_;
  std::string buffer(65536, '\0');
  std::vector<internal::SourceCore::Parked> handout;
  while (!stopping_.load(std::memory_order_acquire)) {
    pollfd fds[4];
    int count = 0;
    for (int fd : {core.ipv4.get(), core.ipv6.get(), stop_.get(), kick_.get()}) {
      if (fd >= 0) fds[count++] = {fd, POLLIN, 0};
    }
    const int ready = netrig::Poll(fds, count, 200);
    if (stopping_.load(std::memory_order_acquire)) break;
    for (int i = 0; ready > 0 && i < count; ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      if (fds[i].fd == kick_.get()) {
        uint64_t drained;
        [[maybe_unused]] ssize_t n = ::read(kick_.get(), &drained, sizeof(drained));
        continue;
      }
      if (fds[i].fd == stop_.get()) continue;
      for (int d = 0; d < 64; ++d) {
        SocketAddress source;
        source.length = sizeof(source.storage);
        const ssize_t n = ::recvfrom(fds[i].fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                     source.get(), &source.length);
        if (n < 0) break;
        absl::StatusOr<Endpoint> peer = Endpoint::FromSockaddr(source.get(), source.length);
        if (!peer.ok()) continue;
        std::string key(reinterpret_cast<const char*>(&source.storage), source.length);
        Datagram datagram{*peer, std::string(buffer.data(), static_cast<size_t>(n))};
        std::shared_ptr<internal::PeerQueue> queue;
        {
          MutexLock lock(&core.mu);
          auto it = core.peers.find(key);
          if (it != core.peers.end()) queue = it->second.lock();
          if (queue == nullptr) {
            SchedulePoint("source.new_peer");
            queue = std::make_shared<internal::PeerQueue>();
            core.peers[key] = queue;
            core.parked.push_back({queue, *peer, key});
          }
        }
        MutexLock lock(&queue->mu);
        if (queue->datagrams.size() >= internal::kPeerQueueLimit) {
          core.overflows.fetch_add(1);
          continue;
        }
        queue->datagrams.push_back(std::move(datagram));
        queue->changed.SignalAll();
      }
    }
    {
      MutexLock lock(&core.mu);
      if (!core.sleeping) handout.swap(core.parked);
    }
    for (internal::SourceCore::Parked& p : handout) {
      SchedulePoint("source.handout");
      core.handed_out.fetch_add(1);
      handler_(std::make_unique<internal::PeerFlow>(core_, std::move(p.queue), std::move(p.key),
                                                    options_.loopback_only),
               p.peer);
    }
    handout.clear();
  }
}

}  // namespace netrig
