#include "harness/workloads/udp/delivery_ledger.h"

#include <algorithm>

#include "harness/workloads/udp/stress_encodings.h"
#include "harness/workloads/udp/udp_stress_internal.h"

namespace netrig::internal::udp_stress {

void DeliveryLedger::MarkInFlight(Instance* instance, uint32_t seq, bool path_down,
                                  uint8_t encoding) {
  instance->ids.Get(seq)->store(
      static_cast<uint8_t>(kInFlight | (path_down ? kPathDownFlag : 0) | (encoding << 4)),
      std::memory_order_release);
}

void DeliveryLedger::AddInFlight(Instance* instance, uint32_t n, int64_t cost) {
  instance->inflight_cost.fetch_add(cost, std::memory_order_relaxed);
  instance->inflight.fetch_add(n, std::memory_order_relaxed);
  budget_.Add(cost);
}

void DeliveryLedger::CancelInFlight(Instance* instance, uint32_t n, int64_t cost) {
  instance->inflight_cost.fetch_sub(cost, std::memory_order_relaxed);
  instance->inflight.fetch_sub(n, std::memory_order_release);
  budget_.Release(cost);
}

void DeliveryLedger::Release(Instance* instance, int64_t cost) {
  instance->inflight_cost.fetch_sub(cost, std::memory_order_relaxed);
  instance->inflight.fetch_sub(1, std::memory_order_release);
  progress_.fetch_add(1, std::memory_order_relaxed);
  budget_.Release(cost);
}

bool DeliveryLedger::SettleRejected(Instance* instance, uint32_t seq, int64_t cost) {
  std::atomic<uint8_t>* state = instance->ids.Find(seq);
  uint8_t s = state->load(std::memory_order_acquire);
  while ((s & kStateMask) == kInFlight) {
    if (state->compare_exchange_weak(s, static_cast<uint8_t>((s & ~kStateMask) | kRejected),
                                     std::memory_order_acq_rel)) {
      Release(instance, cost);
      return true;
    }
  }
  return false;
}

bool DeliveryLedger::WasSent(const Instance* instance, uint32_t seq) const {
  return instance->ids.Find(seq) != nullptr &&
         seq < instance->next_seq.load(std::memory_order_acquire);
}

uint8_t DeliveryLedger::StateOf(const Instance* instance, uint32_t seq) const {
  return instance->ids.Find(seq)->load(std::memory_order_acquire);
}

bool DeliveryLedger::IsCutCopy(Instance* instance, uint32_t seq) {
  MutexLock lock(&instance->hook_mu);
  return instance->cut_copies.contains(seq);
}

DeliveryLedger::Arrival DeliveryLedger::SettleArrival(Instance* instance, uint32_t seq, bool cut,
                                                      int64_t cost) {
  std::atomic<uint8_t>* state = instance->ids.Find(seq);
  uint8_t s = state->load(std::memory_order_acquire);
  while (true) {
    const uint8_t current = s & kStateMask;
    // A whole copy settles an id a fault dropped or cut: the relay duplicated it first.
    if (current == kInFlight || current == kDropped || (current == kTruncated && !cut)) {
      if (!state->compare_exchange_weak(s, static_cast<uint8_t>((s & ~kStateMask) | kDelivered),
                                        std::memory_order_acq_rel)) {
        continue;
      }
      if (current != kInFlight) return Arrival::kDeliveredAfterFault;
      Release(instance, cost);
      return Arrival::kDelivered;
    }
    switch (current) {
      case kTruncated:
        return Arrival::kTruncated;
      case kDelivered:
        return Arrival::kDuplicate;
      case kRejected:
        return Arrival::kRejectedButDelivered;
      default:
        return Arrival::kAfterEnd;
    }
  }
}

bool DeliveryLedger::SettleFault(Instance* instance, uint32_t seq, bool truncate, int64_t cost) {
  MutexLock lock(&instance->hook_mu);
  if (instance->finalized) return false;
  std::atomic<uint8_t>* state = instance->ids.Find(seq);
  if (state == nullptr) return false;
  // Cut copies may arrive after another copy (a relay duplicate) settled the id.
  if (truncate) instance->cut_copies.insert(seq);
  uint8_t s = state->load(std::memory_order_acquire);
  while ((s & kStateMask) == kInFlight) {
    if (state->compare_exchange_weak(
            s, static_cast<uint8_t>((s & ~kStateMask) | (truncate ? kTruncated : kDropped)),
            std::memory_order_acq_rel)) {
      Release(instance, cost);
      return true;
    }
  }
  return false;
}

DeliveryLedger::Closing DeliveryLedger::Close(Instance* instance) {
  Closing closing;
  const uint32_t end =
      std::min(instance->next_seq.load(std::memory_order_acquire), kMaxIdsPerInstance);
  MutexLock lock(&instance->hook_mu);
  for (uint32_t seq = 0; seq < end; ++seq) {
    std::atomic<uint8_t>* state = instance->ids.Find(seq);
    if (state == nullptr) {
      seq |= kChunkIds - 1;  // a chunk never used (ids past a full instance)
      continue;
    }
    const uint8_t s = state->load(std::memory_order_acquire);
    const uint8_t current = s & kStateMask;
    if (current != kFree && current != kRejected) ++closing.accepted;
    if (current != kInFlight) continue;
    if (instance->graceful && seq < instance->retire_seq) {
      state->store(static_cast<uint8_t>((s & ~kStateMask) | kLost), std::memory_order_release);
      ++closing.lost;
      if (s & kPathDownFlag) ++closing.lost_while_down;
      ++closing.lost_by_encoding[EncodingName(EncodingOf(s))];
      if (closing.first_lost.size() < 5) closing.first_lost.push_back(seq);
    } else {
      state->store(static_cast<uint8_t>((s & ~kStateMask) | kAbandoned), std::memory_order_release);
      ++closing.abandoned;
    }
  }
  budget_.Release(instance->inflight_cost.exchange(0));
  instance->inflight.store(0, std::memory_order_relaxed);
  instance->finalized = true;
  instance->ids.Release();
  return closing;
}

}  // namespace netrig::internal::udp_stress
