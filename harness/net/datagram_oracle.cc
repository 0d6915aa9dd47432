#include "harness/net/datagram_oracle.h"

#include <errno.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace netrig {
namespace internal {
namespace {

// U+2212 MINUS SIGN: the messages read as arithmetic.
constexpr absl::string_view kMinus = " \u2212 ";
// The largest IP length field value (IPv4 total length, IPv6 payload length).
constexpr uint64_t kIpLengthFieldMax = 65535;
// Linux caps an IPv4 route's MTU at IP_MAX_MTU (0xFFFF) and an IPv6 one at IP6_MAX_MTU
// (0xFFFF + 40): see ipv4_mtu() and ip6_mtu() in the kernel.
constexpr uint64_t kIPv4MaxRouteMtu = 65535;
constexpr uint64_t kIPv6MaxRouteMtu = 65535 + kIPv6HeaderBytes;

std::string Bytes(uint64_t n) { return absl::StrCat(n, n == 1 ? " byte" : " bytes"); }

absl::string_view FamilyLabel(AddressFamily family) {
  return family == AddressFamily::kIPv4 ? "IPv4" : "IPv6";
}

// How a message names a limit: "IPv4 maximum", "path MTU limit", "buffer limit".
std::string LimitTitle(DatagramLimitKind kind, AddressFamily family) {
  switch (kind) {
    case DatagramLimitKind::kFamilyMaximum:
      return absl::StrCat(FamilyLabel(family), " maximum");
    case DatagramLimitKind::kPathMtuDontFragment:
      return "path MTU limit";
    case DatagramLimitKind::kBuffer:
      return "buffer limit";
    case DatagramLimitKind::kNone:
      break;
  }
  return "no limit";
}

absl::Status ValidatePath(AddressFamily family, const DatagramPath& path) {
  if (family == AddressFamily::kUnspecified) {
    return absl::InvalidArgumentError(
        "datagram oracle: the address family is unspecified; the limits differ for IPv4 and IPv6");
  }
  const uint32_t minimum = family == AddressFamily::kIPv4 ? kIPv4MinMtu : kIPv6MinMtu;
  if (path.mtu < minimum) {
    return absl::InvalidArgumentError(absl::StrCat(
        "datagram oracle: MTU ", path.mtu, " is below the ", FamilyLabel(family), " minimum ",
        minimum, "; ", FamilyLabel(family), " does not run on such a link"));
  }
  return absl::OkStatus();
}

// Words of a client's message, lower-cased; numbers are kept apart.
struct Token {
  std::string word;                // empty for a number
  std::optional<uint64_t> number;  // set for a run of digits that fits uint64_t
  bool is_number = false;
};

std::vector<Token> Tokenize(absl::string_view text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (absl::ascii_isdigit(c)) {
      size_t end = i;
      while (end < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) ++end;
      Token token;
      token.is_number = true;
      uint64_t value = 0;
      if (absl::SimpleAtoi(text.substr(i, end - i), &value)) token.number = value;
      tokens.push_back(std::move(token));
      i = end;
    } else if (absl::ascii_isalpha(c) || c == '_') {
      size_t end = i;
      while (end < text.size()) {
        const unsigned char d = static_cast<unsigned char>(text[end]);
        if (!(absl::ascii_isalnum(d) || d == '_' || d == '\'' || d == '-')) break;
        ++end;
      }
      Token token;
      token.word = absl::AsciiStrToLower(text.substr(i, end - i));
      tokens.push_back(std::move(token));
      i = end;
    } else if (c == '>') {
      Token token;
      token.word = ">";
      tokens.push_back(std::move(token));
      ++i;
    } else {
      ++i;
    }
  }
  return tokens;
}

bool IsSizeWord(absl::string_view word) {
  static constexpr absl::string_view kExact[] = {
      "large",   "big",    "long",     "larger",    "bigger",    "greater",  "over",     "above",
      "max",     "limit",  "limits",   "size",      "oversized", "oversize", "emsgsize", ">",
      "exceeds", "exceed", "exceeded", "exceeding", "maximum",   "jumbo",    "jumbogram"};
  for (absl::string_view w : kExact) {
    if (word == w) return true;
  }
  return absl::StrContains(word, "mtu") || absl::StrContains(word, "fragment");
}

std::optional<DatagramLimitKind> KindOfWord(const std::vector<Token>& tokens, size_t i) {
  absl::string_view word = tokens[i].word;
  if (word.empty()) return std::nullopt;
  if (word == "buffer" || word == "buffers" || word == "buf" || word == "rcvbuf" ||
      word == "sndbuf") {
    return DatagramLimitKind::kBuffer;
  }
  if (word == "path" || word == "df" || absl::StrContains(word, "mtu") ||
      absl::StrContains(word, "fragment") || absl::StrContains(word, "dontfrag")) {
    return DatagramLimitKind::kPathMtuDontFragment;
  }
  if (word == "maximum" && i + 1 < tokens.size() && tokens[i + 1].word == "transmission") {
    return DatagramLimitKind::kPathMtuDontFragment;
  }
  if (word == "maximum" || word == "max" || word == "family" || word == "jumbo" ||
      word == "jumbogram" || word == "jumbograms") {
    return DatagramLimitKind::kFamilyMaximum;
  }
  return std::nullopt;
}

}  // namespace
}  // namespace internal

