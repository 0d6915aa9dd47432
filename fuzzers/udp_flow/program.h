// The udp_flow fuzzer's input language (udp_flow_fuzzer.cc describes it): one operation per
// line, parsed leniently (unknown lines are ignored, at most kMaxOperations run) and written back
// as text by the custom mutator.
#ifndef NETRIG_FUZZERS_UDP_FLOW_PROGRAM_H_
#define NETRIG_FUZZERS_UDP_FLOW_PROGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace netrig::internal::udp_flow_fuzzer {

// ---------------------------------------------------------------------------------------------
// The input language.

inline constexpr size_t kMaxOperations = 64;
inline constexpr uint64_t kMaxSize = 70000;
inline constexpr size_t kMaxOwedDatagrams = 32;

enum class Encoding {
  kV4,
  kV6,
  kV6Dot,
  kMapped,
  kScoped,
  kScopeNumber,
  kHost,
  kRedacted4,
  kRedacted6,
  kLinkLocal,
  kAsRead,
  kRoundTrip,
};
inline constexpr std::array<absl::string_view, 12> kEncodingNames = {
    "v4",   "v6",        "v6dot",     "mapped",    "scoped", "scopenum",
    "host", "redacted4", "redacted6", "linklocal", "asread", "roundtrip"};

enum class OpKind { kWrite, kRead, kEcho, kLost, kBack, kClose, kReopen };

struct Operation {
  OpKind kind = OpKind::kRead;
  Encoding encoding = Encoding::kV4;
  uint64_t size = 0;  // write: payload bytes; read: how many echoes (0 = all owed)
};

struct Program {
  uint32_t mtu = 1500;
  bool dont_fragment = false;
  std::vector<Operation> operations;
};

Program ParseProgram(absl::string_view text);
std::string FormatOperation(const Operation& op);
std::string SerializeProgram(const Program& program);

}  // namespace netrig::internal::udp_flow_fuzzer

#endif  // NETRIG_FUZZERS_UDP_FLOW_PROGRAM_H_
