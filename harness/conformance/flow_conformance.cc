#include "harness/conformance/flow_conformance.h"

#include <net/if.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "harness/base/mutex.h"
#include "harness/conformance/bounded_threads.h"
#include "harness/net/datagram_oracle.h"
#include "harness/udp/peers/dns_upstream.h"
#include "harness/udp/peers/echo_server.h"

namespace netrig::conformance {
namespace {

using internal::BoundedThreads;

// How long a reply may take on loopback before it counts as lost: generous, since sanitizer
// builds on a loaded machine are slow; a correct flow answers in microseconds.
constexpr absl::Duration kReplyWait = absl::Seconds(3);
// How long to watch for something that must not arrive (a rejected datagram's reply).
constexpr absl::Duration kQuietWait = absl::Milliseconds(300);

std::string Prefix(absl::string_view flow) { return absl::StrCat("flow \"", flow, "\": "); }

absl::StatusOr<std::shared_ptr<Flow>> Open(absl::string_view flow, const FlowOptions& options) {
  absl::StatusOr<std::unique_ptr<Flow>> opened = CreateFlow(flow, options);
  if (!opened.ok()) {
    return absl::Status(
        opened.status().code(),
        absl::StrCat(Prefix(flow), "cannot create it: ", opened.status().message()));
  }
  if (*opened == nullptr)
    return absl::InternalError(absl::StrCat(Prefix(flow), "factory gave null"));
  return std::shared_ptr<Flow>(std::move(*opened));
}

// The peer the flow under test talks to, and what it answers.
class Peer {
 public:
  static absl::StatusOr<Peer> Start(const FlowConformanceOptions& options) {
    Peer peer;
    peer.flow_options_ = options.flow_options;
    if (options.peer == FlowPeer::kEcho) {
      absl::StatusOr<std::unique_ptr<EchoServer>> echo = EchoServer::Start({});
      if (!echo.ok()) return echo.status();
      peer.echo_ = std::shared_ptr<EchoServer>(std::move(*echo));
      peer.ipv4_ = peer.echo_->ipv4_endpoint();
      peer.ipv6_ = peer.echo_->ipv6_endpoint();
      peer.port_ = peer.echo_->port();
    } else {
      absl::StatusOr<std::unique_ptr<DnsUpstream>> dns = DnsUpstream::Start({});
      if (!dns.ok()) return dns.status();
      peer.dns_ = std::shared_ptr<DnsUpstream>(std::move(*dns));
      peer.flow_options_.dns_upstream = peer.dns_->ipv4_endpoint();
      // The flow forwards whatever it is given; these only label the queries.
      peer.port_ = 53;
      peer.ipv4_ = Endpoint::IPv4({127, 0, 0, 1}, peer.port_);
      std::array<uint8_t, 16> loopback{};
      loopback[15] = 1;
      if (peer.dns_->ipv6_endpoint()) peer.ipv6_ = Endpoint::IPv6(loopback, peer.port_);
    }
    return peer;
  }

  bool dns() const { return dns_ != nullptr; }
  const FlowOptions& flow_options() const { return flow_options_; }
  const Endpoint& ipv4() const { return ipv4_; }
  const std::optional<Endpoint>& ipv6() const { return ipv6_; }
  uint16_t port() const { return port_; }

  // The smallest payload the peer answers as sent (a DNS message has a 12-byte header).
  size_t min_payload() const { return dns() ? 12 : 1; }

  // Payload number `index` of `size` bytes: distinct per index (a DNS id in the first two bytes).
  std::string Payload(uint32_t index, size_t size) const {
    std::string payload(std::max(size, min_payload()), '\0');
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<char>('a' + (index * 7 + i) % 26);
    }
    if (payload.size() >= 4) {
      payload[0] = static_cast<char>(index >> 8);
      payload[1] = static_cast<char>(index & 0xff);
      payload[2] = 0;  // QR clear: a query.
    }
    return payload;
  }
  std::string Reply(absl::string_view payload) const {
    return dns() ? MakeDnsResponse(payload) : std::string(payload);
  }

