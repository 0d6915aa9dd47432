#include "fuzzers/udp_flow/run.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "fuzzers/udp_flow/program.h"
#include "fuzzers/udp_flow/world.h"
#include "harness/net/address_family.h"
#include "harness/net/datagram_oracle.h"
#include "harness/net/endpoint.h"
#include "harness/udp/flow.h"

namespace netrig::internal::udp_flow_fuzzer {
namespace {

constexpr uint64_t kMaxInputPayloadBytes = 1 << 20;
constexpr uint64_t kMaxOwedBytes = 512 << 10;
constexpr size_t kMaxReadPool = 16;
constexpr absl::Duration kEchoWaitCap = absl::Seconds(5);

}  // namespace

void Run::Execute() {
  flow_ = EnsureFlow(program_.dont_fragment);
  flow_->OnPathEvent(netrig::PathEvent::kPathBack);
  DiscardStrays();
  for (step_ = 0; step_ < program_.operations.size(); ++step_) {
    const Operation& op = program_.operations[step_];
    switch (op.kind) {
      case OpKind::kWrite:
        Write(op.encoding, op.size);
        break;
      case OpKind::kRead:
        if (!closed_) ReadOwed(op.size == 0 ? owed_.size() : op.size);
        if (closed_) CheckClosedRead();
        break;
      case OpKind::kEcho:
        Echo(op.encoding);
        break;
      case OpKind::kLost:
        flow_->OnPathEvent(netrig::PathEvent::kPathLost);
        waiting_ = !closed_;
        break;
      case OpKind::kBack:
        flow_->OnPathEvent(netrig::PathEvent::kPathBack);
        Back();
        break;
      case OpKind::kClose:
        if (!closed_) ReadOwed(owed_.size());
        flow_->Close();
        closed_ = true;
        waiting_ = false;
        owed_.clear();
        if (flow_->state() != netrig::FlowState::kClosed) Fail("state is not closed after Close()");
        break;
      case OpKind::kReopen:
        if (!closed_) {
          ReadOwed(owed_.size());
          flow_->Close();
        }
        flow_ = EnsureFlow(program_.dont_fragment);
        closed_ = false;
        waiting_ = false;
        owed_.clear();
        break;
    }
  }
  step_ = program_.operations.size();
  if (!closed_) {
    flow_->OnPathEvent(netrig::PathEvent::kPathBack);
    Back();
    ReadOwed(owed_.size());
  }
}

void Run::Fail(const std::string& what) {
  std::string trace;
  for (size_t i = 0; i < program_.operations.size(); ++i) {
    absl::StrAppend(&trace, i == step_ ? "  > " : "    ", FormatOperation(program_.operations[i]),
                    "\n");
  }
  Fatal(absl::StrCat("flow \"", world->flow_name, "\" broke a property at operation ", step_,
                     " (mtu ", program_.mtu, program_.dont_fragment ? ", don't-fragment" : "",
                     "):\n  ", what, "\nprogram:\n", trace));
}

bool Run::Fits(uint64_t size, unsigned bit) const {
  absl::StatusOr<netrig::DatagramVerdict> verdict =
      netrig::CheckDatagram(size, FamilyOf(bit), Path());
  if (!verdict.ok()) Fatal(absl::StrCat("oracle: ", verdict.status().ToString()));
  return verdict->fits;
}

Target Run::Encode(Encoding encoding) const {
  const uint16_t port = world->port;
  Target target;
  auto parse = [&](const std::string& text, unsigned families) {
    absl::StatusOr<Endpoint> endpoint = Endpoint::Parse(text);
    if (!endpoint.ok())
      Fatal(absl::StrCat("cannot parse ", text, ": ", endpoint.status().ToString()));
    target.endpoint = *std::move(endpoint);
    target.families = families;
  };
  const bool v6 = world->has_ipv6;
  switch (encoding) {
    case Encoding::kAsRead:
    case Encoding::kRoundTrip:
    case Encoding::kV4:
      parse(absl::StrCat("127.0.0.1:", port), kV4Bit);
      break;
    case Encoding::kV6:
      if (v6) parse(absl::StrCat("[::1]:", port), kV6Bit);
      break;
    case Encoding::kV6Dot:
      if (v6) parse(absl::StrCat("::1.", port), kV6Bit);
      break;
    case Encoding::kMapped:
      // A dual-stack flow may send it as IPv6; the socket flow sends it as IPv4.
      parse(absl::StrCat("[::ffff:127.0.0.1]:", port), v6 ? (kV4Bit | kV6Bit) : kV4Bit);
      break;
    case Encoding::kScoped:
      if (v6 && world->loopback_index != 0) parse(absl::StrCat("[::1%lo]:", port), kV6Bit);
      break;
    case Encoding::kScopeNumber:
      if (v6 && world->loopback_index != 0) {
        parse(absl::StrCat("[::1%", world->loopback_index, "]:", port), kV6Bit);
      }
      break;
    case Encoding::kHost:
      if (world->localhost_families != 0) {
        parse(absl::StrCat("localhost:", port), world->localhost_families);
      }
      break;
    case Encoding::kRedacted4:
      parse(absl::StrCat("IPv4#7f000001:", port), kV4Bit);
      target.must_refuse = true;
      break;
    case Encoding::kRedacted6:
      parse(absl::StrCat("IPv6#00000000000000000000000000000001:", port), kV6Bit);
      target.must_refuse = true;
      break;
    case Encoding::kLinkLocal:
      if (v6 && world->loopback_index != 0) parse(absl::StrCat("[fe80::1%lo]:", port), kV6Bit);
      target.no_peer = true;
      break;
  }
  return target;
}

std::string Run::MakePayload(uint64_t size) {
  ++sequence_;
  std::string payload(size, '\0');
  for (uint64_t i = 0; i < size; ++i) {
    payload[i] = static_cast<char>((sequence_ * 131 + i * 7 + (i >> 8)) & 0xff);
  }
  for (uint64_t i = 0; i < std::min<uint64_t>(size, 4); ++i) {
    payload[i] = static_cast<char>((sequence_ >> (8 * i)) & 0xff);
  }
  return payload;
}

void Run::Write(Encoding encoding, uint64_t size) {
  if (payload_bytes_ + size > kMaxInputPayloadBytes) return;
  Target target = Encode(encoding);
  if (encoding == Encoding::kAsRead || encoding == Encoding::kRoundTrip) {
    if (last_source_) {
      target.endpoint = *last_source_;
      target.families = last_source_families_;
      if (encoding == Encoding::kRoundTrip) {
        absl::StatusOr<Endpoint> again = Endpoint::Parse(last_source_->ToString());
        if (!again.ok() || *again != *last_source_) {
          Fail(absl::StrCat("source endpoint ", last_source_->ToString(),
                            " does not round-trip through its text form"));
        }
      }
    }
  }
  if (!target.endpoint) return;
  Send(target, MakePayload(size));
}

void Run::Echo(Encoding encoding) {
  if (pool_.empty()) return;
  Datagram read = std::move(pool_.front());
  pool_.erase(pool_.begin());
  if (payload_bytes_ + read.payload.size() > kMaxInputPayloadBytes) return;
  Target target;
  if (encoding == Encoding::kAsRead) {
    target.endpoint = read.endpoint;
    target.families = SourceFamily(read.endpoint);
  } else if (encoding == Encoding::kRoundTrip) {
    absl::StatusOr<Endpoint> again = Endpoint::Parse(read.endpoint.ToString());
    if (!again.ok() || *again != read.endpoint) {
      Fail(absl::StrCat("source endpoint ", read.endpoint.ToString(),
                        " does not round-trip through its text form"));
    }
    target.endpoint = *std::move(again);
    target.families = SourceFamily(read.endpoint);
  } else {
    target = Encode(encoding);
  }
  if (!target.endpoint) return;
  Send(target, std::move(read.payload));
}

void Run::Send(const Target& target, std::string payload) {
  const uint64_t size = payload.size();
  if (!closed_ && !target.no_peer && !target.must_refuse &&
      (owed_bytes_ + size > kMaxOwedBytes || owed_.size() >= kMaxOwedDatagrams)) {
    ReadOwed(owed_.size());
  }
  payload_bytes_ += size;
  std::vector<Datagram> datagrams(1);
  datagrams[0].endpoint = *target.endpoint;
  datagrams[0].payload = std::move(payload);
  std::vector<WriteResult> results = flow_->Write(datagrams);
  if (results.size() != 1) Fail(absl::StrCat("Write returned ", results.size(), " results for 1"));
  const WriteResult& result = results[0];
  const std::string what = absl::StrCat(size, " bytes to ", target.endpoint->ToString());

  unsigned fitting = 0;
  for (unsigned bit : {kV4Bit, kV6Bit}) {
    if ((target.families & bit) && Fits(size, bit)) fitting |= bit;
  }
  const bool fits_all = fitting == target.families;

  if (closed_) {
    if (!result.rejected())
      Fail(absl::StrCat("write of ", what, " after Close() was not rejected"));
    return;
  }
  if (!result.rejected()) {
    if (target.must_refuse) {
      Fail(absl::StrCat("a redacted endpoint was accepted: ", what));
    }
    if (fitting == 0) {
      Fail(absl::StrCat("accepted ", what, ", which the oracle says cannot fit"));
    }
    if (!target.no_peer) {
      const bool queued = waiting_ && result.outcome == WriteResult::Outcome::kQueued;
      owed_.push_back({datagrams[0].payload, fitting, queued});
      if (!queued) owed_bytes_ += size;
    }
    return;
  }
  // Rejected: judge it against every family the endpoint may travel in.
  netrig::DatagramRejection rejection;
  if (result.limit_kind != netrig::DatagramLimitKind::kNone) {
    rejection.claimed_kind = result.limit_kind;
    rejection.claimed_limit_bytes = result.limit_bytes;
  }
  rejection.message = std::string(result.error.message());
  if (result.error.ok()) Fail(absl::StrCat("rejected ", what, " with an OK status"));
  bool true_limit = false;
  bool false_size_claim = false;
  std::string judgements;
  for (unsigned bit : {kV4Bit, kV6Bit}) {
    if ((target.families & bit) == 0) continue;
    absl::StatusOr<netrig::RejectionJudgement> judgement =
        netrig::JudgeRejection(size, FamilyOf(bit), Path(), rejection);
    if (!judgement.ok()) Fatal(absl::StrCat("JudgeRejection: ", judgement.status().ToString()));
    true_limit |= judgement->finding == netrig::RejectionFinding::kTrueLimit;
    false_size_claim |= judgement->finding == netrig::RejectionFinding::kWrongLimit ||
                        judgement->finding == netrig::RejectionFinding::kRejectedDatagramThatFits;
    absl::StrAppend(&judgements, "\n  ", netrig::AddressFamilyName(FamilyOf(bit)), ": ",
                    judgement->message);
  }
  if (true_limit) return;
  const std::string why = absl::StrCat("rejected ", what, ": \"", rejection.message, "\" (kind ",
                                       netrig::DatagramLimitKindName(result.limit_kind), ", ",
                                       result.limit_bytes, ")", judgements);
  if (target.must_refuse || target.no_peer || waiting_) {
    if (false_size_claim) Fail(absl::StrCat("false size claim: ", why));
    return;
  }
  if (fits_all) Fail(absl::StrCat("a datagram that fits was rejected: ", why));
  Fail(absl::StrCat("the rejection does not name a true limit: ", why));
}

unsigned Run::SourceFamily(const Endpoint& source) const {
  if (source.family() == AddressFamily::kIPv4) return kV4Bit;
  const absl::Span<const uint8_t> bytes = source.address_bytes();
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (bytes.size() == 16 && std::memcmp(bytes.data(), kMappedPrefix, 12) == 0) return kV4Bit;
  return kV6Bit;
}

void Run::Accept(Datagram datagram) {
  const Endpoint& source = datagram.endpoint;
  if (source.kind() != netrig::EndpointKind::kAddress || source.port() != world->port) {
    Fail(absl::StrCat("read a datagram from ", source.ToString(),
                      ", which is not the echo server (port ", world->port, ")"));
  }
  const unsigned family = SourceFamily(source);
  if (datagram.truncated) {
    Fail(absl::StrCat("read a truncated datagram (", datagram.payload.size(), " bytes) from ",
                      source.ToString()));
  }
  // Payloads are unique per input except the shortest ones (0 bytes are all alike), so the
  // match prefers an owed datagram of the source's family and a sent one over a queued one.
  std::optional<size_t> match;
  int match_rank = -1;
  for (size_t i = 0; i < owed_.size(); ++i) {
    if (owed_[i].payload.size() != datagram.payload.size() ||
        owed_[i].payload != datagram.payload) {
      continue;
    }
    const int rank = ((owed_[i].families & family) != 0 ? 2 : 0) + (owed_[i].queued ? 0 : 1);
    if (rank > match_rank) {
      match = i;
      match_rank = rank;
    }
  }
  if (match) {
    const Owed& owed = owed_[*match];
    if ((owed.families & family) == 0) {
      Fail(absl::StrCat("a datagram of ", datagram.payload.size(), " bytes came back from ",
                        source.ToString(), ", a family it was not sent in"));
    }
    if (owed.queued) {
      Fail("a datagram queued while waiting arrived while the path was still lost");
    }
    owed_bytes_ -= owed.payload.size();
    owed_.erase(owed_.begin() + static_cast<std::ptrdiff_t>(*match));
    last_source_ = source;
    last_source_families_ = family;
    if (pool_.size() < kMaxReadPool) pool_.push_back(std::move(datagram));
    return;
  }
  Fail(absl::StrCat("read a datagram of ", datagram.payload.size(), " bytes from ",
                    source.ToString(), " that was never sent, was altered, or came twice"));
}

size_t Run::SentOwed() const {
  size_t count = 0;
  for (const Owed& o : owed_) count += o.queued ? 0 : 1;
  return count;
}

void Run::ReadOwed(size_t want) {
  want = std::min(want, SentOwed());
  const absl::Time deadline = absl::Now() + kEchoWaitCap;
  size_t got = 0;
  while (true) {
    const absl::Duration wait =
        got < want ? std::max(deadline - absl::Now(), absl::ZeroDuration()) : absl::ZeroDuration();
    absl::StatusOr<std::vector<Datagram>> read = flow_->Read(64, wait);
    if (!read.ok()) Fail(absl::StrCat("Read failed on an open flow: ", read.status().ToString()));
    for (Datagram& datagram : *read) Accept(std::move(datagram));
    got += read->size();
    if (read->empty() && got >= want) return;
    if (got < want && absl::Now() >= deadline) {
      Fail(absl::StrCat(SentOwed(), " accepted datagram(s) never came back within ",
                        absl::FormatDuration(kEchoWaitCap), " (silent loss); first owed: ",
                        owed_.empty() ? 0 : owed_.front().payload.size(), " bytes"));
    }
  }
}

void Run::CheckClosedRead() {
  absl::StatusOr<std::vector<Datagram>> read = flow_->Read(1, absl::ZeroDuration());
  if (read.ok()) Fail("Read on a closed flow did not fail");
}

void Run::Back() {
  waiting_ = false;
  for (Owed& o : owed_) {
    if (o.queued) {
      o.queued = false;
      owed_bytes_ += o.payload.size();
    }
  }
}

void Run::DiscardStrays() {
  for (int i = 0; i < 64; ++i) {
    absl::StatusOr<std::vector<Datagram>> read = flow_->Read(64, absl::ZeroDuration());
    if (!read.ok() || read->empty()) return;
  }
}

}  // namespace netrig::internal::udp_flow_fuzzer
