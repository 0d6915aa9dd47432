#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "harness/sched/clock.h"
#include "harness/sched/schedule_point.h"
#include "harness/workloads/udp/stress_datagram.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

// ---- Pinning flow instances, the in-flight budget -----------------------------------------------

Instance* UdpStress::Pin(Slot& slot) {
  MutexLock lock(&slot.mu);
  Instance* instance = slot.current;
  if (instance != nullptr) instance->users.fetch_add(1, std::memory_order_acq_rel);
  return instance;
}

bool UdpStress::WaitForBudget(int64_t cost) {
  uint64_t progress = ledger_.progress();
  absl::Time last_progress = netrig::Now();
  return ledger_.budget().WaitForRoom(
      cost,
      [&] {
        if (stopping_.load(std::memory_order_relaxed) || StopRequested()) return true;
        const absl::Time now = netrig::Now();
        if (now >= traffic_end_) return true;
        const uint64_t seen = ledger_.progress();
        if (seen != progress) {
          progress = seen;
          last_progress = now;
        } else if (now - last_progress > absl::Seconds(1)) {
          // Nothing comes back: do not pile more on; the drain will tell what was lost.
          Add(counters_.budget_stalls);
          return true;
        }
        return false;
      },
      absl::Microseconds(500));
}

// ---- Writers -----------------------------------------------------------------------------------

void UdpStress::Operate(int worker, uint64_t index, absl::Time intended_start) {
  WorkerState& w = *workers_[worker];
  OperationRandom rng(DeriveSeed(w.seed, w.batches++));
  const int n = op_batch_;
  Slot& slot = *slots_[index % slots_.size()];
  int64_t cost = 0;
  for (int i = 0; i < n; ++i) {
    const EncodedEndpoint& e = encodings_[rng() % encodings_.size()];
    Datagram& d = w.datagrams[i];
    if (!(d.endpoint == e.endpoint)) d.endpoint = e.endpoint;
    d.payload.resize(sizes_->Draw(rng, target_families_[e.target]));
    w.encodings[i] = e.encoding;
    w.targets[i] = e.target;
    cost += QueueCost(d.payload.size());
  }
  if (!WaitForBudget(cost)) return;
  Instance* instance = Pin(slot);
  if (instance == nullptr) return;
  absl::Cleanup unpin = [instance] { instance->users.fetch_sub(1, std::memory_order_acq_rel); };
  ledger_.AddInFlight(instance, static_cast<uint32_t>(n), cost);
  const uint32_t base = instance->next_seq.fetch_add(static_cast<uint32_t>(n));
  if (base >= kMaxIdsPerInstance - static_cast<uint32_t>(n)) {
    ledger_.CancelInFlight(instance, static_cast<uint32_t>(n), cost);
    instance->full.store(true, std::memory_order_relaxed);  // the chaos thread rotates it
    return;
  }
  const PathState::WriteWindow window = path_->BeginWrite();
  const bool down = window.down;
  const int64_t sent_ns = absl::ToUnixNanos(intended_start);
  for (int i = 0; i < n; ++i) {
    Datagram& d = w.datagrams[i];
    const uint32_t seq = base + static_cast<uint32_t>(i);
    Header h;
    h.run_tag = run_tag_;
    h.instance = instance->id;
    h.seq = seq;
    h.length = static_cast<uint32_t>(d.payload.size());
    h.sent_ns = sent_ns;
    h.encoding = w.encodings[i];
    h.target = w.targets[i];
    EncodePayload(d.payload, h);
    ledger_.MarkInFlight(instance, seq, down, w.encodings[i]);
  }
  SchedulePoint("udp_stress.write");
  const std::vector<WriteResult> results =
      instance->flow->Write(absl::MakeConstSpan(w.datagrams.data(), n));
  const bool overlap = path_->Overlapped(window);
  Add(counters_.written, n);
  SettleWrite(instance, absl::MakeConstSpan(w.datagrams.data(), n), results, base,
              absl::MakeConstSpan(w.encodings.data(), n), overlap);
  // While the path is down a writer keeps trying, but not in a tight loop of rejections.
  if (path_->down()) {
    netrig::SleepFor(w.down_backoff);
    w.down_backoff = std::min(2 * w.down_backoff, absl::Milliseconds(50));
  } else {
    w.down_backoff = absl::Milliseconds(1);
  }
}

