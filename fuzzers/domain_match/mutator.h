// The domain_match fuzzer's custom mutator: edits an input (input.h) at the level of labels,
// where matchers go wrong (case, trailing dots, wildcards, label boundaries, Unicode versus
// A-labels, length limits), and makes hosts from the patterns' own names so that most hosts sit
// on a pattern's boundary. One call in three is libFuzzer's own byte-level mutation instead.
#ifndef NETRIG_FUZZERS_DOMAIN_MATCH_MUTATOR_H_
#define NETRIG_FUZZERS_DOMAIN_MATCH_MUTATOR_H_

#include <cstddef>
#include <cstdint>

namespace netrig::internal::domain_match_fuzzer {

size_t MutateInput(uint8_t* data, size_t size, size_t max_size, unsigned seed);

}  // namespace netrig::internal::domain_match_fuzzer

#endif  // NETRIG_FUZZERS_DOMAIN_MATCH_MUTATOR_H_
