// `netrig http --reentrant`: correct clients stay clean while completions and observer callbacks
// call back into their sessions (follow-up tasks, cancels of other tasks, invalidation with the
// spawner carrying on in a fresh session), the ledger counting follow-ups without false
// double-completion or leak findings; bad values are usage errors.
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using testing::CommandRun;
using ::testing::HasSubstr;
using testing::ReadFileForTest;
using testing::RunNetrig;

class ReentrantCleanTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ReentrantCleanTest, ACorrectClientStaysCleanUnderHeavyReentrance) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/reentrant_", GetParam(), "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const CommandRun run =
      RunNetrig({"http", absl::StrCat("--client=", GetParam()), "--duration=4s", "--threads=2",
                 "--reentrant=50", "--tasks_per_session=100", "--observer_probability=0.2",
                 "--http=mixed", absl::StrCat("--json=", dir, "/report.json")},
                absl::Seconds(90));
  SCOPED_TRACE(run.err.size() > 6000 ? run.err.substr(run.err.size() - 6000) : run.err);
  EXPECT_EQ(run.exit_code, 0);
  const nlohmann::json report =
      nlohmann::json::parse(ReadFileForTest(dir + "/report.json"), nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_TRUE(report["violations"].empty()) << report["violations"].dump();
  const nlohmann::json& reentrant = report["counters"]["reentrant"];
  EXPECT_EQ(reentrant["percent"], 50);
  EXPECT_GT(reentrant["completions_reentered"].get<uint64_t>(), 100u) << reentrant.dump();
  EXPECT_GT(reentrant["follow_up_tasks"].get<uint64_t>(), 10u) << reentrant.dump();
  EXPECT_GT(reentrant["invalidations_from_callbacks"].get<uint64_t>(), 0u) << reentrant.dump();
  // A session invalidated from a callback is replaced: more sessions than churn alone makes.
  EXPECT_GT(report["counters"]["sessions_created"].get<uint64_t>(),
            reentrant["invalidations_from_callbacks"].get<uint64_t>());
  EXPECT_TRUE(report["live_objects_at_end"].empty());
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Clients, ReentrantCleanTest, ::testing::Values("null", "curl"));

TEST(ReentrantFlagTest, BadValuesAreUsageErrors) {
  for (const char* bad : {"--reentrant=101", "--reentrant=-1", "--reentrant=lots"}) {
    const CommandRun run = RunNetrig({"http", bad, "--duration=1s"}, absl::Seconds(30));
    EXPECT_EQ(run.exit_code, 2) << bad << "\n" << run.err;
    EXPECT_THAT(run.err, HasSubstr("--reentrant")) << bad;
  }
}

}  // namespace
}  // namespace netrig
