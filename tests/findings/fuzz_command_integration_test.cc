// `netrig fuzz endpoint_parse --time 5s` for real (libFuzzer binary of the fuzz preset) on a
// scratch copy of the source tree's fuzzers/ and corpora/, so the checkout's corpus is not touched.
// Elsewhere there is no libFuzzer binary and the test skips.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/findings/child_process.h"
#include "nlohmann/json.hpp"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(FuzzCommand, ListShowsEndpointParseWithItsCorpus) {
  const fs::path log = fs::path(::testing::TempDir()) / absl::StrCat("fuzz_list_", getpid());
  ChildOptions list;
  list.argv = {testing::NetrigBinary(), "fuzz", "--list",
               absl::StrCat("--root=", testing::SourceDir())};
  list.output_path = log.string();
  absl::StatusOr<ChildResult> result = RunChild(list);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << testing::ReadFileForTest((log));
  EXPECT_THAT(testing::ReadFileForTest((log)), ::testing::ContainsRegex("endpoint_parse +[1-9][0-9]* +[1-9]"));
}

TEST(FuzzCommand, FiveSecondSessionOnEndpointParse) {
  const fs::path fuzzer = fs::path(testing::BinaryDir()) / "fuzzers/endpoint_parse_fuzzer";
  if (!fs::exists(fuzzer)) {
    GTEST_SKIP() << "no libFuzzer binary here (" << fuzzer << "): runs in the fuzz preset only";
  }
  const fs::path root = fs::path(::testing::TempDir()) / absl::StrCat("fuzz_command_", getpid());
  fs::remove_all(root);
  fs::create_directories(root);
  fs::copy(fs::path(testing::SourceDir()) / "fuzzers", root / "fuzzers",
           fs::copy_options::recursive);
  fs::copy(fs::path(testing::SourceDir()) / "corpora", root / "corpora",
           fs::copy_options::recursive);
  const size_t seeds = std::distance(fs::directory_iterator(root / "corpora/endpoint_parse"),
                                     fs::directory_iterator());

  ChildOptions fuzz;
  fuzz.argv = {testing::NetrigBinary(),
               "fuzz",
               "endpoint_parse",
               "--time=5s",
               absl::StrCat("--root=", root.string()),
               absl::StrCat("--fuzzer_dir=", fuzzer.parent_path().string())};
  fuzz.output_path = (root / "netrig.log").string();
  fuzz.timeout = absl::Seconds(300);
  absl::StatusOr<ChildResult> result = RunChild(fuzz);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string log = testing::ReadFileForTest((fuzz.output_path));
  // 0: no crash. 1 would be a real finding in endpoint parsing: say so with the report.
  EXPECT_TRUE(result->ok()) << result->Describe() << "\n" << log;
  EXPECT_THAT(log, HasSubstr("netrig fuzz endpoint_parse:"));
  EXPECT_THAT(log, HasSubstr("-dict="));

  const nlohmann::json summary =
      nlohmann::json::parse(testing::ReadFileForTest((root / "artifacts/endpoint_parse/last_session.json")));
  EXPECT_GT(summary["execs"].get<uint64_t>(), 1000u);
  EXPECT_GT(summary["execs_per_second"].get<uint64_t>(), 0u);
  EXPECT_EQ(summary["corpus_files_before"].get<size_t>(), seeds);
  // Merged files are new files; the seeds all stay.
  const size_t after = std::distance(fs::directory_iterator(root / "corpora/endpoint_parse"),
                                     fs::directory_iterator());
  EXPECT_EQ(after, seeds + summary["merged_files"].get<size_t>());
  EXPECT_LE(summary["merged_files"].get<size_t>(), summary["new_inputs"].get<size_t>());
  fs::remove_all(root);
}

}  // namespace
}  // namespace netrig
