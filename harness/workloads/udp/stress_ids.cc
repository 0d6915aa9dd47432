#include "harness/workloads/udp/stress_ids.h"

namespace netrig::internal::udp_stress {

IdTable::IdTable() {
  for (auto& chunk : chunks_) chunk.store(nullptr, std::memory_order_relaxed);
}

void IdTable::Release() {
  for (auto& chunk : chunks_) delete[] chunk.exchange(nullptr);
}

}  // namespace netrig::internal::udp_stress
