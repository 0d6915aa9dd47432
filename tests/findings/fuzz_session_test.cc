// A whole `netrig fuzz` session against a fake libFuzzer (a shell script that speaks just enough
// of libFuzzer's command line), so the merge and triage logic runs in every preset: new inputs
// merged without removing seeds, crashes reproduced, deduplicated by signature, minimized,
// reported, and counted again by the next session.
#include "harness/findings/fuzz_session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/run_netrig.h"

namespace netrig {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Fuzz mode adds two inputs to the corpus (only new-keep-1 "adds coverage") and three crashes
// (two of bug A, one of bug B) plus a slow unit; reproduction prints an ASan report chosen by the
// input's first line; minimization keeps the first line.
constexpr char kFakeLibFuzzer[] = R"sh(#!/bin/sh
mode=run; prefix=; exact=; dirs=
for a in "$@"; do
  case "$a" in
    -help=1) echo " set_cover_merge  0  Same as merge, but with set cover"; exit 0;;
    -minimize_crash=1) mode=minimize;;
    -set_cover_merge=1|-merge=1) mode=merge;;
    -max_total_time=*) [ "$mode" = run ] && mode=fuzz;;
    -artifact_prefix=*) prefix="${a#-artifact_prefix=}";;
    -exact_artifact_path=*) exact="${a#-exact_artifact_path=}";;
    -dict=*) echo "dict: ${a#-dict=}";;
    -*) ;;
    *) dirs="$dirs $a";;
  esac
done
set -- $dirs
case "$mode" in
  fuzz)
    echo "#1000	NEW    cov: 10 ft: 12 corp: 3/30b exec/s: 500 rss: 30Mb"
    printf 'keep' > "$1/new-keep-1"; printf 'drop' > "$1/new-drop-1"
    printf 'bugA\nxxxxxxxx' > "${prefix}crash-1"
    printf 'bugA\nyy' > "${prefix}crash-2"
    printf 'bugB\nzzzz' > "${prefix}leak-3"
    printf 'slow' > "${prefix}slow-unit-4"
    echo "stat::number_of_executed_units: 12345"
    echo "stat::average_exec_per_sec: 6789"
    echo "stat::new_units_added: 2"
    exit 0;;
  merge)
    first=$1; shift
    for d in "$@"; do for f in "$d"/new-keep*; do [ -f "$f" ] && cp "$f" "$first/"; done; done
    exit 0;;
  minimize)
    head -n 1 "$1" > "$exact"; exit 0;;
  run)
    case "$(head -n 1 "$1")" in
      bugA) fn="ParseA(char const*, unsigned long)";;
      bugB) fn="ParseB(int)";;
      *) echo "Executed $1"; exit 0;;
    esac
    echo "==$$==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x60200000$$"
    echo "    #0 0x5$$ in $fn /src/netrig/parse.cc:12:3"
    echo "    #1 0x6$$ in LLVMFuzzerTestOneInput /src/netrig/fuzzer.cc:5:1"
    echo "SUMMARY: AddressSanitizer: heap-buffer-overflow"
    exit 1;;
esac
)sh";

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class FuzzSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / absl::StrCat("fuzz_session_test_", getpid());
    fs::remove_all(root_);
    WriteFile(root_ / "build/targets.json",
              R"({"targets": [{"name": "other"}, {"name": "fake"}]})");
    WriteFile(root_ / "fuzzers/README", "fuzz targets");
    WriteFile(root_ / "corpora/fake/seed-1", "hello");
    WriteFile(root_ / "corpora/fake/seed-2", "world!");
    WriteFile(root_ / "corpora/fake.dict", "\"kw\"\n");
    WriteFile(root_ / "corpora/fake.options", "[libfuzzer]\ndict = fake.dict\nmax_len = 64\n");
    WriteFile(root_ / "bin/fake_fuzzer", kFakeLibFuzzer);
    chmod((root_ / "bin/fake_fuzzer").c_str(), 0755);
    paths_ = {root_.string(), (root_ / "bin").string(), (root_ / "artifacts").string(),
              (root_ / "build/targets.json").string()};
  }
  void TearDown() override { fs::remove_all(root_); }

  FuzzSessionOptions Options() const {
    FuzzSessionOptions options;
    options.paths = paths_;
    options.target = "fake";
    options.time = absl::Seconds(1);
    options.echo = false;
    return options;
  }

  fs::path root_;
  FuzzPaths paths_;
};