void UdpStress::SettleWrite(Instance* instance, absl::Span<const Datagram> datagrams,
                            absl::Span<const WriteResult> results, uint32_t base_seq,
                            absl::Span<const uint8_t> encodings, bool path_overlap) {
  uint64_t accepted = 0;
  uint64_t queued = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < datagrams.size(); ++i) {
    // A flow that returns fewer results than datagrams accepted the rest, by the contract's
    // silence; the ledger then holds it to that.
    if (i >= results.size() || !results[i].rejected()) {
      ++(i < results.size() && results[i].outcome == WriteResult::Outcome::kQueued ? queued
                                                                                   : accepted);
      bytes += datagrams[i].payload.size();
      continue;
    }
    const uint32_t seq = base_seq + static_cast<uint32_t>(i);
    const Datagram& d = datagrams[i];
    const bool settled = ledger_.SettleRejected(instance, seq, QueueCost(d.payload.size()));
    Add(counters_.rejected);
    if (!settled) {
      ReportViolation("rejected_but_delivered",
                      absl::StrFormat("flow '%s' (instance %d) rejected datagram %d:%d (%d bytes "
                                      "to %s, %s) with \"%s\", yet it reached the peer",
                                      options_.flow, instance->id, instance->id, seq,
                                      d.payload.size(), d.endpoint.ToString(),
                                      EncodingName(encodings[i]), results[i].error.message()));
      continue;
    }
    const bool closing = instance->closing.load(std::memory_order_acquire);
    using Judgement = SizeModel::Judgement;
    const Judgement j = sizes_->Judge(d, results[i], path_overlap || closing);
    switch (j.kind) {
      case Judgement::kTrueLimit:
        Add(j.limit == DatagramLimitKind::kFamilyMaximum         ? counters_.rejected_family_maximum
            : j.limit == DatagramLimitKind::kPathMtuDontFragment ? counters_.rejected_path_mtu
                                                                 : counters_.rejected_buffer);
        if (j.limit == DatagramLimitKind::kPathMtuDontFragment) {
          Add(counters_.rejected_over_path_limit);
        }
        break;
      case Judgement::kExcused:
        Add(closing ? counters_.rejected_closing : counters_.rejected_waiting);
        break;
      case Judgement::kWronglyRejected:
      case Judgement::kWrongLimit:
      case Judgement::kUnnamed: {
        const char* kind = j.kind == Judgement::kWronglyRejected ? "wrongly_rejected"
                           : j.kind == Judgement::kWrongLimit    ? "wrong_limit"
                                                                 : "unnamed_limit";
        Add(j.kind == Judgement::kWronglyRejected ? counters_.wrongly_rejected
            : j.kind == Judgement::kWrongLimit    ? counters_.wrong_limit
                                                  : counters_.unnamed_limit);
        ReportViolation(
            kind,
            absl::StrFormat(
                "flow '%s' rejected a %d-byte datagram to %s (%s endpoint, %s) with \"%s\"%s: "
                "%s [datagram %d:%d, flow %s, path %s]",
                options_.flow, d.payload.size(), d.endpoint.ToString(),
                EndpointKindName(d.endpoint.kind()), EncodingName(encodings[i]),
                results[i].error.message(),
                results[i].limit_kind == DatagramLimitKind::kNone
                    ? ""
                    : absl::StrFormat(" (claimed limit: %s %d)",
                                      DatagramLimitKindName(results[i].limit_kind),
                                      results[i].limit_bytes),
                j.explanation, instance->id, seq, FlowStateName(instance->flow->state()),
                sizes_->PathsToString()));
        break;
      }
    }
  }
  Add(counters_.accepted, accepted);
  Add(counters_.queued, queued);
  Add(counters_.bytes_sent, bytes);
}

}  // namespace netrig::internal::udp_stress
