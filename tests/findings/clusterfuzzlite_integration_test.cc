// .clusterfuzzlite/build.sh without Docker: run with the OSS-Fuzz variables pointed at the local
// clang-19 and a temporary $OUT/$WORK, then check that each built target's fuzzer, seed corpus
// zip, dictionary and options are there and that each fuzzer runs its seed corpus (-runs=0).
// It configures the whole tree from scratch but builds only the two targets that need no more
// than the net layer (NETRIG_FUZZ_TARGETS): every target goes through the same CMake function and
// packaging loop, and the whole build took 4 minutes of CI's hour. It runs in the fuzz preset.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session.h"
#include "tests/support/paths.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;

[[maybe_unused]] std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ClusterFuzzLite, BuildScriptEmitsEveryTargetsArtifacts) {
#ifndef NETRIG_SANITIZER_FUZZ
  GTEST_SKIP() << "builds a whole sanitized tree with clang-19: runs in the fuzz preset only";
#else
  const fs::path source = testing::SourceDir();
  const fs::path scratch = fs::path(::testing::TempDir()) / absl::StrCat("cflite_", getpid());
  fs::remove_all(scratch);
  fs::create_directories(scratch / "out");
  fs::create_directories(scratch / "work");
  const std::string sanitizer_flags =
      "-O1 -g -fsanitize=address,undefined -fsanitize=fuzzer-no-link";
  ChildOptions build;
  build.argv = {"bash", (source / ".clusterfuzzlite/build.sh").string()};
  build.extra_env = {{"CC", "clang-19"},
                     {"CXX", "clang++-19"},
                     {"CFLAGS", sanitizer_flags},
                     {"CXXFLAGS", sanitizer_flags},
                     {"LIB_FUZZING_ENGINE", "-fsanitize=fuzzer"},
                     {"SRC", source.parent_path().string()},
                     {"OUT", (scratch / "out").string()},
                     {"WORK", (scratch / "work").string()},
                     {"NETRIG_BUILD_JOBS", "2"},
                     {"NETRIG_FUZZ_TARGETS", "endpoint_parse datagram_oracle"}};
  build.output_path = (scratch / "build.log").string();
  build.timeout = absl::Seconds(540);  // Under the fuzz preset's 600 s test timeout.
  absl::StatusOr<ChildResult> built = RunChild(build);
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_TRUE(built->ok()) << built->Describe() << "\n" << ReadAll(build.output_path);

  const FuzzPaths paths = DefaultFuzzPaths(source.string());
  absl::StatusOr<std::vector<FuzzTarget> > targets = ListFuzzTargets(paths);
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_FALSE(targets->empty());
  size_t built_targets = 0;
  for (const FuzzTarget& target : *targets) {
    SCOPED_TRACE(target.name);
    const fs::path fuzzer = scratch / "out" / target.name;
    if (target.name != "endpoint_parse" && target.name != "datagram_oracle") {
      EXPECT_FALSE(fs::exists(fuzzer)) << "built although not asked for";
      continue;
    }
    ++built_targets;
    ASSERT_TRUE(fs::is_regular_file(fuzzer));
    EXPECT_EQ(access(fuzzer.c_str(), X_OK), 0);
    if (target.corpus_files > 0) {
      const fs::path zip = scratch / "out" / absl::StrCat(target.name, "_seed_corpus.zip");
      ASSERT_TRUE(fs::is_regular_file(zip));
      ChildOptions list;
      list.argv = {"unzip", "-Z1", zip.string()};
      list.output_path = (scratch / "unzip.log").string();
      ASSERT_TRUE(RunChild(list).ok());
      size_t entries = 0;
      for (char c : ReadAll(list.output_path)) entries += c == '\n';
      EXPECT_EQ(entries, target.corpus_files);
    }
    EXPECT_EQ(fs::exists(scratch / "out" / absl::StrCat(target.name, ".dict")),
              !target.dict_path.empty());
    EXPECT_EQ(fs::exists(scratch / "out" / absl::StrCat(target.name, ".options")),
              !target.options_path.empty());

    ChildOptions run;
    run.argv = {fuzzer.string(), "-runs=0", target.corpus_dir};
    run.output_path = (scratch / absl::StrCat(target.name, ".log")).string();
    run.timeout = absl::Seconds(120);
    absl::StatusOr<ChildResult> ran = RunChild(run);
    ASSERT_TRUE(ran.ok()) << ran.status();
    const std::string log = ReadAll(run.output_path);
    EXPECT_TRUE(ran->ok()) << ran->Describe() << "\n" << log;
    EXPECT_THAT(log, ::testing::HasSubstr("INITED"));
  }
  EXPECT_EQ(built_targets, 2u);
  fs::remove_all(scratch);
#endif
}

}  // namespace
}  // namespace netrig
