#include "harness/workloads/udp/dns_query.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace netrig::internal::udp_stress {

namespace {

constexpr size_t kDnsHeader = 12;
constexpr size_t kHexLabel = kHeaderBytes;  // each of the two labels: half the header as hex
constexpr size_t kHeaderLabels = 2 * (1 + kHexLabel);
constexpr size_t kMaxName = 255;
constexpr size_t kOptRecord = 11;  // root name, type, class (UDP size), TTL, RDLENGTH
constexpr size_t kPaddingOption = 4;
constexpr uint16_t kTypeOpt = 41;
constexpr uint16_t kOptionPadding = 12;
constexpr uint16_t kClassIn = 1;

size_t ZoneWireSize(absl::string_view zone) {
  size_t size = 1;  // the root label
  for (absl::string_view label : absl::StrSplit(zone, '.', absl::SkipEmpty())) {
    size += 1 + label.size();
  }
  return size;
}

void Put16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v & 0xff);
}
uint16_t Get16(absl::string_view m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) |
                               static_cast<uint8_t>(m[at + 1]));
}

uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
uint64_t HeaderHash(const Header& h) {
  return Mix((uint64_t{h.run_tag} << 32 | h.instance) ^ Mix(uint64_t{h.seq} << 8 | h.hop));
}

// The offset just past the first question (name, type, class), or 0 when it does not fit.
size_t QuestionEnd(absl::string_view m) {
  size_t at = kDnsHeader;
  while (at < m.size()) {
    const uint8_t length = static_cast<uint8_t>(m[at]);
    if (length == 0) return at + 1 + 4 <= m.size() ? at + 1 + 4 : 0;
    if (length > 63) return 0;  // a compression pointer cannot start the first question
    at += 1 + length;
  }
  return 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

absl::Status ValidateDnsZone(absl::string_view zone) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--dns_zone '", zone.substr(0, 64),
                                                   zone.size() > 64 ? "..." : "", "': ", why));
  };
  if (zone.empty()) return bad("empty (give the zone the peer answers for, e.g. example.test)");
  for (absl::string_view label : absl::StrSplit(zone, '.')) {
    if (label.empty()) return bad("has an empty label");
    if (label.size() > 63) return bad("has a label longer than 63 bytes");
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') {
        return bad("has a character other than letters, digits, '-' and '.'");
      }
    }
  }
  if (kHeaderLabels + ZoneWireSize(zone) > kMaxName) {
    return bad(absl::StrCat("is too long: at most ", kMaxName - kHeaderLabels - 2,
                            " characters leave room for the two 32-character labels in front"));
  }
  return absl::OkStatus();
}

size_t DnsQueryMinSize(absl::string_view zone) {
  return kDnsHeader + kHeaderLabels + ZoneWireSize(zone) + 4 + kOptRecord + kPaddingOption;
}

uint16_t DnsIdFor(const Header& h) { return static_cast<uint16_t>(HeaderHash(h) >> 16); }

uint16_t DnsTypeFor(const Header& h) {
  static constexpr uint16_t kTypes[] = {1 /*A*/, 28 /*AAAA*/, 16 /*TXT*/};
  return kTypes[(HeaderHash(h) >> 40) % 3];
}

