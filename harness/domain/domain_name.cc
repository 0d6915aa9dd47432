#include "harness/domain/domain_name.h"

#include <arpa/inet.h>
#include <idn2.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "harness/base/option_table.h"

namespace netrig {
namespace {

absl::Status Invalid(absl::string_view input, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid host \"", option_internal::Shorten(input), "\": ", why));
}

// Control characters, space, DEL, and anything that is not well-formed UTF-8.
bool HasForbiddenBytes(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c <= 0x20 || c == 0x7f) return true;
      ++i;
      continue;
    }
    size_t extra = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      min = 0x10000;
    } else {
      return true;
    }
    if (i + extra >= text.size()) return true;  // Truncated sequence.
    uint32_t code = c & (0x3f >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return true;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return true;
    i += extra + 1;
  }
  return false;
}

// A URL parser reads a name whose last label is a number (decimal, or 0x hex) as IPv4.
bool EndsInNumber(absl::string_view name) {
  const size_t dot = name.rfind('.');
  absl::string_view last = dot == absl::string_view::npos ? name : name.substr(dot + 1);
  if (last.empty()) return false;
  if (absl::StartsWithIgnoreCase(last, "0x")) {
    return std::all_of(last.begin() + 2, last.end(),
                       [](char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); });
  }
  return std::all_of(last.begin(), last.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

absl::StatusOr<HostName> IpLiteral(absl::string_view input, absl::string_view text) {
  char buffer[INET6_ADDRSTRLEN] = {};
  const std::string address(text);
  unsigned char bytes[16];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, address.c_str(), bytes) == 1 &&
        inet_ntop(family, bytes, buffer, sizeof(buffer)) != nullptr) {
      return HostName{HostKind::kIpLiteral, buffer};
    }
  }
  if (absl::StrContains(text, ':')) return Invalid(input, "not a valid IPv6 address");
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.') {
      return Invalid(input, "a numeric host (read as IPv4) may hold only digits, letters and dots");
    }
  }
  return HostName{HostKind::kIpLiteral, absl::AsciiStrToLower(text)};
}

}  // namespace

absl::StatusOr<HostName> NormalizeHost(absl::string_view input) {
  if (input.empty()) return Invalid(input, "empty");
  if (input.size() > kMaxHostInputBytes) {
    return Invalid(input, absl::StrCat("longer than ", kMaxHostInputBytes, " bytes"));
  }
  if (HasForbiddenBytes(input)) {
    return Invalid(input, "holds a control character, a space or bytes that are not UTF-8");
  }
  absl::string_view text = input;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    if (!absl::StrContains(text, ':')) return Invalid(input, "brackets hold only IPv6 addresses");
    return IpLiteral(input, text);
  }
  if (absl::StrContains(text, ':')) return IpLiteral(input, text);
  if (absl::EndsWith(text, ".")) text.remove_suffix(1);
  if (text.empty()) return Invalid(input, "has no label");
  for (absl::string_view label : absl::StrSplit(text, '.')) {
    if (label.empty()) return Invalid(input, "has an empty label");
  }
  if (EndsInNumber(text)) return IpLiteral(input, text);

  const std::string zero_terminated(text);
  char* converted = nullptr;
  const int rc =
      idn2_to_ascii_8z(zero_terminated.c_str(), &converted, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    if (converted != nullptr) idn2_free(converted);
    return Invalid(input, absl::StrCat("IDNA: ", idn2_strerror(rc)));
  }
  std::string name = absl::AsciiStrToLower(converted);
  idn2_free(converted);

  if (name.size() > kMaxDomainNameBytes) {
    return Invalid(input, absl::StrCat("longer than ", kMaxDomainNameBytes, " bytes as A-labels (",
                                       name.size(), ")"));
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty()) return Invalid(input, "has an empty label after IDNA mapping");
    if (label.size() > kMaxDomainLabelBytes) {
      return Invalid(input, absl::StrCat("has a label longer than ", kMaxDomainLabelBytes,
                                         " bytes as an A-label"));
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return Invalid(input, absl::StrCat("has a character host names do not use (",
                                           option_internal::Quote(absl::string_view(&c, 1)), ")"));
      }
    }
  }
  // Mapping can turn a name into one that ends in a number ("a.１２" -> "a.12").
  if (EndsInNumber(name)) return IpLiteral(input, name);
  return HostName{HostKind::kName, std::move(name)};
}

}  // namespace netrig
