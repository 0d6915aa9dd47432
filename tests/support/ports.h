// Loopback ports for tests that need one with nothing behind it.
#ifndef NETRIG_TESTS_SUPPORT_PORTS_H_
#define NETRIG_TESTS_SUPPORT_PORTS_H_

namespace netrig::testing {

// A 127.0.0.1 TCP port the kernel just handed out and that nothing listens on now (bound, then
// closed): a connection to it is refused.
int ClosedTcpPort();

// Whether something accepts TCP connections on 127.0.0.1:`port` now (a server started by a test
// is up).
bool LoopbackTcpAccepts(int port);

}  // namespace netrig::testing

#endif  // NETRIG_TESTS_SUPPORT_PORTS_H_
