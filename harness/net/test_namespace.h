// TestNamespacePair: two fresh Linux network namespaces joined by a veth pair, for tests and stress
// runs that need a real link with a chosen MTU (docs/field-notes.md story 6) while sending nothing outside
// the namespaces they create.
//
//   side A: namespace "netrig-<pid>-<random>-a", interface nr0, 10.213.0.1/24, fd00:6e72::1/64
//   side B: namespace "netrig-<pid>-<random>-b", interface nr1, 10.213.0.2/24, fd00:6e72::2/64
//
// IPv6 addresses are added with DAD off (nodad), so they are usable at once instead of tentative.
// The destructor deletes both namespaces (the veth pair goes with them); Create() first removes
// namespaces named "netrig-<pid>-..." whose process no longer exists (a test that crashed).
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2's `ip`; CheckAvailable() says why not.
//
// Example:
//   if (absl::Status s = netrig::TestNamespacePair::CheckAvailable(); !s.ok()) {
//     GTEST_SKIP() << s.message();
//   }
//   absl::StatusOr<std::unique_ptr<netrig::TestNamespacePair>> pair =
//       netrig::TestNamespacePair::Create({.mtu = 1500});
//   ASSERT_TRUE(pair.ok()) << pair.status();
//   absl::StatusOr<int> fd = (*pair)->SocketIn(netrig::NamespaceSide::kA, AF_INET, SOCK_DGRAM);
//   // *fd lives in namespace A: sendto() it to (*pair)->Address(kB, kIPv4, port) from any thread.
//   ASSERT_TRUE((*pair)->SetMtu(9000).ok());
//   // Or run a whole command inside a namespace:
//   //   (*pair)->RunCommandIn(netrig::NamespaceSide::kA, {"/path/to/netrig", "udp", ...});
#ifndef NETRIG_HARNESS_NET_TEST_NAMESPACE_H_
#define NETRIG_HARNESS_NET_TEST_NAMESPACE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "harness/net/address_family.h"
#include "harness/net/endpoint.h"

namespace netrig {

enum class NamespaceSide { kA, kB };

// Runs argv (argv[0] looked up in PATH, then /usr/sbin and /sbin) and returns its combined
// stdout and stderr. A non-zero exit is an error (Internal) quoting the command and its output.
absl::StatusOr<std::string> RunCommand(absl::Span<const std::string> argv);

class TestNamespacePair {
 public:
  struct Options {
    uint32_t mtu = 1500;  // both ends of the veth pair
  };

  struct End {
    std::string netns;      // namespace name, as `ip netns` lists it
    std::string interface;  // veth end inside that namespace
    std::string ipv4;       // numeric address, no prefix length
    std::string ipv6;
  };

  // OK when namespaces can be made here; otherwise Unavailable saying why (not root, no `ip`).
  static absl::Status CheckAvailable();

  // Creates both namespaces, the veth pair, addresses and routes, brings everything up and waits
  // (at most 5 s) for the link to run. On any failure everything made so far is deleted.
  // Unavailable when the kernel refuses (no privilege), Internal for other failures.
  static absl::StatusOr<std::unique_ptr<TestNamespacePair>> Create(Options options);
  static absl::StatusOr<std::unique_ptr<TestNamespacePair>> Create() { return Create(Options{}); }

  TestNamespacePair(const TestNamespacePair&) = delete;
  TestNamespacePair& operator=(const TestNamespacePair&) = delete;
  ~TestNamespacePair();

  const End& end(NamespaceSide side) const { return side == NamespaceSide::kA ? a_ : b_; }
  uint32_t mtu() const { return mtu_; }

  // Sets the MTU of both veth ends and checks the kernel took it.
  absl::Status SetMtu(uint32_t mtu);

  // The MTU the kernel reports for `side`'s veth end.
  absl::StatusOr<uint32_t> InterfaceMtu(NamespaceSide side) const;

  // `side`'s address as an endpoint with `port`.
  absl::StatusOr<Endpoint> Address(NamespaceSide side, AddressFamily family, uint16_t port) const;

  // Runs fn on a new thread that has joined `side`'s network namespace, and waits for it. Sockets
  // fn creates belong to that namespace and stay usable from any thread afterwards.
  absl::Status RunIn(NamespaceSide side, absl::FunctionRef<absl::Status()> fn) const;

  // socket(domain, type | SOCK_CLOEXEC, 0) created inside `side`'s namespace; the caller owns it.
  absl::StatusOr<int> SocketIn(NamespaceSide side, int domain, int type) const;

  // Runs a command inside `side`'s namespace (`ip netns exec NAME argv...`), as RunCommand.
  absl::StatusOr<std::string> RunCommandIn(NamespaceSide side,
                                           absl::Span<const std::string> argv) const;

  // Deletes namespaces "netrig-<pid>-..." whose process is gone. Returns how many it deleted.
  static int RemoveStaleNamespaces();

 private:
  TestNamespacePair() = default;
  absl::Status Build(uint32_t mtu);
  absl::Status WaitUntilRunning() const;
  void Destroy();

  End a_, b_;
  uint32_t mtu_ = 0;
  std::vector<std::string> created_;  // namespaces to delete
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_NET_TEST_NAMESPACE_H_
