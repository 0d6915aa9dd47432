// Reading from a UDP flow in tests: collect what comes back within a bounded wait.
//
// Example:
//   std::vector<netrig::Datagram> replies = netrig::testing::ReadAtLeast(*flow, 3);
#ifndef NETRIG_TESTS_SUPPORT_FLOW_READS_H_
#define NETRIG_TESTS_SUPPORT_FLOW_READS_H_

#include <cstddef>
#include <vector>

#include "harness/udp/flow.h"

namespace netrig::testing {

// Reads until `count` datagrams arrived, 5 s passed or a read failed (the flow was closed), and
// returns what arrived; the caller checks how many.
std::vector<Datagram> ReadAtLeast(Flow& flow, size_t count);

}  // namespace netrig::testing

#endif  // NETRIG_TESTS_SUPPORT_FLOW_READS_H_
