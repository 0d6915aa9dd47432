// Fuzz target: the datagram-size oracle's consistency.
//
// Input: one line of words, e.g. "ipv4 mtu=1500 df buf=4096 size=1473 errno=90 msg=too large".
//   ipv4 | ipv6 | unspec   family (default unspec: the oracle must refuse it)
//   lo                     loopback (MTU 65536 unless mtu= follows)
//   mtu=N, df, buf=N       the path; size=N the payload
//   errno=N, msg=TEXT      a rejection to judge (msg= takes the rest of the input)
// Numbers saturate at 2^64-1 (size, buf) or 2^32-1 (mtu).
//
// Properties: monotone in size; agrees with an independent computation of the family, path and
// buffer limits; never fits above the family limit; the reported limit is the smallest applicable
// one; the message names the limit (its own message, judged as a rejection, is a true limit);
// judging any rejection never contradicts the verdict.
#include <errno.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "harness/net/datagram_oracle.h"

namespace {

using netrig::AddressFamily;
using netrig::DatagramLimitKind;
using netrig::DatagramPath;
using netrig::RejectionFinding;

struct Input {
  AddressFamily family = AddressFamily::kUnspecified;
  DatagramPath path = DatagramPath::Interface(1500, false);
  uint64_t size = 0;
  netrig::DatagramRejection rejection;
};

uint64_t SaturatingNumber(absl::string_view digits, uint64_t max) {
  uint64_t value = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) break;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) return max;
    value = value * 10 + digit;
  }
  return value;
}

Input ParseInput(absl::string_view text) {
  Input input;
  absl::string_view message;
  if (size_t at = text.find("msg="); at != absl::string_view::npos) {
    message = text.substr(at + 4);
    text = text.substr(0, at);
  }
  input.rejection.message = std::string(message);
  for (absl::string_view word :
       absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    if (word == "ipv4") {
      input.family = AddressFamily::kIPv4;
    } else if (word == "ipv6") {
      input.family = AddressFamily::kIPv6;
    } else if (word == "unspec") {
      input.family = AddressFamily::kUnspecified;
    } else if (word == "lo") {
      input.path.loopback = true;
      input.path.mtu = netrig::kLoopbackMtu;
    } else if (word == "df") {
      input.path.dont_fragment = true;
    } else if (absl::ConsumePrefix(&word, "mtu=")) {
      input.path.mtu = static_cast<uint32_t>(SaturatingNumber(word, UINT32_MAX));
    } else if (absl::ConsumePrefix(&word, "buf=")) {
      input.path.buffer_bytes = SaturatingNumber(word, UINT64_MAX);
    } else if (absl::ConsumePrefix(&word, "size=")) {
      input.size = SaturatingNumber(word, UINT64_MAX);
    } else if (absl::ConsumePrefix(&word, "errno=")) {
      input.rejection.error_number = static_cast<int>(SaturatingNumber(word, 4095));
    }
  }
  return input;
}

[[noreturn]] void Fail(const Input& input, const std::string& what) {
  std::fprintf(stderr, "datagram_oracle property broken: %s\n  input: %s size=%llu path: %s\n",
               what.c_str(), std::string(netrig::AddressFamilyName(input.family)).c_str(),
               static_cast<unsigned long long>(input.size), input.path.ToString().c_str());
  std::abort();
}

#define ORACLE_CHECK(condition, what)    \
  do {                                   \
    if (!(condition)) Fail(input, what); \
  } while (0)

// The limits again, written independently of the oracle: (kind, largest payload) in report order.
std::vector<std::pair<DatagramLimitKind, uint64_t>> ReferenceLimits(const Input& input) {
  const bool v4 = input.family == AddressFamily::kIPv4;
  std::vector<std::pair<DatagramLimitKind, uint64_t>> limits;
  limits.emplace_back(DatagramLimitKind::kFamilyMaximum, v4 ? 65535 - 20 - 8 : 65535 - 8);
  if (input.path.dont_fragment) {
    const uint64_t mtu = std::min<uint64_t>(input.path.mtu, v4 ? 65535 : 65535 + 40);
    limits.emplace_back(DatagramLimitKind::kPathMtuDontFragment, mtu - (v4 ? 20 : 40) - 8);
  }
  if (input.path.buffer_bytes.has_value()) {
    limits.emplace_back(DatagramLimitKind::kBuffer, *input.path.buffer_bytes);
  }
  return limits;
}

bool Fits(const Input& input, uint64_t size) {
  absl::StatusOr<netrig::DatagramVerdict> verdict =
      netrig::CheckDatagram(size, input.family, input.path);
  ORACLE_CHECK(verdict.ok(), "CheckDatagram failed on a path it accepted before");
  return verdict->fits;
}

