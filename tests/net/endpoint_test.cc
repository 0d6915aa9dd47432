#include "harness/net/endpoint.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

// The scope text this host prints for interface index `index`.
std::string ScopeTextFor(uint32_t index) {
  char name[IF_NAMESIZE];
  if (if_indextoname(index, name) != nullptr) return name;
  return absl::StrCat(index);
}

bool HostHasInterface(const char* name) { return if_nametoindex(name) != 0; }

// parse(format(e)) == e and the canonical form is a fixed point.
void ExpectTextRoundTrip(const Endpoint& e) {
  const std::string canonical = e.ToString();
  absl::StatusOr<Endpoint> again = Endpoint::Parse(canonical);
  ASSERT_TRUE(again.ok()) << canonical << ": " << again.status();
  EXPECT_EQ(*again, e) << canonical;
  EXPECT_EQ(again->ToString(), canonical);
}

// from_sockaddr(to_sockaddr(e)) == e.
void ExpectSockaddrRoundTrip(const Endpoint& e) {
  absl::StatusOr<SocketAddress> sa = e.ToSockaddr();
  ASSERT_TRUE(sa.ok()) << e.ToString() << ": " << sa.status();
  absl::StatusOr<Endpoint> back = Endpoint::FromSockaddr(sa->get(), sa->length);
  ASSERT_TRUE(back.ok()) << e.ToString() << ": " << back.status();
  EXPECT_EQ(*back, e) << e.ToString() << " came back as " << back->ToString();
}

Endpoint MustParse(absl::string_view text) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status();
  return e.ok() ? *e : Endpoint::Host("parse-failed", 0);
}

