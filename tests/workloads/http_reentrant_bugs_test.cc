// Re-entrant completions (`netrig http --reentrant`) against the seeded client
// bug-completion-under-lock, which runs completions under its session lock: `netrig http` must
// report the deadlock as a `hang` with the threads' names, last schedule points and stacks, write
// a finding that `netrig replay` reproduces, and find nothing with --reentrant=0 (the client is
// otherwise correct). The generic seeded-bug test (http_stress_bugs_test.cc) also runs it.
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

std::string FreshDir(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/", name, "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

nlohmann::json ReadJson(const std::string& path) {
  return nlohmann::json::parse(ReadFileForTest(path), nullptr, /*allow_exceptions=*/false);
}

TEST(ReentrantCompletionBugTest, DeadlockIsAHangWithStacksAndTheFindingReplays) {
  const std::string dir = FreshDir("reentrant_bug");
  const CommandRun run = RunNetrig(
      {"http", "--client=bug-completion-under-lock", "--duration=60s", "--threads=2",
       absl::StrCat("--json=", dir, "/report.json"), absl::StrCat("--finding_dir=", dir, "/f")},
      absl::Seconds(120));
  SCOPED_TRACE(run.err.size() > 8000 ? run.err.substr(run.err.size() - 8000) : run.err);
  ASSERT_FALSE(run.timed_out);
  EXPECT_EQ(run.exit_code, 1);
  const nlohmann::json report = ReadJson(dir + "/report.json");
  ASSERT_TRUE(report.is_object());
  bool hang = false;
  for (const auto& violation : report["violations"]) {
    if (violation.value("kind", "") != "hang") continue;
    hang = true;
    const std::string message = violation.value("message", "");
    // The event thread, stuck in its completion, with where it was and its stack.
    EXPECT_THAT(message, HasSubstr("completion callback on thread"));
    EXPECT_THAT(message, HasSubstr("\"lockcb.event\""));
    EXPECT_THAT(message, HasSubstr("last schedule point stress."));
    // The client's own frames (the event loop, or the lambda that runs it where it is inlined).
    EXPECT_THAT(message,
                ::testing::AnyOf(HasSubstr("SessionState::Loop"), HasSubstr("LockedSession")));
    // The spawners (driver threads) are listed too.
    EXPECT_THAT(message, HasSubstr("\"driver.0\""));
  }
  EXPECT_TRUE(hang) << report["violations"].dump();
  EXPECT_GT(report["counters"]["reentrant"]["completions_reentered"].get<uint64_t>(), 0u)
      << report.dump().substr(0, 4000);
  ASSERT_TRUE(report.contains("finding_file")) << report.dump().substr(0, 4000);
  const std::string finding = report["finding_file"];
  EXPECT_THAT(ReadFileForTest(finding), HasSubstr("--reentrant=5"));

  const CommandRun replay =
      RunNetrig({"replay", finding, "--times=1", "--expect=reproduce"}, absl::Seconds(120));
  EXPECT_EQ(replay.exit_code, 0) << replay.out << replay.err;
  EXPECT_THAT(replay.out + replay.err, HasSubstr("REPRODUCED"));
  EXPECT_THAT(replay.out + replay.err, HasSubstr("hang"));
  std::filesystem::remove_all(dir);
}

TEST(ReentrantCompletionBugTest, WithoutReentranceTheClientIsClean) {
  const std::string dir = FreshDir("reentrant_off");
  const CommandRun run =
      RunNetrig({"http", "--client=bug-completion-under-lock", "--duration=4s", "--threads=2",
                 "--reentrant=0", absl::StrCat("--json=", dir, "/report.json")},
                absl::Seconds(60));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json report = ReadJson(dir + "/report.json");
  ASSERT_TRUE(report.is_object());
  EXPECT_TRUE(report["violations"].empty()) << report["violations"].dump();
  EXPECT_GT(report["tasks_completed"].get<uint64_t>(), 1000u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace netrig
