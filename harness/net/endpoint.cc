#include "harness/net/endpoint.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "harness/base/mutex.h"
#include "harness/base/no_coverage.h"

namespace netrig {

absl::string_view EndpointKindName(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::kHost:
      return "host";
    case EndpointKind::kAddress:
      return "address";
    case EndpointKind::kRedacted:
      return "redacted";
  }
  return "unknown";
}

namespace internal {
namespace {

// The host's interfaces, loaded with one if_nameindex() call and reused: if_nametoindex() and
// if_indextoname() each open a socket and issue an ioctl, far too slow for a fuzzer's hot path.
// The cache's own branches (age, reload) are kept out of fuzzer coverage: they follow the clock,
// not the input.
class InterfaceNames {
 public:
  static InterfaceNames& Get() {
    static InterfaceNames* const names = new InterfaceNames;
    return *names;
  }

  NETRIG_NO_COVERAGE std::optional<uint32_t> IndexOf(absl::string_view name) {
    return Lookup([name](const Entries& entries) -> std::optional<uint32_t> {
      for (const auto& [index, entry_name] : entries) {
        if (entry_name == name) return index;
      }
      return std::nullopt;
    });
  }

  NETRIG_NO_COVERAGE std::optional<std::string> NameOf(uint32_t index) {
    return Lookup([index](const Entries& entries) -> std::optional<std::string> {
      for (const auto& [entry_index, name] : entries) {
        if (entry_index == index) return name;
      }
      return std::nullopt;
    });
  }

  void Invalidate() {
    MutexLock lock(&mu_);
    loaded_ = false;
  }

 private:
  using Entries = std::vector<std::pair<uint32_t, std::string>>;

  // Uses a snapshot at most 1 s old; after a miss, reloads once if the snapshot is older than
  // 50 ms (an interface a test has just created), so misses cost at most 20 reloads a second.
  template <typename Find>
  NETRIG_NO_COVERAGE auto Lookup(Find find) -> decltype(find(Entries{})) {
    MutexLock lock(&mu_);
    ReloadIfOlderThan(std::chrono::seconds(1));
    auto found = find(entries_);
    if (!found.has_value() && ReloadIfOlderThan(std::chrono::milliseconds(50))) {
      found = find(entries_);
    }
    return found;
  }

  // Returns whether it reloaded.
  NETRIG_NO_COVERAGE bool ReloadIfOlderThan(std::chrono::steady_clock::duration max_age)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto now = std::chrono::steady_clock::now();
    if (loaded_ && now - loaded_at_ < max_age) return false;
    entries_.clear();
    if (struct if_nameindex* list = if_nameindex(); list != nullptr) {
      for (const struct if_nameindex* it = list; it->if_index != 0 && it->if_name != nullptr;
           ++it) {
        entries_.emplace_back(it->if_index, it->if_name);
      }
      if_freenameindex(list);
    }
    loaded_ = true;
    loaded_at_ = now;
    return true;
  }

  Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point loaded_at_ ABSL_GUARDED_BY(mu_);
  Entries entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void ReloadInterfaceNames() { InterfaceNames::Get().Invalidate(); }

}  // namespace internal

namespace {

constexpr size_t kMaxTextLength = 300;
constexpr size_t kMaxHostNameLength = 253;
constexpr size_t kMaxLabelLength = 63;
constexpr size_t kMaxScopeNameLength = IF_NAMESIZE - 1;
constexpr size_t kMaxRedactedTokenLength = 64;
constexpr size_t kMaxPortDigits = 5;
constexpr size_t kMaxIPv4TextLength = 15;  // "255.255.255.255"

// Inputs are shown in error messages up to this many bytes (escaped), then "...".
constexpr size_t kMaxShownInput = 64;
constexpr size_t kMaxShownSockaddr = 32;

// A set of bytes with its membership table built at compile time. FindFirstNotIn scans outside
// fuzzer coverage: where the scan stops is what the parser branches on, and absl::string_view's
// find_first_not_of rebuilt its lookup table from the set's characters on every call.
class CharSet {
 public:
  explicit constexpr CharSet(absl::string_view members) {
    for (const char c : members) contains_[static_cast<unsigned char>(c)] = true;
  }

