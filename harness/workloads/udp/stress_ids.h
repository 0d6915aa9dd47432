// Per-datagram bookkeeping of the `netrig udp` driver (udp_stress.h). Every datagram a flow
// instance sends gets an id (its seq) and one state byte: where the datagram stands (in flight,
// delivered, rejected, dropped or cut by a counted relay fault, abandoned, lost), whether the path
// was down when it was accepted, and which endpoint encoding it was sent with. Writers, readers,
// the relay's fault hook and finalization settle ids by compare-and-swap on that byte, so each
// datagram is settled exactly once. IdTable holds the bytes of one instance. Not a public API.
#ifndef NETRIG_HARNESS_WORKLOADS_UDP_STRESS_IDS_H_
#define NETRIG_HARNESS_WORKLOADS_UDP_STRESS_IDS_H_

#include <array>
#include <atomic>
#include <cstdint>

namespace netrig::internal::udp_stress {

// ---- Per-datagram states, one byte per id. ---------------------------------------------------
enum IdState : uint8_t {
  kFree = 0,
  kInFlight = 1,
  kDelivered = 2,
  kRejected = 3,
  kDropped = 4,    // a counted relay fault dropped it (or the relay failed to forward it)
  kTruncated = 5,  // a counted relay fault cut it
  kAbandoned = 6,  // in flight when the flow was closed abruptly, or sent after it was retired
  kLost = 7,       // silent loss
};
constexpr uint8_t kStateMask = 0x07;
constexpr uint8_t kPathDownFlag = 0x08;  // accepted while the path was down
constexpr uint8_t EncodingOf(uint8_t s) { return s >> 4; }

constexpr uint32_t kChunkBits = 16;
constexpr uint32_t kChunkIds = 1u << kChunkBits;
constexpr uint32_t kMaxChunks = 256;
constexpr uint32_t kMaxIdsPerInstance = kChunkIds * kMaxChunks;  // 16M; then the flow rotates
constexpr uint32_t kMaxInstances = 4096;

// The states of one flow instance's datagrams, allocated in 64k chunks as ids are used.
class IdTable {
 public:
  IdTable();
  ~IdTable() { Release(); }
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;

  // Find() and Get() run for every datagram, so they stay inline. Find() is nullptr for an id in a
  // chunk never used; Get() allocates the chunk on first use.
  std::atomic<uint8_t>* Find(uint32_t seq) const {
    if ((seq >> kChunkBits) >= kMaxChunks) return nullptr;
    std::atomic<uint8_t>* chunk = chunks_[seq >> kChunkBits].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : &chunk[seq & (kChunkIds - 1)];
  }
  std::atomic<uint8_t>* Get(uint32_t seq) {
    const uint32_t index = seq >> kChunkBits;
    if (index >= kMaxChunks) return nullptr;
    std::atomic<uint8_t>* chunk = chunks_[index].load(std::memory_order_acquire);
    if (chunk == nullptr) {
      auto* fresh = new std::atomic<uint8_t>[kChunkIds]();
      if (chunks_[index].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
        chunk = fresh;
      } else {
        delete[] fresh;
      }
    }
    return &chunk[seq & (kChunkIds - 1)];
  }
  // Only when no thread can look ids up any more.
  void Release();

 private:
  std::array<std::atomic<std::atomic<uint8_t>*>, kMaxChunks> chunks_;
};

}  // namespace netrig::internal::udp_stress

#endif  // NETRIG_HARNESS_WORKLOADS_UDP_STRESS_IDS_H_