  // Whether a reply to a datagram written to `to` came from the right place: the echo server's
  // real address (compared with SameAddress; a host name by port), or for DNS exactly `to`.
  bool RightSource(const Endpoint& to, const Endpoint& from) const {
    if (dns()) return from == to && from.ToString() == to.ToString();
    if (to.kind() == EndpointKind::kHost) return from.port() == port_;
    return SameAddress(to, from);
  }

 private:
  std::shared_ptr<EchoServer> echo_;
  std::shared_ptr<DnsUpstream> dns_;
  FlowOptions flow_options_;
  Endpoint ipv4_ = Endpoint::IPv4({127, 0, 0, 1}, 0);
  std::optional<Endpoint> ipv6_;
  uint16_t port_ = 0;
};

std::string Describe(const Datagram& datagram) {
  return absl::StrCat(datagram.payload.size(), " bytes to ", datagram.endpoint.ToString());
}

// Writes `datagrams` (all to one endpoint spelling) and reads until every reply arrived. Every
// datagram must be accepted or queued; every reply must be one of them, whole, from the right
// source.
absl::Status Exchange(Flow& flow, const Peer& peer, const std::vector<Datagram>& datagrams,
                      absl::string_view what) {
  std::map<std::string, int> expected;  // reply payload -> how many still due
  for (const Datagram& datagram : datagrams) ++expected[peer.Reply(datagram.payload)];
  std::vector<WriteResult> results = flow.Write(datagrams);
  if (results.size() != datagrams.size()) {
    return absl::InternalError(absl::StrCat(what, ": Write() of ", datagrams.size(),
                                            " datagrams gave ", results.size(), " results"));
  }
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].rejected()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": rejected ", Describe(datagrams[i]), ": ", results[i].error.ToString(),
          " (limit ", DatagramLimitKindName(results[i].limit_kind), " ", results[i].limit_bytes,
          ")"));
    }
  }
  size_t due = datagrams.size();
  const absl::Time deadline = absl::Now() + kReplyWait;
  while (due > 0 && absl::Now() < deadline) {
    absl::StatusOr<std::vector<Datagram>> got = flow.Read(64, absl::Milliseconds(100));
    if (!got.ok()) {
      return absl::InternalError(absl::StrCat(what, ": Read() failed with ", due,
                                              " replies due: ", got.status().ToString()));
    }
    for (const Datagram& reply : *got) {
      if (reply.truncated) {
        return absl::DataLossError(absl::StrCat(what, ": a reply of ", reply.payload.size(),
                                                " bytes came back truncated"));
      }
      auto it = expected.find(reply.payload);
      if (it == expected.end() || it->second == 0) {
        return absl::DataLossError(absl::StrCat(what, ": read a ", reply.payload.size(),
                                                "-byte datagram from ", reply.endpoint.ToString(),
                                                " that answers nothing written"));
      }
      if (!peer.RightSource(datagrams.front().endpoint, reply.endpoint)) {
        return absl::DataLossError(absl::StrCat(
            what, ": the reply to a datagram written to ", datagrams.front().endpoint.ToString(),
            " was read as coming from ", reply.endpoint.ToString()));
      }
      --it->second;
      --due;
    }
  }
  if (due > 0) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": ", due, " of ", datagrams.size(),
                                                    " accepted datagrams got no reply within ",
                                                    absl::FormatDuration(kReplyWait)));
  }
  return absl::OkStatus();
}

struct Spelling {
  std::string name;
  Endpoint endpoint;
};

// The family endpoints the options claim and this host has.
std::vector<Spelling> Families(const Peer& peer, const FlowConformanceOptions& options) {
  std::vector<Spelling> out = {{"IPv4", peer.ipv4()}};
  if (options.ipv6 && peer.ipv6()) out.push_back({"IPv6", *peer.ipv6()});
  return out;
}

uint64_t LimitFor(const Endpoint& to, const Peer& peer) {
  absl::StatusOr<DatagramLimit> limit =
      BindingLimit(to.family(), DatagramPath::Loopback(peer.flow_options().dont_fragment));
  return limit.ok() ? limit->payload_bytes : 0;
}

}  // namespace

