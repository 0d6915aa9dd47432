// The http_response fuzzer against the raw-socket client and its seeded bug bug-chunk-overread
// (a chunk-size line scanned for its LF past the bytes received): the seed corpus has split
// responses (split=A,B and split=auto), so
//   - the libFuzzer binary (fuzz preset) with NETRIG_HTTP_CLIENT=bug-chunk-overread reports the
//     heap over-read within seconds of starting on the seed corpus, and the same binary runs the
//     whole seed corpus clean with the correct raw-socket client;
//   - the replay runner (every preset) replays the whole seed corpus clean with raw-socket, and in
//     ASan builds reports the over-read on the seed that cuts a chunk-size line.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "harness/base/sanitizers.h"
#include "harness/findings/child_process.h"
#include "tests/support/paths.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct FuzzRun {
  ChildResult child;
  std::string log;
};

FuzzRun RunTarget(const fs::path& binary, const std::string& client, std::vector<std::string> args,
                  const std::string& tag) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / absl::StrCat("split_bugs_", tag, "_", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  ChildOptions options;
  options.argv = {binary.string()};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  for (std::string& arg : options.argv) {
    if (arg == "@dir") arg = dir.string() + "/";
  }
  options.extra_env = {{"NETRIG_HTTP_CLIENT", client}};
  options.output_path = (dir / "log.txt").string();
  options.timeout = absl::Seconds(240);
  FuzzRun run;
  absl::StatusOr<ChildResult> child = RunChild(options);
  EXPECT_TRUE(child.ok()) << child.status();
  if (child.ok()) run.child = *child;
  run.log = testing::ReadFileForTest(options.output_path);
  return run;
}

std::string Tail(const std::string& text) {
  return text.size() > 6000 ? text.substr(text.size() - 6000) : text;
}

std::string Corpus() { return testing::SourceDir() + "/corpora/http_response"; }

fs::path LibFuzzerBinary() {
  return fs::path(testing::BinaryDir()) / "fuzzers/http_response_fuzzer";
}

TEST(HttpResponseFuzzerSplit, FindsChunkOverreadFromTheSeedCorpus) {
  if (!fs::exists(LibFuzzerBinary())) {
    GTEST_SKIP() << "no libFuzzer binary here: runs in the fuzz preset only";
  }
  // A scratch copy: libFuzzer adds what it finds to its first corpus directory.
  const fs::path corpus =
      fs::path(::testing::TempDir()) / absl::StrCat("split_bugs_corpus_", getpid());
  fs::remove_all(corpus);
  fs::copy(Corpus(), corpus, fs::copy_options::recursive);
  const FuzzRun run =
      RunTarget(LibFuzzerBinary(), "bug-chunk-overread",
                {"-max_total_time=60", "-artifact_prefix=@dir", corpus.string()}, "fuzz");
  fs::remove_all(corpus);
  SCOPED_TRACE(Tail(run.log));
  ASSERT_TRUE(run.child.exited) << run.child.Describe();
  EXPECT_NE(run.child.exit_code, 0);
  EXPECT_THAT(run.log, HasSubstr("heap-buffer-overflow"));
  EXPECT_THAT(run.log, HasSubstr("NextLineOverread"));
  EXPECT_FALSE(run.child.timed_out);
}

TEST(HttpResponseFuzzerSplit, RawSocketRunsTheSeedCorpusClean) {
  if (!fs::exists(LibFuzzerBinary())) {
    GTEST_SKIP() << "no libFuzzer binary here: runs in the fuzz preset only";
  }
  const FuzzRun run = RunTarget(LibFuzzerBinary(), "raw-socket", {"-runs=0", Corpus()}, "clean");
  SCOPED_TRACE(Tail(run.log));
  ASSERT_TRUE(run.child.exited) << run.child.Describe();
  EXPECT_EQ(run.child.exit_code, 0);
  EXPECT_THAT(run.log, HasSubstr("INITED"));
}

TEST(HttpResponseReplaySplit, RawSocketReplaysTheSeedCorpusClean) {
  const fs::path replay = fs::path(testing::BinaryDir()) / "fuzzers/http_response_replay";
  ASSERT_TRUE(fs::exists(replay)) << replay;
  const FuzzRun run =
      RunTarget(replay, "raw-socket", {"--timeout_per_input_s=10", Corpus()}, "replay_clean");
  SCOPED_TRACE(Tail(run.log));
  ASSERT_TRUE(run.child.exited) << run.child.Describe();
  EXPECT_EQ(run.child.exit_code, 0);
}

TEST(HttpResponseReplaySplit, AsanSeesTheOverreadOnASplitChunkSizeLine) {
#if !defined(NETRIG_ASAN)
  GTEST_SKIP() << "a heap over-read: only ASan builds see it";
#else
  const fs::path replay = fs::path(testing::BinaryDir()) / "fuzzers/http_response_replay";
  ASSERT_TRUE(fs::exists(replay)) << replay;
  const FuzzRun run = RunTarget(replay, "bug-chunk-overread",
                                {"--timeout_per_input_s=10", Corpus() + "/h1_split_chunk_size_line",
                                 Corpus() + "/h1_split_auto_chunked_trailers"},
                                "replay_bug");
  SCOPED_TRACE(Tail(run.log));
  ASSERT_TRUE(run.child.exited) << run.child.Describe();
  EXPECT_NE(run.child.exit_code, 0);
  EXPECT_THAT(run.log, HasSubstr("heap-buffer-overflow"));
#endif
}

}  // namespace
}  // namespace netrig
