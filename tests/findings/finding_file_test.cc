// Finding files: round trip, validation naming the bad field, dedup signature, replay argv.
#include "harness/findings/finding_file.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace netrig {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Finding Example() {
  Finding finding;
  finding.command = "udp";
  finding.args = {"--flow=dns_proxy", "--seed=18446744073709551615", "--perturb_seed=7"};
  finding.seed = 18446744073709551615ull;
  finding.perturb_seed = 7;
  finding.violations = nlohmann::json::array(
      {{{"kind", "silent_loss"}, {"message", "datagram 3 vanished"}},
       {{"kind", "duplicate_completion"}, {"message", "task 17 completed twice"}},
       {{"kind", "silent_loss"}, {"message", "datagram 9 vanished"}}});
  finding.report = {{"completed", 100}, {"violations", 3}};
  return finding;
}

TEST(FindingFile, JsonHasTheDocumentedShape) {
  const nlohmann::json json = FindingToJson(Example());
  EXPECT_EQ(json["tool"], "netrig");
  EXPECT_EQ(json["version"], 1);
  EXPECT_EQ(json["command"], "udp");
  EXPECT_EQ(json["args"].size(), 3u);
  EXPECT_EQ(json["seed"].get<uint64_t>(), 18446744073709551615ull);
  EXPECT_EQ(json["perturb_seed"], 7);
  EXPECT_TRUE(json["violations"].is_array());
  EXPECT_TRUE(json["report"].is_object());
  EXPECT_FALSE(json.contains("signature"));
  Finding no_perturbation = Example();
  no_perturbation.perturb_seed.reset();
  EXPECT_TRUE(FindingToJson(no_perturbation)["perturb_seed"].is_null());
}

TEST(FindingFile, WriteThenReadGivesTheSameFinding) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/finding_", getpid(), ".json");
  Finding finding = Example();
  finding.signature = "udp silent_loss";
  ASSERT_TRUE(WriteFindingFile(path, finding).ok());
  absl::StatusOr<Finding> read = ReadFindingFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, finding);
  finding.perturb_seed.reset();
  ASSERT_TRUE(WriteFindingFile(path, finding).ok());
  read = ReadFindingFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->perturb_seed.has_value());
}

TEST(FindingFile, RejectsWrongFieldsByName) {
  struct Case {
    const char* field;
    nlohmann::json value;
  };
  for (const Case& c :
       {Case{"tool", "other"}, Case{"version", 2}, Case{"command", ""}, Case{"args", {1, 2}},
        Case{"seed", -1}, Case{"seed", "42"}, Case{"perturb_seed", "7"}, Case{"violations", "none"},
        Case{"report", 3}, Case{"signature", 5}}) {
    nlohmann::json json = FindingToJson(Example());
    json[c.field] = c.value;
    absl::StatusOr<Finding> finding = FindingFromJson(json);
    ASSERT_FALSE(finding.ok()) << c.field << " = " << c.value;
    EXPECT_THAT(finding.status().message(), HasSubstr(c.field));
  }
  EXPECT_FALSE(FindingFromJson(nlohmann::json::array()).ok());
  nlohmann::json missing_seed = FindingToJson(Example());
  missing_seed.erase("seed");
  EXPECT_THAT(FindingFromJson(missing_seed).status().message(), HasSubstr("seed"));
}

TEST(FindingFile, ReadErrorsNameTheFile) {
  EXPECT_THAT(ReadFindingFile("/nonexistent/finding.json").status().message(),
              HasSubstr("/nonexistent/finding.json"));
  const std::string path = absl::StrCat(::testing::TempDir(), "/bad_", getpid(), ".json");
  std::ofstream(path) << "{not json";
  absl::StatusOr<Finding> bad = ReadFindingFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path));
}

TEST(FindingFile, SignatureIsTheSortedDistinctViolationKinds) {
  Finding finding = Example();
  EXPECT_EQ(FindingSignature(finding), "udp duplicate_completion,silent_loss");
  finding.signature = "explicit";
  EXPECT_EQ(FindingSignature(finding), "explicit");
  Finding empty;
  empty.command = "http";
  EXPECT_EQ(FindingSignature(empty), "http no-violation-kind");
}

TEST(FindingFile, ReplayArgv) {
  EXPECT_THAT(FindingReplayArgv(Example(), "build/asan/bin/netrig"),
              ElementsAre("build/asan/bin/netrig", "udp", "--flow=dns_proxy",
                          "--seed=18446744073709551615", "--perturb_seed=7"));
}

}  // namespace
}  // namespace netrig