  constexpr bool Contains(char c) const { return contains_[static_cast<unsigned char>(c)]; }

  // The position of the first byte of `text` not in the set, or absl::string_view::npos.
  NETRIG_NO_COVERAGE size_t FindFirstNotIn(absl::string_view text) const {
    for (size_t i = 0; i < text.size(); ++i) {
      if (!Contains(text[i])) return i;
    }
    return absl::string_view::npos;
  }

  bool ContainsAll(absl::string_view text) const {
    return FindFirstNotIn(text) == absl::string_view::npos;
  }

 private:
  std::array<bool, 256> contains_{};
};

}  // namespace

namespace internal {

// Writes an EndpointError's message in place: under the fuzzer's sanitizers every heap
// allocation and every instrumented per-byte branch shows in the exec rate, and most fuzz inputs
// are errors.
class EndpointErrorBuilder {
 public:
  EndpointErrorBuilder(EndpointError& error, size_t position) : error_(error) {
    error_.size_ = 0;
    error_.position_ = position;
  }

  NETRIG_NO_COVERAGE void Append(absl::string_view text) {
    const size_t n = std::min(text.size(), kCapacity - error_.size_);
    std::memcpy(end(), text.data(), n);
    error_.size_ += n;
  }
  NETRIG_NO_COVERAGE void Append(std::initializer_list<absl::string_view> pieces) {
    for (const absl::string_view piece : pieces) Append(piece);
  }
  NETRIG_NO_COVERAGE void AppendNumber(uint64_t value) {
    char digits[absl::numbers_internal::kFastToBufferSize];
    const char* digits_end = absl::numbers_internal::FastIntToBuffer(value, digits);
    Append(absl::string_view(digits, static_cast<size_t>(digits_end - digits)));
  }
  // Printable ASCII as is, '"' and '\\' after a backslash, every other byte as \xNN. Text with
  // nothing to escape (the common case) is found by one scan and copied whole.
  NETRIG_NO_COVERAGE void AppendEscaped(absl::string_view text) {
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
  NETRIG_NO_COVERAGE void AppendHex(absl::Span<const uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    bytes = bytes.first(std::min(bytes.size(), (kCapacity - error_.size_) / 2));
    char* out = end();
    for (const uint8_t b : bytes) {
      *out++ = kHex[b >> 4];
      *out++ = kHex[b & 0xf];
    }
    error_.size_ += 2 * bytes.size();
  }

 private:
  static constexpr size_t kCapacity = sizeof(EndpointError::message_);
  static_assert(kCapacity >= 4 * kMaxShownInput + 128);

  // Bytes 0x20-0x7e but '"' and '\\'.
  static constexpr absl::string_view kPlainChars =
      " !#$%&'()*+,-./"
      "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~";
  static_assert(kPlainChars.size() == 0x7f - 0x20 - 2);
  static constexpr CharSet kPlain{kPlainChars};

  char* end() { return error_.message_ + error_.size_; }

  EndpointError& error_;
};

absl::Status EndpointError::ToStatus() const { return absl::InvalidArgumentError(message()); }

}  // namespace internal

namespace {

// Bytes 0x21-0x7e.
constexpr absl::string_view kPrintableNoSpaceChars =
    "!\"#$%&'()*+,-./"
    "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
static_assert(kPrintableNoSpaceChars.size() == 0x7f - 0x21);
constexpr CharSet kPrintableNoSpace{kPrintableNoSpaceChars};
constexpr CharSet kDigits{"0123456789"};
constexpr CharSet kIPv4Chars{".0123456789"};
constexpr CharSet kHostNameChars{
    "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"};
constexpr CharSet kScopeNameChars{
    "-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"};
constexpr CharSet kHexDigits{"0123456789ABCDEFabcdef"};

bool AllDigits(absl::string_view s) { return !s.empty() && kDigits.ContainsAll(s); }

// A name Parse accepts as an interface name (and that does not read as an index).
bool IsPrintableScopeName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxScopeNameLength && !AllDigits(name) &&
         kScopeNameChars.ContainsAll(name);
}

struct Scope {
  uint32_t id = 0;
  std::string text;
};

Scope ScopeFromIndex(uint32_t index) {
  if (index == 0) return {};
  std::optional<std::string> name = internal::InterfaceNames::Get().NameOf(index);
  if (name.has_value() && IsPrintableScopeName(*name)) return {index, *std::move(name)};
  return {index, absl::StrCat(index)};
}

Scope ScopeFromName(absl::string_view name) {
  std::optional<uint32_t> index = internal::InterfaceNames::Get().IndexOf(name);
  return {index.value_or(0), std::string(name)};
}

bool IsLinkLocalUnicast(const std::array<uint8_t, 16>& b) {
  return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}
// Interface-local (ff01) and link-local (ff02) multicast, with any flags nibble.
bool IsLocalMulticast(const std::array<uint8_t, 16>& b) {
  return b[0] == 0xff && ((b[1] & 0x0f) == 0x01 || (b[1] & 0x0f) == 0x02);
}
bool HasKameScopeField(const std::array<uint8_t, 16>& b) {
  return IsLinkLocalUnicast(b) || IsLocalMulticast(b);
}
uint16_t KameScope(const std::array<uint8_t, 16>& b) {
  return static_cast<uint16_t>((b[2] << 8) | b[3]);
}

std::string Ntop(int af, const uint8_t* bytes) {
  char buffer[INET6_ADDRSTRLEN];
  if (inet_ntop(af, bytes, buffer, sizeof(buffer)) == nullptr) return "?";
  return buffer;
}

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

namespace internal {

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

}  // namespace internal

namespace {

NETRIG_NO_COVERAGE void SockaddrErrorWithReason(internal::EndpointError& error,
                                                absl::Span<const uint8_t> bytes, size_t position,
                                                std::initializer_list<absl::string_view> reason) {
  internal::EndpointErrorBuilder message(error, position);
  message.Append("invalid socket address (");
  message.AppendNumber(bytes.size());
  message.Append(" bytes: ");
  message.AppendHex(bytes.first(std::min(bytes.size(), kMaxShownSockaddr)));
  message.Append(bytes.size() > kMaxShownSockaddr ? "...) at byte " : ") at byte ");
  message.AppendNumber(position);
  message.Append(": ");
  message.Append(reason);
}

// The reason in pieces, as for EndpointTextParser::Error.
template <typename... Reason>
std::nullopt_t SockaddrError(internal::EndpointError& error, absl::Span<const uint8_t> bytes,
                             size_t position, const Reason&... reason) {
  SockaddrErrorWithReason(error, bytes, position, {absl::AlphaNum(reason).Piece()...});
  return std::nullopt;
}

}  // namespace

Endpoint Endpoint::Host(absl::string_view name, uint16_t port) {
  Endpoint e;
  e.kind_ = EndpointKind::kHost;
  e.family_ = AddressFamily::kUnspecified;
  e.port_ = port;
  e.host_ = absl::AsciiStrToLower(name);
  return e;
}

Endpoint Endpoint::IPv4(const std::array<uint8_t, 4>& address, uint16_t port) {
  Endpoint e;
  e.kind_ = EndpointKind::kAddress;
  e.family_ = AddressFamily::kIPv4;
  e.port_ = port;
  std::copy(address.begin(), address.end(), e.bytes_.begin());
  e.host_ = Ntop(AF_INET, e.bytes_.data());
  return e;
}

Endpoint Endpoint::IPv6(const std::array<uint8_t, 16>& address, uint16_t port, uint32_t scope_id) {
  std::array<uint8_t, 16> bytes = address;
  if (HasKameScopeField(bytes)) {
    if (scope_id == 0) scope_id = KameScope(bytes);
    bytes[2] = bytes[3] = 0;
  }
  Scope scope = ScopeFromIndex(scope_id);
  return FromParts(bytes, port, std::move(scope.text), scope.id);
}

Endpoint Endpoint::FromParts(const std::array<uint8_t, 16>& address, uint16_t port,
                             std::string scope, uint32_t scope_id) {
  Endpoint e;
  e.kind_ = EndpointKind::kAddress;
  e.family_ = AddressFamily::kIPv6;
  e.port_ = port;
  e.bytes_ = address;
  e.host_ = Ntop(AF_INET6, e.bytes_.data());
  e.scope_ = std::move(scope);
  e.scope_id_ = scope_id;
  return e;
}

Endpoint Endpoint::Redacted(AddressFamily family, absl::string_view token, uint16_t port) {
  Endpoint e;
  e.kind_ = EndpointKind::kRedacted;
  e.family_ = family == AddressFamily::kIPv6 ? AddressFamily::kIPv6 : AddressFamily::kIPv4;
  e.port_ = port;
  e.host_ = absl::AsciiStrToLower(token);
  return e;
}

absl::StatusOr<Endpoint> Endpoint::Parse(absl::string_view text) {
  internal::EndpointError error;
  std::optional<Endpoint> endpoint = internal::ParseEndpoint(text, error);
  if (!endpoint.has_value()) return error.ToStatus();
  return *std::move(endpoint);
}

absl::StatusOr<Endpoint> Endpoint::FromSockaddr(absl::Span<const uint8_t> bytes) {
  internal::EndpointError error;
  std::optional<Endpoint> endpoint = internal::EndpointFromSockaddr(bytes, error);
  if (!endpoint.has_value()) return error.ToStatus();
  return *std::move(endpoint);
}

namespace internal {

std::optional<Endpoint> ParseEndpoint(absl::string_view text, EndpointError& error) {
  return EndpointTextParser(text, error).Parse();
}

std::optional<Endpoint> EndpointFromSockaddr(absl::Span<const uint8_t> bytes,
                                             EndpointError& error) {
  if (bytes.size() < sizeof(sa_family_t)) {
    return SockaddrError(error, bytes, bytes.size(), "shorter than the 2-byte family field");
  }
  if (bytes.size() > sizeof(sockaddr_storage)) {
    return SockaddrError(error, bytes, sizeof(sockaddr_storage), "longer than sockaddr_storage (",
                         sizeof(sockaddr_storage), " bytes)");
  }
  sa_family_t family;
  std::memcpy(&family, bytes.data(), sizeof(family));
  if (family == AF_INET) {
    if (bytes.size() < sizeof(sockaddr_in)) {
      return SockaddrError(error, bytes, bytes.size(), "AF_INET needs ", sizeof(sockaddr_in),
                           " bytes");
    }
    sockaddr_in in;
    std::memcpy(&in, bytes.data(), sizeof(in));
    std::array<uint8_t, 4> address;
    std::memcpy(address.data(), &in.sin_addr, address.size());
    return Endpoint::IPv4(address, ntohs(in.sin_port));
  }
  if (family == AF_INET6) {
    if (bytes.size() < sizeof(sockaddr_in6)) {
      return SockaddrError(error, bytes, bytes.size(), "AF_INET6 needs ", sizeof(sockaddr_in6),
                           " bytes");
    }
    sockaddr_in6 in6;
    std::memcpy(&in6, bytes.data(), sizeof(in6));
    std::array<uint8_t, 16> address;
    std::memcpy(address.data(), &in6.sin6_addr, address.size());
    if (HasKameScopeField(address) && KameScope(address) != 0 && in6.sin6_scope_id != 0 &&
        in6.sin6_scope_id != KameScope(address)) {
      return SockaddrError(error, bytes, offsetof(sockaddr_in6, sin6_scope_id), "sin6_scope_id ",
                           in6.sin6_scope_id, " conflicts with the scope ", KameScope(address),
                           " embedded in the address");
    }
    return Endpoint::IPv6(address, ntohs(in6.sin6_port), in6.sin6_scope_id);
  }
  return SockaddrError(error, bytes, 0, "unsupported address family ", family,
                       " (AF_INET and AF_INET6 only)");
}

}  // namespace internal

absl::StatusOr<Endpoint> Endpoint::FromSockaddr(const sockaddr* address, socklen_t length) {
  if (address == nullptr) return absl::InvalidArgumentError("invalid socket address: null");
  if (length > sizeof(sockaddr_storage)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid socket address: declared length ",
                                                   length, " exceeds sockaddr_storage (",
                                                   sizeof(sockaddr_storage), " bytes)"));
  }
  return FromSockaddr(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(address), length));
}

