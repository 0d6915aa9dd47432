// A user's own UDP flow, registered as "example-udp": plain blocking sockets (one per family),
// poll() with a wake-up eventfd so Close() can interrupt a blocked Read(). Every netrig UDP driver
// and fuzzer runs against it with `--flow example-udp`.
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/udp/flow.h"

namespace {

using netrig::Datagram;
using netrig::Endpoint;
using netrig::WriteResult;

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
    Use use(this);
    if (!use.ok()) return absl::CancelledError("flow closed");
    pollfd fds[3] = {{fd4_, POLLIN, 0}, {fd6_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    if (poll(fds, 3, ms) < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (closed_.load()) return absl::CancelledError("flow closed");
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
    Use use(this);
    for (const Datagram& datagram : datagrams) {
      if (!use.ok()) {
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
    if (closed_.exchange(true)) return;
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    netrig::MutexLock lock(&mu_);
    while (users_ > 0) idle_.Wait(&mu_);
    for (int fd : {fd4_, fd6_, wake_fd_}) {
      if (fd >= 0) close(fd);
    }
    fd4_ = fd6_ = wake_fd_ = -1;
  }

  void OnPathEvent(netrig::PathEvent event) override {
    waiting_.store(event == netrig::PathEvent::kPathLost);
  }

  netrig::FlowState state() const override {
    if (closed_.load()) return netrig::FlowState::kClosed;
    return waiting_.load() ? netrig::FlowState::kWaiting : netrig::FlowState::kReady;
  }

 private:
  // Counts a Read/Write in progress so that Close() frees the sockets only after it.
  class Use {
   public:
    explicit Use(ExampleUdpFlow* flow) : flow_(flow) {
      netrig::MutexLock lock(&flow_->mu_);
      ok_ = !flow_->closed_.load();
      if (ok_) ++flow_->users_;
    }
    ~Use() {
      if (!ok_) return;
      netrig::MutexLock lock(&flow_->mu_);
      if (--flow_->users_ == 0) flow_->idle_.SignalAll();
    }
    bool ok() const { return ok_; }

   private:
    ExampleUdpFlow* flow_;
    bool ok_ = false;
  };

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

  // Where to send: host names are resolved, and IPv4-mapped IPv6 addresses go out as IPv4 (the
  // "datagram too large" of docs/field-notes.md story 2 came from echoing an endpoint in another encoding).
  static absl::StatusOr<netrig::SocketAddress> Destination(const Endpoint& endpoint) {
    if (endpoint.kind() == netrig::EndpointKind::kHost) {
      addrinfo hints{};
      hints.ai_socktype = SOCK_DGRAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* results = nullptr;
      const std::string port = std::to_string(endpoint.port());
      if (getaddrinfo(endpoint.host().c_str(), port.c_str(), &hints, &results) != 0 ||
          results == nullptr) {
        return absl::NotFoundError(absl::StrCat("cannot resolve ", endpoint.ToString()));
      }
      netrig::SocketAddress address;
      std::memcpy(&address.storage, results->ai_addr, results->ai_addrlen);
      address.length = results->ai_addrlen;
      freeaddrinfo(results);
      return address;
    }
    absl::StatusOr<netrig::SocketAddress> address = endpoint.ToSockaddr();
    if (!address.ok() || address->get()->sa_family != AF_INET6) return address;
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address->storage);
    if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return address;
    netrig::SocketAddress v4;
    auto* sin = reinterpret_cast<sockaddr_in*>(&v4.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = v6->sin6_port;
    std::memcpy(&sin->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
    v4.length = sizeof(sockaddr_in);
    return v4;
  }

  WriteResult SendOne(const Datagram& datagram) {
    absl::StatusOr<netrig::SocketAddress> to = Destination(datagram.endpoint);
    if (!to.ok()) return WriteResult::Rejected(to.status());
    const bool v6 = to->get()->sa_family == AF_INET6;
    const int fd = v6 ? fd6_ : fd4_;
    if (sendto(fd, datagram.payload.data(), datagram.payload.size(), 0, to->get(), to->length) >=
        0) {
      return WriteResult::Accepted();
    }
    const int error = errno;
    if (error == EMSGSIZE) {
      // Name the limit the kernel enforced, as the oracle describes it.
      absl::StatusOr<netrig::DatagramLimit> limit =
          netrig::BindingLimit(v6 ? netrig::AddressFamily::kIPv6 : netrig::AddressFamily::kIPv4,
                               netrig::DatagramPath::Loopback(options_.dont_fragment));
      if (limit.ok()) {
        return WriteResult::TooLarge(
            absl::InvalidArgumentError(absl::StrCat("datagram of ", datagram.payload.size(),
                                                    " bytes exceeds ", limit->payload_bytes)),
            limit->kind, limit->payload_bytes);
      }
    }
    return WriteResult::Rejected(absl::ErrnoToStatus(error, "sendto"));
  }

  const netrig::FlowOptions options_;
  // Every flow netrig drives holds a live token, so leaks show in the live-object counters.
  netrig::LiveToken live_{netrig::kLiveFlows};
  int fd4_ = -1;
  int fd6_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> closed_{false};
  std::atomic<bool> waiting_{false};
  netrig::Mutex mu_;
  netrig::CondVar idle_;
  int users_ ABSL_GUARDED_BY(mu_) = 0;
};

NETRIG_REGISTER_FLOW("example-udp", "examples/: a user's blocking-socket UDP flow",
                     ExampleUdpFlow::Create);

}  // namespace
