// The `dns-proxy` shape of docs/field-notes.md story 2, in two forms that share the DNS-over-TCP
// framing:
//
//   - DnsProxy: the story's application. It reads queries from any Flow, forwards each over TCP
//     to an upstream with two-byte length framing, and writes each response back to the endpoint
//     exactly as it was read (the same Endpoint object: same kind, encoding and scope). Every
//     write result goes to an observer, so a driver can judge rejections with the oracle.
//
//   - DnsProxyFlow (registered as "dns-proxy"): the same forwarding presented as a Flow, so every
//     UDP driver can run against it. Write() forwards each datagram as a query over one TCP
//     connection to FlowOptions::dns_upstream; Read() returns each response tagged with the
//     endpoint its query was written with, exactly as written. Responses are matched to queries
//     in order (the upstream answers in order on a connection, as netrig's DnsUpstream and
//     dnsmasq do). An upstream may close the connection when it likes (dnsmasq does after 100
//     queries): the flow connects again and sends every query still unanswered again, in order
//     (RFC 7766 section 6.2.1); only when a new connection cannot be made, or three in a row
//     close without one answer, is the flow broken, and says so to every later read and write.
//     A datagram above the family maximum of its endpoint (or the 65535-byte TCP framing limit
//     for host endpoints) is rejected naming that limit; while waiting every write is rejected.
//
// Example:
//   netrig::DnsProxy::Options options{.upstream = upstream->ipv4_endpoint()};
//   absl::StatusOr<std::unique_ptr<netrig::DnsProxy>> proxy =
//       netrig::DnsProxy::Start(server_flow.get(), options);
//   ... clients send queries to server_flow->LocalEndpoints() ...
//   (*proxy)->Stop();
#ifndef NETRIG_HARNESS_UDP_DNS_PROXY_H_
#define NETRIG_HARNESS_UDP_DNS_PROXY_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "harness/base/mutex.h"
#include "harness/sched/thread.h"
#include "harness/udp/flow.h"
#include "harness/udp/flow_kit.h"
#include "harness/udp/socket_util.h"

namespace netrig {

class DnsProxy {
 public:
  struct Options {
    std::optional<Endpoint> upstream;  // required: the DNS-over-TCP upstream
    int threads = 2;                   // each with its own upstream connection
    // Called for every response written back (from the proxy's threads).
    std::function<void(const Datagram& response, const WriteResult& result)> on_write;
  };

  // `flow` must outlive the proxy (or be closed: the proxy then stops by itself).
  static absl::StatusOr<std::unique_ptr<DnsProxy>> Start(Flow* flow, Options options);
  ~DnsProxy();
  DnsProxy(const DnsProxy&) = delete;
  DnsProxy& operator=(const DnsProxy&) = delete;

  // Returns once no proxy thread touches the flow any more.
  void Stop();

  uint64_t queries() const { return queries_.load(std::memory_order_relaxed); }
  uint64_t responses_written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t write_rejections() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t upstream_errors() const { return upstream_errors_.load(std::memory_order_relaxed); }

 private:
  DnsProxy(Flow* flow, Options options) : flow_(flow), options_(std::move(options)) {}
  void Serve();

  Flow* const flow_;
  const Options options_;
  internal::UniqueFd wake_;
  std::vector<Thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> queries_{0};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> upstream_errors_{0};
};

class DnsProxyFlow : public Flow {
 public:
  static absl::StatusOr<std::unique_ptr<DnsProxyFlow>> Open(const FlowOptions& options);
  ~DnsProxyFlow() override;

  absl::StatusOr<std::vector<Datagram>> Read(size_t max_datagrams, absl::Duration timeout) override;
  std::vector<WriteResult> Write(absl::Span<const Datagram> datagrams) override;
  void Close() override;
  void OnPathEvent(PathEvent event) override;
  FlowState state() const override;

 private:
  DnsProxyFlow() = default;
  void ReadResponses();
  // The upstream closed `connection_` (or it failed): a new connection, and every unanswered query
  // sent on it again. False when none can be made (the flow is then broken). Reader thread only.
  bool Reconnect();

  LiveToken live_{kLiveFlows};
  Endpoint upstream_ = Endpoint::IPv4({0, 0, 0, 0}, 0);
  // Written by the reader thread under write_mu_ (Reconnect), read by writers under write_mu_ and
  // by the reader thread.
  internal::UniqueFd connection_;
  internal::UniqueFd wake_;
  Thread reader_;
  // Writes in flight; Close() waits for them before closing the connection.
  InFlightGate gate_;
  std::atomic<bool> waiting_{false};

  Mutex close_mu_;
  Mutex write_mu_;  // one query frame at a time on the connection, in `pending_` order
  Mutex mu_;
  CondVar changed_;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // Queries sent and not answered yet, in the order sent (kept whole: a reconnect resends them).
  std::deque<Datagram> pending_ ABSL_GUARDED_BY(mu_);
  std::deque<Datagram> responses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_DNS_PROXY_H_