absl::StatusOr<SocketAddress> Endpoint::ToSockaddr() const {
  switch (kind_) {
    case EndpointKind::kHost:
      return absl::InvalidArgumentError(absl::StrCat(
          "host endpoint ", ToString(), " has no socket address: resolve the name first"));
    case EndpointKind::kRedacted:
      return absl::InvalidArgumentError(absl::StrCat(
          "redacted endpoint ", ToString(), " has no socket address: its address is unknown"));
    case EndpointKind::kAddress:
      break;
  }
  SocketAddress result;
  if (family_ == AddressFamily::kIPv4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    std::memcpy(&in.sin_addr, bytes_.data(), 4);
    std::memcpy(&result.storage, &in, sizeof(in));
    result.length = sizeof(in);
    return result;
  }
  uint32_t scope_id = scope_id_;
  if (!scope_.empty() && scope_id == 0) {
    // The interface may have appeared since parsing (a test's namespace or veth pair).
    scope_id = internal::InterfaceNames::Get().IndexOf(scope_).value_or(0);
    if (scope_id == 0) {
      return absl::FailedPreconditionError(absl::StrCat("endpoint ", ToString(),
                                                        ": this host has no interface named '",
                                                        scope_, "', so the scope has no index"));
    }
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  std::memcpy(&in6.sin6_addr, bytes_.data(), 16);
  in6.sin6_scope_id = scope_id;
  std::memcpy(&result.storage, &in6, sizeof(in6));
  result.length = sizeof(in6);
  return result;
}

std::string Endpoint::ToString() const {
  switch (kind_) {
    case EndpointKind::kHost:
      return absl::StrCat(host_, ":", port_);
    case EndpointKind::kRedacted:
      return absl::StrCat(family_ == AddressFamily::kIPv6 ? "IPv6#" : "IPv4#", host_, ":", port_);
    case EndpointKind::kAddress:
      break;
  }
  if (family_ == AddressFamily::kIPv4) return absl::StrCat(host_, ":", port_);
  if (scope_.empty()) return absl::StrCat("[", host_, "]:", port_);
  return absl::StrCat("[", host_, "%", scope_, "]:", port_);
}

absl::Span<const uint8_t> Endpoint::address_bytes() const {
  if (kind_ != EndpointKind::kAddress) return {};
  return absl::MakeConstSpan(bytes_.data(), family_ == AddressFamily::kIPv4 ? 4 : 16);
}

bool operator==(const Endpoint& a, const Endpoint& b) {
  return a.kind_ == b.kind_ && a.family_ == b.family_ && a.port_ == b.port_ &&
         a.bytes_ == b.bytes_ && a.scope_id_ == b.scope_id_ && a.host_ == b.host_ &&
         a.scope_ == b.scope_;
}

}  // namespace netrig
