// DNS over a stream socket (RFC 7766): each message preceded by its two-byte length. Shared by
// the dns-proxy flow (its upstream side) and the harness's DNS-over-TCP upstream peer.
//
// Example:
//   if (absl::Status sent = netrig::WriteDnsFrame(fd, query, absl::Seconds(5)); !sent.ok()) ...
//   absl::StatusOr<std::string> answer = netrig::ReadDnsFrame(fd, absl::Seconds(5));
#ifndef NETRIG_HARNESS_UDP_DNS_FRAME_H_
#define NETRIG_HARNESS_UDP_DNS_FRAME_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace netrig {

// The largest DNS message a two-byte length prefix can carry.
inline constexpr size_t kMaxDnsTcpMessage = 65535;

// One length-prefixed DNS message on a stream socket. `wake_fd` (-1: none) aborts the wait.
absl::Status WriteDnsFrame(int fd, absl::string_view message, absl::Duration timeout,
                           int wake_fd = -1);
absl::StatusOr<std::string> ReadDnsFrame(int fd, absl::Duration timeout, int wake_fd = -1);

}  // namespace netrig

#endif  // NETRIG_HARNESS_UDP_DNS_FRAME_H_
