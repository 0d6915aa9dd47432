// Small socket helpers shared by the UDP layer's flows, peers and relay (internal). What a user's
// flow needs too (destinations, send errors, the in-flight gate) is public in flow_kit.h.
//
// Example:
//   absl::StatusOr<netrig::internal::UniqueFd> fd =
//       netrig::internal::BindUdp(netrig::AddressFamily::kIPv4, /*port=*/0);
//   absl::StatusOr<netrig::Endpoint> local = netrig::internal::LocalEndpoint(fd->get());
#ifndef NETRIG_HARNESS_UDP_SOCKET_UTIL_H_
#define NETRIG_HARNESS_UDP_SOCKET_UTIL_H_

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "harness/base/unique_fd.h"
#include "harness/net/address_family.h"
#include "harness/net/endpoint.h"

namespace netrig::internal {

// The one fd wrapper (base/unique_fd.h), by its old name in this namespace.
using UniqueFd = ::netrig::UniqueFd;

// "what: strerror (errno N)" with absl::ErrnoToStatusCode's code, except where a datagram path
// means something else by the errno: EMSGSIZE and EAFNOSUPPORT are InvalidArgument (a datagram
// over a limit, an endpoint of the wrong family), EAGAIN and ENOBUFS ResourceExhausted (a full
// buffer). The rest of netrig uses absl::ErrnoToStatus as it is (base/file_io.h states the policy).
absl::Status ErrnoStatus(absl::string_view what, int error_number);

// A non-blocking UDP socket bound to the loopback address of `family` (127.0.0.1 or ::1, IPv6
// only) and `port` (0: kernel-chosen). `bind_address` overrides the loopback address.
absl::StatusOr<UniqueFd> BindUdp(AddressFamily family, uint16_t port,
                                 const Endpoint* bind_address = nullptr);
// Binds a UDP socket on 127.0.0.1 and one on ::1 (when present) to one kernel-chosen port.
absl::Status BindUdpPair(UniqueFd* ipv4, UniqueFd* ipv6, uint16_t* port);
// A non-blocking TCP listening socket on loopback.
absl::StatusOr<UniqueFd> ListenTcp(AddressFamily family, uint16_t port);
// A blocking TCP connection to `peer` (an address endpoint), with TCP_NODELAY.
absl::StatusOr<UniqueFd> ConnectTcp(const Endpoint& peer, absl::Duration timeout);

absl::StatusOr<Endpoint> LocalEndpoint(int fd);

// Where a loopback peer bound on `port` in both families is reached: 127.0.0.1:port, and
// [::1]:port only when it has an IPv6 socket (`ipv6` valid; a host without ::1 has none).
Endpoint LoopbackIPv4Endpoint(uint16_t port);
std::optional<Endpoint> LoopbackIPv6Endpoint(const UniqueFd& ipv6, uint16_t port);

// The sockets among `ipv4` and `ipv6` (-1: none) that have input, in that order.
struct ReadableSockets {
  int fds[2] = {-1, -1};
  int count = 0;
};
// Waits up to `timeout_ms` for input on `ipv4`, `ipv6` or `wake_fd`. `wake_fd` only ends the wait
// early (its owner re-checks its stop flag); it is never among the results. A failed or timed-out
// poll() returns no socket.
ReadableSockets PollReadable(int ipv4, int ipv6, int wake_fd, int timeout_ms);

// An eventfd used to wake poll(): once Signal()ed it stays readable.
absl::StatusOr<UniqueFd> MakeWakeFd();
void SignalWakeFd(int fd);

// Datagrams the kernel dropped on socket `fd` because its receive buffer was full, since the
// socket was opened (SO_MEMINFO's drop counter; Linux 4.12+). 0 when the kernel does not say.
// The harness reads this on its own sockets (relay, echo peer) so that a loss it caused is not
// blamed on the flow under test.
uint64_t KernelDrops(int fd);

// The same drop count for a socket netrig does not own: the UDP socket(s) of this network
// namespace that receive what is sent to `peer` (bound to its address, the wildcard, or for an
// IPv4 peer a dual-stack IPv6 socket, on its port), summed, from /proc/net/udp and
// /proc/net/udp6. nullopt when no such socket is visible (a peer on another host or in another
// network namespace) or the files cannot be read: then the peer's drops are unknown, not 0.
std::optional<uint64_t> PeerSocketDrops(const Endpoint& peer);

// poll() timeout in milliseconds for `remaining` (rounded up, 0 when <= 0, capped at 1 s so that
// every wait re-checks its stop condition).
int PollTimeoutMs(absl::Duration remaining);

// Writes/reads exactly `size` bytes on a blocking or non-blocking stream socket, polling up to
// `timeout` in total. `wake_fd` (optional, -1: none) aborts the wait with CancelledError.
absl::Status WriteAll(int fd, const void* data, size_t size, absl::Duration timeout,
                      int wake_fd = -1);
absl::Status ReadExact(int fd, void* data, size_t size, absl::Duration timeout, int wake_fd = -1);

// A 64-bit mixer (SplitMix64 finalizer) for seeded, index-addressed decisions.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace netrig::internal

#endif  // NETRIG_HARNESS_UDP_SOCKET_UTIL_H_