TEST(EndpointFieldNotes, ScopedLinkLocalWithDotPort) {
  const Endpoint e = MustParse("fe80::7:afff:fea1:edb8%en5.54442");
  EXPECT_EQ(e.kind(), EndpointKind::kAddress);
  EXPECT_EQ(e.family(), AddressFamily::kIPv6);
  EXPECT_EQ(e.host(), "fe80::7:afff:fea1:edb8");
  EXPECT_EQ(e.port(), 54442);
  EXPECT_EQ(e.scope(), "en5");
  EXPECT_EQ(e.ToString(), "[fe80::7:afff:fea1:edb8%en5]:54442");
  ExpectTextRoundTrip(e);
  if (HostHasInterface("en5")) GTEST_SKIP() << "this host has an interface named en5";
  EXPECT_EQ(e.scope_id(), 0u);
  absl::StatusOr<SocketAddress> sa = e.ToSockaddr();
  EXPECT_EQ(sa.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(sa.status().message(), HasSubstr("no interface named 'en5'"));
}

TEST(EndpointFieldNotes, KameEmbeddedScopeMovesToScope) {
  const Endpoint e = MustParse("[fe80:15::7:afff:fea1:edb8]:57395");
  EXPECT_EQ(e.kind(), EndpointKind::kAddress);
  EXPECT_EQ(e.family(), AddressFamily::kIPv6);
  EXPECT_EQ(e.host(), "fe80::7:afff:fea1:edb8");
  EXPECT_EQ(e.scope_id(), 0x15u);
  EXPECT_EQ(e.scope(), ScopeTextFor(0x15));
  EXPECT_EQ(e.address_bytes()[2], 0);
  EXPECT_EQ(e.address_bytes()[3], 0);
  EXPECT_EQ(e.port(), 57395);
  EXPECT_EQ(e.ToString(), absl::StrCat("[fe80::7:afff:fea1:edb8%", ScopeTextFor(0x15), "]:57395"));
  ExpectTextRoundTrip(e);
  ExpectSockaddrRoundTrip(e);
}

TEST(EndpointFieldNotes, UniqueLocal) {
  const Endpoint e = MustParse("[fd6e:8a96:a57d::2]:57398");
  EXPECT_EQ(e.kind(), EndpointKind::kAddress);
  EXPECT_EQ(e.host(), "fd6e:8a96:a57d::2");
  EXPECT_EQ(e.scope(), "");
  EXPECT_EQ(e.port(), 57398);
  EXPECT_EQ(e.ToString(), "[fd6e:8a96:a57d::2]:57398");
  ExpectTextRoundTrip(e);
  ExpectSockaddrRoundTrip(e);
}

TEST(EndpointFieldNotes, RedactedIsRecognisedAndRefusesSockaddr) {
  const Endpoint e = MustParse("IPv4#e5b4bb04:443");
  EXPECT_EQ(e.kind(), EndpointKind::kRedacted);
  EXPECT_EQ(e.family(), AddressFamily::kIPv4);
  EXPECT_EQ(e.port(), 443);
  EXPECT_EQ(e.host(), "e5b4bb04");
  EXPECT_TRUE(e.address_bytes().empty());
  EXPECT_EQ(e.ToString(), "IPv4#e5b4bb04:443");
  ExpectTextRoundTrip(e);
  absl::StatusOr<SocketAddress> sa = e.ToSockaddr();
  EXPECT_EQ(sa.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sa.status().message(), HasSubstr("redacted"));
}

TEST(EndpointFieldNotes, EveryStringRoundTrips) {
  for (const char* text : {"fe80::7:afff:fea1:edb8%en5.54442", "[fe80:15::7:afff:fea1:edb8]:57395",
                           "[fd6e:8a96:a57d::2]:57398", "IPv4#e5b4bb04:443"}) {
    SCOPED_TRACE(text);
    ExpectTextRoundTrip(MustParse(text));
  }
}

struct FormCase {
  const char* input;
  EndpointKind kind;
  AddressFamily family;
  const char* host;
  uint16_t port;
  const char* scope;
  const char* canonical;
};

TEST(EndpointForms, ParseAndFormat) {
  const std::string lo = ScopeTextFor(1);
  const std::vector<FormCase> cases = {
      {"example.com:443", EndpointKind::kHost, AddressFamily::kUnspecified, "example.com", 443, "",
       "example.com:443"},
      {"Example.COM:443", EndpointKind::kHost, AddressFamily::kUnspecified, "example.com", 443, "",
       "example.com:443"},
      {"localhost:0", EndpointKind::kHost, AddressFamily::kUnspecified, "localhost", 0, "",
       "localhost:0"},
      {"a-1.b2.c:65535", EndpointKind::kHost, AddressFamily::kUnspecified, "a-1.b2.c", 65535, "",
       "a-1.b2.c:65535"},
      {"1e100.net:80", EndpointKind::kHost, AddressFamily::kUnspecified, "1e100.net", 80, "",
       "1e100.net:80"},
      {"1.2.3.4:53", EndpointKind::kAddress, AddressFamily::kIPv4, "1.2.3.4", 53, "", "1.2.3.4:53"},
      {"1.2.3.4:00053", EndpointKind::kAddress, AddressFamily::kIPv4, "1.2.3.4", 53, "",
       "1.2.3.4:53"},
      {"[2001:db8::1]:443", EndpointKind::kAddress, AddressFamily::kIPv6, "2001:db8::1", 443, "",
       "[2001:db8::1]:443"},
      {"[2001:DB8:0:0::1]:443", EndpointKind::kAddress, AddressFamily::kIPv6, "2001:db8::1", 443,
       "", "[2001:db8::1]:443"},
      {"2001:db8::1.443", EndpointKind::kAddress, AddressFamily::kIPv6, "2001:db8::1", 443, "",
       "[2001:db8::1]:443"},
      {"[::ffff:1.2.3.4]:80", EndpointKind::kAddress, AddressFamily::kIPv6, "::ffff:1.2.3.4", 80,
       "", "[::ffff:1.2.3.4]:80"},
      {"[::FFFF:102:304]:80", EndpointKind::kAddress, AddressFamily::kIPv6, "::ffff:1.2.3.4", 80,
       "", "[::ffff:1.2.3.4]:80"},
      {"::ffff:1.2.3.4.80", EndpointKind::kAddress, AddressFamily::kIPv6, "::ffff:1.2.3.4", 80, "",
       "[::ffff:1.2.3.4]:80"},
      {"[fe80::1%eth0]:5353", EndpointKind::kAddress, AddressFamily::kIPv6, "fe80::1", 5353, "eth0",
       "[fe80::1%eth0]:5353"},
      {"fe80::1%en5:5353", EndpointKind::kAddress, AddressFamily::kIPv6, "fe80::1", 5353, "en5",
       "[fe80::1%en5]:5353"},
      {"fe80::1%eth0.100.5353", EndpointKind::kAddress, AddressFamily::kIPv6, "fe80::1", 5353,
       "eth0.100", "[fe80::1%eth0.100]:5353"},
      {"[fe80::1%0]:1", EndpointKind::kAddress, AddressFamily::kIPv6, "fe80::1", 1, "",
       "[fe80::1]:1"},
      {"[fe80::1%1]:1", EndpointKind::kAddress, AddressFamily::kIPv6, "fe80::1", 1, lo.c_str(),
       nullptr},
      {"[ff02:2::fb]:5353", EndpointKind::kAddress, AddressFamily::kIPv6, "ff02::fb", 5353, nullptr,
       nullptr},
      {"IPv6#00ff:853", EndpointKind::kRedacted, AddressFamily::kIPv6, "00ff", 853, "",
       "IPv6#00ff:853"},
      {"ipv4#E5B4BB04:443", EndpointKind::kRedacted, AddressFamily::kIPv4, "e5b4bb04", 443, "",
       "IPv4#e5b4bb04:443"},
  };
  for (const FormCase& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<Endpoint> e = Endpoint::Parse(c.input);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->kind(), c.kind);
    EXPECT_EQ(e->family(), c.family);
    EXPECT_EQ(e->host(), c.host);
    EXPECT_EQ(e->port(), c.port);
    if (c.scope != nullptr) {
      EXPECT_EQ(e->scope(), c.scope);
    }
    if (c.canonical != nullptr) {
      EXPECT_EQ(e->ToString(), c.canonical);
    }
    ExpectTextRoundTrip(*e);
  }
}

