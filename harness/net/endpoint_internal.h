// Internals of Endpoint (endpoint.h), shared by its source files. Not a public API.
//
//   endpoint.cc                  the Endpoint type: constructors, Parse and FromSockaddr (and
//                                internal::EndpointFromSockaddr), ToSockaddr, ToString, comparison
//   endpoint_interface_names.cc  the cached interface name <-> index table, and scopes from an
//                                index or a name
//   endpoint_error.cc            EndpointError and the in-place message builder
//   endpoint_parser.cc           the text parser (internal::ParseEndpoint)
//
// Functions marked NETRIG_NO_COVERAGE are kept out of the endpoint_parse fuzzer's coverage
// feedback (harness/base/no_coverage.h); its exec rate depends on them.
#ifndef NETRIG_HARNESS_NET_ENDPOINT_INTERNAL_H_
#define NETRIG_HARNESS_NET_ENDPOINT_INTERNAL_H_

#include <net/if.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "harness/base/mutex.h"
#include "harness/base/no_coverage.h"
#include "harness/net/endpoint.h"

namespace netrig::internal {
namespace endpoint_impl {

inline constexpr size_t kMaxScopeNameLength = IF_NAMESIZE - 1;

// Inputs are shown in error messages up to this many bytes (escaped), then "...".
inline constexpr size_t kMaxShownInput = 64;
inline constexpr size_t kMaxShownSockaddr = 32;

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

inline constexpr CharSet kDigits{"0123456789"};
inline constexpr CharSet kScopeNameChars{
    "-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"};

inline bool AllDigits(absl::string_view s) { return !s.empty() && kDigits.ContainsAll(s); }

// A name Parse accepts as an interface name (and that does not read as an index).
inline bool IsPrintableScopeName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxScopeNameLength && !AllDigits(name) &&
         kScopeNameChars.ContainsAll(name);
}

inline bool IsLinkLocalUnicast(const std::array<uint8_t, 16>& b) {
  return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}
// Interface-local (ff01) and link-local (ff02) multicast, with any flags nibble.
inline bool IsLocalMulticast(const std::array<uint8_t, 16>& b) {
  return b[0] == 0xff && ((b[1] & 0x0f) == 0x01 || (b[1] & 0x0f) == 0x02);
}
inline bool HasKameScopeField(const std::array<uint8_t, 16>& b) {
  return IsLinkLocalUnicast(b) || IsLocalMulticast(b);
}
inline uint16_t KameScope(const std::array<uint8_t, 16>& b) {
  return static_cast<uint16_t>((b[2] << 8) | b[3]);
}

// ---------------------------------------------------------------------------------------------
// Interface names (endpoint_interface_names.cc).

// The host's interfaces, loaded with one if_nameindex() call and reused: if_nametoindex() and
// if_indextoname() each open a socket and issue an ioctl, far too slow for a fuzzer's hot path.
// The cache's own branches (age, reload) are kept out of fuzzer coverage: they follow the clock,
// not the input.
class InterfaceNames {
 public:
  static InterfaceNames& Get();

  NETRIG_NO_COVERAGE std::optional<uint32_t> IndexOf(absl::string_view name);
  NETRIG_NO_COVERAGE std::optional<std::string> NameOf(uint32_t index);
  void Invalidate();

 private:
  using Entries = std::vector<std::pair<uint32_t, std::string>>;

  // Uses a snapshot at most 1 s old; after a miss, reloads once if the snapshot is older than
  // 50 ms (an interface a test has just created), so misses cost at most 20 reloads a second.
  template <typename Find>
  NETRIG_NO_COVERAGE auto Lookup(Find find) -> decltype(find(Entries{}));

  // Returns whether it reloaded.
  NETRIG_NO_COVERAGE bool ReloadIfOlderThan(std::chrono::steady_clock::duration max_age)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Mutex mu_;
  bool loaded_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point loaded_at_ ABSL_GUARDED_BY(mu_);
  Entries entries_ ABSL_GUARDED_BY(mu_);
};

struct Scope {
  uint32_t id = 0;
  std::string text;
};

// The scope of an interface index: its name when this host has a printable one, else the number
// (0: no scope).
Scope ScopeFromIndex(uint32_t index);
// The scope of an interface name: its index when this host knows it, else 0.
Scope ScopeFromName(absl::string_view name);

// ---------------------------------------------------------------------------------------------
// Errors (endpoint_error.cc).

// The message of a socket-address error; see EndpointErrorBuilder.
NETRIG_NO_COVERAGE void SockaddrErrorWithReason(EndpointError& error,
                                                absl::Span<const uint8_t> bytes, size_t position,
                                                std::initializer_list<absl::string_view> reason);

}  // namespace endpoint_impl

// Writes an EndpointError's message in place: under the fuzzer's sanitizers every heap
// allocation and every instrumented per-byte branch shows in the exec rate, and most fuzz inputs
// are errors.
class EndpointErrorBuilder {
 public:
  EndpointErrorBuilder(EndpointError& error, size_t position) : error_(error) {
    error_.size_ = 0;
    error_.position_ = position;
  }

  NETRIG_NO_COVERAGE void Append(absl::string_view text);
  NETRIG_NO_COVERAGE void Append(std::initializer_list<absl::string_view> pieces);
  NETRIG_NO_COVERAGE void AppendNumber(uint64_t value);
  // Printable ASCII as is, '"' and '\\' after a backslash, every other byte as \xNN. Text with
  // nothing to escape (the common case) is found by one scan and copied whole.
  NETRIG_NO_COVERAGE void AppendEscaped(absl::string_view text);
  NETRIG_NO_COVERAGE void AppendHex(absl::Span<const uint8_t> bytes);

 private:
  static constexpr size_t kCapacity = sizeof(EndpointError::message_);
  static_assert(kCapacity >= 4 * endpoint_impl::kMaxShownInput + 128);

  // Bytes 0x20-0x7e but '"' and '\\'.
  static constexpr absl::string_view kPlainChars =
      " !#$%&'()*+,-./"
      "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~";
  static_assert(kPlainChars.size() == 0x7f - 0x20 - 2);
  static constexpr endpoint_impl::CharSet kPlain{kPlainChars};

  char* end() { return error_.message_ + error_.size_; }

  EndpointError& error_;
};

}  // namespace netrig::internal

#endif  // NETRIG_HARNESS_NET_ENDPOINT_INTERNAL_H_
