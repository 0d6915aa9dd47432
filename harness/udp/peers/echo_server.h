// EchoServer: a loopback UDP echo peer. One socket on 127.0.0.1 and one on ::1, both on the same
// kernel-chosen port (so "localhost:PORT" reaches it in either family), served by several
// threads with recvmmsg/sendmmsg. Every datagram goes back to its source unchanged (or, with
// dns_responder, as its own DNS response). Binds only
// loopback; Stop() (or the destructor) ends every thread.
//
// Example:
//   absl::StatusOr<std::unique_ptr<netrig::EchoServer>> echo = netrig::EchoServer::Start({});
//   netrig::Endpoint peer = (*echo)->ipv4_endpoint();   // 127.0.0.1:PORT
#ifndef NETRIG_HARNESS_UDP_PEERS_ECHO_SERVER_H_
#define NETRIG_HARNESS_UDP_PEERS_ECHO_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/net/endpoint.h"
#include "harness/sched/thread.h"
#include "harness/udp/socket_util.h"

namespace netrig {

struct EchoServerOptions {
  int threads = 2;
  int batch = 16;
  // Answer as a DNS server would, each datagram a response to itself: the same bytes with the QR
  // bit set (MarkDnsResponse, dns_upstream.h), so a DNS client's answer matches its query.
  bool dns_responder = false;
};

class EchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<EchoServer>> Start(const EchoServerOptions& options);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  void Stop();

  uint16_t port() const { return port_; }
  Endpoint ipv4_endpoint() const;
  // nullopt when this host has no ::1.
  std::optional<Endpoint> ipv6_endpoint() const;

  uint64_t received() const { return received_.load(std::memory_order_relaxed); }
  uint64_t echoed() const { return echoed_.load(std::memory_order_relaxed); }
  uint64_t echo_errors() const { return echo_errors_.load(std::memory_order_relaxed); }
  // Datagrams the kernel dropped at the server's full receive buffers (internal::KernelDrops).
  uint64_t kernel_drops() const;

 private:
  EchoServer() = default;
  void Serve(int batch, bool dns_responder);

  uint16_t port_ = 0;
  internal::UniqueFd ipv4_;
  internal::UniqueFd ipv6_;
  internal::UniqueFd wake_;
  std::vector<Thread> threads_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> echoed_{0};
  std::atomic<uint64_t> echo_errors_{0};
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_PEERS_ECHO_SERVER_H_
