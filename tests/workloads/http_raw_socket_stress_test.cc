// `netrig http --client raw-socket`: the raw-socket client (harness/http/raw_socket_client.h) is
// clean under the default fault mix (split delivery included) and under a split-heavy mix, every
// task succeeds with --faults=none, h2c is refused for it (exit 2) and --http mixed runs its
// h2c share over HTTP/1.1. The reference libcurl session stays clean under the split-heavy mix
// too. Short runs (4 s each): the sanitizer presets run the same binary.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

struct HttpRun {
  testing::CommandRun command;
  nlohmann::json report;
};

HttpRun RunHttp(const std::string& client, std::vector<std::string> extra) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/raw_socket_stress_", client, "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<std::string> args = {"http",
                                   absl::StrCat("--client=", client),
                                   "--duration=4s",
                                   "--threads=2",
                                   "--concurrency=32",
                                   "--tasks_per_session=100",
                                   "--cancel_probability=0.1",
                                   "--observer_probability=0.05",
                                   absl::StrCat("--json=", dir, "/report.json"),
                                   absl::StrCat("--finding_dir=", dir, "/findings")};
  args.insert(args.end(), extra.begin(), extra.end());
  HttpRun run;
  run.command = testing::RunNetrig(args, absl::Seconds(120));
  const std::string report = testing::ReadFileForTest(dir + "/report.json");
  if (!report.empty()) {
    run.report = nlohmann::json::parse(report, nullptr, /*allow_exceptions=*/false);
  }
  return run;
}

void ExpectClean(const HttpRun& run) {
  SCOPED_TRACE(run.command.out + run.command.err);
  EXPECT_EQ(run.command.exit_code, 0);
  ASSERT_TRUE(run.report.is_object());
  EXPECT_EQ(run.report["violations"].size(), 0u) << run.report["violations"].dump();
  EXPECT_GT(run.report["tasks_completed"].get<uint64_t>(), 100u);
  EXPECT_TRUE(run.report["live_objects_at_end"].empty());
  EXPECT_FALSE(absl::StrContains(run.command.err, "Sanitizer"));
}

TEST(RawSocketStress, CleanUnderTheDefaultFaultMix) {
  const HttpRun run = RunHttp("raw-socket", {"--http=1.1"});
  ExpectClean(run);
  EXPECT_GT(run.report["server"]["requests_by_fault"].value("split", 0), 0)
      << run.report["server"].dump();
}

TEST(RawSocketStress, CleanUnderASplitHeavyMix) {
  ExpectClean(RunHttp("raw-socket", {"--http=1.1", "--faults=split=0.5,close_after=0.1"}));
}

TEST(RawSocketStress, ReferenceCurlSessionCleanUnderASplitHeavyMix) {
  ExpectClean(RunHttp("curl", {"--http=1.1", "--faults=split=0.5,close_after=0.1"}));
}

TEST(RawSocketStress, EveryTaskSucceedsWithoutFaults) {
  const HttpRun run = RunHttp("raw-socket", {"--http=1.1", "--faults=none"});
  ExpectClean(run);
  EXPECT_EQ(run.report["tasks_failed"], 0);
}

TEST(RawSocketStress, H2cIsRefusedAndMixedRunsOverHttp11) {
  const HttpRun refused = RunHttp("raw-socket", {"--http=h2c"});
  EXPECT_EQ(refused.command.exit_code, 2) << refused.command.err;
  EXPECT_THAT(refused.command.err, ::testing::HasSubstr("speaks HTTP/1.1 only"));

  const HttpRun mixed = RunHttp("raw-socket", {"--http=mixed"});
  ExpectClean(mixed);
  EXPECT_EQ(mixed.report["by_version"]["asked_h2c"].value("ok_over_h2c", 0), 0)
      << mixed.report["by_version"].dump();
}

}  // namespace
}  // namespace netrig
