// Correct clients written the way users write them (examples/: a thread-per-task HTTP client on
// curl easy handles, a blocking-socket UDP flow) must come out of every check clean, in every
// preset: a finding on a correct client is the worst outcome netrig can have. They run in
// `netrig_with_examples`, netrig with examples/ compiled in (tests/CMakeLists.txt).
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/leak_check.h"
#include "harness/findings/child_process.h"
#include "nlohmann/json.hpp"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

struct ExampleRun {
  ChildResult child;
  std::string output;
  nlohmann::json report;
};

ExampleRun RunExamples(const std::string& name, std::vector<std::string> args,
                       absl::Duration timeout) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/correct_clients_", name, "_", getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ChildOptions options;
  options.argv = {testing::BinaryDir() + "/bin/netrig_with_examples"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.argv.push_back(absl::StrCat("--json=", dir, "/report.json"));
  options.argv.push_back(absl::StrCat("--finding_dir=", dir, "/findings"));
  options.output_path = dir + "/output.txt";
  options.timeout = timeout;
  ExampleRun run;
  absl::StatusOr<ChildResult> child = RunChild(options);
  EXPECT_TRUE(child.ok()) << child.status();
  if (child.ok()) run.child = *child;
  run.output = testing::ReadFileForTest(options.output_path);
  const std::string report = testing::ReadFileForTest(dir + "/report.json");
  if (!report.empty()) {
    run.report = nlohmann::json::parse(report, nullptr, /*allow_exceptions=*/false);
  }
  return run;
}

std::string Tail(const std::string& text) {
  return text.size() > 6000 ? text.substr(text.size() - 6000) : text;
}

// A thread-per-task client keeps results and request text on its task threads' stacks while they
// run; a leak check in mid-run saw them as unreachable and stopped the run with a false `leak`.
TEST(CorrectClients, AThreadPerTaskClientIsCleanUnderFrequentLeakChecks) {
  ExampleRun run = RunExamples(
      "threads",
      {"http", "--client=example-threads", "--duration=8s", "--seed=7", "--http=mixed",
       "--cancel_probability=0.1", "--tasks_per_session=200", "--leak_check_interval=250ms"},
      absl::Seconds(120));
  EXPECT_EQ(run.child.exit_code, 0) << Tail(run.output);
  ASSERT_TRUE(run.report.is_object()) << Tail(run.output);
  EXPECT_EQ(run.report["violation_count"], 0) << run.report["violations"].dump(2);
  if (LeakChecksAvailable()) {
    EXPECT_GT(run.report["leak_checks"]["mid_run"].get<int>(), 5) << run.report["leak_checks"];
    EXPECT_EQ(run.report["leak_checks"]["confirmed"], false);
  }
}

// Its flow source listens dual-stack and hands IPv4 peers out IPv4-mapped; matching peers by
// their text reported every one as never delivered (flow_not_delivered_after_wake).
TEST(CorrectClients, ABlockingSocketFlowWithADualStackSourceIsClean) {
  ExampleRun run = RunExamples(
      "udp",
      {"udp", "--flow=example-udp", "--duration=5s", "--seed=7", "--leak_check_interval=250ms"},
      absl::Seconds(90));
  EXPECT_EQ(run.child.exit_code, 0) << Tail(run.output);
  ASSERT_TRUE(run.report.is_object()) << Tail(run.output);
  EXPECT_EQ(run.report["violation_count"], 0) << run.report["violations"].dump(2);
  EXPECT_GT(run.report["source"]["peers_handed_out"].get<int>(), 20) << run.report["source"];
}

// Runs `command_line` (words separated by single spaces, as netrig prints its replay commands)
// with its output in `dir`/`name`.txt.
ExampleRun RunCommandLine(const std::string& command_line, const std::string& name,
                          absl::Duration timeout) {
  ChildOptions options;
  options.argv = absl::StrSplit(command_line, ' ', absl::SkipEmpty());
  options.output_path =
      absl::StrCat(::testing::TempDir(), "/correct_clients_", name, "_", getpid(), ".txt");
  options.timeout = timeout;
  ExampleRun run;
  absl::StatusOr<ChildResult> child = RunChild(options);
  EXPECT_TRUE(child.ok()) << child.status();
  if (child.ok()) run.child = *child;
  run.output = testing::ReadFileForTest(options.output_path);
  return run;
}