absl::string_view DatagramLimitKindName(DatagramLimitKind kind) {
  switch (kind) {
    case DatagramLimitKind::kNone:
      return "none";
    case DatagramLimitKind::kFamilyMaximum:
      return "family maximum";
    case DatagramLimitKind::kPathMtuDontFragment:
      return "path MTU with don't-fragment";
    case DatagramLimitKind::kBuffer:
      return "buffer";
  }
  return "none";
}

absl::string_view RejectionFindingName(RejectionFinding finding) {
  switch (finding) {
    case RejectionFinding::kTrueLimit:
      return "true limit";
    case RejectionFinding::kTrueButUnnamed:
      return "true but unnamed";
    case RejectionFinding::kWrongLimit:
      return "wrong limit";
    case RejectionFinding::kRejectedDatagramThatFits:
      return "rejected a datagram that fits";
    case RejectionFinding::kNotASizeRejection:
      return "not a size rejection";
  }
  return "not a size rejection";
}

DatagramPath DatagramPath::Loopback(bool dont_fragment) {
  DatagramPath path;
  path.mtu = kLoopbackMtu;
  path.loopback = true;
  path.dont_fragment = dont_fragment;
  return path;
}

DatagramPath DatagramPath::Interface(uint32_t mtu, bool dont_fragment) {
  DatagramPath path;
  path.mtu = mtu;
  path.loopback = false;
  path.dont_fragment = dont_fragment;
  return path;
}

DatagramPath DatagramPath::WithBuffer(uint64_t bytes) const {
  DatagramPath path = *this;
  path.buffer_bytes = bytes;
  return path;
}

std::string DatagramPath::ToString() const {
  std::string text = absl::StrCat(loopback ? "loopback MTU " : "MTU ", mtu,
                                  dont_fragment ? ", don't-fragment" : ", fragmentation allowed");
  if (buffer_bytes.has_value()) absl::StrAppend(&text, ", buffer ", *buffer_bytes);
  return text;
}

