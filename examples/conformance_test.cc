// The conformance suites for the examples' own flow and client, instantiated by registry name the
// way any user project does it (CMakeLists.txt builds this into my_conformance_test with
// netrig::conformance and GTest::gtest_main):
//
//   ./my_conformance_test                      # every property of both
//   ./my_conformance_test --gtest_filter='ExampleUdp/*'
#include "harness/conformance/flow_conformance.h"
#include "harness/conformance/http_client_conformance.h"

// my_udp_flow.cc: plain sockets, IPv4 and IPv6, host names resolved, path events honoured.
INSTANTIATE_FLOW_CONFORMANCE(ExampleUdp, "example-udp");

// my_http_client.cc: a thread and a curl easy handle per task, HTTP/1.1 and h2c.
INSTANTIATE_HTTP_CLIENT_CONFORMANCE(ExampleThreads, "example-threads");
