// RunChild: exit codes, output capture, timeouts (the whole process group goes), Ctrl-C
// forwarding, and clear errors for what cannot start.
#include "harness/findings/child_process.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/child_process_test_", getpid(), "_", name);
}

TEST(RunChild, ReportsExitCodeAndCapturesBothStreams) {
  ChildOptions options;
  options.argv = {"/bin/sh", "-c", "echo out; echo err >&2; exit 7"};
  options.output_path = TempPath("output");
  absl::StatusOr<ChildResult> result = RunChild(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->exited);
  EXPECT_EQ(result->exit_code, 7);
  EXPECT_FALSE(result->ok());
  EXPECT_FALSE(result->timed_out);
  EXPECT_EQ(testing::ReadFileForTest(options.output_path), "out\nerr\n");
  EXPECT_EQ(result->Describe(), "exit 7");
}

TEST(RunChild, WorkingDirectoryAndEnvironment) {
  ChildOptions options;
  options.argv = {"sh", "-c", "pwd; echo \"$NETRIG_CHILD_TEST\""};
  options.working_dir = "/";
  options.extra_env = {{"NETRIG_CHILD_TEST", "hello"}};
  options.output_path = TempPath("env");
  absl::StatusOr<ChildResult> result = RunChild(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok());
  EXPECT_EQ(testing::ReadFileForTest(options.output_path), "/\nhello\n");
}

TEST(RunChild, TimeoutStopsTheChildAndItsGroup) {
  const std::string marker = TempPath("grandchild_alive");
  ChildOptions options;
  // The grandchild would write the marker after 3 s if it survived its parent's timeout.
  options.argv = {"/bin/sh", "-c",
                  absl::StrCat("(sleep 3; touch ", marker, ") & trap '' INT; sleep 30")};
  options.timeout = absl::Milliseconds(300);
  options.kill_grace = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<ChildResult> result = RunChild(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_FALSE(result->exited);
  EXPECT_EQ(result->term_signal, SIGKILL);  // It ignored SIGINT.
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  absl::SleepFor(absl::Seconds(4));
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the grandchild outlived the timeout";
}

TEST(RunChild, ForwardsANewInterruptAsSigint) {
  InterruptFlag interrupt;
  ChildOptions options;
  options.argv = {"/bin/sh", "-c", "trap 'echo got-int; exit 3' INT; sleep 20 & wait"};
  options.output_path = TempPath("interrupt");
  options.interrupts = interrupt.counter();
  options.timeout = absl::Seconds(60);
  std::thread presser([&interrupt] {
    absl::SleepFor(absl::Milliseconds(300));
    interrupt.Raise();
  });
  absl::StatusOr<ChildResult> result = RunChild(options);
  presser.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->interrupted);
  EXPECT_FALSE(result->timed_out);
  EXPECT_TRUE(result->exited);
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_THAT(testing::ReadFileForTest(options.output_path), HasSubstr("got-int"));
  EXPECT_THAT(result->Describe(), HasSubstr("interrupted"));
}

TEST(RunChild, AnEarlierInterruptIsNotForwarded) {
  InterruptFlag interrupt;
  interrupt.Raise();
  ChildOptions options;
  options.argv = {"/bin/sh", "-c", "sleep 0.2; exit 0"};
  options.interrupts = interrupt.counter();
  absl::StatusOr<ChildResult> result = RunChild(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->interrupted);
  EXPECT_TRUE(result->ok());
}

TEST(RunChild, InterruptFlagCountsRealSignals) {
  InterruptFlag interrupt;
  EXPECT_EQ(interrupt.count(), 0);
  ASSERT_EQ(raise(SIGINT), 0);  // Would end the test binary without the flag.
  // TSan delivers signals at its next safe point, not inside raise().
  for (int i = 0; i < 100 && interrupt.count() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(interrupt.count(), 1);
}

TEST(RunChild, ReportsDeathBySignal) {
  ChildOptions options;
  options.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  absl::StatusOr<ChildResult> result = RunChild(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->exited);
  EXPECT_EQ(result->term_signal, SIGTERM);
}

TEST(RunChild, MissingBinaryAndBadArgumentsAreErrors) {
  ChildOptions options;
  options.argv = {"/nonexistent/netrig-no-such-binary"};
  absl::StatusOr<ChildResult> missing = RunChild(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("netrig-no-such-binary"));
  EXPECT_FALSE(RunChild(ChildOptions{}).ok());
  ChildOptions echo_without_file;
  echo_without_file.argv = {"true"};
  echo_without_file.echo_output = true;
  EXPECT_FALSE(RunChild(echo_without_file).ok());
}

}  // namespace
}  // namespace netrig