TEST(EndpointForms, NumericScopePrintsAsInterfaceName) {
  const unsigned lo = if_nametoindex("lo");
  if (lo == 0) GTEST_SKIP() << "no loopback interface named lo";
  const Endpoint by_number = MustParse(absl::StrCat("[fe80::1%", lo, "]:5353"));
  const Endpoint by_name = MustParse("[fe80::1%lo]:5353");
  EXPECT_EQ(by_number, by_name);
  EXPECT_EQ(by_name.scope_id(), lo);
  EXPECT_EQ(by_name.scope(), "lo");
  EXPECT_EQ(by_number.ToString(), "[fe80::1%lo]:5353");
  ExpectSockaddrRoundTrip(by_name);
}

TEST(EndpointForms, UnknownNumericScopeStaysNumeric) {
  // Interface indexes near the top of the range do not exist on a test machine.
  const Endpoint e = MustParse("[fe80::1%4000000000]:7");
  if (e.scope() != "4000000000") GTEST_SKIP() << "this host has interface 4000000000";
  EXPECT_EQ(e.scope_id(), 4000000000u);
  EXPECT_EQ(e.ToString(), "[fe80::1%4000000000]:7");
  ExpectSockaddrRoundTrip(e);
}

TEST(EndpointForms, KameScopeAgreeingWithExplicitScope) {
  const Endpoint e = MustParse("[fe80:1::1%1]:9");
  EXPECT_EQ(e.scope_id(), 1u);
  EXPECT_EQ(e.host(), "fe80::1");
}

TEST(EndpointForms, ConstructorsMatchParse) {
  EXPECT_EQ(Endpoint::Host("Example.com", 443), MustParse("example.com:443"));
  EXPECT_EQ(Endpoint::IPv4({1, 2, 3, 4}, 53), MustParse("1.2.3.4:53"));
  std::array<uint8_t, 16> kame{0xfe, 0x80, 0x00, 0x15};
  kame[15] = 1;
  EXPECT_EQ(Endpoint::IPv6(kame, 80), MustParse("[fe80::1%21]:80"));
  EXPECT_EQ(Endpoint::Redacted(AddressFamily::kIPv6, "AB", 1), MustParse("IPv6#ab:1"));
}

struct ErrorCase {
  std::string input;
  size_t position;
  const char* reason;
};

