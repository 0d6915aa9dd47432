#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "harness/base/no_coverage.h"
#include "harness/net/endpoint.h"
#include "harness/net/endpoint_internal.h"

namespace netrig::internal {

NETRIG_NO_COVERAGE void EndpointErrorBuilder::Append(absl::string_view text) {
  const size_t n = std::min(text.size(), kCapacity - error_.size_);
  std::memcpy(end(), text.data(), n);
  error_.size_ += n;
}

NETRIG_NO_COVERAGE void EndpointErrorBuilder::Append(
    std::initializer_list<absl::string_view> pieces) {
  for (const absl::string_view piece : pieces) Append(piece);
}

NETRIG_NO_COVERAGE void EndpointErrorBuilder::AppendNumber(uint64_t value) {
  char digits[absl::numbers_internal::kFastToBufferSize];
  const char* digits_end = absl::numbers_internal::FastIntToBuffer(value, digits);
  Append(absl::string_view(digits, static_cast<size_t>(digits_end - digits)));
}

NETRIG_NO_COVERAGE void EndpointErrorBuilder::AppendEscaped(absl::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (kPlain.ContainsAll(text)) return Append(text);
  text = text.substr(0, (kCapacity - error_.size_) / 4);
  char* out = end();
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (kPlain.Contains(ch)) {
      *out++ = ch;
    } else if (c == '"' || c == '\\') {
      *out++ = '\\';
      *out++ = ch;
    } else {
      *out++ = '\\';
      *out++ = 'x';
      *out++ = kHex[c >> 4];
      *out++ = kHex[c & 0xf];
    }
  }
  error_.size_ = static_cast<size_t>(out - error_.message_);
}

NETRIG_NO_COVERAGE void EndpointErrorBuilder::AppendHex(absl::Span<const uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  bytes = bytes.first(std::min(bytes.size(), (kCapacity - error_.size_) / 2));
  char* out = end();
  for (const uint8_t b : bytes) {
    *out++ = kHex[b >> 4];
    *out++ = kHex[b & 0xf];
  }
  error_.size_ += 2 * bytes.size();
}

absl::Status EndpointError::ToStatus() const { return absl::InvalidArgumentError(message()); }

namespace endpoint_impl {

NETRIG_NO_COVERAGE void SockaddrErrorWithReason(EndpointError& error,
                                                absl::Span<const uint8_t> bytes, size_t position,
                                                std::initializer_list<absl::string_view> reason) {
  EndpointErrorBuilder message(error, position);
  message.Append("invalid socket address (");
  message.AppendNumber(bytes.size());
  message.Append(" bytes: ");
  message.AppendHex(bytes.first(std::min(bytes.size(), kMaxShownSockaddr)));
  message.Append(bytes.size() > kMaxShownSockaddr ? "...) at byte " : ") at byte ");
  message.AppendNumber(position);
  message.Append(": ");
  message.Append(reason);
}

}  // namespace endpoint_impl

}  // namespace netrig::internal
