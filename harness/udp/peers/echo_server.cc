#include "harness/udp/peers/echo_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "harness/sched/controlled.h"
#include "harness/sched/thread.h"
#include "harness/udp/peers/dns_upstream.h"

namespace netrig {

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(const EchoServerOptions& options) {
  std::unique_ptr<EchoServer> server(new EchoServer);
  absl::Status bound = internal::BindUdpPair(&server->ipv4_, &server->ipv6_, &server->port_);
  if (!bound.ok()) return bound;
  absl::StatusOr<internal::UniqueFd> wake = internal::MakeWakeFd();
  if (!wake.ok()) return wake.status();
  server->wake_ = std::move(*wake);
  const int buffer_bytes = 4 << 20;
  for (int fd : {server->ipv4_.get(), server->ipv6_.get()}) {
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
  }
  const int batch = std::clamp(options.batch, 1, 256);
  for (int i = 0; i < std::max(1, options.threads); ++i) {
    server->threads_.emplace_back(
        "udp.echo",
        [s = server.get(), batch, dns = options.dns_responder] { s->Serve(batch, dns); });
  }
  return server;
}

EchoServer::~EchoServer() { Stop(); }

void EchoServer::Stop() {
  if (stopped_.exchange(true)) return;
  internal::SignalWakeFd(wake_.get());
  for (Thread& t : threads_) t.join();
}

uint64_t EchoServer::kernel_drops() const {
  uint64_t drops = 0;
  for (const internal::UniqueFd* fd : {&ipv4_, &ipv6_}) {
    if (fd->valid()) drops += internal::KernelDrops(fd->get());
  }
  return drops;
}

Endpoint EchoServer::ipv4_endpoint() const { return internal::LoopbackIPv4Endpoint(port_); }

std::optional<Endpoint> EchoServer::ipv6_endpoint() const {
  return internal::LoopbackIPv6Endpoint(ipv6_, port_);
}

void EchoServer::Serve(int batch, bool dns_responder) {
  constexpr size_t kSlot = 65536;
  std::vector<uint8_t> data(static_cast<size_t>(batch) * kSlot);
  std::vector<sockaddr_storage> names(batch);
  std::vector<iovec> iovecs(batch);
  std::vector<mmsghdr> headers(batch);
  while (!stopped_.load(std::memory_order_acquire)) {
    const internal::ReadableSockets ready =
        internal::PollReadable(ipv4_.get(), ipv6_.get(), wake_.get(), 1000);
    for (int f = 0; f < ready.count; ++f) {
      const int fd = ready.fds[f];
      for (int i = 0; i < batch; ++i) {
        iovecs[i] = {data.data() + i * kSlot, kSlot};
        headers[i].msg_hdr = {};
        headers[i].msg_hdr.msg_name = &names[i];
        headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        headers[i].msg_hdr.msg_iov = &iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
      }
      const int received = ::recvmmsg(fd, headers.data(), batch, MSG_DONTWAIT, nullptr);
      if (received <= 0) continue;  // Another thread took them.
      received_.fetch_add(received, std::memory_order_relaxed);
      for (int i = 0; i < received; ++i) {
        iovecs[i].iov_len = headers[i].msg_len;
        if (dns_responder) {
          MarkDnsResponse(static_cast<char*>(iovecs[i].iov_base), headers[i].msg_len);
        }
      }
      int next = 0;
      int full_waits = 0;
      while (next < received) {
        const int sent = ::sendmmsg(fd, headers.data() + next, received - next, 0);
        if (sent > 0) {
          echoed_.fetch_add(sent, std::memory_order_relaxed);
          next += sent;
        } else if (errno == EINTR) {
          continue;
        } else if ((errno == EAGAIN || errno == EWOULDBLOCK) && full_waits++ < 20) {
          pollfd out{fd, POLLOUT, 0};
          netrig::Poll(&out, 1, 50);
        } else {
          echo_errors_.fetch_add(1, std::memory_order_relaxed);
          ++next;
        }
      }
    }
  }
}

}  // namespace netrig