// The replay line of a run of a user's binary names that binary: `netrig` itself has no
// example-udp flow, so a replay line that said `netrig udp --flow=example-udp ...` could not
// rerun the run.
TEST(CorrectClients, AUserBinarysReplayLineNamesItAndReruns) {
  ExampleRun run = RunExamples(
      "replay_line", {"udp", "--flow=example-udp", "--duration=1s", "--seed=7"}, absl::Seconds(60));
  ASSERT_EQ(run.child.exit_code, 0) << Tail(run.output);
  const std::string binary = testing::BinaryDir() + "/bin/netrig_with_examples";
  EXPECT_EQ(run.report["program"], binary);
  const std::string replay = run.report["replay"].get<std::string>();
  ASSERT_TRUE(absl::StartsWith(replay, absl::StrCat(binary, " udp "))) << replay;
  EXPECT_THAT(replay, HasSubstr("--flow=example-udp"));
  EXPECT_THAT(run.output, HasSubstr(absl::StrCat("replay: ", replay)));

  ExampleRun again = RunCommandLine(replay, "replay_line_again", absl::Seconds(60));
  EXPECT_EQ(again.child.exit_code, 0) << Tail(again.output);

  // The same arguments under plain `netrig`: the flow is unknown there.
  std::string under_netrig = replay;
  under_netrig.replace(0, binary.size(), testing::BinaryDir() + "/bin/netrig");
  ExampleRun netrig = RunCommandLine(under_netrig, "replay_line_netrig", absl::Seconds(60));
  EXPECT_EQ(netrig.child.exit_code, 2) << Tail(netrig.output);
  EXPECT_THAT(netrig.output, HasSubstr("no flow named 'example-udp'"));
}

// A finding written by a user's binary is rerun by the command its summary prints.
TEST(CorrectClients, AUserBinarysFindingIsRerunByTheCommandItPrints) {
  ExampleRun run =
      RunExamples("finding", {"udp", "--flow=bug-address-too-large", "--duration=2s", "--seed=7"},
                  absl::Seconds(60));
  ASSERT_EQ(run.child.exit_code, 1) << Tail(run.output);
  const std::string prefix =
      absl::StrCat("rerun: ", testing::BinaryDir(), "/bin/netrig_with_examples replay ");
  const size_t at = run.output.find(prefix);
  ASSERT_NE(at, std::string::npos) << Tail(run.output);
  const size_t end = run.output.find('\n', at);
  const std::string rerun = run.output.substr(at + 7, end - at - 7);  // After "rerun: ".
  ExampleRun replayed = RunCommandLine(rerun + " --times=1", "finding_replay", absl::Seconds(90));
  EXPECT_EQ(replayed.child.exit_code, 0) << Tail(replayed.output);
  EXPECT_THAT(replayed.output, HasSubstr("expect reproduce: REPRODUCED"));
  // The replayed run (started as /proc/self/exe) names the binary too, not the link.
  EXPECT_THAT(replayed.output, HasSubstr(prefix)) << Tail(replayed.output);
  EXPECT_THAT(replayed.output, ::testing::Not(HasSubstr("/proc/self/exe")));
  // Its own "replay 1/1: ..." line is one a person can paste: it names the binary as well.
  EXPECT_THAT(replayed.output, HasSubstr(absl::StrCat("replay 1/1: ", testing::BinaryDir(),
                                                      "/bin/netrig_with_examples udp ")));
}

// The examples count their own objects (examples/: example-udp.*, example-threads.*), and the
// live-object check covers them: they were exercised and are back to zero.
TEST(CorrectClients, TheExamplesOwnLiveObjectsAreCountedAndBackToZero) {
  ExampleRun udp = RunExamples(
      "live_udp", {"udp", "--flow=example-udp", "--duration=2s", "--seed=7"}, absl::Seconds(60));
  EXPECT_EQ(udp.child.exit_code, 0) << Tail(udp.output);
  ASSERT_TRUE(udp.report.is_object()) << Tail(udp.output);
  EXPECT_TRUE(udp.report["live_objects_at_end"].empty()) << udp.report["live_objects_at_end"];
  for (const char* type : {"udp.flow", "example-udp.peer_queue", "example-udp.source_core"}) {
    EXPECT_GT(udp.report["live_objects_counted"].value(type, 0), 0) << type;
  }
  ExampleRun http = RunExamples(
      "live_http",
      {"http", "--client=example-threads", "--duration=2s", "--seed=7", "--tasks_per_session=50"},
      absl::Seconds(60));
  EXPECT_EQ(http.child.exit_code, 0) << Tail(http.output);
  ASSERT_TRUE(http.report.is_object()) << Tail(http.output);
  EXPECT_TRUE(http.report["live_objects_at_end"].empty()) << http.report["live_objects_at_end"];
  for (const char* type : {"example-threads.session", "example-threads.task"}) {
    EXPECT_GT(http.report["live_objects_counted"].value(type, 0), 1) << type;
  }
}

}  // namespace
}  // namespace netrig
