#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "harness/findings/child_process.h"
#include "harness/findings/fuzz_session.h"
#include "harness/findings/fuzz_session_internal.h"

namespace netrig::internal::fuzz_session {
namespace {

// libFuzzer's own default (1200 s) would make a hang cost twenty minutes.
constexpr int kDefaultTimeoutPerInputS = 25;
constexpr absl::Duration kWrapUpGrace = absl::Seconds(60);

bool HasFlag(const std::vector<std::string>& flags, absl::string_view name) {
  const std::string prefix = absl::StrCat("-", name, "=");
  return std::any_of(flags.begin(), flags.end(),
                     [&](const std::string& flag) { return absl::StartsWith(flag, prefix); });
}

}  // namespace

int TimeoutPerInput(const std::vector<std::string>& flags) {
  int timeout = kDefaultTimeoutPerInputS;
  for (const auto& flag : flags) {
    absl::string_view value = flag;
    if (absl::ConsumePrefix(&value, "-timeout=")) absl::SimpleAtoi(value, &timeout);
  }
  return timeout;
}

absl::Status Session::Prepare() {
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

ChildOptions Session::Child(std::vector<std::string> argv, const std::string& log_name,
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

absl::Status Session::Fuzz() {
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
  summary_.coverage = stats.coverage;
  summary_.features = stats.features;
  if (summary_.execs_per_second == 0 && summary_.execs > 0) {
    summary_.execs_per_second = static_cast<uint64_t>(
        summary_.execs / std::max(1.0, absl::ToDoubleSeconds(result->elapsed)));
  }
  for (const fs::path& file : FilesIn(work_corpus_)) {
    if (seed_names_.count(file.filename()) == 0) ++summary_.new_inputs;
  }
  return absl::OkStatus();
}

}  // namespace netrig::internal::fuzz_session

namespace netrig {

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
      // Coverage as libFuzzer counts it: "cov:" edges and "ft:" features, the last line's.
      for (auto [key, field] :
           {std::pair{"cov: ", &stats.coverage}, std::pair{"ft: ", &stats.features}}) {
        const size_t key_at = value.find(key);
        if (key_at == absl::string_view::npos) continue;
        absl::string_view number = value.substr(key_at + std::strlen(key));
        number = number.substr(0, number.find_first_not_of("0123456789"));
        if (!absl::SimpleAtoi(number, field)) *field = 0;
      }
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

}  // namespace netrig