absl::Status CheckFlowRoundTripsEverySizeUpToTheLimit(absl::string_view name,
                                                      const FlowConformanceOptions& options) {
  absl::StatusOr<Peer> peer = Peer::Start(options);
  if (!peer.ok())
    return NotApplicable(absl::StrCat("the peer did not start: ", peer.status().message()));
  absl::StatusOr<std::shared_ptr<Flow>> flow = Open(name, peer->flow_options());
  if (!flow.ok()) return flow.status();
  uint32_t index = 0;
  for (const Spelling& family : Families(*peer, options)) {
    const uint64_t limit = LimitFor(family.endpoint, *peer);
    std::vector<uint64_t> sizes = {
        peer->min_payload(), 100, 512, 1232, 1472, 1473, 8972, 9000, 32768, limit - 1, limit};
    for (uint64_t size : sizes) {
      if (size > limit) continue;
      const Datagram datagram{family.endpoint, peer->Payload(index++, size)};
      // One at a time: a burst of 64 KiB datagrams could overflow the peer's socket and look lost.
      if (absl::Status status = Exchange(
              **flow, *peer, {datagram},
              absl::StrCat(family.name, " payload of ", size, " bytes (limit ", limit, ")"));
          !status.ok()) {
        (*flow)->Close();
        return absl::Status(status.code(), absl::StrCat(Prefix(name), status.message()));
      }
    }
  }
  (*flow)->Close();
  return absl::OkStatus();
}

absl::Status CheckFlowAcceptsEveryEndpointSpelling(absl::string_view name,
                                                   const FlowConformanceOptions& options) {
  absl::StatusOr<Peer> peer = Peer::Start(options);
  if (!peer.ok())
    return NotApplicable(absl::StrCat("the peer did not start: ", peer.status().message()));
  const uint16_t port = peer->port();
  std::vector<Spelling> spellings = {
      {"IPv4", peer->ipv4()},
      {"IPv4 text", *Endpoint::Parse(absl::StrCat("127.0.0.1:", port))},
  };
  if (options.ipv4_mapped) {
    spellings.push_back(
        {"IPv4-mapped IPv6", *Endpoint::Parse(absl::StrCat("[::ffff:127.0.0.1]:", port))});
  }
  if (options.ipv6 && peer->ipv6()) {
    spellings.push_back({"IPv6", *peer->ipv6()});
    spellings.push_back({"IPv6 text", *Endpoint::Parse(absl::StrCat("[::1]:", port))});
    const unsigned lo = if_nametoindex("lo");
    if (options.scoped_ipv6 && lo != 0) {
      std::array<uint8_t, 16> loopback{};
      loopback[15] = 1;
      spellings.push_back({"scoped IPv6", Endpoint::IPv6(loopback, port, lo)});
    }
  }
  if (options.host_names) spellings.push_back({"host name", Endpoint::Host("localhost", port)});

  absl::StatusOr<std::shared_ptr<Flow>> flow = Open(name, peer->flow_options());
  if (!flow.ok()) return flow.status();
  uint32_t index = 0;
  for (const Spelling& spelling : spellings) {
    std::vector<Datagram> datagrams;
    for (int i = 0; i < 3; ++i)
      datagrams.push_back({spelling.endpoint, peer->Payload(index++, 64)});
    if (absl::Status status =
            Exchange(**flow, *peer, datagrams,
                     absl::StrCat(spelling.name, " endpoint ", spelling.endpoint.ToString()));
        !status.ok()) {
      (*flow)->Close();
      return absl::Status(status.code(), absl::StrCat(Prefix(name), status.message()));
    }
  }
  (*flow)->Close();
  return absl::OkStatus();
}