void CheckInput(const Input& input) {
  const bool valid_path =
      (input.family == AddressFamily::kIPv4 && input.path.mtu >= netrig::kIPv4MinMtu) ||
      (input.family == AddressFamily::kIPv6 && input.path.mtu >= netrig::kIPv6MinMtu);
  absl::StatusOr<netrig::DatagramVerdict> verdict =
      netrig::CheckDatagram(input.size, input.family, input.path);
  absl::StatusOr<netrig::RejectionJudgement> judgement =
      netrig::JudgeRejection(input.size, input.family, input.path, input.rejection);
  if (!valid_path) {
    ORACLE_CHECK(!verdict.ok() && verdict.status().code() == absl::StatusCode::kInvalidArgument,
                 "an unspecified family or an MTU below the minimum must be InvalidArgument");
    ORACLE_CHECK(!judgement.ok(), "JudgeRejection accepted a path CheckDatagram refuses");
    return;
  }
  ORACLE_CHECK(verdict.ok(), absl::StrCat("valid path refused: ", verdict.status().ToString()));
  ORACLE_CHECK(judgement.ok(), "JudgeRejection refused a valid path");

  // Agrees with the reference limits; the reported one is the smallest, first on a tie.
  const auto reference = ReferenceLimits(input);
  auto smallest = reference.begin();
  for (auto it = reference.begin(); it != reference.end(); ++it) {
    if (it->second < smallest->second) smallest = it;
  }
  const uint64_t family_max = reference.front().second;
  ORACLE_CHECK(verdict->fits == (input.size <= smallest->second),
               absl::StrCat("fits disagrees with the reference largest payload ", smallest->second,
                            ": ", verdict->message));
  if (input.size > family_max) ORACLE_CHECK(!verdict->fits, "fits above the family maximum");
  absl::StatusOr<netrig::DatagramLimit> binding = netrig::BindingLimit(input.family, input.path);
  ORACLE_CHECK(binding.ok(), "BindingLimit failed");
  ORACLE_CHECK(binding->kind == smallest->first && binding->payload_bytes == smallest->second,
               "BindingLimit is not the smallest applicable limit");
  absl::StatusOr<std::vector<netrig::DatagramLimit>> limits =
      netrig::ApplicableLimits(input.family, input.path);
  ORACLE_CHECK(limits.ok() && limits->size() == reference.size(),
               "ApplicableLimits lists the wrong number of limits");
  for (size_t i = 0; i < reference.size(); ++i) {
    ORACLE_CHECK((*limits)[i].kind == reference[i].first &&
                     (*limits)[i].payload_bytes == reference[i].second,
                 absl::StrCat("limit ", i, " disagrees with the reference"));
  }

  if (verdict->fits) {
    ORACLE_CHECK(verdict->limit_kind == DatagramLimitKind::kNone && verdict->limit_bytes == 0,
                 "a fitting datagram reports a broken limit");
    ORACLE_CHECK(absl::StrContains(verdict->message, " fits "), "fit message does not say fits");
    // Monotone: everything smaller fits too.
    for (uint64_t smaller : {input.size / 2, input.size > 0 ? input.size - 1 : 0, uint64_t{0}}) {
      ORACLE_CHECK(Fits(input, smaller), absl::StrCat("not monotone: ", smaller, " does not fit"));
    }
  } else {
    ORACLE_CHECK(
        verdict->limit_kind == smallest->first,
        absl::StrCat("reported limit kind ", netrig::DatagramLimitKindName(verdict->limit_kind),
                     " is not the smallest applicable one"));
    ORACLE_CHECK(verdict->limit_bytes == smallest->second,
                 "reported limit value is not the smallest applicable one");
    ORACLE_CHECK(input.size > verdict->limit_bytes, "payload does not exceed the reported limit");
    // Monotone: everything larger breaks too.
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    for (uint64_t larger : {input.size < max ? input.size + 1 : max,
                            input.size <= max / 2 ? input.size * 2 : max, max}) {
      ORACLE_CHECK(!Fits(input, larger), absl::StrCat("not monotone: ", larger, " fits"));
    }
    // The message names the limit: kind and value read back from it, and as a rejection it is
    // judged a true limit.
    ORACLE_CHECK(absl::StrContains(verdict->message, absl::StrCat(" ", verdict->limit_bytes, " (")),
                 "message does not quote the limit value: " + verdict->message);
    const netrig::RejectionClaim claim =
        netrig::ParseRejectionMessage(verdict->message, input.size);
    ORACLE_CHECK(claim.size_related && claim.kind == verdict->limit_kind &&
                     claim.limit_bytes == verdict->limit_bytes,
                 "message does not name its limit: " + verdict->message);
    netrig::DatagramRejection own;
    own.message = verdict->message;
    absl::StatusOr<netrig::RejectionJudgement> own_judgement =
        netrig::JudgeRejection(input.size, input.family, input.path, own);
    ORACLE_CHECK(own_judgement.ok() && own_judgement->finding == RejectionFinding::kTrueLimit,
                 "the oracle's own message is not judged a true limit: " + verdict->message);
  }
  // The boundary itself.
  ORACLE_CHECK(Fits(input, smallest->second), "the largest payload does not fit");
  if (smallest->second < std::numeric_limits<uint64_t>::max()) {
    ORACLE_CHECK(!Fits(input, smallest->second + 1), "one past the largest payload fits");
  }

  // Judging never contradicts the verdict.
  const RejectionFinding finding = judgement->finding;
  if (verdict->fits) {
    ORACLE_CHECK(finding == RejectionFinding::kRejectedDatagramThatFits ||
                     finding == RejectionFinding::kNotASizeRejection,
                 "a rejection of a fitting datagram was judged true");
  } else {
    ORACLE_CHECK(finding != RejectionFinding::kRejectedDatagramThatFits,
                 "a datagram that does not fit was judged as fitting");
  }
  if (finding == RejectionFinding::kTrueLimit) {
    bool matches = false;
    for (const netrig::DatagramLimit& limit : *limits) {
      if (input.size > limit.payload_bytes && judgement->claim.limit_bytes.has_value() &&
          (*judgement->claim.limit_bytes == limit.payload_bytes ||
           *judgement->claim.limit_bytes == limit.quoted_bytes)) {
        matches = true;
      }
    }
    ORACLE_CHECK(matches, "judged a true limit, but its value names no broken limit");
  }
  if (input.rejection.error_number == EMSGSIZE) {
    ORACLE_CHECK(finding != RejectionFinding::kNotASizeRejection,
                 "EMSGSIZE was not taken as a size rejection");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  CheckInput(ParseInput(text));
  return 0;
}
