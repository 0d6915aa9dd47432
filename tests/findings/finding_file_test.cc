// Finding files: round trip, validation naming the bad field, dedup signature, replay argv.
#include "harness/findings/finding_file.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
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
  EXPECT_EQ(json["version"], 2);
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
       {Case{"tool", "other"}, Case{"version", 3}, Case{"version", 0}, Case{"command", ""},
        Case{"args", {1, 2}}, Case{"seed", -1}, Case{"seed", "42"}, Case{"perturb_seed", "7"},
        Case{"violations", "none"}, Case{"report", 3}, Case{"signature", 5}, Case{"environment", 5},
        Case{"environment", {{"preset", 7}}}, Case{"schedule", "pct"}}) {
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

// A controlled run's schedule: three threads, a run of equal steps, every kind of event.
ScheduleTrace ExampleSchedule() {
  ScheduleTrace trace;
  trace.strategy = ScheduleStrategy::kPct;
  trace.seed = 18446744073709551615ull;
  trace.pct_depth = 3;
  trace.change_points = {12, 907};
  trace.threads = {"t0", "t0.0", "t0.1"};
  trace.points = {"thread.spawn", "mutex.lock", "io.poll"};
  trace.steps = {{0, 0}, {1, 1}, {1, 1}, {1, 1}, {2, 2}, {0, 1}};
  for (int i = 0; i < 300; ++i) trace.steps.push_back({static_cast<uint32_t>(i % 3), 2});
  trace.events = {{ScheduleEvent::kTimer, 4, 2, ""},
                  {ScheduleEvent::kWatchdogHandoff, 5, 1, "io.poll state S"},
                  {ScheduleEvent::kRejoin, 6, 1, ""}};
  trace.max_enabled = 3;
  trace.watchdog_handoffs = 1;
  return trace;
}

TEST(FindingFile, Version2RoundTripsEnvironmentAndSchedule) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/finding_v2_", getpid(), ".json");
  Finding finding = Example();
  finding.environment = BuildEnvironment();
  finding.schedule = ExampleSchedule();
  ASSERT_TRUE(WriteFindingFile(path, finding).ok());
  absl::StatusOr<Finding> read = ReadFindingFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, finding);
  EXPECT_EQ(read->schedule->steps, ExampleSchedule().steps);
  const nlohmann::json json = FindingToJson(finding);
  EXPECT_EQ(json["schedule"]["step_count"], 306);
  EXPECT_EQ(json["schedule"]["trace_hash"].get<std::string>().size(), 16u);
  // This build knows what it is.
  EXPECT_FALSE(read->environment->sanitizer.empty());
  EXPECT_FALSE(read->environment->libcurl.empty());
  unlink(path.c_str());
}

TEST(FindingFile, Version1FilesStillLoad) {
  nlohmann::json json = FindingToJson(Example());
  json["version"] = 1;
  absl::StatusOr<Finding> read = FindingFromJson(json);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, Example());
  EXPECT_FALSE(read->schedule.has_value());
  EXPECT_FALSE(read->environment.has_value());
  json["version"] = 3;
  EXPECT_THAT(std::string(FindingFromJson(json).status().message()),
              HasSubstr("reads versions 1 to 2"));
}

TEST(FindingFile, StepsAreCompact) {
  // Runs of one choice cost one triple: 100,000 equal steps take a few bytes.
  std::vector<ScheduleStep> steps(100000, ScheduleStep{2, 5});
  const std::string encoded = EncodeScheduleSteps(steps);
  EXPECT_LT(encoded.size(), 16u);
  absl::StatusOr<std::vector<ScheduleStep>> decoded =
      DecodeScheduleSteps(encoded, steps.size(), 3, 6);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, steps);
  // Alternating choices: at most 3 bytes a step before base64 (small indices).
  std::vector<ScheduleStep> alternating;
  for (uint32_t i = 0; i < 1000; ++i) alternating.push_back({i % 2, i % 3});
  EXPECT_LE(EncodeScheduleSteps(alternating).size(), 4000u);
  EXPECT_EQ(*DecodeScheduleSteps(EncodeScheduleSteps(alternating), 1000, 2, 3), alternating);
}