absl::Status CheckFlowRejectionNamesItsLimit(absl::string_view name,
                                             const FlowConformanceOptions& options) {
  absl::StatusOr<Peer> peer = Peer::Start(options);
  if (!peer.ok())
    return NotApplicable(absl::StrCat("the peer did not start: ", peer.status().message()));
  absl::StatusOr<std::shared_ptr<Flow>> flow = Open(name, peer->flow_options());
  if (!flow.ok()) return flow.status();
  absl::Status verdict = absl::OkStatus();
  for (const Spelling& family : Families(*peer, options)) {
    const uint64_t size = LimitFor(family.endpoint, *peer) + 1;
    const DatagramPath path = DatagramPath::Loopback(peer->flow_options().dont_fragment);
    const std::vector<WriteResult> results =
        (*flow)->Write({{family.endpoint, peer->Payload(1, size)}});
    if (results.size() != 1) {
      verdict = absl::InternalError(
          absl::StrCat("Write() of one datagram gave ", results.size(), " results"));
      break;
    }
    const WriteResult& result = results[0];
    const std::string what =
        absl::StrCat(family.name, " payload of ", size, " bytes (", path.ToString(), ")");
    if (!result.rejected()) {
      verdict = absl::FailedPreconditionError(
          absl::StrCat(what, " was ", WriteOutcomeName(result.outcome),
                       ": it fits no path and must be rejected"));
      break;
    }
    if (result.error.ok()) {
      verdict = absl::FailedPreconditionError(absl::StrCat(what, " was rejected with an OK error"));
      break;
    }
    if (result.limit_kind == DatagramLimitKind::kNone) {
      verdict = absl::FailedPreconditionError(
          absl::StrCat(what, " was rejected without naming its limit (WriteResult::TooLarge): ",
                       result.error.ToString()));
      break;
    }
    DatagramRejection rejection;
    rejection.claimed_kind = result.limit_kind;
    rejection.claimed_limit_bytes = result.limit_bytes;
    rejection.message = std::string(result.error.message());
    absl::StatusOr<RejectionJudgement> judgement =
        JudgeRejection(size, family.endpoint.family(), path, rejection);
    if (!judgement.ok()) {
      verdict = judgement.status();
      break;
    }
    if (judgement->finding != RejectionFinding::kTrueLimit) {
      verdict = absl::FailedPreconditionError(absl::StrCat(
          what, " rejected naming ", DatagramLimitKindName(result.limit_kind), " ",
          result.limit_bytes, " (\"", result.error.message(),
          "\"): ", RejectionFindingName(judgement->finding), ": ", judgement->message));
      break;
    }
  }
  // A rejected datagram must not have been sent anyway.
  if (verdict.ok()) {
    absl::StatusOr<std::vector<Datagram>> late = (*flow)->Read(8, kQuietWait);
    if (late.ok() && !late->empty()) {
      verdict = absl::DataLossError(absl::StrCat("a rejected datagram was sent anyway (read ",
                                                 late->front().payload.size(), " bytes back)"));
    }
  }
  (*flow)->Close();
  if (!verdict.ok())
    return absl::Status(verdict.code(), absl::StrCat(Prefix(name), verdict.message()));
  return absl::OkStatus();
}

