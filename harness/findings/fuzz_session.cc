#include "harness/findings/fuzz_session.h"

#include <filesystem>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "harness/findings/fuzz_session_internal.h"
#include "nlohmann/json.hpp"

namespace netrig::internal::fuzz_session {

Session::Session(const FuzzSessionOptions& options, FuzzTarget target)
    : options_(options), target_(std::move(target)) {
  const fs::path base = fs::path(options.paths.artifacts_dir) / target_.name;
  base_dir_ = base.string();
  work_corpus_ = (base / "corpus").string();
  raw_dir_ = (base / "raw").string();
  crashes_dir_ = (base / "crashes").string();
  summary_.target = target_.name;
}

absl::StatusOr<FuzzSessionSummary> Session::Run() {
  if (absl::Status status = Prepare(); !status.ok()) return status;
  if (absl::Status status = Fuzz(); !status.ok()) return status;
  Merge();
  Triage();
  WriteTextFile(
      (fs::path(base_dir_) / "last_session.json").string(),
      summary_.ToJson().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n")
      .IgnoreError();
  return summary_;
}

}  // namespace netrig::internal::fuzz_session

namespace netrig {

nlohmann::json FuzzSessionSummary::ToJson() const {
  nlohmann::json crash_list = nlohmann::json::array();
  for (const auto& crash : crashes) crash_list.push_back(crash.ToJson());
  return {{"target", target},
          {"fuzzer_exit", fuzzer_exit},
          {"interrupted", interrupted},
          {"fuzzing_seconds", absl::ToDoubleSeconds(fuzzing_time)},
          {"execs", execs},
          {"execs_per_second", execs_per_second},
          {"coverage", coverage},
          {"features", features},
          {"corpus_files_before", corpus_files_before},
          {"corpus_files_after", corpus_files_before + merged_files},
          {"new_inputs", new_inputs},
          {"merged_files", merged_files},
          {"merge_note", merge_note},
          {"crashes_total", crashes_total},
          {"crashes_unique", unique_crashes()},
          {"crashes_unreproduced", crashes_unreproduced},
          {"crashes_left_raw", crashes_left_raw},
          {"crashes", crash_list}};
}

std::string FuzzSessionSummary::ToText() const {
  std::string text = absl::StrFormat(
      "netrig fuzz %s: %d execs (%d exec/s) in %s%s; fuzzer %s\n"
      "  corpus: %d files, %d new inputs, %d merged into corpora/%s%s\n"
      "  crashes: %d unique, %d total",
      target, execs, execs_per_second,
      absl::FormatDuration(absl::Trunc(fuzzing_time, absl::Seconds(1))),
      interrupted ? " (interrupted)" : "", fuzzer_exit, corpus_files_before, new_inputs,
      merged_files, target, merge_note.empty() ? "" : absl::StrCat(" (", merge_note, ")"),
      unique_crashes(), crashes_total);
  if (crashes_unreproduced > 0) absl::StrAppend(&text, ", ", crashes_unreproduced, " unreproduced");
  if (crashes_left_raw > 0) absl::StrAppend(&text, ", ", crashes_left_raw, " left untriaged");
  absl::StrAppend(&text, "\n");
  for (const auto& crash : crashes) {
    absl::StrAppend(&text, "  ", crash.new_in_session ? "NEW " : "seen ", crash.signature, " (x",
                    crash.count, ")\n    ", crash.dir,
                    "/report.md\n    replay: ", crash.replay_command, "\n");
  }
  return text;
}

absl::StatusOr<FuzzSessionSummary> RunFuzzSession(const FuzzSessionOptions& options) {
  if (options.jobs < 1) return absl::InvalidArgumentError("--jobs must be at least 1");
  if (options.time <= absl::ZeroDuration())
    return absl::InvalidArgumentError("--time must be positive");
  absl::StatusOr<FuzzTarget> target = FindFuzzTarget(options.paths, options.target);
  if (!target.ok()) return target.status();
  if (target->fuzzer_binary.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the libFuzzer binary for ", target->name, " is not built (looked for ",
                     options.paths.fuzzer_dir, "/", target->name,
                     "_fuzzer); build the fuzz preset:\n"
                     "  cmake --preset fuzz && cmake --build --preset fuzz --target ",
                     target->name, "_fuzzer\nor point --fuzzer_dir at a directory that holds it"));
  }
  if (target->corpus_files == 0 && !internal::fuzz_session::IsDirectory(target->corpus_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(target->corpus_dir, " does not exist"));
  }
  internal::fuzz_session::Session session(options, *std::move(target));
  return session.Run();
}

}  // namespace netrig
