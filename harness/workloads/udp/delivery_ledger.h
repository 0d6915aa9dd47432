// The `netrig udp` workload's delivery ledger: where every datagram it sent stands. Each id of a
// flow instance has one state byte (stress_ids.h); writers mark ids in flight, and a rejection,
// an arrival, a counted relay fault or the instance's finalization settles each id exactly once
// by compare-and-swap. What is in flight is accounted with it: per instance (the drain watches
// it) and against the shared in-flight budget writers wait on. The ledger says what happened;
// the workload decides what is a violation. Not a public API.
//
//   DeliveryLedger ledger(kInFlightBudget);
//   ledger.AddInFlight(instance, n, cost);                      // before allocating the ids
//   ledger.MarkInFlight(instance, seq, path_down, encoding);   // for each datagram of a write
//   if (!ledger.SettleRejected(instance, seq, cost)) ...        // it had arrived already
//   switch (ledger.SettleArrival(instance, seq, cut, cost)) ... // a reader got a copy
//   DeliveryLedger::Closing closing = ledger.Close(instance);   // lost vs abandoned
//
// Threading: every method may run on any thread (writers, readers, relay threads, the chaos
// thread); Close() runs once per instance, after its reader has stopped and no writer uses it.
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_DELIVERY_LEDGER_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_DELIVERY_LEDGER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/drive/in_flight.h"
#include "harness/workloads/udp/stress_ids.h"

namespace netrig::internal::udp_stress {

struct Instance;

class DeliveryLedger {
 public:
  // `budget_bytes`: the queue cost (QueueCost) all instances may have in flight together.
  explicit DeliveryLedger(int64_t budget_bytes) : budget_(budget_bytes) {}
  DeliveryLedger(const DeliveryLedger&) = delete;
  DeliveryLedger& operator=(const DeliveryLedger&) = delete;

  InFlightBudget& budget() { return budget_; }
  // Settlements so far that took something out of flight (writers watch it for progress).
  uint64_t progress() const { return progress_.load(std::memory_order_relaxed); }

  // ---- Writers ----
  // Accounts for `n` datagrams of total queue cost `cost` about to be sent. Called before their
  // ids are allocated (Instance::next_seq): a drain that sees nothing in flight then knows every
  // allocated id is settled, even when a writer stalls between allocating and marking.
  void AddInFlight(Instance* instance, uint32_t n, int64_t cost);
  // Takes back an AddInFlight whose datagrams were not sent (the instance was full).
  void CancelInFlight(Instance* instance, uint32_t n, int64_t cost);
  // Marks `seq` in flight, remembering whether the path was down and the endpoint encoding.
  void MarkInFlight(Instance* instance, uint32_t seq, bool path_down, uint8_t encoding);
  // Settles a rejected id. False if it was no longer in flight (a copy had arrived already).
  bool SettleRejected(Instance* instance, uint32_t seq, int64_t cost);

  // ---- Readers ----
  // Whether `seq` was ever handed to the flow by this instance's writers.
  bool WasSent(const Instance* instance, uint32_t seq) const;
  // The state of `seq` now (an IdState in the low bits); only for ids WasSent() says were.
  uint8_t StateOf(const Instance* instance, uint32_t seq) const;
  // Whether a relay fault cut a copy of `seq` (another, whole, copy may still arrive).
  bool IsCutCopy(Instance* instance, uint32_t seq);

  enum class Arrival {
    kDelivered,             // the first copy: settled as delivered
    kDeliveredAfterFault,   // the first copy, after a counted fault settled it dropped/cut
    kTruncated,             // a cut copy of an id a fault settled as cut
    kDuplicate,             // a second copy of a delivered id
    kRejectedButDelivered,  // the flow had rejected it
    kAfterEnd,              // the id was already abandoned or lost
  };
  // Settles a copy that arrived (`cut`: shorter than sent). kDelivered releases its cost.
  Arrival SettleArrival(Instance* instance, uint32_t seq, bool cut, int64_t cost);

  // ---- Relay threads ----
  // A counted relay fault dropped or cut (`truncate`) a copy of `seq`. True if that settled it.
  bool SettleFault(Instance* instance, uint32_t seq, bool truncate, int64_t cost);

  // ---- Finalization ----
  struct Closing {
    uint64_t accepted = 0;         // ids the flow accepted (not rejected, not unused)
    uint64_t lost = 0;             // in flight at a graceful close, before its retirement
    uint64_t lost_while_down = 0;  // of those, accepted while the path was down
    uint64_t abandoned = 0;        // in flight at an abrupt close, or sent after retirement
    std::map<std::string, uint64_t> lost_by_encoding;
    std::vector<uint32_t> first_lost;  // up to five ids
  };
  // Settles every id still in flight as lost or abandoned, gives the instance's in-flight cost
  // back, and frees its ids. Faults reported after this are ignored.
  Closing Close(Instance* instance);

 private:
  void Release(Instance* instance, int64_t cost);

  InFlightBudget budget_;
  std::atomic<uint64_t> progress_{0};
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_DELIVERY_LEDGER_H_