absl::StatusOr<std::vector<DatagramLimit>> ApplicableLimits(AddressFamily family,
                                                            const DatagramPath& path) {
  using internal::kMinus;
  if (absl::Status status = internal::ValidatePath(family, path); !status.ok()) return status;
  const bool ipv4 = family == AddressFamily::kIPv4;
  std::vector<DatagramLimit> limits;

  DatagramLimit family_limit;
  family_limit.kind = DatagramLimitKind::kFamilyMaximum;
  family_limit.payload_bytes = ipv4 ? kIPv4MaxPayload : kIPv6MaxPayload;
  family_limit.quoted_bytes = internal::kIpLengthFieldMax;
  family_limit.derivation =
      ipv4 ? absl::StrCat(internal::kIpLengthFieldMax, kMinus, kIPv4HeaderBytes, " IPv4", kMinus,
                          kUdpHeaderBytes, " UDP")
           : absl::StrCat(internal::kIpLengthFieldMax, " IPv6 payload length", kMinus,
                          kUdpHeaderBytes, " UDP, no jumbograms");
  limits.push_back(std::move(family_limit));

  if (path.dont_fragment) {
    const uint64_t cap = ipv4 ? internal::kIPv4MaxRouteMtu : internal::kIPv6MaxRouteMtu;
    const uint64_t effective_mtu = std::min<uint64_t>(path.mtu, cap);
    const uint64_t ip_header = ipv4 ? kIPv4HeaderBytes : kIPv6HeaderBytes;
    DatagramLimit path_limit;
    path_limit.kind = DatagramLimitKind::kPathMtuDontFragment;
    path_limit.payload_bytes = effective_mtu - ip_header - kUdpHeaderBytes;
    path_limit.quoted_bytes = path.mtu;
    path_limit.derivation = absl::StrCat(path.loopback ? "loopback MTU " : "MTU ", path.mtu);
    if (effective_mtu != path.mtu) {
      absl::StrAppend(&path_limit.derivation, " capped at ", effective_mtu, " by ",
                      internal::FamilyLabel(family));
    }
    absl::StrAppend(&path_limit.derivation, kMinus, ip_header, " ", internal::FamilyLabel(family),
                    kMinus, kUdpHeaderBytes, " UDP, don't-fragment set");
    limits.push_back(std::move(path_limit));
  }

  if (path.buffer_bytes.has_value()) {
    DatagramLimit buffer_limit;
    buffer_limit.kind = DatagramLimitKind::kBuffer;
    buffer_limit.payload_bytes = *path.buffer_bytes;
    buffer_limit.quoted_bytes = *path.buffer_bytes;
    buffer_limit.derivation = absl::StrCat("buffer ", internal::Bytes(*path.buffer_bytes));
    limits.push_back(std::move(buffer_limit));
  }
  return limits;
}

absl::StatusOr<DatagramLimit> BindingLimit(AddressFamily family, const DatagramPath& path) {
  absl::StatusOr<std::vector<DatagramLimit>> limits = ApplicableLimits(family, path);
  if (!limits.ok()) return limits.status();
  // stable: the first of equal limits wins.
  auto smallest = std::min_element(limits->begin(), limits->end(),
                                   [](const DatagramLimit& a, const DatagramLimit& b) {
                                     return a.payload_bytes < b.payload_bytes;
                                   });
  return std::move(*smallest);
}

absl::StatusOr<DatagramVerdict> CheckDatagram(uint64_t payload_bytes, AddressFamily family,
                                              const DatagramPath& path) {
  absl::StatusOr<DatagramLimit> binding = BindingLimit(family, path);
  if (!binding.ok()) return binding.status();
  DatagramVerdict verdict;
  const std::string title = internal::LimitTitle(binding->kind, family);
  if (payload_bytes <= binding->payload_bytes) {
    verdict.fits = true;
    verdict.message =
        absl::StrCat("payload ", internal::Bytes(payload_bytes), " fits (largest ",
                     binding->payload_bytes, ": ", title, ", ", binding->derivation, ")");
    return verdict;
  }
  verdict.fits = false;
  verdict.limit_kind = binding->kind;
  verdict.limit_bytes = binding->payload_bytes;
  verdict.message = absl::StrCat("payload ", internal::Bytes(payload_bytes), " exceeds the ", title,
                                 " ", binding->payload_bytes, " (", binding->derivation, ")");
  return verdict;
}

RejectionClaim ParseRejectionMessage(absl::string_view message, uint64_t payload_bytes) {
  const std::vector<internal::Token> tokens = internal::Tokenize(message);
  RejectionClaim claim;
  size_t first_size_word = tokens.size();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!tokens[i].is_number && internal::IsSizeWord(tokens[i].word)) {
      first_size_word = i;
      break;
    }
  }
  if (first_size_word == tokens.size()) return claim;
  claim.size_related = true;
  for (size_t i = 0; i < tokens.size() && !claim.kind.has_value(); ++i) {
    claim.kind = internal::KindOfWord(tokens, i);
  }
  for (size_t i = first_size_word + 1; i < tokens.size(); ++i) {
    if (tokens[i].is_number && tokens[i].number.has_value() && *tokens[i].number != payload_bytes) {
      claim.limit_bytes = tokens[i].number;
      break;
    }
  }
  return claim;
}

