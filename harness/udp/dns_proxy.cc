#include "harness/udp/dns_proxy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/sched/thread.h"
#include "harness/udp/dns_frame.h"

namespace netrig {

// ---- DnsProxy ----

absl::StatusOr<std::unique_ptr<DnsProxy>> DnsProxy::Start(Flow* flow, Options options) {
  if (flow == nullptr || !options.upstream) {
    return absl::InvalidArgumentError("a DNS proxy needs a flow and an upstream endpoint");
  }
  std::unique_ptr<DnsProxy> proxy(new DnsProxy(flow, std::move(options)));
  absl::StatusOr<internal::UniqueFd> wake = internal::MakeWakeFd();
  if (!wake.ok()) return wake.status();
  proxy->wake_ = std::move(*wake);
  for (int i = 0; i < std::max(1, proxy->options_.threads); ++i) {
    proxy->threads_.emplace_back("dns.proxy", [p = proxy.get()] { p->Serve(); });
  }
  return proxy;
}

DnsProxy::~DnsProxy() { Stop(); }

void DnsProxy::Stop() {
  if (!stopping_.exchange(true)) internal::SignalWakeFd(wake_.get());
  for (Thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void DnsProxy::Serve() {
  internal::UniqueFd upstream;
  while (!stopping_.load(std::memory_order_acquire)) {
    absl::StatusOr<std::vector<Datagram>> queries = flow_->Read(16, absl::Milliseconds(100));
    if (!queries.ok()) return;  // The flow was closed.
    for (const Datagram& query : *queries) {
      queries_.fetch_add(1, std::memory_order_relaxed);
      SchedulePoint("dns_proxy.forward");
      absl::StatusOr<std::string> response = absl::UnavailableError("not connected");
      for (int attempt = 0; attempt < 2 && !response.ok(); ++attempt) {
        if (!upstream.valid()) {
          absl::StatusOr<internal::UniqueFd> fd =
              internal::ConnectTcp(*options_.upstream, absl::Seconds(5));
          if (!fd.ok()) break;
          upstream = std::move(*fd);
        }
        absl::Status sent =
            WriteDnsFrame(upstream.get(), query.payload, absl::Seconds(10), wake_.get());
        if (sent.ok()) response = ReadDnsFrame(upstream.get(), absl::Seconds(10), wake_.get());
        if (!sent.ok() || !response.ok()) upstream.Reset();  // reconnect once
      }
      if (!response.ok()) {
        upstream_errors_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      // Story 2: the response goes back to the endpoint exactly as it was read.
      Datagram answer{query.endpoint, *std::move(response)};
      std::vector<WriteResult> results = flow_->Write({&answer, 1});
      const WriteResult& result = results.at(0);
      (result.rejected() ? rejected_ : written_).fetch_add(1, std::memory_order_relaxed);
      if (options_.on_write) options_.on_write(answer, result);
    }
  }
}

// ---- DnsProxyFlow ----

absl::StatusOr<std::unique_ptr<DnsProxyFlow>> DnsProxyFlow::Open(const FlowOptions& options) {
  if (!options.dns_upstream) {
    return absl::FailedPreconditionError(
        "flow 'dns-proxy' needs FlowOptions::dns_upstream (a DNS-over-TCP upstream endpoint)");
  }
  std::unique_ptr<DnsProxyFlow> flow(new DnsProxyFlow);
  flow->upstream_ = *options.dns_upstream;
  absl::StatusOr<internal::UniqueFd> connection =
      internal::ConnectTcp(*options.dns_upstream, absl::Seconds(5));
  if (!connection.ok()) return connection.status();
  flow->connection_ = std::move(*connection);
  absl::StatusOr<internal::UniqueFd> wake = internal::MakeWakeFd();
  if (!wake.ok()) return wake.status();
  flow->wake_ = std::move(*wake);
  flow->reader_ = Thread("dns.reader", [f = flow.get()] { f->ReadResponses(); });
  return flow;
}

DnsProxyFlow::~DnsProxyFlow() { Close(); }

FlowState DnsProxyFlow::state() const {
  if (gate_.closed()) return FlowState::kClosed;
  return waiting_.load(std::memory_order_acquire) ? FlowState::kWaiting : FlowState::kReady;
}

void DnsProxyFlow::OnPathEvent(PathEvent event) {
  SchedulePoint(event == PathEvent::kPathLost ? "flow.path_lost" : "flow.path_back");
  waiting_.store(event == PathEvent::kPathLost, std::memory_order_release);
}

void DnsProxyFlow::ReadResponses() {
  int closed_without_answer = 0;
  bool answered = false;  // on the current connection
  while (true) {
    absl::StatusOr<std::string> response =
        ReadDnsFrame(connection_.get(), absl::Hours(24), wake_.get());
    if (gate_.closed()) return;
    if (!response.ok()) {
      // The upstream closed the connection or it failed: connect again and resend what is
      // unanswered, unless connections keep closing without answering anything.
      closed_without_answer = answered ? 0 : closed_without_answer + 1;
      answered = false;
      if (closed_without_answer < 3 && Reconnect()) continue;
    }
    MutexLock lock(&mu_);
    if (!response.ok() || pending_.empty()) {
      // No new connection, or the upstream answered what was never asked: the flow is broken
      // and says so to every later read and write.
      broken_ = true;
      changed_.SignalAll();
      return;
    }
    answered = true;
    responses_.push_back({std::move(pending_.front().endpoint), *std::move(response)});
    pending_.pop_front();
    changed_.SignalAll();
  }
}

bool DnsProxyFlow::Reconnect() {
  SchedulePoint("dns_proxy.reconnect");
  MutexLock write_lock(&write_mu_);  // no query frame goes out meanwhile
  absl::StatusOr<internal::UniqueFd> connection = internal::ConnectTcp(upstream_, absl::Seconds(5));
  if (!connection.ok()) return false;
  connection_ = std::move(*connection);
  std::vector<std::string> unanswered;
  {
    MutexLock lock(&mu_);
    for (const Datagram& query : pending_) unanswered.push_back(query.payload);
  }
  for (const std::string& query : unanswered) {
    if (!WriteDnsFrame(connection_.get(), query, absl::Seconds(10), wake_.get()).ok()) {
      return true;  // the reader finds this connection gone too, and tries again
    }
  }
  return true;
}

absl::StatusOr<std::vector<Datagram>> DnsProxyFlow::Read(size_t max_datagrams,
                                                         absl::Duration timeout) {
  SchedulePoint("flow.read");
  const absl::Time deadline = netrig::Now() + timeout;
  std::vector<Datagram> out;
  MutexLock lock(&mu_);
  while (responses_.empty()) {
    if (gate_.closed()) return absl::CancelledError("flow is closed");
    if (broken_) return absl::UnavailableError("the upstream connection of this flow is gone");
    const absl::Duration remaining = deadline - netrig::Now();
    if (remaining <= absl::ZeroDuration()) return out;
    changed_.WaitWithTimeout(&mu_, remaining);
  }
  if (gate_.closed()) return absl::CancelledError("flow is closed");
  while (!responses_.empty() && out.size() < std::max<size_t>(max_datagrams, 1)) {
    out.push_back(std::move(responses_.front()));
    responses_.pop_front();
  }
  return out;
}

std::vector<WriteResult> DnsProxyFlow::Write(absl::Span<const Datagram> datagrams) {
  InFlightScope in_flight(&gate_);
  if (!in_flight.entered()) return internal::ClosedFlowWriteResults(datagrams.size());
  SchedulePoint("flow.write");
  std::vector<WriteResult> results(datagrams.size());
  const bool waiting = waiting_.load(std::memory_order_acquire);
  for (size_t i = 0; i < datagrams.size(); ++i) {
    const Datagram& d = datagrams[i];
    if (waiting) {
      results[i] = WriteResult::Rejected(absl::UnavailableError(
          "flow is waiting for a path (path lost): query not forwarded and not queued"));
      continue;
    }
    const AddressFamily family = d.endpoint.family();
    if (family != AddressFamily::kUnspecified) {
      const uint64_t maximum = family == AddressFamily::kIPv6 ? kIPv6MaxPayload : kIPv4MaxPayload;
      if (d.payload.size() > maximum) {
        results[i] = WriteResult::TooLarge(
            absl::InvalidArgumentError(
                absl::StrFormat("payload %d bytes exceeds the family maximum of %d bytes for %s",
                                d.payload.size(), maximum, AddressFamilyName(family))),
            DatagramLimitKind::kFamilyMaximum, maximum);
        continue;
      }
    } else if (d.payload.size() > kMaxDnsTcpMessage) {
      results[i] = WriteResult::Rejected(absl::InvalidArgumentError(
          absl::StrFormat("query of %d bytes does not fit DNS-over-TCP framing (at most %d bytes)",
                          d.payload.size(), kMaxDnsTcpMessage)));
      continue;
    }
    MutexLock write_lock(&write_mu_);
    {
      MutexLock lock(&mu_);
      if (broken_) {
        results[i] =
            WriteResult::Rejected(absl::UnavailableError("the upstream connection is gone"));
        continue;
      }
      pending_.push_back(d);
    }
    // A failed send (the upstream closed the connection) is not the query's end: it stays
    // unanswered, and the reader sends it again on a new connection.
    (void)WriteDnsFrame(connection_.get(), d.payload, absl::Seconds(10), wake_.get());
  }
  return results;
}

void DnsProxyFlow::Close() {
  MutexLock close_lock(&close_mu_);
  if (gate_.Close()) {
    SchedulePoint("flow.close");
    internal::SignalWakeFd(wake_.get());
    {
      MutexLock lock(&mu_);
      changed_.SignalAll();
    }
  }
  gate_.WaitIdle();
  if (reader_.joinable()) reader_.join();
  connection_.Reset();
}

}  // namespace netrig
