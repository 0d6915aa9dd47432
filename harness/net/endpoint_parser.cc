#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "harness/base/no_coverage.h"
#include "harness/net/address_family.h"
#include "harness/net/endpoint.h"
#include "harness/net/endpoint_internal.h"

namespace netrig::internal {
namespace {

using endpoint_impl::AllDigits;
using endpoint_impl::CharSet;
using endpoint_impl::HasKameScopeField;
using endpoint_impl::KameScope;
using endpoint_impl::kDigits;
using endpoint_impl::kMaxScopeNameLength;
using endpoint_impl::kMaxShownInput;
using endpoint_impl::kScopeNameChars;
using endpoint_impl::Scope;
using endpoint_impl::ScopeFromIndex;
using endpoint_impl::ScopeFromName;

constexpr size_t kMaxTextLength = 300;
constexpr size_t kMaxHostNameLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxRedactedTokenLength = 64;
constexpr size_t kMaxPortDigits = 5;
constexpr size_t kMaxIPv4TextLength = 15;  // "255.255.255.255"

// Bytes 0x21-0x7e.
constexpr absl::string_view kPrintableNoSpaceChars =
    "!\"#$%&'()*+,-./"
    "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
static_assert(kPrintableNoSpaceChars.size() == 0x7f - 0x21);
constexpr CharSet kPrintableNoSpace{kPrintableNoSpaceChars};
constexpr CharSet kIPv4Chars{".0123456789"};
constexpr CharSet kHostNameChars{
    "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"};
constexpr CharSet kHexDigits{"0123456789ABCDEFabcdef"};

// inet_pton on a bounded, NUL-terminated copy of `text`.
bool Pton(int af, absl::string_view text, uint8_t* out) {
  char buffer[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof(buffer)) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return inet_pton(af, buffer, out) == 1;
}

bool LooksLikeIPv4(absl::string_view text) {
  uint8_t bytes[4];
  return text.size() <= kMaxIPv4TextLength && Pton(AF_INET, text, bytes);
}

}  // namespace

// Parses one input; an error names the input and an absolute byte position and is written to
// the EndpointError given at construction (each step returns std::nullopt after writing it).
class EndpointTextParser {
 public:
  EndpointTextParser(absl::string_view text, EndpointError& error) : text_(text), error_(error) {}

  std::optional<Endpoint> Parse() {
    if (text_.empty()) return Error(0, "empty input");
    if (text_.size() > kMaxTextLength) {
      return Error(kMaxTextLength, "longer than ", kMaxTextLength, " bytes");
    }
    if (const size_t bad = kPrintableNoSpace.FindFirstNotIn(text_); bad != text_.npos) {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto c = static_cast<unsigned char>(text_[bad]);
      char reason[] = "unexpected byte 0x?? (only printable ASCII without spaces)";
      reason[18] = kHex[c >> 4];
      reason[19] = kHex[c & 0xf];
      return Error(bad, reason);
    }
    if (text_.size() > 4 && text_[4] == '#' &&
        (absl::StartsWithIgnoreCase(text_, "IPv4#") ||
         absl::StartsWithIgnoreCase(text_, "IPv6#"))) {
      return ParseRedacted();
    }
    if (text_[0] == '[') return ParseBracketed();
    const size_t first_colon = text_.find(':');
    const bool several_colons =
        first_colon != absl::string_view::npos && text_.find(':', first_colon + 1) != text_.npos;
    if (several_colons || text_.find('%') != text_.npos) return ParseUnbracketed();
    return ParseHostOrIPv4(first_colon);
  }

 private:
  // The reason comes in absl::StrCat-style pieces (text and numbers), so that an error allocates
  // nothing. Returns std::nullopt for the caller to return.
  template <typename... Reason>
  std::nullopt_t Error(size_t position, const Reason&... reason) const {
    ErrorWithReason(position, {absl::AlphaNum(reason).Piece()...});
    return std::nullopt;
  }

  NETRIG_NO_COVERAGE void ErrorWithReason(size_t position,
                                          std::initializer_list<absl::string_view> reason) const {
    EndpointErrorBuilder message(error_, position);
    message.Append("invalid endpoint \"");
    message.AppendEscaped(text_.substr(0, kMaxShownInput));
    message.Append(text_.size() > kMaxShownInput ? "...\" (" : "\" (");
    message.AppendNumber(text_.size());
    message.Append(" bytes) at byte ");
    message.AppendNumber(position);
    message.Append(": ");
    message.Append(reason);
  }

  // Error() for the steps that return bool.
  template <typename... Reason>
  bool Failed(size_t position, const Reason&... reason) const {
    Error(position, reason...);
    return false;
  }