TEST_F(FuzzSessionTest, ListsTargetsWithCorpusSizesAndBinaries) {
  absl::StatusOr<std::vector<FuzzTarget>> targets = ListFuzzTargets(paths_);
  ASSERT_TRUE(targets.ok()) << targets.status();
  ASSERT_EQ(targets->size(), 2u);
  const FuzzTarget& fake = (*targets)[0];
  EXPECT_EQ(fake.name, "fake");
  EXPECT_EQ(fake.corpus_files, 2u);
  EXPECT_EQ(fake.corpus_bytes, 11u);
  EXPECT_EQ(fake.fuzzer_binary, (root_ / "bin/fake_fuzzer").string());
  EXPECT_FALSE(fake.dict_path.empty());
  const FuzzTarget& other = (*targets)[1];
  EXPECT_EQ(other.name, "other");
  EXPECT_EQ(other.corpus_files, 0u);
  EXPECT_TRUE(other.fuzzer_binary.empty());
  EXPECT_TRUE(other.options_path.empty());
}

TEST_F(FuzzSessionTest, MissingBinaryTellsHowToBuildIt) {
  FuzzSessionOptions options = Options();
  options.target = "other";
  absl::StatusOr<FuzzSessionSummary> summary = RunFuzzSession(options);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(summary.status().message(), HasSubstr("cmake --build --preset fuzz"));
  options.target = "nope";
  summary = RunFuzzSession(options);
  ASSERT_FALSE(summary.ok());
  EXPECT_THAT(summary.status().message(), HasSubstr("targets: fake, other"));
}

TEST_F(FuzzSessionTest, OptionsBecomeFlagsWithTheDictionaryResolved) {
  absl::StatusOr<std::vector<std::string>> flags =
      ReadLibFuzzerOptions((root_ / "corpora/fake.options").string());
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(*flags, ElementsAre(absl::StrCat("-dict=", (root_ / "corpora/fake.dict").string()),
                                  "-max_len=64"));
  WriteFile(root_ / "bad.options", "[libfuzzer]\nmax_len\n");
  EXPECT_THAT(ReadLibFuzzerOptions((root_ / "bad.options").string()).status().message(),
              HasSubstr("bad.options:2"));
  WriteFile(root_ / "other.options", "[asan]\ndetect_leaks = 0\n[libfuzzer]\nrss_limit_mb=100\n");
  EXPECT_THAT(*ReadLibFuzzerOptions((root_ / "other.options").string()),
              ElementsAre("-rss_limit_mb=100"));
}

TEST_F(FuzzSessionTest, StatsFromFinalStatsOrForkModeLines) {
  LibFuzzerStats stats = ParseLibFuzzerStats(
      "#2\tINITED cov: 5 exec/s: 0\n#4096\tpulse  cov: 9 exec/s: 2048 rss: 30Mb\n"
      "stat::number_of_executed_units: 5000\nstat::average_exec_per_sec: 2500\n"
      "stat::new_units_added: 3\n");
  EXPECT_EQ(stats.execs, 5000u);
  EXPECT_EQ(stats.execs_per_second, 2500u);
  EXPECT_EQ(stats.new_units, 3u);
  stats = ParseLibFuzzerStats(
      "#100: cov: 1 ft: 1 corp: 1 exec/s: 50 oom/timeout/crash: 0/0/0 time: 2s job: 1\n"
      "#90000: cov: 9 ft: 9 corp: 9 exec/s: 30000 oom/timeout/crash: 0/0/1 time: 3s job: 2\n"
      "INFO: fuzzed for 3 seconds, wrapping up soon\n");
  EXPECT_EQ(stats.execs, 90000u);
  EXPECT_EQ(stats.execs_per_second, 30000u);
}

