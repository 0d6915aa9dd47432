// Host names as domain-pattern routing compares them: one canonical form per name, so that
// `Example.COM.`, `example.com` and `EXAMPLE.com` are the same host and `bücher.example` is
// `xn--bcher-kva.example` (its A-label form, computed by libidn2 with UTS #46 non-transitional
// mapping; netrig does not do IDNA itself).
//
// The rules, in the order they are applied (README, "Domain-pattern routing"):
//   - at most kMaxHostInputBytes of input; no control characters, spaces or bytes that are not
//     UTF-8;
//   - one trailing dot is dropped (`example.com.` is `example.com`); an empty label (`a..b`,
//     `.a`, `a..`) is invalid;
//   - an IPv6 literal (bracketed or not) or a name whose last label is numeric (`10.1.2.3`,
//     `127.1`, `0x7f.1`: a URL parser reads it as IPv4) is an IP literal: it is never a name and
//     name patterns never match it; an IPv4/IPv6 address is kept in inet_ntop's form;
//   - otherwise every name goes through libidn2 (which lowercases, maps Unicode, checks punycode
//     `xn--` labels and hyphen placement), and the result must use only `a-z 0-9 - _` with
//     labels of 1-63 bytes and at most 253 bytes in all.
//
// Example:
//   absl::StatusOr<netrig::HostName> host = netrig::NormalizeHost("WWW.Bücher.example.");
//   // host->text == "www.xn--bcher-kva.example", host->kind == netrig::HostKind::kName
#ifndef NETRIG_HARNESS_DOMAIN_DOMAIN_NAME_H_
#define NETRIG_HARNESS_DOMAIN_DOMAIN_NAME_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace netrig {

inline constexpr size_t kMaxHostInputBytes = 1024;
inline constexpr size_t kMaxDomainNameBytes = 253;
inline constexpr size_t kMaxDomainLabelBytes = 63;

enum class HostKind { kName, kIpLiteral };

struct HostName {
  HostKind kind = HostKind::kName;
  // kName: lowercase A-label form without a trailing dot. kIpLiteral: the address as inet_ntop
  // writes it (no brackets), or the lowercased text of a numeric name inet_pton does not read.
  std::string text;

  friend bool operator==(const HostName&, const HostName&) = default;
};

// InvalidArgument naming the input and what is wrong with it.
absl::StatusOr<HostName> NormalizeHost(absl::string_view input);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DOMAIN_DOMAIN_NAME_H_