absl::Status CheckFlowCloseWakesBlockedReads(absl::string_view name,
                                             const FlowConformanceOptions& options) {
  absl::StatusOr<Peer> peer = Peer::Start(options);
  if (!peer.ok())
    return NotApplicable(absl::StrCat("the peer did not start: ", peer.status().message()));
  absl::StatusOr<std::shared_ptr<Flow>> opened = Open(name, peer->flow_options());
  if (!opened.ok()) return opened.status();
  std::shared_ptr<Flow> flow = *std::move(opened);
  constexpr int kReaders = 3;
  struct Outcomes {
    Mutex mu;
    std::vector<absl::Status> statuses ABSL_GUARDED_BY(mu);
  };
  auto outcomes = std::make_shared<Outcomes>();
  BoundedThreads readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.Start([flow, outcomes] {
      absl::StatusOr<std::vector<Datagram>> got = flow->Read(8, absl::Seconds(30));
      absl::Status status = got.ok() ? absl::OkStatus() : got.status();
      if (got.ok())
        status = absl::UnknownError(absl::StrCat("returned ", got->size(), " datagrams"));
      MutexLock lock(&outcomes->mu);
      outcomes->statuses.push_back(status);
    });
  }
  absl::SleepFor(absl::Milliseconds(100));  // Let the readers block.
  flow->Close();
  if (!readers.JoinWithin(absl::Seconds(5))) {
    return absl::DeadlineExceededError(absl::StrCat(
        Prefix(name), "Close() left ", kReaders - readers.Finished(), " of ", kReaders,
        " blocked reads (30 s timeout) blocked for 5 s; it must wake them with CancelledError"));
  }
  {
    MutexLock lock(&outcomes->mu);
    for (const absl::Status& status : outcomes->statuses) {
      if (!absl::IsCancelled(status)) {
        return absl::FailedPreconditionError(
            absl::StrCat(Prefix(name), "a read blocked when Close() was called ended with ",
                         status.ToString(), " instead of CancelledError"));
      }
    }
  }
  if (flow->state() != FlowState::kClosed) {
    return absl::FailedPreconditionError(absl::StrCat(
        Prefix(name), "state() is ", FlowStateName(flow->state()), " after Close(), not closed"));
  }
  absl::StatusOr<std::vector<Datagram>> later = flow->Read(1, absl::ZeroDuration());
  if (!absl::IsCancelled(later.status())) {
    return absl::FailedPreconditionError(absl::StrCat(Prefix(name), "a read after Close() gave ",
                                                      later.status().ToString(),
                                                      " instead of CancelledError"));
  }
  const std::vector<WriteResult> writes =
      flow->Write({{peer->ipv4(), peer->Payload(0, 32)}, {peer->ipv4(), peer->Payload(1, 32)}});
  if (writes.size() != 2) {
    return absl::InternalError(absl::StrCat(
        Prefix(name), "Write() of 2 datagrams after Close() gave ", writes.size(), " results"));
  }
  for (const WriteResult& write : writes) {
    if (!write.rejected() || write.error.code() != absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(absl::StrCat(
          Prefix(name), "a write after Close() was ", WriteOutcomeName(write.outcome), " with ",
          write.error.ToString(), "; it must be rejected with FailedPrecondition"));
    }
  }
  flow->Close();  // Idempotent: a second Close() must be harmless.
  return absl::OkStatus();
}

absl::Status CheckFlowWritesWhileWaitingAreVisible(absl::string_view name,
                                                   const FlowConformanceOptions& options) {
  if (!options.path_events) return NotApplicable("the flow does not claim path events");
  absl::StatusOr<Peer> peer = Peer::Start(options);
  if (!peer.ok())
    return NotApplicable(absl::StrCat("the peer did not start: ", peer.status().message()));
  absl::StatusOr<std::shared_ptr<Flow>> opened = Open(name, peer->flow_options());
  if (!opened.ok()) return opened.status();
  Flow& flow = **opened;
  auto fail = [&](absl::StatusCode code, absl::string_view message) {
    flow.Close();
    return absl::Status(code, absl::StrCat(Prefix(name), message));
  };
  flow.OnPathEvent(PathEvent::kPathLost);
  if (flow.state() != FlowState::kWaiting) {
    return fail(absl::StatusCode::kFailedPrecondition,
                absl::StrCat("state() is ", FlowStateName(flow.state()),
                             " after OnPathEvent(kPathLost), not waiting"));
  }
  std::vector<Datagram> datagrams;
  for (uint32_t i = 0; i < 5; ++i) datagrams.push_back({peer->ipv4(), peer->Payload(100 + i, 80)});
  const std::vector<WriteResult> results = flow.Write(datagrams);
  if (results.size() != datagrams.size()) {
    return fail(absl::StatusCode::kInternal, absl::StrCat("Write() of ", datagrams.size(), " gave ",
                                                          results.size(), " results"));
  }
  std::map<std::string, bool> must_arrive;  // reply payload -> accepted or queued
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].rejected() && results[i].error.ok()) {
      return fail(absl::StatusCode::kFailedPrecondition,
                  "a write while waiting was rejected with an OK error: a rejection must say why");
    }
    must_arrive[peer->Reply(datagrams[i].payload)] = !results[i].rejected();
  }
  flow.OnPathEvent(PathEvent::kPathBack);
  if (flow.state() != FlowState::kReady) {
    return fail(absl::StatusCode::kFailedPrecondition,
                absl::StrCat("state() is ", FlowStateName(flow.state()),
                             " after OnPathEvent(kPathBack), not ready"));
  }
  size_t due = 0;
  for (const auto& [payload, due_here] : must_arrive) due += due_here;
  const size_t promised = due;
  // Watch a little longer than needed so a rejected datagram that was sent anyway shows too.
  const absl::Time deadline = absl::Now() + (due > 0 ? kReplyWait : kQuietWait);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::vector<Datagram>> got = flow.Read(16, absl::Milliseconds(100));
    if (!got.ok()) return fail(got.status().code(), got.status().message());
    for (const Datagram& reply : *got) {
      auto it = must_arrive.find(reply.payload);
      if (it == must_arrive.end()) continue;
      if (!it->second) {
        return fail(absl::StatusCode::kDataLoss,
                    "a datagram rejected while waiting was sent anyway after the path came back");
      }
      it->second = false;
      --due;
    }
    if (due == 0 && promised > 0) break;
  }
  if (due > 0) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat(due, " of ", promised,
                             " datagrams reported accepted or queued while waiting never reached "
                             "the peer: a write while waiting must fail or queue visibly, never "
                             "vanish"));
  }
  // And the flow works again.
  if (absl::Status status =
          Exchange(flow, *peer, {{peer->ipv4(), peer->Payload(200, 80)}}, "after kPathBack");
      !status.ok()) {
    return fail(status.code(), status.message());
  }
  flow.Close();
  return absl::OkStatus();
}