TEST(EndpointErrors, NameInputAndPosition) {
  const std::vector<ErrorCase> cases = {
      {"", 0, "empty"},
      {"example.com", 11, "missing ':PORT'"},
      {"example.com:", 12, "missing port"},
      {"example.com:65536", 12, "above 65535"},
      {"example.com:99999", 12, "above 65535"},
      {"example.com:123456", 12, "more than 5 digits"},
      {"example.com:-1", 12, "decimal digits"},
      {"example.com:+1", 12, "decimal digits"},
      {"example.com:44x", 14, "decimal digits"},
      {":80", 0, "missing host"},
      {"exa_mple.com:80", 3, "letters, digits"},
      {"-example.com:80", 0, "starts with '-'"},
      {"example-.com:80", 7, "ends with '-'"},
      {"example..com:80", 8, "empty label"},
      {".example.com:80", 0, "empty label"},
      {"example.com.:80", 12, "empty label"},
      {std::string(64, 'a') + ".com:80", 63, "longer than 63"},
      {"host.123:80", 5, "all digits"},
      {"0x7f.0.0.1:80", 9, "all digits"},
      {"1.2.3:80", 0, "not a valid IPv4"},
      {"256.1.1.1:80", 0, "not a valid IPv4"},
      {"01.2.3.4:80", 0, "not a valid IPv4"},
      {"1.2.3.4.5:80", 0, "not a valid IPv4"},
      {"[2001:db8::1]", 13, "missing ':PORT'"},
      {"[2001:db8::1]443", 13, "expected ':'"},
      {"[2001:db8::1:443", 16, "missing ']'"},
      {"[2001:db8::g]:443", 1, "not a valid IPv6"},
      {"[]:443", 1, "missing IPv6"},
      {"[1.2.3.4]:80", 1, "IPv4 address takes no brackets"},
      {"1.2.3.4%eth0:80", 0, "IPv4 address takes no brackets and no scope"},
      {"[fe80::1%]:80", 9, "empty scope"},
      {"[fe80::1%eth/0]:80", 12, "interface names"},
      {"[fe80::1%abcdefghijklmnop]:80", 24, "longer than 15"},
      {"[fe80::1%4294967296]:80", 9, "above 4294967295"},
      {"[fe80:15::1%16]:80", 12, "conflicts"},
      {"2001:db8::1:443", 15, "brackets"},
      {"fe80::1%eth0", 12, "missing port"},
      {"IPv4#:443", 5, "empty redacted token"},
      {"IPv4#e5b4bb04", 13, "missing ':PORT'"},
      {"IPv4#e5b4zb04:443", 9, "hexadecimal"},
      {"IPv6#" + std::string(65, 'a') + ":1", 69, "longer than 64"},
      {std::string("1.2.3.4:5\0", 10), 9, "unexpected byte 0x00"},
      {"exa mple.com:80", 3, "unexpected byte 0x20"},
      {std::string("a\0\"\\:1", 6), 1, "unexpected byte 0x00"},
      {"caf\xc3\xa9.fr:80", 3, "unexpected byte 0xc3"},
      {std::string(301, 'a'), 300, "longer than 300"},
      {std::string(254, 'a') + ":80", 253, "longer than 253"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(absl::CHexEscape(c.input));
    absl::StatusOr<Endpoint> e = Endpoint::Parse(c.input);
    ASSERT_FALSE(e.ok()) << "parsed as " << e->ToString();
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(),
                HasSubstr(absl::StrCat("(", c.input.size(), " bytes) at byte ", c.position, ": ")));
    EXPECT_THAT(e.status().message(), HasSubstr(c.reason));
    // The input is named (its first 64 bytes, escaped).
    const std::string shown = c.input.substr(0, 64);
    if (std::all_of(shown.begin(), shown.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; })) {
      EXPECT_THAT(e.status().message(), HasSubstr(absl::StrCat("invalid endpoint \"", shown)));
    }
    // The Status-free entry point (the fuzzer's) reports the same error.
    internal::EndpointError error;
    EXPECT_FALSE(internal::ParseEndpoint(c.input, error).has_value());
    EXPECT_EQ(error.position(), c.position);
    EXPECT_EQ(error.message(), e.status().message());
  }
}

TEST(EndpointErrors, MessageEscapesAndTruncatesTheInput) {
  absl::StatusOr<Endpoint> e = Endpoint::Parse(std::string("a\0\"\\:1", 6));
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr(R"(invalid endpoint "a\x00\"\\:1" (6 bytes))"));
  e = Endpoint::Parse(std::string(400, 'x'));
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(),
              HasSubstr(absl::StrCat("\"", std::string(64, 'x'), "...\" (400 bytes) at byte 300")));
}