// Hostile schedules: each is refused with an error naming the field, before anything is
// expanded past the bounds.
TEST(FindingFile, HostileSchedulesAreRefusedByField) {
  const nlohmann::json good = ScheduleToJson(ExampleSchedule());
  ASSERT_TRUE(ScheduleFromJson(good).ok()) << ScheduleFromJson(good).status();
  auto error_of = [&](auto&& change) {
    nlohmann::json json = good;
    change(json);
    absl::StatusOr<ScheduleTrace> read = ScheduleFromJson(json);
    return read.ok() ? std::string("accepted") : std::string(read.status().message());
  };
  const std::string b64 = good["steps_b64"].get<std::string>();
  EXPECT_THAT(error_of([&](auto& j) { j["steps_b64"] = b64.substr(0, b64.size() - 4); }),
              HasSubstr("steps_b64"));
  EXPECT_THAT(error_of([](auto& j) { j["steps_b64"] = "!!!not base64!!!"; }),
              HasSubstr("not valid base64"));
  EXPECT_THAT(error_of([](auto& j) { j["step_count"] = 305; }), HasSubstr("step_count is 305"));
  EXPECT_THAT(error_of([](auto& j) { j["step_count"] = 307; }), HasSubstr("decodes to 306"));
  EXPECT_THAT(error_of([](auto& j) { j["step_count"] = 1'000'000'000'000LL; }),
              HasSubstr("step_count"));
  // A run claiming four billion steps in five bytes: refused before it is expanded.
  std::string huge_run;
  huge_run += '\x00';
  huge_run += '\x00';
  huge_run += "\xff\xff\xff\xff\x0f";
  EXPECT_THAT(error_of([&](auto& j) {
                j["steps_b64"] = absl::Base64Escape(huge_run);
                j["step_count"] = 10;
              }),
              HasSubstr("holds a run of 4294967295 steps"));
  EXPECT_THAT(error_of([](auto& j) {
                j["steps_b64"] = EncodeScheduleSteps({{7, 0}});
                j["step_count"] = 1;
              }),
              HasSubstr("names thread 7"));
  EXPECT_THAT(error_of([](auto& j) { j["threads"] = nlohmann::json::array({"t0"}); }),
              HasSubstr("names thread"));
  EXPECT_THAT(error_of([](auto& j) {
                j["threads"] = std::vector<std::string>(kMaxScheduleThreads + 1, "t");
              }),
              HasSubstr("schedule.threads"));
  EXPECT_THAT(error_of([](auto& j) { j["points"] = {std::string(1000, 'p')}; }),
              HasSubstr("schedule.points"));
  EXPECT_THAT(error_of([](auto& j) { j["events"][0]["kind"] = "teleport"; }),
              HasSubstr("schedule.events"));
  EXPECT_THAT(error_of([](auto& j) { j["events"][0]["step"] = 100000; }),
              HasSubstr("schedule.events"));
  EXPECT_THAT(error_of([](auto& j) { j["strategy"] = "lucky"; }), HasSubstr("schedule.strategy"));
  // An edited step list with the old hash: the schedule is not what was recorded.
  EXPECT_THAT(error_of([](auto& j) {
                ScheduleTrace edited = ExampleSchedule();
                edited.steps[3].thread = 2;
                j["steps_b64"] = EncodeScheduleSteps(edited.steps);
              }),
              HasSubstr("trace_hash"));
}

TEST(FindingFile, ReplayArgv) {
  EXPECT_THAT(FindingReplayArgv(Example(), "build/asan/bin/netrig"),
              ElementsAre("build/asan/bin/netrig", "udp", "--flow=dns_proxy",
                          "--seed=18446744073709551615", "--perturb_seed=7"));
}

}  // namespace
}  // namespace netrig
