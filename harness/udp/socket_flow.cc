#include "harness/udp/socket_flow.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/sched/clock.h"
#include "harness/sched/controlled.h"
#include "harness/sched/schedule_point.h"
#include "harness/udp/flow_kit.h"

namespace netrig {

using internal::ErrnoStatus;

// Large enough for any UDP payload (65527), so the reference flow never truncates.
inline constexpr size_t kReceiveSlotBytes = 65536;

struct SocketFlow::ReceiveBuffers {
  explicit ReceiveBuffers(size_t batch)
      : data(batch * kReceiveSlotBytes), names(batch), iovecs(batch), headers(batch) {
    for (size_t i = 0; i < batch; ++i) {
      iovecs[i].iov_base = data.data() + i * kReceiveSlotBytes;
      iovecs[i].iov_len = kReceiveSlotBytes;
    }
  }
  std::vector<uint8_t> data;
  std::vector<sockaddr_storage> names;
  std::vector<iovec> iovecs;
  std::vector<mmsghdr> headers;
  uint64_t polls = 0;
};

absl::StatusOr<std::unique_ptr<SocketFlow>> SocketFlow::Open(const FlowOptions& options,
                                                             internal::SocketFlowBugs bugs) {
  std::unique_ptr<SocketFlow> flow(new SocketFlow(options, bugs));
  absl::Status status = flow->Init();
  if (!status.ok()) return status;
  return flow;
}

SocketFlow::SocketFlow(const FlowOptions& options, internal::SocketFlowBugs bugs)
    : options_(options), bugs_(bugs) {}

SocketFlow::~SocketFlow() { Close(); }

absl::Status SocketFlow::Init() {
  absl::StatusOr<internal::UniqueFd> wake = internal::MakeWakeFd();
  if (!wake.ok()) return wake.status();
  wake_ = std::move(*wake);
  absl::StatusOr<internal::UniqueFd> ipv4 = internal::BindUdp(
      AddressFamily::kIPv4, 0, options_.bind_ipv4 ? &*options_.bind_ipv4 : nullptr);
  if (!ipv4.ok()) return ipv4.status();
  ipv4_ = std::move(*ipv4);
  // A host without ::1 still gets an IPv4-only flow.
  absl::StatusOr<internal::UniqueFd> ipv6 = internal::BindUdp(
      AddressFamily::kIPv6, 0, options_.bind_ipv6 ? &*options_.bind_ipv6 : nullptr);
  if (ipv6.ok()) ipv6_ = std::move(*ipv6);
  const int buffer_bytes = 4 << 20;
  for (int fd : {ipv4_.get(), ipv6_.get()}) {
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
  }
  if (options_.dont_fragment) {
    int discover = IP_PMTUDISC_DO;
    if (::setsockopt(ipv4_.get(), IPPROTO_IP, IP_MTU_DISCOVER, &discover, sizeof(discover)) != 0) {
      return ErrnoStatus("setsockopt IP_MTU_DISCOVER", errno);
    }
    if (ipv6_.valid()) {
      int v6_discover = IPV6_PMTUDISC_DO;
      int one = 1;
      ::setsockopt(ipv6_.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6_discover, sizeof(v6_discover));
      if (::setsockopt(ipv6_.get(), IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof(one)) != 0) {
        return ErrnoStatus("setsockopt IPV6_DONTFRAG", errno);
      }
    }
  }
  buffers_ = std::make_unique<ReceiveBuffers>(std::clamp<int>(options_.batch, 1, kMaxBatch));
  return absl::OkStatus();
}

FlowState SocketFlow::state() const {
  if (gate_.closed()) return FlowState::kClosed;
  return waiting_.load(std::memory_order_acquire) ? FlowState::kWaiting : FlowState::kReady;
}

std::vector<Endpoint> SocketFlow::LocalEndpoints() const {
  std::vector<Endpoint> out;
  for (int fd : {ipv4_.get(), ipv6_.get()}) {
    if (fd < 0) continue;
    absl::StatusOr<Endpoint> local = internal::LocalEndpoint(fd);
    if (local.ok()) out.push_back(*std::move(local));
  }
  return out;
}

void SocketFlow::OnPathEvent(PathEvent event) {
  if (gate_.closed()) return;
  if (event == PathEvent::kPathLost) {
    SchedulePoint("flow.path_lost");
    waiting_.store(true, std::memory_order_release);
  } else {
    SchedulePoint("flow.path_back");
    waiting_.store(false, std::memory_order_release);
  }
}

void SocketFlow::Close() {
  // Serializes concurrent Close() calls; reads and writes never take close_mu_.
  MutexLock close_lock(&close_mu_);
  if (gate_.Close()) {
    SchedulePoint("flow.close");
    if (bugs_.close_race_uaf) {
      // Seeded bug (c): the buffers go away while a read may still be using them. Freed before
      // the wake-up, so a waiting reader always touches freed memory: if the free came after,
      // a reader scheduled first on a loaded machine would make the bug hide.
      buffers_.reset();
    }
    internal::SignalWakeFd(wake_.get());
  }
  gate_.WaitIdle();
  SchedulePoint("flow.close.idle");
  ipv4_.Reset();
  ipv6_.Reset();
}

absl::StatusOr<std::vector<Datagram>> SocketFlow::Read(size_t max_datagrams,
                                                       absl::Duration timeout) {
  InFlightScope in_flight(&gate_);
  if (!in_flight.entered()) return absl::CancelledError("flow is closed");
  SchedulePoint("flow.read");
  // Seeded bug (c) keeps a raw pointer across the wait; the reference looks buffers up under
  // read_mu_ each time it receives.
  ReceiveBuffers* const cached = bugs_.close_race_uaf ? buffers_.get() : nullptr;
  max_datagrams = std::max<size_t>(max_datagrams, 1);
  std::vector<Datagram> out;
  // Fast path: under load the socket that delivered last usually has more queued, and one
  // recvmmsg then saves a poll(). An empty try turns the fast path off until data flows again.
  const int hint = last_ready_.load(std::memory_order_relaxed);
  if (hint >= 0 && cached == nullptr) {
    ReceiveFrom(hint == 0 ? ipv4_.get() : ipv6_.get(), max_datagrams, out);
    if (!out.empty()) {
      SchedulePoint("flow.read.done");
      return out;
    }
    last_ready_.store(-1, std::memory_order_relaxed);
  }
  const absl::Time deadline = netrig::Now() + timeout;
  while (true) {
    pollfd fds[3];
    int count = 0;
    for (int fd : {ipv4_.get(), ipv6_.get(), wake_.get()}) {
      if (fd >= 0) fds[count++] = {fd, POLLIN, 0};
    }
    const int ready = netrig::Poll(fds, count, internal::PollTimeoutMs(deadline - netrig::Now()));
    if (cached != nullptr) ++cached->polls;
    if (gate_.closed()) {
      return absl::CancelledError("flow closed while a read was waiting");
    }
    if (ready < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
    for (int i = 0; ready > 0 && i < count; ++i) {
      if (fds[i].fd == wake_.get() || (fds[i].revents & POLLIN) == 0) continue;
      const size_t before = out.size();
      if (before < max_datagrams) ReceiveFrom(fds[i].fd, max_datagrams - before, out);
      if (out.size() > before) {
        last_ready_.store(fds[i].fd == ipv4_.get() ? 0 : 1, std::memory_order_relaxed);
      }
    }
    if (!out.empty()) {
      SchedulePoint("flow.read.done");
      return out;
    }
    if (netrig::Now() >= deadline) return out;
  }
}

void SocketFlow::ReceiveFrom(int fd, size_t max, std::vector<Datagram>& out) {
  MutexLock lock(&read_mu_);
  ReceiveBuffers* buffers = buffers_.get();
  if (buffers == nullptr) return;
  const size_t batch = std::min(max, buffers->headers.size());
  for (size_t i = 0; i < batch; ++i) {
    msghdr& header = buffers->headers[i].msg_hdr;
    header = {};
    header.msg_name = &buffers->names[i];
    header.msg_namelen = sizeof(sockaddr_storage);
    header.msg_iov = &buffers->iovecs[i];
    header.msg_iovlen = 1;
  }
  int received;
  do {
    received = ::recvmmsg(fd, buffers->headers.data(), static_cast<unsigned>(batch), MSG_DONTWAIT,
                          nullptr);
  } while (received < 0 && errno == EINTR);
  // A batch usually comes from few peers: convert each distinct source address once.
  const sockaddr_storage* previous_name = nullptr;
  socklen_t previous_length = 0;
  std::optional<Endpoint> previous;
  for (int i = 0; i < received; ++i) {
    const mmsghdr& message = buffers->headers[i];
    const sockaddr_storage* name = &buffers->names[i];
    const socklen_t length = message.msg_hdr.msg_namelen;
    if (previous_name == nullptr || length != previous_length ||
        std::memcmp(name, previous_name, length) != 0) {
      absl::StatusOr<Endpoint> source =
          Endpoint::FromSockaddr(reinterpret_cast<const sockaddr*>(name), length);
      if (!source.ok()) continue;  // The kernel only hands out AF_INET/AF_INET6 sources here.
      previous = *std::move(source);
      previous_name = name;
      previous_length = length;
    }
    const auto* bytes = static_cast<const char*>(buffers->iovecs[i].iov_base);
    out.push_back({*previous,
                   std::string(bytes, std::min<size_t>(message.msg_len, kReceiveSlotBytes)),
                   (message.msg_hdr.msg_flags & MSG_TRUNC) != 0});
  }
}

absl::StatusOr<SocketAddress> SocketFlow::ResolveHost(const Endpoint& endpoint) {
  // Resolved once per flow and port: the driver sends to the same few names over and over.
  const std::string key = endpoint.ToString();
  {
    MutexLock lock(&mu_);
    auto it = resolved_.find(key);
    if (it != resolved_.end()) return it->second;
  }
  absl::StatusOr<SocketAddress> looked_up =
      LookUpHost(endpoint.host(), endpoint.port(),
                 ipv6_.valid() ? AddressFamily::kUnspecified : AddressFamily::kIPv4);
  if (!looked_up.ok()) return looked_up.status();
  MutexLock lock(&mu_);
  resolved_.emplace(key, *looked_up);
  return *looked_up;
}

absl::StatusOr<SocketFlow::Destination> SocketFlow::Resolve(const Endpoint& endpoint) {
  Destination destination;
  switch (endpoint.kind()) {
    case EndpointKind::kRedacted:
      return absl::InvalidArgumentError(absl::StrCat("endpoint ", endpoint.ToString(),
                                                     " is redacted: it has no address to send to"));
    case EndpointKind::kHost: {
      absl::StatusOr<SocketAddress> address = ResolveHost(endpoint);
      if (!address.ok()) return address.status();
      destination.address = *address;
      break;
    }
    case EndpointKind::kAddress: {
      absl::StatusOr<SocketAddress> address;
      if (bugs_.scope_mangle && !endpoint.scope().empty()) {
        // Seeded bug (b): "drop the scope" by cutting the text at '%' and re-adding the port.
        const std::string text = endpoint.ToString();
        absl::StatusOr<Endpoint> mangled =
            Endpoint::Parse(absl::StrCat(text.substr(0, text.find('%')), ":", endpoint.port()));
        if (!mangled.ok()) return mangled.status();
        address = mangled->ToSockaddr();
      } else {
        address = endpoint.ToSockaddr();
      }
      if (!address.ok()) return address.status();
      destination.address = *address;
      break;
    }
  }
  // IPv4-mapped IPv6 leaves through the IPv4 socket (the IPv6 socket is IPv6-only).
  destination.address = UnmapIPv4Mapped(destination.address);
  if (options_.loopback_only) {
    if (absl::Status loopback = RequireLoopback(destination.address, endpoint); !loopback.ok()) {
      return loopback;
    }
  }
  if (destination.address.storage.ss_family == AF_INET) {
    destination.fd = ipv4_.get();
    destination.family = AddressFamily::kIPv4;
  } else {
    destination.fd = ipv6_.get();
    destination.family = AddressFamily::kIPv6;
  }
  if (destination.fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("this flow has no ", AddressFamilyName(destination.family), " socket"));
  }
  return destination;
}

WriteResult SocketFlow::MapSendError(int error_number, const Datagram& datagram,
                                     const Destination& destination) const {
  return SendErrorResult(error_number, datagram, destination.address);
}

void SocketFlow::SendBatch(absl::Span<const Datagram> datagrams, absl::Span<const size_t> indices,
                           absl::Span<const Destination> destinations,
                           absl::Span<WriteResult> all_results) {
  const size_t count = indices.size();
  iovec iovecs[kMaxBatch];
  mmsghdr headers[kMaxBatch];
  for (size_t i = 0; i < count; ++i) {
    const Datagram& datagram = datagrams[indices[i]];
    iovecs[i].iov_base = const_cast<char*>(datagram.payload.data());
    iovecs[i].iov_len = datagram.payload.size();
    msghdr& header = headers[i].msg_hdr;
    header = {};
    header.msg_name = const_cast<sockaddr*>(destinations[i].address.get());
    header.msg_namelen = destinations[i].address.length;
    header.msg_iov = &iovecs[i];
    header.msg_iovlen = 1;
  }
  auto result = [&](size_t i) -> WriteResult& { return all_results[indices[i]]; };
  const int fd = destinations[0].fd;
  size_t next = 0;
  int full_waits = 0;
  while (next < count) {
    const int sent =
        ::sendmmsg(fd, headers + next, static_cast<unsigned>(count - next), MSG_DONTWAIT);
    if (sent > 0) {
      next += static_cast<size_t>(sent);  // results stay Accepted
      continue;
    }
    const int error = errno;
    if (sent < 0 && error == EINTR) continue;
    if (sent < 0 && (error == EAGAIN || error == EWOULDBLOCK) && full_waits < 50) {
      // The send buffer is full: wait for room (up to 50 x 100 ms), unless the flow closes.
      ++full_waits;
      pollfd fds[2] = {{fd, POLLOUT, 0}, {wake_.get(), POLLIN, 0}};
      netrig::Poll(fds, 2, 100);
      if (fds[1].revents & POLLIN) {
        for (; next < count; ++next) {
          result(next) = WriteResult::Rejected(
              absl::CancelledError("flow closed while the send buffer was full; not sent"));
        }
      }
      continue;
    }
    result(next) = MapSendError(error, datagrams[indices[next]], destinations[next]);
    ++next;
  }
}

std::vector<WriteResult> SocketFlow::Write(absl::Span<const Datagram> datagrams) {
  InFlightScope in_flight(&gate_);
  if (!in_flight.entered()) return internal::ClosedFlowWriteResults(datagrams.size());
  SchedulePoint("flow.write");
  std::vector<WriteResult> results(datagrams.size());
  if (waiting_.load(std::memory_order_acquire)) {
    if (bugs_.waiting_drop) return results;  // Seeded bug (d): "accepted", never sent.
    for (WriteResult& r : results) {
      r = WriteResult::Rejected(absl::UnavailableError(
          "flow is waiting for a path (path lost): datagram not sent and not queued"));
    }
    return results;
  }
  // Resolve each destination, then send runs of datagrams that share a socket, `batch` at a time.
  size_t batch_indices[kMaxBatch];
  Destination batch_destinations[kMaxBatch];
  size_t batched = 0;
  const size_t batch = static_cast<size_t>(std::clamp<int>(options_.batch, 1, kMaxBatch));
  auto flush = [&] {
    if (batched == 0) return;
    SendBatch(datagrams, absl::MakeConstSpan(batch_indices, batched),
              absl::MakeConstSpan(batch_destinations, batched), absl::MakeSpan(results));
    batched = 0;
  };
  for (size_t i = 0; i < datagrams.size(); ++i) {
    const Datagram& datagram = datagrams[i];
    if (bugs_.address_too_large && datagram.endpoint.kind() == EndpointKind::kAddress) {
      // Seeded bug (a): the endpoint encoding is reported as a size problem.
      results[i] = WriteResult::Rejected(absl::InvalidArgumentError("The datagram was too large"));
      continue;
    }
    absl::StatusOr<Destination> destination = Resolve(datagram.endpoint);
    if (!destination.ok()) {
      results[i] = WriteResult::Rejected(destination.status());
      continue;
    }
    if (batched > 0 && (batch_destinations[0].fd != destination->fd || batched >= batch)) flush();
    batch_indices[batched] = i;
    batch_destinations[batched] = *destination;
    ++batched;
  }
  flush();
  SchedulePoint("flow.write.done");
  return results;
}

}  // namespace netrig
