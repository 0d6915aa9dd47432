#include "fuzzers/udp_flow/mutator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "fuzzers/udp_flow/program.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size)
    __attribute__((weak));

namespace netrig::internal::udp_flow_fuzzer {
namespace {

// ---------------------------------------------------------------------------------------------
// The custom mutator.

std::vector<uint64_t> BoundarySizes(uint32_t mtu) {
  std::vector<uint64_t> sizes = {65507, 65508, 65527, 65528, 65488, 65489, 65535, 65536, 0, 1};
  if (mtu > 48) {
    for (uint64_t s : {mtu - 28ULL, mtu - 27ULL, mtu - 48ULL, mtu - 47ULL}) sizes.push_back(s);
  }
  return sizes;
}

Operation RandomOperation(std::mt19937_64& rng, const Program& program) {
  Operation op;
  op.kind = static_cast<OpKind>(rng() % 7);
  if (rng() % 2 == 0) op.kind = OpKind::kWrite;  // writes carry the interesting sizes
  op.encoding = static_cast<Encoding>(rng() % kEncodingNames.size());
  if (op.kind == OpKind::kWrite) {
    const std::vector<uint64_t> sizes = BoundarySizes(program.mtu);
    op.size = rng() % 2 ? sizes[rng() % sizes.size()] : 50 + rng() % 151;
  } else if (op.kind == OpKind::kRead) {
    op.size = rng() % 3 == 0 ? 1 + rng() % 4 : 0;
  }
  return op;
}

}  // namespace

size_t MutateProgram(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  std::mt19937_64 rng(seed);
  Program program = ParseProgram(absl::string_view(reinterpret_cast<const char*>(data), size));
  std::vector<size_t> writes;
  std::vector<size_t> with_encoding;
  for (size_t i = 0; i < program.operations.size(); ++i) {
    const OpKind kind = program.operations[i].kind;
    if (kind == OpKind::kWrite) writes.push_back(i);
    if (kind == OpKind::kWrite || kind == OpKind::kEcho) with_encoding.push_back(i);
  }
  switch (rng() % 10) {
    case 0:
    case 1:  // A size onto a boundary, or near it.
      if (!writes.empty()) {
        const std::vector<uint64_t> sizes = BoundarySizes(program.mtu);
        uint64_t s = sizes[rng() % sizes.size()];
        if (rng() % 4 == 0) s = s + (rng() % 5) - 2;
        program.operations[writes[rng() % writes.size()]].size = std::min(s, kMaxSize);
        break;
      }
      [[fallthrough]];
    case 2: {  // Across the nearest boundary (or a small field-note size).
      if (writes.empty()) {
        program.operations.push_back(RandomOperation(rng, program));
        break;
      }
      Operation& op = program.operations[writes[rng() % writes.size()]];
      if (rng() % 3 == 0) {
        op.size = 50 + rng() % 151;
        break;
      }
      uint64_t nearest = 0;
      for (uint64_t b : BoundarySizes(program.mtu)) {
        const auto distance = [&](uint64_t x) { return x > op.size ? x - op.size : op.size - x; };
        if (distance(b) < distance(nearest)) nearest = b;
      }
      op.size = op.size <= nearest ? nearest + 1 : nearest;
      break;
    }
    case 3:  // Swap an encoding.
      if (!with_encoding.empty()) {
        program.operations[with_encoding[rng() % with_encoding.size()]].encoding =
            static_cast<Encoding>(rng() % kEncodingNames.size());
        break;
      }
      [[fallthrough]];
    case 4:  // Insert an operation.
      if (program.operations.size() < kMaxOperations) {
        program.operations.insert(
            program.operations.begin() +
                static_cast<std::ptrdiff_t>(rng() % (program.operations.size() + 1)),
            RandomOperation(rng, program));
      }
      break;
    case 5:  // Delete, duplicate or swap operations.
      if (!program.operations.empty()) {
        const size_t i = rng() % program.operations.size();
        const size_t j = rng() % program.operations.size();
        switch (rng() % 3) {
          case 0:
            program.operations.erase(program.operations.begin() + static_cast<std::ptrdiff_t>(i));
            break;
          case 1:
            if (program.operations.size() < kMaxOperations) {
              program.operations.insert(program.operations.begin() + static_cast<std::ptrdiff_t>(i),
                                        program.operations[i]);
            }
            break;
          default:
            std::swap(program.operations[i], program.operations[j]);
        }
      }
      break;
    case 6: {  // The chosen MTU.
      static constexpr uint32_t kMtus[] = {1280, 1500, 9000, 576, 68, 1492, 65535, 65536};
      program.mtu = rng() % 4 == 0 ? 68 + static_cast<uint32_t>(rng() % 65469)
                                   : kMtus[rng() % std::size(kMtus)];
      break;
    }
    case 7:
      program.dont_fragment = !program.dont_fragment;
      break;
    default:  // The rest: libFuzzer's own byte mutations on the text.
      if (LLVMFuzzerMutate != nullptr) return LLVMFuzzerMutate(data, size, max_size);
      program.operations.push_back(RandomOperation(rng, program));
  }
  std::string text = SerializeProgram(program);
  while (text.size() > max_size && !program.operations.empty()) {
    program.operations.pop_back();
    text = SerializeProgram(program);
  }
  if (text.size() > max_size) return size;
  std::memcpy(data, text.data(), text.size());
  return text.size();
}

}  // namespace netrig::internal::udp_flow_fuzzer
