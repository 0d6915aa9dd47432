// Fuzz target: a UDP flow through real loopback sockets, held to the datagram-size oracle.
//
// The flow comes from the registry: NETRIG_FLOW=NAME (default "socket"), so a user's registered
// flow is fuzzed the same way. Its peer is an in-process UDP echo server (127.0.0.1 and ::1, one
// port), started once. The flows (one without and one with don't-fragment) are created once and
// reused across inputs: each input starts by bringing the path back and discarding stray
// datagrams, and ends with every echo it is owed received.
//
// Input: one operation per line (unknown lines are ignored, at most 64 operations run):
//   mtu N            the MTU the custom mutator aims sizes at (1500: 1472/1473, 1452/1453)
//   df               use the don't-fragment flow (IP_PMTUDISC_DO / IPV6_DONTFRAG)
//   write ENC SIZE   send SIZE bytes (at most 70000) to the echo server, encoded as ENC
//   read [N]         read until N (default all) owed echoes arrived
//   echo ENC         send the oldest datagram read so far back to its source, the source
//                    endpoint exactly as read (ENC "asread"), text round-tripped ("roundtrip"),
//                    or re-encoded as ENC with the source's port
//   lost | back      path events (the flow enters / leaves "waiting")
//   close | reopen   close the flow (after its owed echoes arrived); open a new one
// ENC: v4 "127.0.0.1:P", v6 "[::1]:P", v6dot "::1.P", mapped "[::ffff:127.0.0.1]:P",
//      scoped "[::1%lo]:P", scopenum "[::1%<index of lo>]:P", host "localhost:P",
//      redacted4 "IPv4#7f000001:P", redacted6 "IPv6#…01:P" (must be refused, not for size),
//      linklocal "[fe80::1%lo]:P" (no peer there: anything but a false size claim is fine),
//      asread, roundtrip (the last source read; v4 before any read).
//
// Properties, per datagram, with the oracle on the loopback path (65536, don't-fragment as set):
//   - a datagram that fits is accepted (or queued while waiting) and comes back intact, from the
//     echo server's address in the family it was sent in, exactly once;
//   - a rejection of a datagram that does not fit names a true limit with its value
//     (JudgeRejection: kTrueLimit); a fitting one is never rejected (while waiting: never for its
//     size); redacted endpoints are refused, never for their size;
//   - after close, writes are rejected and reads fail; nothing crashes.
// Endpoints that name both families (host, mapped) are judged against either family's limits.
//
// Bounds and waits: at most 64 operations and 1 MiB of payload per input; before a write that
// would leave more than 512 KiB or 32 echoes owed, the owed echoes are read first (so socket
// buffers never overflow, which would be a loss the flow is not to blame for). Echo waits are
// bounded polls: loopback delivery is immediate, so an echo missing after 5 s is a loss, not a
// slow peer. No decision depends on the clock: every wait ends when the owed echoes arrived.
//
// The custom mutator parses the text, then moves a size onto or across one of the oracle's
// boundaries (65507/65508, 65527/65528, 65488/65489, MTU - 28/27 and - 48/47 for the chosen MTU,
// 0-1, 50-200), swaps an encoding, inserts/deletes/duplicates operations, changes the MTU or
// don't-fragment, or hands the bytes to LLVMFuzzerMutate.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "fuzzers/udp_flow/mutator.h"
#include "fuzzers/udp_flow/program.h"
#include "fuzzers/udp_flow/run.h"
#include "fuzzers/udp_flow/world.h"

namespace {

using netrig::internal::udp_flow_fuzzer::InitWorld;
using netrig::internal::udp_flow_fuzzer::MutateProgram;
using netrig::internal::udp_flow_fuzzer::ParseProgram;
using netrig::internal::udp_flow_fuzzer::Program;
using netrig::internal::udp_flow_fuzzer::Run;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  InitWorld();
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  return MutateProgram(data, size, max_size, seed);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InitWorld();
  const Program program =
      ParseProgram(absl::string_view(reinterpret_cast<const char*>(data), size));
  Run(program).Execute();
  return 0;
}