absl::StatusOr<RejectionJudgement> JudgeRejection(uint64_t payload_bytes, AddressFamily family,
                                                  const DatagramPath& path,
                                                  const DatagramRejection& rejection) {
  absl::StatusOr<DatagramVerdict> verdict = CheckDatagram(payload_bytes, family, path);
  if (!verdict.ok()) return verdict.status();
  absl::StatusOr<std::vector<DatagramLimit>> limits = ApplicableLimits(family, path);
  if (!limits.ok()) return limits.status();

  RejectionJudgement judgement;
  judgement.oracle = *verdict;
  RejectionClaim& claim = judgement.claim;
  const bool structured =
      (rejection.claimed_kind.has_value() && *rejection.claimed_kind != DatagramLimitKind::kNone) ||
      rejection.claimed_limit_bytes.has_value();
  if (structured) {
    claim.size_related = true;
    if (rejection.claimed_kind.has_value() && *rejection.claimed_kind != DatagramLimitKind::kNone) {
      claim.kind = rejection.claimed_kind;
    }
    claim.limit_bytes = rejection.claimed_limit_bytes;
  } else {
    claim = ParseRejectionMessage(rejection.message, payload_bytes);
  }
  if (rejection.error_number == EMSGSIZE) claim.size_related = true;

  std::string claimed = "a size limit";
  if (claim.kind.has_value()) claimed = absl::StrCat("the ", DatagramLimitKindName(*claim.kind));
  if (claim.limit_bytes.has_value()) {
    absl::StrAppend(&claimed, claim.kind.has_value() ? " " : " of ", *claim.limit_bytes);
  }
  if (rejection.error_number == EMSGSIZE && !claim.kind.has_value() &&
      !claim.limit_bytes.has_value()) {
    claimed = "EMSGSIZE";
  }

  if (!claim.size_related) {
    judgement.finding = RejectionFinding::kNotASizeRejection;
    judgement.message = "the rejection claims no size limit; the oracle does not judge it";
    return judgement;
  }
  if (verdict->fits) {
    judgement.finding = RejectionFinding::kRejectedDatagramThatFits;
    judgement.message =
        absl::StrCat("rejected a datagram that fits: rejection claims ", claimed, ", but ",
                     verdict->message, " on ", internal::FamilyLabel(family), " ", path.ToString());
    return judgement;
  }

  // The datagram breaks at least one limit. Is the claim about one of those it breaks?
  bool kind_applies = !claim.kind.has_value();
  bool kind_broken = !claim.kind.has_value();
  bool value_matches = false;
  for (const DatagramLimit& limit : *limits) {
    if (claim.kind.has_value() && limit.kind != *claim.kind) continue;
    kind_applies = true;
    const bool broken = payload_bytes > limit.payload_bytes;
    if (broken) kind_broken = true;
    if (broken && claim.limit_bytes.has_value() &&
        (*claim.limit_bytes == limit.payload_bytes || *claim.limit_bytes == limit.quoted_bytes)) {
      value_matches = true;
    }
  }
  const std::string truth = absl::StrCat("the oracle says ", verdict->message);
  if (!kind_applies) {
    judgement.finding = RejectionFinding::kWrongLimit;
    judgement.message = absl::StrCat("rejection names a wrong limit: it claims ", claimed,
                                     ", which does not apply on ", path.ToString(), "; ", truth);
  } else if (!kind_broken) {
    judgement.finding = RejectionFinding::kWrongLimit;
    judgement.message = absl::StrCat("rejection names a wrong limit: it claims ", claimed,
                                     ", which the payload does not exceed; ", truth);
  } else if (claim.limit_bytes.has_value() && !value_matches) {
    judgement.finding = RejectionFinding::kWrongLimit;
    judgement.message = absl::StrCat("rejection names a wrong limit: it claims ", claimed,
                                     ", but no limit the payload exceeds has that value; ", truth);
  } else if (!claim.limit_bytes.has_value()) {
    judgement.finding = RejectionFinding::kTrueButUnnamed;
    judgement.message = absl::StrCat("rejection is true but does not name the limit's value (",
                                     claimed, "); ", truth);
  } else {
    judgement.finding = RejectionFinding::kTrueLimit;
    judgement.message = absl::StrCat("rejection names a true limit (", claimed, "); ", truth);
  }
  return judgement;
}

}  // namespace netrig