void PutDnsQuery(std::string& payload, const Header& h, absl::string_view zone) {
  const size_t size = std::min<size_t>(payload.size(), 65535);
  const size_t minimum = DnsQueryMinSize(zone);
  payload.assign(std::max(size, minimum), '\0');
  char* p = payload.data();
  Put16(p, DnsIdFor(h));
  Put16(p + 2, 0x0100);  // a standard query, recursion desired
  Put16(p + 4, 1);       // one question
  Put16(p + 10, 1);      // one additional record: OPT
  size_t at = kDnsHeader;
  char header[kHeaderBytes];
  PutHeader(header, h);
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t half = 0; half < 2; ++half) {
    p[at++] = static_cast<char>(kHexLabel);
    for (size_t i = 0; i < kHexLabel / 2; ++i) {
      const uint8_t byte = static_cast<uint8_t>(header[half * kHexLabel / 2 + i]);
      p[at++] = kHex[byte >> 4];
      p[at++] = kHex[byte & 15];
    }
  }
  // Even ids grow the name as far as it may; odd ones leave it short and pad with EDNS.
  const size_t extra = payload.size() - minimum;
  size_t name_padding =
      h.seq % 2 == 0 ? std::min(extra, kMaxName - kHeaderLabels - ZoneWireSize(zone)) : 0;
  if (name_padding == 1) name_padding = 0;  // a label costs at least two bytes
  for (size_t left = name_padding; left > 0;) {
    // Labels of up to 63 bytes (64 with the length); never leave a single byte behind.
    const size_t cost = left <= 64 ? left : left == 65 ? 63 : 64;
    p[at++] = static_cast<char>(cost - 1);
    std::memset(p + at, 'p', cost - 1);
    at += cost - 1;
    left -= cost;
  }
  for (absl::string_view label : absl::StrSplit(zone, '.', absl::SkipEmpty())) {
    p[at++] = static_cast<char>(label.size());
    std::memcpy(p + at, label.data(), label.size());
    at += label.size();
  }
  p[at++] = 0;
  Put16(p + at, DnsTypeFor(h));
  Put16(p + at + 2, kClassIn);
  at += 4;
  // OPT: root name, type 41, UDP payload size, extended RCODE/version/flags 0, RDLENGTH.
  const size_t padding = payload.size() - at - kOptRecord - kPaddingOption;
  p[at] = 0;
  Put16(p + at + 1, kTypeOpt);
  Put16(p + at + 3, static_cast<uint16_t>(kDefaultDnsMaxQuery));
  Put16(p + at + 9, static_cast<uint16_t>(kPaddingOption + padding));
  Put16(p + at + 11, kOptionPadding);
  Put16(p + at + 13, static_cast<uint16_t>(padding));
}

bool GetDnsHeader(absl::string_view message, uint32_t run_tag, Header* h) {
  if (message.size() < kDnsHeader + kHeaderLabels || Get16(message, 4) < 1) return false;
  char header[kHeaderBytes];
  size_t at = kDnsHeader;
  for (size_t half = 0; half < 2; ++half) {
    if (static_cast<uint8_t>(message[at++]) != kHexLabel) return false;
    for (size_t i = 0; i < kHexLabel / 2; ++i) {
      const int high = HexValue(message[at++]);
      const int low = HexValue(message[at++]);
      if (high < 0 || low < 0) return false;
      header[half * kHexLabel / 2 + i] = static_cast<char>(high << 4 | low);
    }
  }
  return GetHeader(absl::string_view(header, kHeaderBytes), run_tag, h);
}

DnsAnswerMatch MatchDnsAnswer(absl::string_view answer, uint32_t run_tag, absl::string_view zone) {
  DnsAnswerMatch match;
  if (!GetDnsHeader(answer, run_tag, &match.header)) return match;
  match.verdict = DnsAnswerMatch::kMismatch;
  const Header& h = match.header;
  if (h.length < DnsQueryMinSize(zone) || h.length > 65535) {
    match.problem =
        absl::StrFormat("its question names a %d-byte query, which was never sent", h.length);
    return match;
  }
  std::string query(h.length, '\0');
  PutDnsQuery(query, h, zone);
  const uint8_t flags = static_cast<uint8_t>(answer[2]);
  const size_t answer_end = QuestionEnd(answer);
  const size_t query_end = QuestionEnd(query);
  if ((flags & 0x80) == 0) {
    match.problem = "it is not a response (QR bit clear)";
  } else if (((flags >> 3) & 0x0f) != 0) {
    match.problem = absl::StrFormat("its opcode is %d, the query's 0", (flags >> 3) & 0x0f);
  } else if (Get16(answer, 4) != 1) {
    match.problem = absl::StrFormat("it has %d questions, the query one", Get16(answer, 4));
  } else if (Get16(answer, 0) != DnsIdFor(h)) {
    match.problem =
        absl::StrFormat("its id is 0x%04x, but the query with this question was sent with 0x%04x",
                        Get16(answer, 0), DnsIdFor(h));
  } else if (answer_end != query_end ||
             !absl::EqualsIgnoreCase(
                 answer.substr(kDnsHeader, answer_end - 4 - kDnsHeader),
                 absl::string_view(query).substr(kDnsHeader, query_end - 4 - kDnsHeader))) {
    match.problem = "its question name is not the query's";
  } else if (answer.substr(answer_end - 4, 4) !=
             absl::string_view(query).substr(query_end - 4, 4)) {
    match.problem = absl::StrFormat(
        "its question is type %d class %d, the query's type %d class %d",
        Get16(answer, answer_end - 4), Get16(answer, answer_end - 2), DnsTypeFor(h), kClassIn);
  } else {
    match.verdict = DnsAnswerMatch::kMatched;
  }
  return match;
}

}  // namespace netrig::internal::udp_stress
