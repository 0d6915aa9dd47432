// Runs the built `netrig endpoint` and checks its output and exit codes.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::CommandRun;
using testing::RunNetrig;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(EndpointCommand, PrintsCanonicalFormsOfFieldNoteStrings) {
  const CommandRun run =
      RunNetrig({"endpoint", "fe80::7:afff:fea1:edb8%en5.54442", "[fd6e:8a96:a57d::2]:57398",
                 "IPv4#e5b4bb04:443", "Example.COM:443", "1.2.3.4:53"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const std::vector<std::string> lines = Lines(run.out);
  ASSERT_EQ(lines.size(), 5u) << run.out;
  EXPECT_THAT(lines[0], HasSubstr("fe80::7:afff:fea1:edb8%en5.54442 -> "
                                  "[fe80::7:afff:fea1:edb8%en5]:54442 kind=address family=ipv6 "
                                  "address=fe80::7:afff:fea1:edb8 port=54442 scope=en5"));
  EXPECT_EQ(lines[1],
            "[fd6e:8a96:a57d::2]:57398 -> [fd6e:8a96:a57d::2]:57398 kind=address family=ipv6 "
            "address=fd6e:8a96:a57d::2 port=57398 scope=-");
  EXPECT_EQ(lines[2],
            "IPv4#e5b4bb04:443 -> IPv4#e5b4bb04:443 kind=redacted family=ipv4 address=e5b4bb04 "
            "port=443 scope=-");
  EXPECT_EQ(lines[3],
            "Example.COM:443 -> example.com:443 kind=host family=unspecified address=example.com "
            "port=443 scope=-");
  EXPECT_EQ(lines[4],
            "1.2.3.4:53 -> 1.2.3.4:53 kind=address family=ipv4 address=1.2.3.4 port=53 scope=-");
  EXPECT_EQ(run.err, "");
}

TEST(EndpointCommand, InvalidInputExits2AfterPrintingValidOnes) {
  const CommandRun run = RunNetrig({"endpoint", "bad:99999", "[::1]:53", "nope"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(Lines(run.out), ElementsAre("[::1]:53 -> [::1]:53 kind=address family=ipv6 "
                                          "address=::1 port=53 scope=-"));
  EXPECT_THAT(run.err, HasSubstr("invalid endpoint \"bad:99999\" (9 bytes) at byte 4: port 99999 "
                                 "is above 65535"));
  EXPECT_THAT(run.err, HasSubstr("invalid endpoint \"nope\" (4 bytes) at byte 4: missing ':PORT'"));
  EXPECT_THAT(run.err, HasSubstr("2 of 3 inputs are invalid"));
}

TEST(EndpointCommand, JsonOneObjectPerInput) {
  const CommandRun run = RunNetrig({"endpoint", "--json", "[fe80:15::1]:80", "x:1:2:3"});
  EXPECT_EQ(run.exit_code, 2);
  const std::vector<std::string> lines = Lines(run.out);
  ASSERT_EQ(lines.size(), 2u) << run.out;
  const auto good = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(good["input"], "[fe80:15::1]:80");
  EXPECT_EQ(good["kind"], "address");
  EXPECT_EQ(good["family"], "ipv6");
  EXPECT_EQ(good["address"], "fe80::1");
  EXPECT_EQ(good["port"], 80);
  EXPECT_TRUE(good["scope"].is_string());
  EXPECT_THAT(good["canonical"].get<std::string>(), HasSubstr("[fe80::1%"));
  EXPECT_TRUE(good["error"].is_null());
  const auto bad = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(bad["input"], "x:1:2:3");
  EXPECT_TRUE(bad["canonical"].is_null());
  EXPECT_TRUE(bad["port"].is_null());
  EXPECT_THAT(bad["error"].get<std::string>(), HasSubstr("at byte"));
  for (const char* key :
       {"input", "canonical", "kind", "family", "address", "port", "scope", "error"}) {
    EXPECT_TRUE(good.contains(key)) << key;
    EXPECT_TRUE(bad.contains(key)) << key;
  }
}

TEST(EndpointCommand, NoInputIsAUsageError) {
  const CommandRun run = RunNetrig({"endpoint"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("needs at least one TEXT"));
  EXPECT_EQ(run.out, "");
}

TEST(EndpointCommand, HelpListsTheJsonFlag) {
  const CommandRun run = RunNetrig({"help", "endpoint"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("--json"));
}

}  // namespace
}  // namespace netrig
