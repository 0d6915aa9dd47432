#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/drive/seeds.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/workloads/udp/stress_datagram.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

// ---- Readers -----------------------------------------------------------------------------------

void UdpStress::ReaderLoop(Instance* instance) {
  std::vector<Datagram> bounces;
  std::vector<uint8_t> bounce_encodings;
  const size_t max_read = static_cast<size_t>(std::max(64, options_.batch * 4));
  while (true) {
    absl::StatusOr<std::vector<Datagram>> read =
        instance->flow->Read(max_read, absl::Milliseconds(50));
    if (!read.ok()) {
      if (instance->closing.load(std::memory_order_acquire)) return;
      Add(counters_.read_errors);
      if (Get(counters_.read_errors) <= 1) {
        ReportViolation("read_failed",
                        absl::StrFormat("flow '%s' (instance %d) Read() failed while open: %s",
                                        options_.flow, instance->id, read.status().ToString()));
      }
      netrig::SleepFor(absl::Milliseconds(5));
      continue;
    }
    uint64_t delivered = 0;
    for (Datagram& d : *read) delivered += Deliver(instance, d, bounces, bounce_encodings);
    Add(counters_.delivered, delivered);
    if (!bounces.empty()) WriteBounces(instance, bounces, bounce_encodings);
  }
}

void UdpStress::EncodePayload(std::string& payload, const Header& h) const {
  if (dns_) {
    payload.resize(h.length);
    PutDnsQuery(payload, h, options_.dns_zone);
    return;
  }
  PutHeader(payload.data(), h);
  FillBody(payload, FillByte(h.instance, h.seq));
}

bool UdpStress::ReadHeader(absl::string_view payload, Header* h) const {
  return dns_ ? GetDnsHeader(payload, run_tag_, h) : GetHeader(payload, run_tag_, h);
}

bool UdpStress::AnswerMatches(Instance* instance, absl::string_view answer, Header* h) {
  const DnsAnswerMatch match = MatchDnsAnswer(answer, run_tag_, options_.dns_zone);
  if (match.verdict == DnsAnswerMatch::kNotOurs) {
    // Names no query of this run (cut, or not DNS): it answers nothing asked; what was asked and
    // got no answer is then a loss.
    Add(counters_.strays);
    return false;
  }
  *h = match.header;
  if (h->instance != instance->id) {
    Add(counters_.strays);  // an answer to an earlier flow whose port the kernel handed out again
    return false;
  }
  if (match.verdict == DnsAnswerMatch::kMismatch) {
    ReportViolation(
        "corrupted_datagram",
        absl::StrFormat("flow '%s' returned a %d-byte DNS answer whose question names query "
                        "%d:%d (%s, id 0x%04x, type %d), but %s: not that query's answer",
                        options_.flow, answer.size(), instance->id, h->seq,
                        EncodingName(h->encoding), DnsIdFor(*h), DnsTypeFor(*h), match.problem));
    return false;
  }
  return true;
}