  // [begin, end) with begin <= end <= text_.size(), unchecked: substr's range check is one more
  // traced comparison per call in fuzz builds, and ASan still catches a slice out of the input.
  absl::string_view Slice(size_t begin, size_t end) const {
    return absl::string_view(text_.data() + begin, end - begin);
  }

  std::optional<uint16_t> ParsePort(size_t begin) const {
    const absl::string_view digits = Slice(begin, text_.size());
    if (digits.empty()) return Error(begin, "missing port number");
    if (const size_t bad = kDigits.FindFirstNotIn(digits); bad != digits.npos) {
      return Error(begin + bad, "port must be decimal digits only");
    }
    if (digits.size() > kMaxPortDigits) return Error(begin, "port has more than 5 digits");
    uint32_t value = 0;
    for (char c : digits) value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) return Error(begin, "port ", value, " is above 65535");
    return static_cast<uint16_t>(value);
  }

  // Scope text at [begin, end), after a '%'.
  std::optional<Scope> ParseScope(size_t begin, size_t end) const {
    const absl::string_view scope = Slice(begin, end);
    if (scope.empty()) return Error(begin, "empty scope after '%'");
    if (AllDigits(scope)) {
      uint32_t index = 0;
      if (scope.size() > 10 || !absl::SimpleAtoi(scope, &index)) {
        return Error(begin, "scope index is above 4294967295");
      }
      return ScopeFromIndex(index);
    }
    if (scope.size() > kMaxScopeNameLength) {
      return Error(begin + kMaxScopeNameLength, "interface name longer than ", kMaxScopeNameLength,
                   " bytes");
    }
    if (const size_t bad = kScopeNameChars.FindFirstNotIn(scope); bad != scope.npos) {
      return Error(begin + bad, "interface names use only letters, digits, '_', '.' and '-'");
    }
    return ScopeFromName(scope);
  }

  std::optional<std::array<uint8_t, 16>> ParseIPv6(size_t begin, size_t end) const {
    const absl::string_view address = Slice(begin, end);
    if (address.empty()) return Error(begin, "missing IPv6 address");
    std::array<uint8_t, 16> bytes{};
    if (Pton(AF_INET6, address, bytes.data())) return bytes;
    if (LooksLikeIPv4(address)) {
      return Error(begin, "an IPv4 address takes no brackets and no scope (1.2.3.4:53)");
    }
    return Error(begin, "not a valid IPv6 address");
  }

  // Builds an IPv6 endpoint, moving a KAME-embedded scope (bytes 2-3) to the scope.
  std::optional<Endpoint> MakeIPv6(std::array<uint8_t, 16> bytes, Scope scope, size_t scope_begin,
                                   uint16_t port) const {
    if (HasKameScopeField(bytes) && KameScope(bytes) != 0) {
      const uint16_t embedded = KameScope(bytes);
      if (!scope.text.empty() && scope.id != embedded) {
        return Error(scope_begin, "scope '", scope.text, "' conflicts with the scope ", embedded,
                     " embedded in the address");
      }
      if (scope.text.empty()) scope = ScopeFromIndex(embedded);
      bytes[2] = bytes[3] = 0;
    }
    return Endpoint::FromParts(bytes, port, std::move(scope.text), scope.id);
  }

  std::optional<Endpoint> ParseRedacted() const {
    const AddressFamily family = text_[3] == '4' ? AddressFamily::kIPv4 : AddressFamily::kIPv6;
    constexpr size_t kTokenBegin = 5;
    const size_t colon = text_.rfind(':');
    if (colon == text_.npos || colon < kTokenBegin) {
      return Error(text_.size(), "missing ':PORT' after the redacted token");
    }
    const absl::string_view token = Slice(kTokenBegin, colon);
    if (token.empty()) return Error(kTokenBegin, "empty redacted token");
    if (token.size() > kMaxRedactedTokenLength) {
      return Error(kTokenBegin + kMaxRedactedTokenLength, "redacted token longer than ",
                   kMaxRedactedTokenLength, " digits");
    }
    if (const size_t bad = kHexDigits.FindFirstNotIn(token); bad != token.npos) {
      return Error(kTokenBegin + bad, "redacted tokens are hexadecimal digits");
    }
    std::optional<uint16_t> port = ParsePort(colon + 1);
    if (!port.has_value()) return std::nullopt;
    return Endpoint::Redacted(family, token, *port);
  }

