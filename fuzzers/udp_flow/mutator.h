// The udp_flow fuzzer's custom mutator: parses the text, then moves a size onto or across one of
// the datagram-size oracle's boundaries, swaps an encoding, inserts/deletes/duplicates
// operations, changes the MTU or don't-fragment, or hands the bytes to LLVMFuzzerMutate.
#ifndef NETRIG_FUZZERS_UDP_FLOW_MUTATOR_H_
#define NETRIG_FUZZERS_UDP_FLOW_MUTATOR_H_

#include <cstddef>
#include <cstdint>

namespace netrig::internal::udp_flow_fuzzer {

// LLVMFuzzerCustomMutator's contract: mutates data[0, size) in place (at most max_size bytes)
// and returns the new size.
size_t MutateProgram(uint8_t* data, size_t size, size_t max_size, unsigned seed);

}  // namespace netrig::internal::udp_flow_fuzzer

#endif  // NETRIG_FUZZERS_UDP_FLOW_MUTATOR_H_