bool UdpStress::Deliver(Instance* instance, Datagram& d, std::vector<Datagram>& bounces,
                        std::vector<uint8_t>& bounce_encodings) {
  Header h;
  if (dns_) {
    if (!AnswerMatches(instance, d.payload, &h)) return false;
  } else if (!GetHeader(d.payload, run_tag_, &h) || h.instance != instance->id) {
    // Cut below the header by a counted truncation, or meant for an earlier flow whose port the
    // kernel handed out again: nothing this flow owes.
    Add(counters_.strays);
    return false;
  }
  if (!ledger_.WasSent(instance, h.seq) || h.target >= targets_.size()) {
    ReportViolation("corrupted_datagram",
                    absl::StrFormat("flow '%s' (instance %d) returned a datagram with id %d:%d "
                                    "that was never sent",
                                    options_.flow, instance->id, instance->id, h.seq));
    return false;
  }
  const uint8_t s = ledger_.StateOf(instance, h.seq);
  // An answer is the peer's own message, of its own size: only the echo format can be cut.
  const bool cut = !dns_ && d.payload.size() != h.length;
  const bool cut_copy = cut && (s & kStateMask) != kTruncated && ledger_.IsCutCopy(instance, h.seq);
  if (cut_copy) {
    Add(counters_.delivered_truncated);
    return false;
  }
  if ((cut && (s & kStateMask) != kTruncated) ||
      (!cut && !dns_ && !BodyIntact(d.payload, FillByte(instance->id, h.seq)))) {
    ReportViolation(
        "corrupted_datagram",
        absl::StrFormat("flow '%s' returned datagram %d:%d (%s) with %d bytes%s; %d were sent and "
                        "no relay fault cut it",
                        options_.flow, instance->id, h.seq, EncodingName(h.encoding),
                        d.payload.size(), cut ? "" : " and a changed body", h.length));
    return false;
  }
  // Came from where it was sent: the same address and port (mapped or not, any scope), or the
  // very endpoint written (flows such as dns-proxy hand back the endpoint as written).
  const Endpoint& target = targets_[h.target];
  const bool from_target = d.endpoint.kind() == EndpointKind::kHost
                               ? d.endpoint.port() == target.port()
                               : SameAddress(d.endpoint, target);
  if (!from_target) {
    ReportViolation("wrong_source_endpoint",
                    absl::StrFormat("flow '%s' tagged datagram %d:%d (sent to %s as %s) with "
                                    "source %s",
                                    options_.flow, instance->id, h.seq, target.ToString(),
                                    EncodingName(h.encoding), d.endpoint.ToString()));
  }
  switch (ledger_.SettleArrival(instance, h.seq, cut, QueueCost(h.length))) {
    case DeliveryLedger::Arrival::kDelivered:
      latency_.RecordMicros((absl::GetCurrentTimeNanos() - h.sent_ns) / 1000);
      break;
    case DeliveryLedger::Arrival::kDeliveredAfterFault:
      break;
    case DeliveryLedger::Arrival::kTruncated:
      Add(counters_.delivered_truncated);
      return false;
    case DeliveryLedger::Arrival::kDuplicate:
      Add(counters_.duplicates);
      if (faults_.duplicate <= 0) {
        ReportViolation(
            "duplicate_delivery",
            absl::StrFormat("flow '%s' returned datagram %d:%d (%s) twice, and no "
                            "relay fault duplicates",
                            options_.flow, instance->id, h.seq, EncodingName(h.encoding)));
      }
      return false;
    case DeliveryLedger::Arrival::kRejectedButDelivered:
      ReportViolation(
          "rejected_but_delivered",
          absl::StrFormat("flow '%s' rejected datagram %d:%d (%s), yet it came back", options_.flow,
                          instance->id, h.seq, EncodingName(h.encoding)));
      return false;
    case DeliveryLedger::Arrival::kAfterEnd:
      return false;
  }
  // Story 2: write it back to the endpoint exactly as read, or re-encoded.
  OperationRandom rng(
      DeriveSeed(bounce_seed_, (uint64_t{instance->id} << 40) ^ (uint64_t{h.hop} << 32) ^ h.seq));
  if (options_.bounce <= 0 || h.hop >= 3 || instance->closing.load(std::memory_order_relaxed) ||
      stopping_.load(std::memory_order_relaxed) ||
      static_cast<double>(rng() % 1000) >= options_.bounce * 1000) {
    return true;
  }
  Encoding encoding = kAsRead;
  Endpoint to = d.endpoint;
  const uint64_t pick = rng() % 5;
  if (pick == 2) {
    absl::StatusOr<Endpoint> text = Endpoint::Parse(d.endpoint.ToString());
    if (text.ok()) {
      to = *std::move(text);
      encoding = kReencodedText;
    }
  } else if (pick == 3 && d.endpoint.kind() == EndpointKind::kAddress) {
    for (const EncodedEndpoint& e : encodings_) {
      if (e.target != h.target) continue;
      if ((e.encoding == kIPv4Mapped && target_families_[h.target] == AddressFamily::kIPv4) ||
          (e.encoding == kIPv6ScopedName && target_families_[h.target] == AddressFamily::kIPv6)) {
        to = e.endpoint;
        encoding = e.encoding == kIPv4Mapped ? kReencodedMapped : kReencodedScoped;
        break;
      }
    }
  } else if (pick == 4) {
    for (const EncodedEndpoint& e : encodings_) {
      if (e.target == h.target && e.encoding == kHostName) {
        to = e.endpoint;
        encoding = kReencodedHost;
        break;
      }
    }
  }
  Header next = h;
  next.hop = static_cast<uint8_t>(h.hop + 1);
  next.encoding = encoding;
  // A DNS answer goes back as a new query of the size of the one it answers.
  if (dns_) d.payload.assign(h.length, '\0');
  bounces.push_back({std::move(to), std::move(d.payload), false});
  bounce_encodings.push_back(encoding);
  // Header and seq are written in WriteBounces, once the ids are allocated.
  PutHeader(bounces.back().payload.data(), next);
  return true;
}

void UdpStress::WriteBounces(Instance* instance, std::vector<Datagram>& bounces,
                             const std::vector<uint8_t>& encodings) {
  const uint32_t n = static_cast<uint32_t>(bounces.size());
  int64_t cost = 0;
  for (const Datagram& d : bounces) cost += QueueCost(d.payload.size());
  // No budget wait here: a bounce replaces the datagram that just came back.
  ledger_.AddInFlight(instance, n, cost);
  const uint32_t base = instance->next_seq.fetch_add(n);
  if (base >= kMaxIdsPerInstance - n) {
    ledger_.CancelInFlight(instance, n, cost);
    instance->full.store(true, std::memory_order_relaxed);
    bounces.clear();
    return;
  }
  const PathState::WriteWindow window = path_->BeginWrite();
  const bool down = window.down;
  const int64_t now_ns = absl::GetCurrentTimeNanos();
  for (uint32_t i = 0; i < n; ++i) {
    Datagram& d = bounces[i];
    Header h;
    GetHeader(d.payload, run_tag_, &h);
    h.seq = base + i;
    h.sent_ns = now_ns;
    EncodePayload(d.payload, h);
    ledger_.MarkInFlight(instance, h.seq, down, encodings[i]);
  }
  SchedulePoint("udp_stress.bounce");
  const std::vector<WriteResult> results = instance->flow->Write(bounces);
  const bool overlap = path_->Overlapped(window);
  Add(counters_.written, n);
  Add(counters_.bounces, n);
  SettleWrite(instance, bounces, results, base, encodings, overlap);
  bounces.clear();
}

// Called by the relay thread (under its lock) for each datagram a fault drops or cuts.
void UdpStress::OnRelayFault(absl::string_view payload, const char* fault) {
  Header h;
  if (!ReadHeader(payload, &h) || h.instance >= kMaxInstances) return;
  Instance* instance = instance_table_[h.instance].load(std::memory_order_acquire);
  if (instance == nullptr) return;
  const bool truncate = std::strcmp(fault, "truncate") == 0;
  if (ledger_.SettleFault(instance, h.seq, truncate, QueueCost(h.length))) {
    Add(truncate ? counters_.fault_truncated : counters_.fault_dropped);
  }
}

}  // namespace netrig::internal::udp_stress