  // "[addr%scope]:port"
  std::optional<Endpoint> ParseBracketed() const {
    const size_t close = text_.find(']');
    if (close == text_.npos) return Error(text_.size(), "missing ']'");
    const size_t percent = Slice(0, close).find('%');
    const size_t address_end = percent == text_.npos ? close : percent;
    std::optional<std::array<uint8_t, 16>> bytes = ParseIPv6(1, address_end);
    if (!bytes.has_value()) return std::nullopt;
    Scope scope;
    if (percent != text_.npos) {
      std::optional<Scope> parsed = ParseScope(percent + 1, close);
      if (!parsed.has_value()) return std::nullopt;
      scope = *std::move(parsed);
    }
    if (close + 1 == text_.size()) return Error(close + 1, "missing ':PORT' after ']'");
    if (text_[close + 1] != ':') return Error(close + 1, "expected ':' after ']'");
    std::optional<uint16_t> port = ParsePort(close + 2);
    if (!port.has_value()) return std::nullopt;
    return MakeIPv6(*bytes, std::move(scope), percent + 1, *port);
  }

  // "addr%scope.port", "addr%scope:port", "addr.port"
  std::optional<Endpoint> ParseUnbracketed() const {
    const size_t percent = text_.find('%');
    size_t address_end;
    size_t separator;
    if (percent != text_.npos) {
      address_end = percent;
      // Interface names never contain ':', so a ':' after the scope is the port separator;
      // otherwise the port follows the last '.' (names such as "eth0.100" contain dots).
      separator = text_.find(':', percent);
      if (separator == text_.npos) separator = text_.rfind('.');
      if (separator == text_.npos || separator < percent) {
        return Error(text_.size(), "missing port: write [addr%scope]:PORT or addr%scope.PORT");
      }
    } else {
      separator = text_.rfind('.');
      if (separator == text_.npos) {
        return Error(text_.size(),
                     "missing port: an IPv6 address needs brackets before ':PORT' "
                     "([2001:db8::1]:443)");
      }
      address_end = separator;
    }
    std::optional<std::array<uint8_t, 16>> bytes = ParseIPv6(0, address_end);
    if (!bytes.has_value()) return std::nullopt;
    Scope scope;
    if (percent != text_.npos) {
      std::optional<Scope> parsed = ParseScope(percent + 1, separator);
      if (!parsed.has_value()) return std::nullopt;
      scope = *std::move(parsed);
    }
    std::optional<uint16_t> port = ParsePort(separator + 1);
    if (!port.has_value()) return std::nullopt;
    return MakeIPv6(*bytes, std::move(scope), percent + 1, *port);
  }

  // "name:port", "1.2.3.4:port"
  std::optional<Endpoint> ParseHostOrIPv4(size_t colon) const {
    if (colon == text_.npos) return Error(text_.size(), "missing ':PORT'");
    const absl::string_view host = Slice(0, colon);
    if (host.empty()) return Error(0, "missing host");
    const bool numeric = kIPv4Chars.ContainsAll(host);
    std::array<uint8_t, 4> ipv4{};
    if (numeric) {
      if (host.size() > kMaxIPv4TextLength || !Pton(AF_INET, host, ipv4.data())) {
        return Error(0, "not a valid IPv4 address (four decimal numbers 0-255, no leading zeros)");
      }
    } else if (!IsValidHostName(colon)) {
      return std::nullopt;
    }
    std::optional<uint16_t> port = ParsePort(colon + 1);
    if (!port.has_value()) return std::nullopt;
    if (numeric) return Endpoint::IPv4(ipv4, *port);
    return Endpoint::Host(host, *port);
  }

  // RFC 1123 host name at [0, end). Works label by label (memchr for the dots) rather than byte
  // by byte; see kPrintableNoSpace for why. Writes the error when it returns false.
  bool IsValidHostName(size_t end) const {
    if (end > kMaxHostNameLength) {
      return Failed(kMaxHostNameLength, "host name longer than 253 bytes");
    }
    const absl::string_view name = Slice(0, end);
    if (const size_t bad = kHostNameChars.FindFirstNotIn(name); bad != name.npos) {
      return Failed(bad, "host names use only letters, digits, '-' and '.'");
    }
    size_t label_begin = 0;
    while (true) {
      size_t label_end = name.find('.', label_begin);
      if (label_end == name.npos) label_end = end;
      const absl::string_view label = Slice(label_begin, label_end);
      if (label.empty()) return Failed(label_begin, "empty label in host name");
      if (label.size() > kMaxLabelLength) {
        return Failed(label_begin + kMaxLabelLength, "label longer than 63 bytes");
      }
      if (label.front() == '-') return Failed(label_begin, "label starts with '-'");
      if (label.back() == '-') return Failed(label_end - 1, "label ends with '-'");
      if (label_end == end) {
        if (AllDigits(label)) {
          return Failed(label_begin,
                        "the last label of a host name cannot be all digits (nor is this a valid "
                        "IPv4 address)");
        }
        return true;
      }
      label_begin = label_end + 1;
    }
  }

  absl::string_view text_;
  EndpointError& error_;
};

std::optional<Endpoint> ParseEndpoint(absl::string_view text, EndpointError& error) {
  return EndpointTextParser(text, error).Parse();
}

}  // namespace netrig::internal