TEST_F(FuzzSessionTest, MergesNewCoverageAndTriagesCrashesBySignature) {
  absl::StatusOr<FuzzSessionSummary> summary = RunFuzzSession(Options());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->execs, 12345u);
  EXPECT_EQ(summary->execs_per_second, 6789u);
  EXPECT_EQ(summary->corpus_files_before, 2u);
  EXPECT_EQ(summary->new_inputs, 2u);
  EXPECT_EQ(summary->merged_files, 1u) << summary->merge_note;
  // The seeds stay, the coverage-adding input joins them, the other one does not.
  EXPECT_TRUE(fs::exists(root_ / "corpora/fake/seed-1"));
  EXPECT_TRUE(fs::exists(root_ / "corpora/fake/seed-2"));
  EXPECT_TRUE(fs::exists(root_ / "corpora/fake/new-keep-1"));
  EXPECT_FALSE(fs::exists(root_ / "corpora/fake/new-drop-1"));

  EXPECT_EQ(summary->crashes_total, 3);
  EXPECT_EQ(summary->unique_crashes(), 2);
  EXPECT_TRUE(summary->found_anything());
  const CrashRecord& bug_a = summary->crashes[0];
  EXPECT_EQ(bug_a.signature, "asan heap-buffer-overflow | ParseA | LLVMFuzzerTestOneInput");
  EXPECT_EQ(bug_a.count, 2);
  EXPECT_TRUE(bug_a.new_in_session);
  EXPECT_EQ(testing::ReadFileForTest((bug_a.input)), "bugA\n");  // Minimized: same signature, fewer bytes.
  EXPECT_THAT(bug_a.replay_command, HasSubstr("fake_fuzzer"));
  EXPECT_THAT(bug_a.replay_command, HasSubstr("-max_len=64"));
  EXPECT_THAT(bug_a.replay_command, ::testing::EndsWith(bug_a.input));
  const fs::path dir_a(bug_a.dir);
  EXPECT_THAT(testing::ReadFileForTest((dir_a / "report.md")), HasSubstr("ERROR: AddressSanitizer"));
  EXPECT_THAT(testing::ReadFileForTest((dir_a / "replay.sh")), HasSubstr(bug_a.replay_command));
  EXPECT_TRUE(fs::exists(dir_a / "originals/crash-1"));
  EXPECT_TRUE(fs::exists(dir_a / "originals/crash-2"));
  const nlohmann::json crash_json = nlohmann::json::parse(testing::ReadFileForTest((dir_a / "crash.json")));
  EXPECT_EQ(crash_json["count"], 2);
  EXPECT_EQ(crash_json["tool"], "asan");
  EXPECT_EQ(summary->crashes[1].signature,
            "asan heap-buffer-overflow | ParseB | LLVMFuzzerTestOneInput");
  EXPECT_EQ(summary->crashes[1].count, 1);
  // raw/ keeps only what is not a finding.
  EXPECT_FALSE(fs::exists(root_ / "artifacts/fake/raw/crash-1"));
  EXPECT_TRUE(fs::exists(root_ / "artifacts/fake/raw/slow-unit-4"));
  EXPECT_TRUE(fs::exists(root_ / "artifacts/fake/last_session.json"));
  EXPECT_THAT(summary->ToText(), HasSubstr("2 unique, 3 total"));

  // The next session sees the same bugs again: counted, not new.
  absl::StatusOr<FuzzSessionSummary> again = RunFuzzSession(Options());
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->unique_crashes(), 2);
  EXPECT_FALSE(again->crashes[0].new_in_session);
  EXPECT_EQ(again->crashes[0].count, 4);
  EXPECT_EQ(again->crashes[0].input, bug_a.input);
  EXPECT_EQ(again->merged_files, 0u);  // new-keep-1 is a seed now.
}

TEST_F(FuzzSessionTest, NoMergeLeavesTheCorpusAlone) {
  FuzzSessionOptions options = Options();
  options.merge = false;
  absl::StatusOr<FuzzSessionSummary> summary = RunFuzzSession(options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->merged_files, 0u);
  EXPECT_FALSE(fs::exists(root_ / "corpora/fake/new-keep-1"));
  EXPECT_THAT(summary->merge_note, HasSubstr("disabled"));
}

TEST_F(FuzzSessionTest, FindSourceRootWantsCorpora) {
  EXPECT_EQ(*FindSourceRoot(root_.string()), root_.string());
  EXPECT_FALSE(FindSourceRoot((root_ / "bin").string()).ok());
}

}  // namespace
}  // namespace netrig
