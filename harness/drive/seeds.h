// Seeds: every decision that changes a run's behaviour draws from a generator whose seed is
// derived from the run's master seed and a name ("faults", "sizes", "cancel", ...), so that a
// report lists each one and a rerun with the master seed replays them all.
//
// Example:
//   const uint64_t fault_seed = netrig::DeriveSeed(options.seed, "faults");
//   std::mt19937_64 rng(netrig::DeriveSeed(fault_seed, worker_index));
#ifndef NETRIG_HARNESS_DRIVE_SEEDS_H_
#define NETRIG_HARNESS_DRIVE_SEEDS_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace netrig {

// SplitMix64 finalizer: a bijective, well-mixed 64-bit hash.
constexpr uint64_t MixSeed(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A fixed (not per-process) derivation, stable across builds and machines.
constexpr uint64_t DeriveSeed(uint64_t master, absl::string_view name) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return MixSeed(master ^ hash);
}

constexpr uint64_t DeriveSeed(uint64_t master, uint64_t index) {
  return MixSeed(master ^ MixSeed(index + 0x632be59bd9b4e019ULL));
}

// A seed for runs that were not given one: from the clock and the process id.
uint64_t FreshSeed();

// The decisions of one operation (a task, a datagram, a batch), drawn from a generator seeded by
// the operation's identity rather than taken from a stream shared in arrival order, so that the
// same seed makes the same decisions for the same operation whatever the timing:
//
//   OperationRandom rng(DeriveSeed(DeriveSeed(spawn_seed, worker), op_number));
//   const bool cancel = std::uniform_real_distribution<double>(0, 1)(rng) < p;
//
// SplitMix64: cheap to seed (one per operation), a UniformRandomBitGenerator for <random>.
class OperationRandom {
 public:
  using result_type = uint64_t;
  explicit OperationRandom(uint64_t seed) : state_(seed) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~uint64_t{0}; }
  result_type operator()() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_SEEDS_H_
