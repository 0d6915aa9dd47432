#include "harness/udp/peers/dns_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "harness/sched/thread.h"

namespace netrig {

std::string MakeDnsResponse(absl::string_view query) {
  std::string response(query);
  MarkDnsResponse(response.data(), response.size());
  return response;
}

void MarkDnsResponse(char* message, size_t size) {
  if (size >= 3) message[2] = static_cast<char>(message[2] | 0x80);
}

absl::StatusOr<std::unique_ptr<DnsUpstream>> DnsUpstream::Start(const DnsUpstreamOptions& options) {
  std::unique_ptr<DnsUpstream> upstream(new DnsUpstream(options));
  absl::Status last = absl::OkStatus();
  for (int attempt = 0; attempt < 64 && !upstream->ipv4_.valid(); ++attempt) {
    absl::StatusOr<internal::UniqueFd> v4 = internal::ListenTcp(AddressFamily::kIPv4, 0);
    if (!v4.ok()) return v4.status();
    absl::StatusOr<Endpoint> local = internal::LocalEndpoint(v4->get());
    if (!local.ok()) return local.status();
    absl::StatusOr<internal::UniqueFd> v6 =
        internal::ListenTcp(AddressFamily::kIPv6, local->port());
    if (!v6.ok() && absl::StrContains(v6.status().message(), "in use")) {
      last = v6.status();
      continue;
    }
    upstream->ipv4_ = std::move(*v4);
    if (v6.ok()) upstream->ipv6_ = std::move(*v6);
    upstream->port_ = local->port();
  }
  if (!upstream->ipv4_.valid()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no TCP port free on both 127.0.0.1 and ::1: ", last.message()));
  }
  absl::StatusOr<internal::UniqueFd> wake = internal::MakeWakeFd();
  if (!wake.ok()) return wake.status();
  upstream->wake_ = std::move(*wake);
  upstream->acceptor_ = Thread("dns.acceptor", [u = upstream.get()] { u->AcceptLoop(); });
  return upstream;
}

DnsUpstream::~DnsUpstream() { Stop(); }

void DnsUpstream::Stop() {
  if (stopped_.exchange(true)) return;
  internal::SignalWakeFd(wake_.get());
  acceptor_.join();
  std::vector<Thread> servers;
  {
    MutexLock lock(&mu_);
    servers.swap(servers_);
  }
  for (Thread& t : servers) t.join();
}

Endpoint DnsUpstream::ipv4_endpoint() const { return internal::LoopbackIPv4Endpoint(port_); }

std::optional<Endpoint> DnsUpstream::ipv6_endpoint() const {
  return internal::LoopbackIPv6Endpoint(ipv6_, port_);
}

void DnsUpstream::AcceptLoop() {
  while (!stopped_.load(std::memory_order_acquire)) {
    const internal::ReadableSockets ready =
        internal::PollReadable(ipv4_.get(), ipv6_.get(), wake_.get(), 1000);
    for (int i = 0; i < ready.count; ++i) {
      internal::UniqueFd connection(
          ::accept4(ready.fds[i], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!connection.valid()) continue;
      if (active_.load() >= options_.max_connections) continue;  // closed by UniqueFd
      int one = 1;
      ::setsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      connections_.fetch_add(1, std::memory_order_relaxed);
      active_.fetch_add(1);
      MutexLock lock(&mu_);
      servers_.emplace_back("dns.upstream",
                            [this, c = std::make_shared<internal::UniqueFd>(
                                       std::move(connection))]() mutable { Serve(std::move(*c)); });
    }
  }
}

void DnsUpstream::Serve(internal::UniqueFd connection) {
  for (int answered = 0;
       !stopped_.load(std::memory_order_acquire) &&
       (options_.max_queries_per_connection <= 0 || answered < options_.max_queries_per_connection);
       ++answered) {
    // An idle connection is kept until Stop(); each wait re-checks within a second.
    absl::StatusOr<std::string> query =
        ReadDnsFrame(connection.get(), absl::Hours(24), wake_.get());
    if (!query.ok()) break;
    queries_.fetch_add(1, std::memory_order_relaxed);
    if (!WriteDnsFrame(connection.get(), MakeDnsResponse(*query), absl::Seconds(10), wake_.get())
             .ok()) {
      break;
    }
  }
  active_.fetch_sub(1);
}

}  // namespace netrig
