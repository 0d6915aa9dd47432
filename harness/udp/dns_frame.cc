#include "harness/udp/dns_frame.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "harness/udp/socket_util.h"

namespace netrig {

absl::Status WriteDnsFrame(int fd, absl::string_view message, absl::Duration timeout, int wake_fd) {
  if (message.size() > kMaxDnsTcpMessage) {
    return absl::InvalidArgumentError(absl::StrCat("DNS message of ", message.size(),
                                                   " bytes exceeds the TCP framing maximum of ",
                                                   kMaxDnsTcpMessage, " bytes"));
  }
  std::string frame;
  frame.reserve(message.size() + 2);
  frame.push_back(static_cast<char>(message.size() >> 8));
  frame.push_back(static_cast<char>(message.size() & 0xff));
  frame.append(message.data(), message.size());
  return internal::WriteAll(fd, frame.data(), frame.size(), timeout, wake_fd);
}

absl::StatusOr<std::string> ReadDnsFrame(int fd, absl::Duration timeout, int wake_fd) {
  uint8_t prefix[2];
  absl::Status status = internal::ReadExact(fd, prefix, 2, timeout, wake_fd);
  if (!status.ok()) return status;
  std::string message((static_cast<size_t>(prefix[0]) << 8) | prefix[1], '\0');
  status = internal::ReadExact(fd, message.data(), message.size(), timeout, wake_fd);
  if (!status.ok()) return status;
  return message;
}

}  // namespace netrig
