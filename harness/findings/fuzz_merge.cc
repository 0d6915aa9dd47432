#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session_internal.h"

namespace netrig::internal::fuzz_session {
namespace {

constexpr absl::Duration kMergeTimeout = absl::Minutes(10);

}  // namespace

bool Session::SupportsSetCoverMerge() const {
  absl::StatusOr<ChildResult> help =
      RunChild(Child({target_.fuzzer_binary, "-help=1"}, "help.log", absl::Seconds(30), false));
  return help.ok() &&
         absl::StrContains(ReadFileOrEmpty((fs::path(base_dir_) / "help.log").string()),
                           "set_cover_merge");
}

void Session::Merge() {
  if (!options_.merge) {
    summary_.merge_note = "merge disabled (--nomerge)";
    return;
  }
  if (summary_.new_inputs == 0) {
    summary_.merge_note = "no new inputs";
    return;
  }
  if (InterruptedAgain()) {
    summary_.merge_note = "interrupted before the merge";
    return;
  }
  // Into a fresh copy of the corpus, so that corpora/<target> only ever gains whole files.
  const std::string staging = (fs::path(base_dir_) / "merge").string();
  if (!FreshCopy(target_.corpus_dir, staging).ok()) {
    summary_.merge_note = "cannot prepare the merge directory";
    return;
  }
  std::vector<std::string> argv = {target_.fuzzer_binary};
  argv.insert(argv.end(), option_flags_.begin(), option_flags_.end());
  argv.push_back(SupportsSetCoverMerge() ? "-set_cover_merge=1" : "-merge=1");
  argv.push_back(absl::StrCat("-artifact_prefix=", raw_dir_, "/"));
  argv.push_back(staging);
  argv.push_back(work_corpus_);
  std::fprintf(stderr, "netrig fuzz: merging: %s\n", ShellLine(argv).c_str());
  absl::StatusOr<ChildResult> result =
      RunChild(Child(argv, "merge.log", kMergeTimeout, /*echo=*/false));
  if (!result.ok() || !result->ok()) {
    summary_.merge_note = absl::StrCat(
        "merge failed (", result.ok() ? result->Describe() : result.status().ToString(), "); see ",
        base_dir_, "/merge.log; the new inputs stay in ", work_corpus_);
    return;
  }
  for (const fs::path& file : FilesIn(staging)) {
    if (seed_names_.count(file.filename()) != 0) continue;
    std::error_code error;
    fs::copy_file(file, fs::path(target_.corpus_dir) / file.filename(),
                  fs::copy_options::skip_existing, error);
    if (!error) ++summary_.merged_files;
  }
}

}  // namespace netrig::internal::fuzz_session
