// The udp_flow fuzzer's process-wide state: the flow under test (NETRIG_FLOW, default
// "socket"), the in-process UDP echo server it is driven against, and the two flows (without and
// with don't-fragment), created once and reused across inputs.
#ifndef NETRIG_FUZZERS_UDP_FLOW_WORLD_H_
#define NETRIG_FUZZERS_UDP_FLOW_WORLD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "harness/udp/flow.h"
#include "harness/udp/peers/echo_server.h"

namespace netrig::internal::udp_flow_fuzzer {

// ---------------------------------------------------------------------------------------------
// Process-wide state: the echo server and the two flows, reused across inputs.

enum FamilyBit : unsigned { kV4Bit = 1, kV6Bit = 2 };

struct World {
  std::string flow_name = "socket";
  std::unique_ptr<netrig::EchoServer> echo;
  uint16_t port = 0;
  bool has_ipv6 = false;
  unsigned localhost_families = 0;         // what "localhost" resolves to here
  unsigned loopback_index = 0;             // if_nametoindex("lo")
  std::unique_ptr<netrig::Flow> flows[2];  // [dont_fragment]
};

extern World* world;

// Prints "udp_flow fuzzer: <what>" and aborts.
[[noreturn]] void Fatal(const std::string& what);
// Creates the world once (a no-op afterwards); the echo server stops at exit.
void InitWorld();
// The flow of that don't-fragment setting, opened anew if it was closed.
netrig::Flow* EnsureFlow(bool dont_fragment);

}  // namespace netrig::internal::udp_flow_fuzzer

#endif  // NETRIG_FUZZERS_UDP_FLOW_WORLD_H_
