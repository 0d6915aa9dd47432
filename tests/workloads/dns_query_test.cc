#include "harness/workloads/udp/dns_query.h"

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/udp/peers/dns_upstream.h"
#include "harness/workloads/udp/stress_datagram.h"

namespace netrig::internal::udp_stress {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kRunTag = 0x1234567;
constexpr char kZone[] = "example.test";

Header MakeHeader(uint32_t seq, uint32_t length) {
  Header h;
  h.run_tag = kRunTag;
  h.instance = 3;
  h.seq = seq;
  h.length = length;
  h.sent_ns = 1'700'000'000'000'000'000;
  h.encoding = 2;
  h.hop = 1;
  h.target = 1;
  return h;
}

std::string Query(const Header& h) {
  std::string payload(h.length, 'x');
  PutDnsQuery(payload, h, kZone);
  return payload;
}

// The offset just past the question name.
size_t NameEnd(const std::string& m) {
  size_t at = 12;
  while (m[at] != 0) at += 1 + static_cast<uint8_t>(m[at]);
  return at + 1;
}

TEST(DnsQuery, EverySizeIsExactAndCarriesItsHeader) {
  const size_t smallest = DnsQueryMinSize(kZone);
  EXPECT_EQ(smallest, 111u);
  for (uint32_t size : {111u, 112u, 113u, 200u, 287u, 288u, 289u, 512u, 1232u, 65535u}) {
    for (uint32_t seq : {10u, 11u}) {  // even: padded name; odd: EDNS padding only
      const Header sent = MakeHeader(seq, size);
      const std::string query = Query(sent);
      ASSERT_EQ(query.size(), size) << seq;
      EXPECT_LE(NameEnd(query) - 12, 255u);
      Header read;
      ASSERT_TRUE(GetDnsHeader(query, kRunTag, &read));
      EXPECT_EQ(read.seq, seq);
      EXPECT_EQ(read.length, size);
      EXPECT_EQ(read.sent_ns, sent.sent_ns);
      EXPECT_FALSE(GetDnsHeader(query, kRunTag + 1, &read));
      EXPECT_EQ((static_cast<uint8_t>(query[0]) << 8) | static_cast<uint8_t>(query[1]),
                DnsIdFor(sent));
      // A query is not its own answer (QR clear); the same bytes with QR set are.
      EXPECT_EQ(MatchDnsAnswer(query, kRunTag, kZone).verdict, DnsAnswerMatch::kMismatch);
      EXPECT_EQ(MatchDnsAnswer(MakeDnsResponse(query), kRunTag, kZone).verdict,
                DnsAnswerMatch::kMatched);
    }
  }
  // Even sequence numbers grow the name up to 255 bytes, odd ones keep it short.
  EXPECT_EQ(NameEnd(Query(MakeHeader(10, 1000))) - 12, 255u);
  EXPECT_EQ(NameEnd(Query(MakeHeader(11, 1000))) - 12, 80u);
}

TEST(DnsQuery, AnAnswerToAnotherQueryOrWithAnotherQuestionIsCaught) {
  const Header a = MakeHeader(20, 150);
  const std::string answer = MakeDnsResponse(Query(a));
  // A typical answer: the question, then an answer record (dnsmasq compresses its name).
  std::string with_record = answer;
  with_record[7] = 1;  // ANCOUNT 1
  with_record +=
      std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x7f\x00\x00\x01", 16);
  EXPECT_EQ(MatchDnsAnswer(with_record, kRunTag, kZone).verdict, DnsAnswerMatch::kMatched);

  std::string wrong_id = answer;
  wrong_id[1] = static_cast<char>(wrong_id[1] ^ 0x5a);
  DnsAnswerMatch m = MatchDnsAnswer(wrong_id, kRunTag, kZone);
  EXPECT_EQ(m.verdict, DnsAnswerMatch::kMismatch);
  EXPECT_EQ(m.header.seq, 20u);
  EXPECT_THAT(m.problem, HasSubstr("id"));

  // Query b's question under query a's id.
  const Header b = MakeHeader(21, 150);
  std::string swapped = MakeDnsResponse(Query(b));
  swapped[0] = answer[0];
  swapped[1] = answer[1];
  m = MatchDnsAnswer(swapped, kRunTag, kZone);
  EXPECT_EQ(m.verdict, DnsAnswerMatch::kMismatch);
  EXPECT_EQ(m.header.seq, 21u);

  std::string wrong_type = answer;
  const size_t type_at = NameEnd(wrong_type);
  wrong_type[type_at + 1] = static_cast<char>(wrong_type[type_at + 1] == 1 ? 28 : 1);
  EXPECT_THAT(MatchDnsAnswer(wrong_type, kRunTag, kZone).problem, HasSubstr("type"));

  std::string wrong_name = answer;
  wrong_name[NameEnd(wrong_name) - 3] = 'x';  // "example.tesx"
  EXPECT_THAT(MatchDnsAnswer(wrong_name, kRunTag, kZone).problem, HasSubstr("name"));

  // DNS names compare without case.
  std::string upper = answer;
  for (size_t i = 13; i < NameEnd(upper); ++i) upper[i] = static_cast<char>(toupper(upper[i]));
  EXPECT_EQ(MatchDnsAnswer(upper, kRunTag, kZone).verdict, DnsAnswerMatch::kMatched);

  EXPECT_EQ(MatchDnsAnswer("", kRunTag, kZone).verdict, DnsAnswerMatch::kNotOurs);
  EXPECT_EQ(MatchDnsAnswer(answer.substr(0, 40), kRunTag, kZone).verdict, DnsAnswerMatch::kNotOurs);
}

TEST(DnsQuery, ZonesAreChecked) {
  EXPECT_TRUE(ValidateDnsZone("example.test").ok());
  EXPECT_TRUE(ValidateDnsZone("a-b.c1").ok());
  EXPECT_FALSE(ValidateDnsZone("").ok());
  EXPECT_FALSE(ValidateDnsZone("a..b").ok());
  EXPECT_FALSE(ValidateDnsZone("bad_name.test").ok());
  EXPECT_FALSE(ValidateDnsZone(std::string(64, 'a')).ok());
  EXPECT_THAT(std::string(ValidateDnsZone(std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                          std::string(63, 'c'))
                              .message()),
              HasSubstr("too long"));
}

}  // namespace
}  // namespace netrig::internal::udp_stress