absl::Status CheckFlowConcurrentUseAndClose(absl::string_view name,
                                            const FlowConformanceOptions& options) {
  absl::StatusOr<Peer> peer = Peer::Start(options);
  if (!peer.ok())
    return NotApplicable(absl::StrCat("the peer did not start: ", peer.status().message()));
  const std::vector<Spelling> families = Families(*peer, options);
  for (int round = 0; round < 8; ++round) {
    absl::StatusOr<std::shared_ptr<Flow>> opened = Open(name, peer->flow_options());
    if (!opened.ok()) return opened.status();
    std::shared_ptr<Flow> flow = *std::move(opened);
    struct Shared {
      std::atomic<bool> stop{false};
      std::atomic<uint64_t> sent{0};      // accepted or queued
      std::atomic<uint64_t> received{0};  // replies to what was sent
      std::atomic<uint64_t> strangers{0};
    };
    auto shared = std::make_shared<Shared>();
    std::vector<std::string> replies;
    for (uint32_t w = 0; w < families.size(); ++w)
      replies.push_back(peer->Reply(peer->Payload(w, 100)));
    BoundedThreads threads;
    for (uint32_t w = 0; w < families.size(); ++w) {
      threads.Start([flow, shared, to = families[w].endpoint, payload = peer->Payload(w, 100)] {
        while (!shared->stop.load()) {
          std::vector<Datagram> out(8, Datagram{to, payload});
          for (const WriteResult& result : flow->Write(out)) shared->sent += !result.rejected();
          if (flow->state() == FlowState::kClosed) return;
        }
      });
    }
    for (int r = 0; r < 2; ++r) {
      threads.Start([flow, shared, replies] {
        while (true) {
          absl::StatusOr<std::vector<Datagram>> got = flow->Read(32, absl::Milliseconds(50));
          if (!got.ok()) return;
          for (const Datagram& datagram : *got) {
            if (std::find(replies.begin(), replies.end(), datagram.payload) != replies.end()) {
              ++shared->received;
            } else {
              ++shared->strangers;
            }
          }
        }
      });
    }
    if (options.path_events) {
      threads.Start([flow] {
        flow->OnPathEvent(PathEvent::kPathLost);
        flow->OnPathEvent(PathEvent::kPathBack);
      });
    }
    absl::SleepFor(absl::Milliseconds(5 + 3 * round));
    threads.Start([flow] { flow->Close(); });
    flow->Close();  // Two closers at once.
    shared->stop = true;
    if (!threads.JoinWithin(absl::Seconds(10))) {
      return absl::DeadlineExceededError(absl::StrCat(
          Prefix(name), "round ", round, ": reads, writes, path events and Close() from ",
          "several threads did not all return within 10 s of Close()"));
    }
    if (flow->state() != FlowState::kClosed) {
      return absl::FailedPreconditionError(
          absl::StrCat(Prefix(name), "round ", round, ": state() is ", FlowStateName(flow->state()),
                       " after two concurrent Close() calls"));
    }
    if (shared->strangers.load() > 0 || shared->received.load() > shared->sent.load()) {
      return absl::DataLossError(absl::StrCat(Prefix(name), "round ", round, ": read ",
                                              shared->received.load(), " replies and ",
                                              shared->strangers.load(), " unknown datagrams for ",
                                              shared->sent.load(), " datagrams accepted"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFlowSourceHandsOutFlowsAcrossSleepWake(absl::string_view name,
                                                         const FlowConformanceOptions& options) {
  const FlowRegistration* registration = FindFlow(name);
  if (registration == nullptr) {
    return absl::NotFoundError(absl::StrCat(Prefix(name), "not registered"));
  }
  if (!registration->source) return NotApplicable("the flow has no FlowSource");
  absl::StatusOr<std::unique_ptr<FlowSource>> made = CreateFlowSource(name, options.flow_options);
  if (!made.ok()) {
    return absl::Status(
        made.status().code(),
        absl::StrCat(Prefix(name), "cannot create its source: ", made.status().message()));
  }
  std::shared_ptr<FlowSource> source(std::move(*made));
  struct Handed {
    Mutex mu;
    CondVar changed;
    std::vector<std::pair<std::shared_ptr<Flow>, Endpoint>> flows ABSL_GUARDED_BY(mu);
  };
  auto handed = std::make_shared<Handed>();
  if (absl::Status started =
          source->Start([handed](std::unique_ptr<Flow> flow, const Endpoint& peer) {
            MutexLock lock(&handed->mu);
            handed->flows.emplace_back(std::shared_ptr<Flow>(std::move(flow)), peer);
            handed->changed.SignalAll();
          });
      !started.ok()) {
    return absl::Status(started.code(),
                        absl::StrCat(Prefix(name), "source Start(): ", started.message()));
  }
  const std::vector<Endpoint> listening = source->LocalEndpoints();
  auto finish = [&](absl::Status status) {
    source->Stop();
    std::vector<std::pair<std::shared_ptr<Flow>, Endpoint>> flows;
    {
      MutexLock lock(&handed->mu);
      flows.swap(handed->flows);
    }
    for (auto& [flow, peer] : flows) flow->Close();
    if (status.ok()) return status;
    return absl::Status(status.code(), absl::StrCat(Prefix(name), status.message()));
  };
  if (listening.empty())
    return finish(absl::FailedPreconditionError("the source has no LocalEndpoints()"));
  auto handed_count = [&] {
    MutexLock lock(&handed->mu);
    return handed->flows.size();
  };
  auto wait_for = [&](size_t count, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    MutexLock lock(&handed->mu);
    while (handed->flows.size() < count) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      handed->changed.WaitWithTimeout(&handed->mu, left);
    }
    return true;
  };
  // New peers are netrig's reference socket flows, one per cycle.
  std::vector<std::unique_ptr<Flow>> clients;
  constexpr int kCycles = 5;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    source->Sleep();
    absl::StatusOr<std::unique_ptr<Flow>> client = CreateFlow("socket", {});
    if (!client.ok()) return finish(client.status());
    clients.push_back(*std::move(client));
    const std::string hello = absl::StrCat("new peer #", cycle);
    const size_t before = handed_count();
    if (!clients.back()->Write({{listening[0], hello}})[0].accepted()) {
      return finish(absl::InternalError("the reference socket flow could not write to the source"));
    }
    // While asleep no new flow; a peer that arrived meanwhile is handed out after Wake().
    if (wait_for(before + 1, absl::Milliseconds(150))) {
      return finish(absl::FailedPreconditionError(
          absl::StrCat("cycle ", cycle + 1, ": handed out a new flow while asleep")));
    }
    source->Wake();
    if (!wait_for(before + 1, kReplyWait)) {
      return finish(absl::FailedPreconditionError(absl::StrCat(
          "after Sleep()/Wake() cycle ", cycle + 1, " of ", kCycles,
          " a new peer's datagram got no flow within ", absl::FormatDuration(kReplyWait))));
    }
    std::shared_ptr<Flow> flow;
    {
      MutexLock lock(&handed->mu);
      flow = handed->flows[before].first;
    }
    std::vector<Datagram> got;
    const absl::Time deadline = absl::Now() + kReplyWait;
    while (got.empty() && absl::Now() < deadline) {
      absl::StatusOr<std::vector<Datagram>> read = flow->Read(4, absl::Milliseconds(100));
      if (!read.ok()) return finish(read.status());
      got = *std::move(read);
    }
    if (got.empty() || got[0].payload != hello) {
      return finish(absl::DataLossError(
          absl::StrCat("cycle ", cycle + 1,
                       ": the new peer's flow did not read the peer's datagram \"", hello, "\"")));
    }
    // The flow answers the peer at the endpoint it read, in whatever spelling it read it.
    if (!flow->Write({{got[0].endpoint, "answer"}})[0].accepted()) {
      return finish(absl::FailedPreconditionError(
          absl::StrCat("cycle ", cycle + 1, ": could not answer the peer at ",
                       got[0].endpoint.ToString(), ", the endpoint its datagram was read from")));
    }
    absl::StatusOr<std::vector<Datagram>> answer = clients.back()->Read(4, kReplyWait);
    if (!answer.ok() || answer->empty() || (*answer)[0].payload != "answer") {
      return finish(
          absl::DataLossError(absl::StrCat("cycle ", cycle + 1, ": the answer to ",
                                           got[0].endpoint.ToString(), " did not reach the peer")));
    }
  }
  for (auto& client : clients) client->Close();
  return finish(absl::OkStatus());
}

const std::vector<FlowProperty>& FlowProperties() {
  static const auto* const kProperties = new std::vector<FlowProperty>{
      {"RoundTripsEverySizeUpToTheLimit", &CheckFlowRoundTripsEverySizeUpToTheLimit},
      {"AcceptsEveryEndpointSpelling", &CheckFlowAcceptsEveryEndpointSpelling},
      {"RejectionNamesItsLimit", &CheckFlowRejectionNamesItsLimit},
      {"CloseWakesBlockedReads", &CheckFlowCloseWakesBlockedReads},
      {"WritesWhileWaitingAreVisible", &CheckFlowWritesWhileWaitingAreVisible},
      {"ConcurrentUseAndClose", &CheckFlowConcurrentUseAndClose},
      {"SourceHandsOutFlowsAcrossSleepWake", &CheckFlowSourceHandsOutFlowsAcrossSleepWake},
  };
  return *kProperties;
}

std::vector<FlowConformanceCase> FlowConformanceCases(absl::string_view flow,
                                                      const FlowConformanceOptions& options) {
  std::vector<FlowConformanceCase> cases;
  for (const FlowProperty& property : FlowProperties()) {
    cases.push_back({std::string(flow), options, property});
  }
  return cases;
}

std::string FlowConformanceCaseName(const ::testing::TestParamInfo<FlowConformanceCase>& info) {
  return info.param.property.name;
}

void PrintTo(const FlowConformanceCase& test_case, std::ostream* out) {
  *out << test_case.flow << ": " << test_case.property.name;
}

void FlowConformanceTest::CheckProperty() {
  const FlowConformanceCase& test_case = GetParam();
  const absl::Status held = test_case.property.check(test_case.flow, test_case.options);
  if (IsNotApplicable(held)) GTEST_SKIP() << held.message();
  EXPECT_TRUE(held.ok()) << held;
}

}  // namespace netrig::conformance
