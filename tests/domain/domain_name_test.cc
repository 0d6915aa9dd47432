// Host-name normalization (domain/domain_name.h): one canonical form per name, IDNA by libidn2,
// DNS limits, IP literals apart, hostile bytes refused with a message naming the input.
#include "harness/domain/domain_name.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Canonical(const std::string& input) {
  absl::StatusOr<HostName> host = NormalizeHost(input);
  return host.ok() ? host->text : "ERROR " + std::string(host.status().message());
}

TEST(NormalizeHost, CaseAndTrailingDotDoNotMatter) {
  EXPECT_EQ(Canonical("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(Canonical("www.example.com"), "www.example.com");
  EXPECT_EQ(NormalizeHost("Example.com.")->kind, HostKind::kName);
}

TEST(NormalizeHost, InternationalizedNamesBecomeALabels) {
  EXPECT_EQ(Canonical("b\xc3\xbc"
                      "cher.example"),
            "xn--bcher-kva.example");
  EXPECT_EQ(Canonical("B\xc3\x9c"
                      "CHER.Example"),
            "xn--bcher-kva.example");
  EXPECT_EQ(Canonical("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
  // UTS #46 non-transitional: sharp s stays itself (not "ss").
  EXPECT_EQ(Canonical("stra\xc3\x9f"
                      "e.de"),
            "xn--strae-oqa.de");
  // Fullwidth letters map to ASCII.
  EXPECT_EQ(Canonical("\xef\xbd\x97\xef\xbd\x97\xef\xbd\x97.example.com"), "www.example.com");
}

TEST(NormalizeHost, BadPunycodeAndHyphensAreRefused) {
  EXPECT_THAT(Canonical("xn--zz.example"), HasSubstr("IDNA"));
  EXPECT_THAT(Canonical("-a.example"), HasSubstr("IDNA"));
}

TEST(NormalizeHost, DnsLimitsAreEnforced) {
  EXPECT_EQ(Canonical(std::string(63, 'a') + ".com"), std::string(63, 'a') + ".com");
  EXPECT_THAT(Canonical(std::string(64, 'a') + ".com"), HasSubstr("longer than 63"));
  const std::string three_labels =
      std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + ".";
  EXPECT_EQ(Canonical(three_labels + std::string(61, 'e')).size(), 253u);
  EXPECT_EQ(Canonical(three_labels + std::string(61, 'e') + "."),
            three_labels + std::string(61, 'e'));
  EXPECT_THAT(Canonical(three_labels + std::string(62, 'e')),
              HasSubstr("longer than 25"));  // 253 here, 255 in libidn2.
  EXPECT_THAT(Canonical(std::string(2000, 'a')), HasSubstr("longer than 1024"));
}

TEST(NormalizeHost, EmptyLabelsAndStrayBytesAreRefused) {
  for (const std::string input : {"", ".", "a..b", ".a", "a..", "exa mple.com", "a\tb.com",
                                  "a/b.com", "\xff\xfe.com", "\xc3.com", "\x1b[31m.com"}) {
    absl::StatusOr<HostName> host = NormalizeHost(input);
    EXPECT_FALSE(host.ok()) << input;
    EXPECT_THAT(std::string(host.status().message()), HasSubstr("invalid host")) << input;
  }
  // The message escapes what it echoes: no raw terminal escape.
  EXPECT_THAT(Canonical("\x1b[31m.com"), Not(HasSubstr("\x1b")));
}

TEST(NormalizeHost, IpLiteralsAreApart) {
  for (const auto& [input, text] :
       std::vector<std::pair<std::string, std::string>>{{"10.0.0.1", "10.0.0.1"},
                                                        {"[::1]", "::1"},
                                                        {"::1", "::1"},
                                                        {"[0:0::1]", "::1"},
                                                        {"127.1", "127.1"},
                                                        {"0x7F.0.0.1", "0x7f.0.0.1"},
                                                        {"1.2.3.4.", "1.2.3.4"},
                                                        {"::ffff:10.0.0.1", "::ffff:10.0.0.1"}}) {
    absl::StatusOr<HostName> host = NormalizeHost(input);
    ASSERT_TRUE(host.ok()) << input << ": " << host.status();
    EXPECT_EQ(host->kind, HostKind::kIpLiteral) << input;
    EXPECT_EQ(host->text, text) << input;
  }
  EXPECT_FALSE(NormalizeHost("[example.com]").ok());
  EXPECT_FALSE(NormalizeHost("::zz").ok());
}

TEST(NormalizeHost, CanonicalFormIsAFixedPoint) {
  for (const std::string input : {"WWW.B\xc3\x9c"
                                  "CHER.example.",
                                  "_srv._tcp.Example.com", "[::1]", "127.1", "a-b.example"}) {
    absl::StatusOr<HostName> once = NormalizeHost(input);
    ASSERT_TRUE(once.ok()) << input;
    absl::StatusOr<HostName> twice = NormalizeHost(once->text);
    ASSERT_TRUE(twice.ok()) << once->text;
    EXPECT_EQ(*twice, *once) << input;
  }
}

}  // namespace
}  // namespace netrig
