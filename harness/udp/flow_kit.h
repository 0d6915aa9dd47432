// The flow kit: the pieces every correct UDP flow needs and that are easy to get subtly wrong,
// the same code netrig's own `socket` flow and per-peer flows use. A flow built from them passes
// the checks of `netrig udp` that catch the usual mistakes (docs/field-notes.md stories 2 and 5):
//
//   - ResolveDestination: an Endpoint, in any encoding netrig hands out (numeric IPv4 or IPv6,
//     scoped IPv6, IPv4-mapped IPv6, host name), to the sockaddr to send to. IPv4-mapped
//     addresses go out as plain IPv4 (an IPv6-only socket cannot send them), host names are
//     resolved, redacted endpoints are refused, and with `loopback_only` a destination off this
//     machine is refused (PermissionDenied) instead of sent.
//   - SendErrorResult: a failed sendto()/sendmmsg() to the WriteResult the driver holds to the
//     datagram-size oracle. EMSGSIZE names the limit the kernel enforced and its value: the
//     family maximum (65507 / 65527 bytes) when the payload exceeds it, else the path-MTU limit
//     from the route MTU towards the destination (65536 on loopback: RouteMtu). Any other errno
//     is a plain rejection that names it. A "too large" that names no limit, or the wrong one, is
//     a `wrong_limit` violation.
//   - IsLoopbackAddress (and IsLoopbackEndpoint, net/loopback.h): 127.0.0.0/8, ::1, and
//     IPv4-mapped 127.0.0.0/8.
//   - UnmapIPv4Mapped / MapToIPv6: between ::ffff:a.b.c.d and a.b.c.d, for flows with one
//     IPv4-only and one IPv6-only socket (unmap) or one dual-stack AF_INET6 socket (map).
//   - InFlightGate / InFlightScope: Close() must wake blocked reads and then wait until no read or
//     write still uses the sockets and buffers it is about to free (a read that touches a freed
//     buffer is a use-after-free that ASan catches under `netrig udp`).
//
// Example (a Write() and a Close() of a flow with one socket per family):
//
//   std::vector<netrig::WriteResult> MyFlow::Write(absl::Span<const netrig::Datagram> datagrams) {
//     netrig::InFlightScope in_flight(&gate_);
//     std::vector<netrig::WriteResult> results;
//     for (const netrig::Datagram& datagram : datagrams) {
//       if (!in_flight.entered()) {
//         results.push_back(netrig::WriteResult::Rejected(absl::FailedPreconditionError("closed")));
//         continue;
//       }
//       absl::StatusOr<netrig::SocketAddress> to =
//           netrig::ResolveDestination(datagram.endpoint, options_.loopback_only);
//       if (!to.ok()) {
//         results.push_back(netrig::WriteResult::Rejected(to.status()));
//         continue;
//       }
//       const int fd = to->storage.ss_family == AF_INET6 ? fd6_ : fd4_;
//       if (sendto(fd, datagram.payload.data(), datagram.payload.size(), 0, to->get(),
//                  to->length) < 0) {
//         results.push_back(netrig::SendErrorResult(errno, datagram, *to));
//       } else {
//         results.push_back(netrig::WriteResult::Accepted());
//       }
//     }
//     return results;
//   }
//
//   void MyFlow::Close() {
//     netrig::MutexLock lock(&close_mu_);      // Concurrent Close() calls take turns.
//     if (gate_.Close()) WakeBlockedReads();  // The first Close() only.
//     gate_.WaitIdle();                        // Every read and write that got in has left.
//     CloseSockets();
//   }
#ifndef NETRIG_HARNESS_UDP_FLOW_KIT_H_
#define NETRIG_HARNESS_UDP_FLOW_KIT_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "harness/base/mutex.h"
#include "harness/net/address_family.h"
#include "harness/net/endpoint.h"
#include "harness/net/loopback.h"
#include "harness/udp/flow.h"

namespace netrig {

// Where to send `endpoint`: address endpoints as they are (scopes kept, IPv4-mapped IPv6 unmapped
// to IPv4), host endpoints resolved with getaddrinfo (the first IPv4 or IPv6 address), redacted
// endpoints refused (InvalidArgument). With `loopback_only`, PermissionDenied for a destination
// that is not loopback (FlowOptions::loopback_only is on by default).
absl::StatusOr<SocketAddress> ResolveDestination(const Endpoint& endpoint, bool loopback_only);

// The first IPv4 or IPv6 address of `host` (IPv4 only when `family` is kIPv4, IPv6 only for
// kIPv6, either for kUnspecified), with `port`. Unavailable, naming the host, when it has none.
absl::StatusOr<SocketAddress> LookUpHost(absl::string_view host, uint16_t port,
                                         AddressFamily family = AddressFamily::kUnspecified);

// ::ffff:a.b.c.d:port as a.b.c.d:port; any other address unchanged.
SocketAddress UnmapIPv4Mapped(const SocketAddress& address);
// a.b.c.d:port as ::ffff:a.b.c.d:port (for a dual-stack AF_INET6 socket); IPv6 unchanged.
SocketAddress MapToIPv6(const SocketAddress& address);

// PermissionDenied naming `endpoint` (the destination as the caller wrote it) unless `address`
// is loopback: a flow refuses rather than sends traffic off the machine.
absl::Status RequireLoopback(const SocketAddress& address, const Endpoint& endpoint);

// The route MTU the kernel would use towards `address` (IP_MTU / IPV6_MTU of a throwaway
// connected socket): 65536 towards loopback, the interface's MTU (or a learned path MTU)
// otherwise.
absl::StatusOr<int> RouteMtu(const SocketAddress& address);

// The rejection for a failed send of `datagram` to `to`. EMSGSIZE names the limit the kernel
// enforced and its value (the family maximum when the payload exceeds it, else the path-MTU
// limit of the route towards `to`); other errors are plain rejections naming the errno.
WriteResult SendErrorResult(int error_number, const Datagram& datagram, const SocketAddress& to);

// A flow's reads and writes in flight, so that Close() can wait for them before it releases the
// sockets and buffers they use. Once Close() has begun no new read or write gets in.
class InFlightGate {
 public:
  // Registers one read or write; false once Close() has begun (the caller must not proceed).
  bool Enter();
  void Leave();
  // Refuses every later Enter(). True for the first call only, which does the closing work
  // (waking blocked reads).
  bool Close() { return !closed_.exchange(true, std::memory_order_acq_rel); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  // Returns once every read or write that got in has left; call after Close().
  void WaitIdle();

 private:
  std::atomic<bool> closed_{false};
  // Enter() checks closed_ under mu_, so WaitIdle() cannot miss a read or write that got in.
  Mutex mu_;
  CondVar idle_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

// Holds one registration in `gate` for its lifetime, when the gate let it in.
class InFlightScope {
 public:
  explicit InFlightScope(InFlightGate* gate) : gate_(gate->Enter() ? gate : nullptr) {}
  ~InFlightScope() {
    if (gate_ != nullptr) gate_->Leave();
  }
  InFlightScope(const InFlightScope&) = delete;
  InFlightScope& operator=(const InFlightScope&) = delete;

  // False when the flow was already closing: the caller must not touch its resources.
  bool entered() const { return gate_ != nullptr; }

 private:
  InFlightGate* const gate_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_FLOW_KIT_H_