TEST(EndpointErrors, HostEndpointHasNoSockaddr) {
  absl::StatusOr<SocketAddress> sa = MustParse("example.com:443").ToSockaddr();
  EXPECT_EQ(sa.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sa.status().message(), HasSubstr("resolve"));
}

std::vector<uint8_t> Bytes(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  return std::vector<uint8_t>(p, p + size);
}

TEST(EndpointSockaddr, IPv4) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(53);
  ASSERT_EQ(inet_pton(AF_INET, "9.9.9.9", &in.sin_addr), 1);
  absl::StatusOr<Endpoint> e = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&in), sizeof(in));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->ToString(), "9.9.9.9:53");
  absl::StatusOr<SocketAddress> sa = e->ToSockaddr();
  ASSERT_TRUE(sa.ok());
  EXPECT_EQ(sa->length, sizeof(sockaddr_in));
  EXPECT_EQ(std::memcmp(sa->get(), &in, sizeof(in)), 0);
}

TEST(EndpointSockaddr, IPv6WithScopeInStorage) {
  sockaddr_storage storage{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(5353);
  in6->sin6_scope_id = 1;
  ASSERT_EQ(inet_pton(AF_INET6, "fe80::1", &in6->sin6_addr), 1);
  const std::vector<uint8_t> bytes = Bytes(&storage, sizeof(storage));
  absl::StatusOr<Endpoint> e = Endpoint::FromSockaddr(bytes);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->scope_id(), 1u);
  EXPECT_EQ(e->ToString(), absl::StrCat("[fe80::1%", ScopeTextFor(1), "]:5353"));
  ExpectSockaddrRoundTrip(*e);
  ExpectTextRoundTrip(*e);
}

TEST(EndpointSockaddr, KameScopeInSockaddrIsNormalised) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(80);
  ASSERT_EQ(inet_pton(AF_INET6, "fe80:15::1", &in6.sin6_addr), 1);
  absl::StatusOr<Endpoint> e = Endpoint::FromSockaddr(Bytes(&in6, sizeof(in6)));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(*e, MustParse("[fe80::1%21]:80"));
  in6.sin6_scope_id = 22;
  e = Endpoint::FromSockaddr(Bytes(&in6, sizeof(in6)));
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("at byte 24: sin6_scope_id 22 conflicts"));
}

TEST(EndpointSockaddr, Errors) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  const std::vector<uint8_t> full6 = Bytes(&in6, sizeof(in6));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  const std::vector<uint8_t> full4 = Bytes(&in, sizeof(in));
  struct Case {
    std::vector<uint8_t> bytes;
    size_t position;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {{}, 0, "at byte 0: shorter than the 2-byte family"},
      {{2}, 1, "at byte 1: shorter than the 2-byte family"},
      {std::vector<uint8_t>(full4.begin(), full4.end() - 1), 15, "at byte 15: AF_INET needs 16"},
      {std::vector<uint8_t>(full6.begin(), full6.end() - 1), 27, "at byte 27: AF_INET6 needs 28"},
      {{1, 0, 0, 0}, 0, "at byte 0: unsupported address family 1"},
      {std::vector<uint8_t>(200, 0), 128, "at byte 128: longer than sockaddr_storage"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Endpoint> e = Endpoint::FromSockaddr(c.bytes);
    ASSERT_FALSE(e.ok()) << c.expected;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(), HasSubstr(c.expected));
    EXPECT_THAT(e.status().message(), HasSubstr(absl::StrCat("(", c.bytes.size(), " bytes")));
    internal::EndpointError error;
    EXPECT_FALSE(internal::EndpointFromSockaddr(c.bytes, error).has_value());
    EXPECT_EQ(error.position(), c.position) << c.expected;
    EXPECT_EQ(error.message(), e.status().message());
  }
  EXPECT_FALSE(Endpoint::FromSockaddr(nullptr, 16).ok());
}

