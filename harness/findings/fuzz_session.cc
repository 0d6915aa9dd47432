#include "harness/findings/fuzz_session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "harness/base/file_io.h"
#include "harness/findings/child_process.h"
#include "harness/findings/json_input.h"
#include "harness/findings/stack_signature.h"

#ifndef NETRIG_BUILD_SOURCE_DIR
#define NETRIG_BUILD_SOURCE_DIR ""
#endif

namespace netrig {
namespace {

namespace fs = std::filesystem;

// libFuzzer's own default (1200 s) would make a hang cost twenty minutes.
constexpr int kDefaultTimeoutPerInputS = 25;
constexpr absl::Duration kMergeTimeout = absl::Minutes(10);
constexpr absl::Duration kWrapUpGrace = absl::Seconds(60);

bool IsDirectory(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

bool IsExecutableFile(const std::string& path) {
  std::error_code error;
  return fs::is_regular_file(path, error) && access(path.c_str(), X_OK) == 0;
}

// A log or record this session wrote; empty when it cannot be read. Bounded all the same: the
// artifacts directory outlives the session that wrote it.
std::string ReadFileOrEmpty(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileLimited(path, kMaxJsonFileBytes);
  return text.ok() ? *std::move(text) : std::string();
}

absl::Status WriteTextFile(const std::string& path, absl::string_view text) {
  return WriteFileAtomically(path, text);
}

// Regular files directly in `dir`, sorted by name.
std::vector<fs::path> FilesIn(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

absl::Status MakeDirs(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error)
    return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  return absl::OkStatus();
}

// Empties `to` (creating it) and copies the regular files of `from` into it.
absl::Status FreshCopy(const std::string& from, const std::string& to) {
  std::error_code error;
  fs::remove_all(to, error);
  if (absl::Status made = MakeDirs(to); !made.ok()) return made;
  for (const fs::path& file : FilesIn(from)) {
    fs::copy_file(file, fs::path(to) / file.filename(), fs::copy_options::overwrite_existing,
                  error);
    if (error)
      return absl::UnavailableError(
          absl::StrCat("cannot copy ", file.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

std::string QuoteForShell(absl::string_view arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-_=./:,+@%") == absl::string_view::npos) {
    return std::string(arg);
  }
  std::string quoted = "'";
  for (char c : arg) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

std::string ShellLine(const std::vector<std::string>& argv) {
  std::vector<std::string> quoted;
  for (const auto& arg : argv) quoted.push_back(QuoteForShell(arg));
  return absl::StrJoin(quoted, " ");
}

bool HasFlag(const std::vector<std::string>& flags, absl::string_view name) {
  const std::string prefix = absl::StrCat("-", name, "=");
  return std::any_of(flags.begin(), flags.end(),
                     [&](const std::string& flag) { return absl::StartsWith(flag, prefix); });
}

int TimeoutPerInput(const std::vector<std::string>& flags) {
  int timeout = kDefaultTimeoutPerInputS;
  for (const auto& flag : flags) {
    absl::string_view value = flag;
    if (absl::ConsumePrefix(&value, "-timeout=")) absl::SimpleAtoi(value, &timeout);
  }
  return timeout;
}

// The section of a fuzzer's output that is the report: from its header to SUMMARY, at most
// 200 lines.
std::string ReportExcerpt(absl::string_view log, const SanitizerReport& report) {
  if (!report.found()) return std::string(log.substr(0, 4000));
  const size_t start = log.find(report.header);
  absl::string_view rest = start == absl::string_view::npos ? log : log.substr(start);
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(rest, '\n')) {
    lines.push_back(line);
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "SUMMARY:") ||
        lines.size() >= 200) {
      break;
    }
  }
  return absl::StrJoin(lines, "\n");
}

struct Reproduction {
  SanitizerReport report;
  StackSignature signature;
  std::string excerpt;
  ChildResult result;
};

class Session {
 public:
  Session(const FuzzSessionOptions& options, FuzzTarget target)
      : options_(options), target_(std::move(target)) {
    const fs::path base = fs::path(options.paths.artifacts_dir) / target_.name;
    base_dir_ = base.string();
    work_corpus_ = (base / "corpus").string();
    raw_dir_ = (base / "raw").string();
    crashes_dir_ = (base / "crashes").string();
    summary_.target = target_.name;
  }

  absl::StatusOr<FuzzSessionSummary> Run() {
    if (absl::Status status = Prepare(); !status.ok()) return status;
    if (absl::Status status = Fuzz(); !status.ok()) return status;
    Merge();
    Triage();
    WriteTextFile((fs::path(base_dir_) / "last_session.json").string(),
                  summary_.ToJson().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n")
        .IgnoreError();
    return summary_;
  }

 private:
  bool InterruptedAgain() const {
    return options_.interrupts != nullptr &&
           options_.interrupts->load(std::memory_order_acquire) > interrupts_after_fuzzing_;
  }

  absl::Status Prepare() {
    for (const std::string& dir : {base_dir_, raw_dir_, crashes_dir_}) {
      if (absl::Status made = MakeDirs(dir); !made.ok()) return made;
    }
    if (absl::Status copied = FreshCopy(target_.corpus_dir, work_corpus_); !copied.ok()) {
      return copied;
    }
    for (const fs::path& file : FilesIn(target_.corpus_dir)) seed_names_.insert(file.filename());
    summary_.corpus_files_before = seed_names_.size();

    if (!target_.options_path.empty()) {
      absl::StatusOr<std::vector<std::string>> flags = ReadLibFuzzerOptions(target_.options_path);
      if (!flags.ok()) return flags.status();
      option_flags_ = *flags;
    }
    if (!HasFlag(option_flags_, "dict") && !target_.dict_path.empty()) {
      option_flags_.push_back(absl::StrCat("-dict=", target_.dict_path));
    }
    for (const auto& flag : options_.extra_flags) option_flags_.push_back(flag);
    if (!HasFlag(option_flags_, "timeout")) {
      option_flags_.push_back(absl::StrCat("-timeout=", kDefaultTimeoutPerInputS));
    }
    for (const auto& flag : option_flags_) {
      if (!absl::StartsWith(flag, "-dict=")) repro_flags_.push_back(flag);
    }
    return absl::OkStatus();
  }

  ChildOptions Child(std::vector<std::string> argv, const std::string& log_name,
                     absl::Duration timeout, bool echo) const {
    ChildOptions child;
    child.argv = std::move(argv);
    child.working_dir = base_dir_;
    child.output_path = (fs::path(base_dir_) / log_name).string();
    child.echo_output = echo;
    child.timeout = timeout;
    child.interrupts = options_.interrupts;
    return child;
  }

  absl::Status Fuzz() {
    const int64_t seconds =
        std::max<int64_t>(1, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(options_.time))));
    std::vector<std::string> argv = {target_.fuzzer_binary};
    argv.insert(argv.end(), option_flags_.begin(), option_flags_.end());
    argv.push_back(absl::StrCat("-max_total_time=", seconds));
    argv.push_back(absl::StrCat("-artifact_prefix=", raw_dir_, "/"));
    argv.push_back("-print_final_stats=1");
    if (options_.jobs > 1) {
      argv.push_back(absl::StrCat("-fork=", options_.jobs));
      // Keep fuzzing after a crash: the session's job is to collect them all.
      argv.push_back("-ignore_crashes=1");
    }
    argv.push_back(work_corpus_);
    std::fprintf(stderr, "netrig fuzz: %s\n", ShellLine(argv).c_str());
    absl::StatusOr<ChildResult> result =
        RunChild(Child(argv, "fuzz.log", absl::Seconds(seconds) + kWrapUpGrace, options_.echo));
    if (!result.ok()) return result.status();
    interrupts_after_fuzzing_ =
        options_.interrupts != nullptr ? options_.interrupts->load(std::memory_order_acquire) : 0;
    summary_.fuzzer_exit = result->Describe();
    summary_.interrupted = result->interrupted;
    summary_.fuzzing_time = result->elapsed;
    const LibFuzzerStats stats =
        ParseLibFuzzerStats(ReadFileOrEmpty((fs::path(base_dir_) / "fuzz.log").string()));
    summary_.execs = stats.execs;
    summary_.execs_per_second = stats.execs_per_second;
    if (summary_.execs_per_second == 0 && summary_.execs > 0) {
      summary_.execs_per_second = static_cast<uint64_t>(
          summary_.execs / std::max(1.0, absl::ToDoubleSeconds(result->elapsed)));
    }
    for (const fs::path& file : FilesIn(work_corpus_)) {
      if (seed_names_.count(file.filename()) == 0) ++summary_.new_inputs;
    }
    return absl::OkStatus();
  }

  bool SupportsSetCoverMerge() const {
    absl::StatusOr<ChildResult> help =
        RunChild(Child({target_.fuzzer_binary, "-help=1"}, "help.log", absl::Seconds(30), false));
    return help.ok() &&
           absl::StrContains(ReadFileOrEmpty((fs::path(base_dir_) / "help.log").string()),
                             "set_cover_merge");
  }

  void Merge() {
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
          "merge failed (", result.ok() ? result->Describe() : result.status().ToString(),
          "); see ", base_dir_, "/merge.log; the new inputs stay in ", work_corpus_);
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

  Reproduction Reproduce(const std::string& input, const std::string& log_name) const {
    Reproduction reproduction;
    std::vector<std::string> argv = {target_.fuzzer_binary};
    argv.insert(argv.end(), repro_flags_.begin(), repro_flags_.end());
    argv.push_back(input);
    absl::StatusOr<ChildResult> result = RunChild(
        Child(argv, log_name, absl::Seconds(TimeoutPerInput(repro_flags_) + 30), /*echo=*/false));
    if (result.ok()) reproduction.result = *result;
    const std::string log = ReadFileOrEmpty((fs::path(base_dir_) / log_name).string());
    reproduction.report = ParseSanitizerReport(log);
    reproduction.signature = ComputeStackSignature(reproduction.report, options_.signature_frames);
    reproduction.excerpt = ReportExcerpt(log, reproduction.report);
    return reproduction;
  }

  std::string ReplayLine(const std::string& input) const {
    std::vector<std::string> argv = {target_.fuzzer_binary};
    argv.insert(argv.end(), repro_flags_.begin(), repro_flags_.end());
    argv.push_back(input);
    return ShellLine(argv);
  }

  // A new signature: minimize (crashes and leaks only: a timeout would cost its timeout per
  // attempt) and keep the minimized input only if it still gives the same signature.
  void StoreNewCrash(const fs::path& raw, const Reproduction& reproduction, CrashRecord* record) {
    const fs::path dir(record->dir);
    const std::string name = raw.filename().string();
    std::string input = (dir / "input").string();
    std::string minimization = "not minimized (timeouts and out-of-memory inputs are kept whole)";
    if (absl::StartsWith(name, "crash-") || absl::StartsWith(name, "leak-")) {
      const std::string minimized = (dir / "input.minimized").string();
      std::vector<std::string> argv = {target_.fuzzer_binary};
      argv.insert(argv.end(), repro_flags_.begin(), repro_flags_.end());
      argv.push_back("-minimize_crash=1");
      argv.push_back(absl::StrCat(
          "-max_total_time=", std::max<int64_t>(1, absl::ToInt64Seconds(options_.minimize_time))));
      argv.push_back(absl::StrCat("-exact_artifact_path=", minimized));
      argv.push_back(raw.string());
      RunChild(Child(argv, "minimize.log", options_.minimize_time + absl::Seconds(60), false))
          .IgnoreError();
      std::error_code error;
      if (fs::is_regular_file(minimized, error)) {
        const Reproduction again = Reproduce(minimized, "reproduce-minimized.log");
        if (again.signature.id == reproduction.signature.id) {
          fs::rename(minimized, input, error);
          minimization = absl::StrFormat("minimized from %d to %d bytes", fs::file_size(raw, error),
                                         fs::file_size(input, error));
        } else {
          fs::remove(minimized, error);
          minimization = "the minimized input gave another signature; kept the original";
        }
      } else {
        minimization = "minimization produced nothing; kept the original";
      }
    }
    std::error_code error;
    if (!fs::exists(input, error)) fs::copy_file(raw, input, error);
    record->input = input;
    record->replay_command = ReplayLine(input);
    WriteTextFile((dir / "replay.sh").string(),
                  absl::StrCat("#!/bin/sh\n", record->replay_command, "\n"))
        .IgnoreError();
    chmod((dir / "replay.sh").c_str(), 0755);
    const std::string replay_runner = absl::StrCat(options_.paths.root, "/build/<preset>/fuzzers/",
                                                   target_.name, "_replay ", input);
    WriteTextFile((dir / "report.md").string(),
                  absl::StrCat("# ", target_.name, ": ", reproduction.signature.text, "\n\n",
                               "- first input: ", name, " (", minimization, ")\n",
                               "- replay (libFuzzer binary): `", record->replay_command, "`\n",
                               "- replay (any preset, TSan included): `", replay_runner, "`\n\n",
                               "```\n", reproduction.excerpt, "\n```\n"))
        .IgnoreError();
  }

  void Triage() {
    for (const fs::path& raw : FilesIn(raw_dir_)) {
      const std::string name = raw.filename().string();
      if (!(absl::StartsWith(name, "crash-") || absl::StartsWith(name, "leak-") ||
            absl::StartsWith(name, "timeout-") || absl::StartsWith(name, "oom-"))) {
        continue;  // slow-unit-* and anything else: not a finding.
      }
      if (InterruptedAgain()) {
        ++summary_.crashes_left_raw;
        continue;
      }
      ++summary_.crashes_total;
      const Reproduction reproduction = Reproduce(raw.string(), "reproduce.log");
      std::error_code error;
      if (!reproduction.report.found() && reproduction.result.ok()) {
        ++summary_.crashes_unreproduced;
        const fs::path unreproduced = fs::path(crashes_dir_) / "unreproduced";
        fs::create_directories(unreproduced, error);
        fs::rename(raw, unreproduced / name, error);
        continue;
      }
      CrashRecord* record = RecordFor(reproduction.signature);
      const fs::path dir(record->dir);
      const bool first_time = !fs::exists(dir / "crash.json", error);
      fs::create_directories(dir / "originals", error);
      if (first_time) {
        record->new_in_session = true;
        StoreNewCrash(raw, reproduction, record);
      }
      fs::rename(raw, dir / "originals" / name, error);
      UpdateCrashJson(reproduction, record);
    }
  }

  CrashRecord* RecordFor(const StackSignature& signature) {
    for (CrashRecord& record : summary_.crashes) {
      if (record.id == signature.id) return &record;
    }
    CrashRecord record;
    record.id = signature.id;
    record.signature = signature.text;
    record.dir = (fs::path(crashes_dir_) / signature.id).string();
    summary_.crashes.push_back(record);
    return &summary_.crashes.back();
  }

  void UpdateCrashJson(const Reproduction& reproduction, CrashRecord* record) {
    const std::string path = (fs::path(record->dir) / "crash.json").string();
    absl::StatusOr<nlohmann::json> read = ParseJsonBounded(ReadFileOrEmpty(path));
    nlohmann::json json = read.ok() ? *std::move(read) : nlohmann::json();
    if (!json.is_object()) {
      json = {{"target", target_.name},
              {"id", record->id},
              {"signature", record->signature},
              {"tool", reproduction.report.tool},
              {"kind", reproduction.report.kind},
              {"frames", reproduction.signature.frames},
              {"input", record->input},
              {"replay_command", record->replay_command},
              {"count", 0},
              {"first_seen", absl::FormatTime(absl::Now())}};
    }
    record->count = static_cast<int>(IntField(json, "count", 0, 1 << 30).value_or(0)) + 1;
    json["count"] = record->count;
    json["last_seen"] = absl::FormatTime(absl::Now());
    record->input = StringField(json, "input").value_or(record->input);
    record->replay_command = StringField(json, "replay_command").value_or(record->replay_command);
    WriteTextFile(path, json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n")
        .IgnoreError();
  }

  const FuzzSessionOptions& options_;
  const FuzzTarget target_;
  std::string base_dir_, work_corpus_, raw_dir_, crashes_dir_;
  std::set<fs::path> seed_names_;
  std::vector<std::string> option_flags_;  // Options file, dictionary, extra flags.
  std::vector<std::string> repro_flags_;   // The same without the dictionary.
  int interrupts_after_fuzzing_ = 0;
  FuzzSessionSummary summary_;
};

}  // namespace

absl::StatusOr<std::string> FindSourceRoot(absl::string_view hint) {
  if (!hint.empty()) {
    const std::string root(hint);
    if (!IsDirectory(root + "/corpora")) {
      return absl::InvalidArgumentError(absl::StrCat(root, " has no corpora/ directory"));
    }
    return fs::absolute(root).lexically_normal().string();
  }
  std::error_code error;
  for (fs::path dir = fs::current_path(error); !error && !dir.empty(); dir = dir.parent_path()) {
    if (IsDirectory((dir / "corpora").string()) && IsDirectory((dir / "fuzzers").string())) {
      return dir.string();
    }
    if (dir == dir.parent_path()) break;
  }
  const std::string built_from = NETRIG_BUILD_SOURCE_DIR;
  if (!built_from.empty() && IsDirectory(built_from + "/corpora")) return built_from;
  return absl::NotFoundError(
      "no netrig source tree (a directory with corpora/ and fuzzers/) here or above; use --root");
}

FuzzPaths DefaultFuzzPaths(const std::string& root) {
  return {root, root + "/build/fuzz/fuzzers", root + "/artifacts", NETRIG_FUZZ_TARGETS_JSON};
}

absl::StatusOr<std::vector<FuzzTarget>> ListFuzzTargets(const FuzzPaths& paths) {
  const std::string list =
      paths.targets_json.empty() ? std::string(NETRIG_FUZZ_TARGETS_JSON) : paths.targets_json;
  absl::StatusOr<nlohmann::json> json = ReadJsonFile(list, 1 << 20);
  if (!json.ok()) {
    return absl::NotFoundError(absl::StrCat("the list of fuzz targets (written by CMake when it "
                                            "configures netrig) cannot be read: ",
                                            json.status().message()));
  }
  std::vector<std::string> names;
  const auto entries = json->find("targets");
  if (entries != json->end() && entries->is_array()) {
    for (const nlohmann::json& entry : *entries) {
      std::optional<std::string> name = StringField(entry, "name");
      if (!name.has_value() || name->empty() ||
          !std::all_of(name->begin(), name->end(), [](char c) {
            return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
          })) {
        return absl::InvalidArgumentError(absl::StrCat(list, ": a target without a valid name"));
      }
      names.push_back(*name);
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<FuzzTarget> targets;
  for (const std::string& name : names) {
    FuzzTarget target;
    target.name = name;
    target.corpus_dir = absl::StrCat(paths.root, "/corpora/", target.name);
    const std::string dict = absl::StrCat(paths.root, "/corpora/", target.name, ".dict");
    const std::string options = absl::StrCat(paths.root, "/corpora/", target.name, ".options");
    std::error_code error;
    if (fs::is_regular_file(dict, error)) target.dict_path = dict;
    if (fs::is_regular_file(options, error)) target.options_path = options;
    for (const std::string& candidate :
         {absl::StrCat(paths.fuzzer_dir, "/", target.name, "_fuzzer"),
          absl::StrCat(paths.fuzzer_dir, "/", target.name)}) {
      if (target.fuzzer_binary.empty() && IsExecutableFile(candidate)) {
        target.fuzzer_binary = candidate;
      }
    }
    for (const fs::path& input : FilesIn(target.corpus_dir)) {
      ++target.corpus_files;
      target.corpus_bytes += fs::file_size(input, error);
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

absl::StatusOr<FuzzTarget> FindFuzzTarget(const FuzzPaths& paths, absl::string_view name) {
  absl::StatusOr<std::vector<FuzzTarget>> targets = ListFuzzTargets(paths);
  if (!targets.ok()) return targets.status();
  std::vector<std::string> names;
  for (FuzzTarget& target : *targets) {
    if (target.name == name) return std::move(target);
    names.push_back(target.name);
  }
  return absl::NotFoundError(absl::StrCat("no fuzz target '", Abbreviate(name, 64),
                                          "'; targets: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<std::vector<std::string>> ParseLibFuzzerOptions(absl::string_view contents,
                                                                absl::string_view path) {
  std::vector<std::string> flags;
  std::string section;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++number;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(Abbreviate(path, 200), ":", number, ": ", why, " (got '",
                       Abbreviate(text, 80), "')"));
    };
    if (text.front() == '[') {
      if (!absl::ConsumeSuffix(&text, "]")) return bad("bad section header");
      section = Abbreviate(absl::StripAsciiWhitespace(text.substr(1)), 64);
      continue;
    }
    const size_t equals = text.find('=');
    if (equals == absl::string_view::npos) return bad("expected key = value");
    if (section != "libfuzzer") continue;
    const std::string key(absl::StripAsciiWhitespace(text.substr(0, equals)));
    std::string value(absl::StripAsciiWhitespace(text.substr(equals + 1)));
    if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
        })) {
      return bad("an option name is letters, digits and '_'");
    }
    if (!std::all_of(value.begin(), value.end(), [](char c) {
          return absl::ascii_isprint(static_cast<unsigned char>(c));
        })) {
      return bad("an option value is printable text");
    }
    if (flags.size() >= 64) return bad("more than 64 options");
    if (key == "dict" && !value.empty() && value.front() != '/') {
      value = (fs::path(std::string(path)).parent_path() / value).lexically_normal().string();
    }
    flags.push_back(absl::StrCat("-", key, "=", value));
  }
  return flags;
}

absl::StatusOr<std::vector<std::string>> ReadLibFuzzerOptions(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFileLimited(path, 1 << 20);
  if (!contents.ok()) return contents.status();
  return ParseLibFuzzerOptions(*contents, path);
}

LibFuzzerStats ParseLibFuzzerStats(absl::string_view log) {
  LibFuzzerStats stats;
  bool final_stats = false;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    absl::string_view value = line;
    if (absl::ConsumePrefix(&value, "stat::number_of_executed_units:")) {
      final_stats =
          absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &stats.execs) || final_stats;
    } else if (absl::ConsumePrefix(&value, "stat::average_exec_per_sec:")) {
      absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &stats.execs_per_second);
    } else if (absl::ConsumePrefix(&value, "stat::new_units_added:")) {
      absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &stats.new_units);
    } else if (!final_stats && absl::ConsumePrefix(&value, "#")) {
      // "#123456\tNEW    cov: ... exec/s: 1234 rss: 40Mb" or, in fork mode, "#123456: cov: ...".
      const size_t end = value.find_first_not_of("0123456789");
      uint64_t execs = 0;
      if (end == 0 || !absl::SimpleAtoi(value.substr(0, end), &execs)) continue;
      const size_t at = value.find("exec/s: ");
      if (at == absl::string_view::npos) continue;
      absl::string_view rate = value.substr(at + 8);
      rate = rate.substr(0, rate.find_first_not_of("0123456789"));
      stats.execs = execs;
      absl::SimpleAtoi(rate, &stats.execs_per_second);
    }
  }
  return stats;
}

nlohmann::json CrashRecord::ToJson() const {
  return {{"id", id},
          {"signature", signature},
          {"dir", dir},
          {"input", input},
          {"replay_command", replay_command},
          {"count", count},
          {"new", new_in_session}};
}

nlohmann::json FuzzSessionSummary::ToJson() const {
  nlohmann::json crash_list = nlohmann::json::array();
  for (const auto& crash : crashes) crash_list.push_back(crash.ToJson());
  return {{"target", target},
          {"fuzzer_exit", fuzzer_exit},
          {"interrupted", interrupted},
          {"fuzzing_seconds", absl::ToDoubleSeconds(fuzzing_time)},
          {"execs", execs},
          {"execs_per_second", execs_per_second},
          {"corpus_files_before", corpus_files_before},
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
  if (target->corpus_files == 0 && !IsDirectory(target->corpus_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(target->corpus_dir, " does not exist"));
  }
  Session session(options, *std::move(target));
  return session.Run();
}

}  // namespace netrig
