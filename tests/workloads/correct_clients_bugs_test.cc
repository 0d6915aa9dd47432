// Correct clients written the way users write them (examples/: a thread-per-task HTTP client on
// curl easy handles, a blocking-socket UDP flow) must come out of every check clean, in every
// preset: a finding on a correct client is the worst outcome netrig can have. They run in
// `netrig_with_examples`, netrig with examples/ compiled in (tests/CMakeLists.txt).
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "harness/base/leak_check.h"
#include "harness/findings/child_process.h"
#include "nlohmann/json.hpp"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

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
      {"http", "--client=example-threads", "--duration=15s", "--seed=7", "--http=mixed",
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

}  // namespace
}  // namespace netrig