// Generated endpoints of every kind: both round trips and the fixed point hold.
TEST(EndpointProperty, GeneratedEndpointsRoundTrip) {
  std::mt19937_64 rng(20261128);
  auto pick = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  const char kLabelChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
  const std::vector<std::string> names = {"lo", "eth0", "en5", "utun3", "eth0.100", "x_y-z"};
  for (int i = 0; i < 20000; ++i) {
    const uint16_t port = static_cast<uint16_t>(rng());
    Endpoint e = Endpoint::Host("x", 0);
    switch (pick(4)) {
      case 0: {
        std::string name;
        const int labels = 1 + static_cast<int>(pick(4));
        for (int l = 0; l < labels; ++l) {
          if (l > 0) name += '.';
          const int length = 1 + static_cast<int>(pick(l == labels - 1 ? 10 : 63));
          for (int k = 0; k < length; ++k) {
            char c = kLabelChars[pick(sizeof(kLabelChars) - 1)];
            if (c == '-' && (k == 0 || k == length - 1)) c = 'q';
            name += c;
          }
        }
        name += 'z';  // The last label is never all digits.
        e = MustParse(absl::StrCat(name, ":", port));
        break;
      }
      case 1: {
        std::array<uint8_t, 4> a;
        for (auto& b : a) b = static_cast<uint8_t>(rng());
        e = Endpoint::IPv4(a, port);
        break;
      }
      case 2: {
        std::array<uint8_t, 16> a;
        for (auto& b : a) b = static_cast<uint8_t>(rng());
        if (pick(2) == 0) a[0] = 0xfe, a[1] = 0x80;
        if (pick(4) == 0) std::fill(a.begin(), a.begin() + 10, 0), a[10] = a[11] = 0xff;
        const uint32_t scope = pick(2) == 0 ? 0 : static_cast<uint32_t>(pick(5) == 0 ? rng() : 1);
        e = Endpoint::IPv6(a, port, scope);
        if (pick(3) == 0) {
          // A named scope, known or not, through the text form.
          e = MustParse(absl::StrCat("[", e.host(), "%", names[pick(names.size())], "]:", port));
        }
        break;
      }
      default: {
        std::string token;
        const int length = 1 + static_cast<int>(pick(64));
        for (int k = 0; k < length; ++k) token += "0123456789abcdef"[pick(16)];
        e = Endpoint::Redacted(pick(2) ? AddressFamily::kIPv4 : AddressFamily::kIPv6, token, port);
        break;
      }
    }
    SCOPED_TRACE(e.ToString());
    ExpectTextRoundTrip(e);
    const bool unknown_name = !e.scope().empty() && e.scope_id() == 0;
    if (e.kind() == EndpointKind::kAddress && !unknown_name) ExpectSockaddrRoundTrip(e);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(PeerIdentity, IsMappedOnlyForIPv4MappedIPv6) {
  EXPECT_TRUE(IsMapped(MustParse("[::ffff:127.0.0.1]:53")));
  EXPECT_FALSE(IsMapped(MustParse("127.0.0.1:53")));
  EXPECT_FALSE(IsMapped(MustParse("[::1]:53")));
  EXPECT_FALSE(IsMapped(MustParse("localhost:53")));
}

TEST(PeerIdentity, SameAddressIgnoresMappingAndScope) {
  EXPECT_TRUE(SameAddress(MustParse("127.0.0.1:4000"), MustParse("[::ffff:127.0.0.1]:4000")));
  EXPECT_TRUE(SameAddress(MustParse("[::1]:4000"), MustParse("[::1%lo]:4000")));
  EXPECT_FALSE(SameAddress(MustParse("127.0.0.1:4000"), MustParse("127.0.0.1:4001")));
  EXPECT_FALSE(SameAddress(MustParse("127.0.0.1:4000"), MustParse("127.0.0.2:4000")));
  EXPECT_FALSE(SameAddress(MustParse("127.0.0.1:4000"), MustParse("[::1]:4000")));
  // A host name reaches no address bytes of its own.
  EXPECT_FALSE(SameAddress(MustParse("localhost:4000"), MustParse("localhost:4000")));
  EXPECT_TRUE(UnmappedAddress(MustParse("localhost:4000")).empty());
  EXPECT_EQ(UnmappedAddress(MustParse("[::ffff:10.1.2.3]:1")).size(), 4u);
}

}  // namespace
}  // namespace netrig
