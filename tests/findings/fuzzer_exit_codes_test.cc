// A libFuzzer binary and its replay runner, both linked with netrig's sanitizer defaults, exit
// with the code of the sanitizer that reported (81 ASan, 82 UBSan, 83 LSan; exit_codes.h), even
// though libFuzzer replaces netrig's death callback and the combined runtime has one exit code.
// The libFuzzer binary still saves the crashing input. The targets are
// tests/findings/targets/sanitizer_exit_target.cc; the libFuzzer one exists in the fuzz preset
// only, and both need an ASan build (elsewhere the tests skip).
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/exit_codes.h"
#include "harness/base/sanitizers.h"
#include "harness/findings/child_process.h"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"
#include "tests/support/scratch_dir.h"

namespace netrig {
namespace {

using ::testing::HasSubstr;

struct Case {
  const char* input;
  int exit_code;
  const char* report;  // What the sanitizer prints.
};

const Case kCases[] = {
    {"asan", kExitAsan, "ERROR: AddressSanitizer: heap-buffer-overflow"},
    {"ubsan", kExitUbsan, "runtime error: signed integer overflow"},
    {"leak", kExitLsan, "ERROR: LeakSanitizer: detected memory leaks"},
};

std::string Binary(const std::string& name) {
  return absl::StrCat(netrig::testing::BinaryDir(), "/tests/", name);
}

bool Exists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

struct Outcome {
  ChildResult child;
  std::string output;
};

Outcome RunOn(const std::vector<std::string>& argv, const netrig::testing::ScratchDir& dir) {
  ChildOptions options;
  options.argv = argv;
  options.working_dir = dir.path();
  options.output_path = dir.File("output.txt");
  options.timeout = absl::Seconds(60);
  absl::StatusOr<ChildResult> child = RunChild(options);
  EXPECT_TRUE(child.ok()) << child.status();
  Outcome outcome;
  if (child.ok()) outcome.child = *child;
  outcome.output = netrig::testing::ReadFileForTest(options.output_path);
  return outcome;
}

std::string WriteInput(const netrig::testing::ScratchDir& dir, const char* text) {
  const std::string path = dir.File(absl::StrCat("input-", text));
  std::ofstream(path) << text;
  return path;
}

// libFuzzer's -error_exitcode when none is given (FuzzerFlags.def).
constexpr int kLibFuzzerDefaultErrorExitCode = 77;

class FuzzerExitCodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(FuzzerExitCodeTest, LibFuzzerBinaryExitsWithTheReportingSanitizersCode) {
  if (!kBuiltWithAsan) GTEST_SKIP() << "needs an ASan build (fuzz preset)";
  const std::string fuzzer = Binary("sanitizer_exit_fuzzer");
  if (!Exists(fuzzer)) GTEST_SKIP() << "the libFuzzer binary is built in the fuzz preset only";
  const Case& c = GetParam();
  netrig::testing::ScratchDir dir;
  // Fuzzing from a one-input seed corpus: libFuzzer runs the seed inside its loop, where its own
  // death callback is in force.
  const std::string corpus = dir.File("corpus");
  mkdir(corpus.c_str(), 0755);
  std::ofstream(absl::StrCat(corpus, "/seed")) << c.input;
  const Outcome run = RunOn({fuzzer, "-runs=1", "-detect_leaks=0",
                             absl::StrCat("-artifact_prefix=", dir.path(), "/"), corpus},
                            dir);
  const bool leak = c.exit_code == kExitLsan;
  if (!leak) {
    EXPECT_TRUE(run.child.exited) << run.child.Describe();
    EXPECT_EQ(run.child.exit_code, c.exit_code) << run.output;
    EXPECT_THAT(run.output, HasSubstr(c.report));
    // libFuzzer's callback still ran: the crashing input was saved.
    bool saved = false;
    for (const std::string& entry : dir.Entries()) saved |= entry.rfind("crash-", 0) == 0;
    EXPECT_TRUE(saved) << run.output;
  }
  // A single input run by file (libFuzzer's reproduction mode).
  const std::string input = WriteInput(dir, c.input);
  const Outcome one = RunOn({fuzzer, input}, dir);
  EXPECT_TRUE(one.child.exited) << one.child.Describe();
  EXPECT_THAT(one.output, HasSubstr(c.report));
  if (!leak) {
    EXPECT_EQ(one.child.exit_code, c.exit_code) << one.output;
    return;
  }
  // libFuzzer checks leaks itself after the input and exits with its -error_exitcode (77 by
  // default), which it also uses for signals it catches: netrig cannot tell them apart, so it
  // leaves that code alone. With libFuzzer's check off, LSan's own check at exit reports: 83.
  EXPECT_EQ(one.child.exit_code, kLibFuzzerDefaultErrorExitCode) << one.output;
  const Outcome at_exit = RunOn({fuzzer, "-detect_leaks=0", input}, dir);
  EXPECT_TRUE(at_exit.child.exited) << at_exit.child.Describe();
  EXPECT_EQ(at_exit.child.exit_code, kExitLsan) << at_exit.output;
  EXPECT_THAT(at_exit.output, HasSubstr(c.report));
}

TEST_P(FuzzerExitCodeTest, ReplayRunnerExitsWithTheReportingSanitizersCode) {
  if (!kBuiltWithAsan) GTEST_SKIP() << "needs an ASan build (asan or fuzz preset)";
  const std::string replay = Binary("sanitizer_exit_replay");
  ASSERT_TRUE(Exists(replay)) << replay;
  const Case& c = GetParam();
  netrig::testing::ScratchDir dir;
  const Outcome run = RunOn({replay, WriteInput(dir, c.input)}, dir);
  EXPECT_TRUE(run.child.exited) << run.child.Describe();
  EXPECT_EQ(run.child.exit_code, c.exit_code) << run.output;
  EXPECT_THAT(run.output, HasSubstr(c.report));
}

// A harmless input: both binaries exit 0, so the codes above come from the reports.
TEST(FuzzerExitCodeTest, HarmlessInputExitsZero) {
  if (!kBuiltWithAsan) GTEST_SKIP() << "needs an ASan build (asan or fuzz preset)";
  netrig::testing::ScratchDir dir;
  const std::string input = WriteInput(dir, "fine");
  const Outcome replay = RunOn({Binary("sanitizer_exit_replay"), input}, dir);
  EXPECT_EQ(replay.child.exit_code, 0) << replay.output;
  const std::string fuzzer = Binary("sanitizer_exit_fuzzer");
  if (Exists(fuzzer)) {
    const Outcome run = RunOn({fuzzer, input}, dir);
    EXPECT_EQ(run.child.exit_code, 0) << run.output;
  }
}

INSTANTIATE_TEST_SUITE_P(Sanitizers, FuzzerExitCodeTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.input); });

}  // namespace
}  // namespace netrig
