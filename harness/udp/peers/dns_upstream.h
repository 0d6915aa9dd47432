// DnsUpstream: a loopback DNS-over-TCP responder (RFC 7766 two-byte length framing) on 127.0.0.1
// and ::1, same kernel-chosen port in both families. Each query is answered, in order, on its
// connection with MakeDnsResponse(query): the same bytes with the QR (response) bit set, so a
// response is exactly as large as its query and a test knows which query it answers.
// Binds only loopback; Stop() (or the destructor) closes every connection and joins every thread.
//
// Example:
//   absl::StatusOr<std::unique_ptr<netrig::DnsUpstream>> upstream = netrig::DnsUpstream::Start({});
//   netrig::FlowOptions options;
//   options.dns_upstream = (*upstream)->ipv4_endpoint();
#ifndef NETRIG_HARNESS_UDP_PEERS_DNS_UPSTREAM_H_
#define NETRIG_HARNESS_UDP_PEERS_DNS_UPSTREAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/net/endpoint.h"
#include "harness/sched/thread.h"
#include "harness/udp/dns_frame.h"
#include "harness/udp/socket_util.h"

namespace netrig {

// The query with the QR bit (bit 7 of byte 2) set; messages shorter than 3 bytes come back as is.
std::string MakeDnsResponse(absl::string_view query);
// The same in place, for the `size` bytes at `message`.
void MarkDnsResponse(char* message, size_t size);

struct DnsUpstreamOptions {
  // Connections served at once; more are closed on accept.
  int max_connections = 64;
  // Close a connection after answering this many queries on it, as dnsmasq does after 100
  // (0: never). Queries sent after them on that connection go unanswered.
  int max_queries_per_connection = 0;
};

class DnsUpstream {
 public:
  static absl::StatusOr<std::unique_ptr<DnsUpstream>> Start(const DnsUpstreamOptions& options);
  ~DnsUpstream();
  DnsUpstream(const DnsUpstream&) = delete;
  DnsUpstream& operator=(const DnsUpstream&) = delete;

  void Stop();

  uint16_t port() const { return port_; }
  Endpoint ipv4_endpoint() const;
  std::optional<Endpoint> ipv6_endpoint() const;

  uint64_t connections() const { return connections_.load(std::memory_order_relaxed); }
  uint64_t queries() const { return queries_.load(std::memory_order_relaxed); }

 private:
  explicit DnsUpstream(const DnsUpstreamOptions& options) : options_(options) {}
  void AcceptLoop();
  void Serve(internal::UniqueFd connection);

  const DnsUpstreamOptions options_;
  uint16_t port_ = 0;
  internal::UniqueFd ipv4_;
  internal::UniqueFd ipv6_;
  internal::UniqueFd wake_;
  Thread acceptor_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> queries_{0};
  std::atomic<int> active_{0};
  Mutex mu_;
  std::vector<Thread> servers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_PEERS_DNS_UPSTREAM_H_
