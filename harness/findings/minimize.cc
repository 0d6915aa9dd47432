#include "harness/findings/minimize.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace netrig {
namespace {

// How a flag shrinks. Counts halve down to a floor; the PCT depth steps down by one (each step
// is one priority-change point fewer); behaviours switch off.
enum class Shrink { kHalve, kDecrement, kSetTo };

struct ShrinkRule {
  const char* flag;
  Shrink how;
  int64_t floor;    // kHalve, kDecrement: the smallest value tried (0 operations: unbounded).
  const char* off;  // kSetTo: the value that switches the behaviour off.
};

// Order: what makes later candidates cheaper first (a shorter episode), then what removes
// whole sources of nondeterminism (faults), then the rest.
constexpr ShrinkRule kRules[] = {
    {"operations", Shrink::kHalve, 1, nullptr},
    {"faults", Shrink::kSetTo, 0, "none"},
    {"threads", Shrink::kHalve, 1, nullptr},
    {"concurrency", Shrink::kHalve, 1, nullptr},
    {"flows", Shrink::kHalve, 1, nullptr},
    {"pct_depth", Shrink::kDecrement, 1, nullptr},
    {"cancel_probability", Shrink::kSetTo, 0, "0"},
    {"observer_probability", Shrink::kSetTo, 0, "0"},
    {"reentrant", Shrink::kSetTo, 0, "0"},
    {"bounce", Shrink::kSetTo, 0, "0"},
    {"reopen", Shrink::kSetTo, 0, "false"},
    {"sleep_wake", Shrink::kSetTo, 0, "false"},
    {"path_events", Shrink::kSetTo, 0, "0s"},
    // An uncontrolled run has no operation bound: its duration is its size.
    {"duration", Shrink::kHalve, 0, nullptr},
};

const ShrinkRule* RuleFor(absl::string_view flag) {
  for (const ShrinkRule& rule : kRules) {
    if (flag == rule.flag) return &rule;
  }
  return nullptr;
}

// The next smaller value of `value` under `rule`, or nothing.
std::optional<std::string> Smaller(const ShrinkRule& rule, absl::string_view value) {
  if (rule.how == Shrink::kSetTo) {
    if (value == rule.off) return std::nullopt;
    // "0.0", "0ms": already off, in another spelling.
    double number = 0;
    absl::Duration duration;
    if ((absl::SimpleAtod(value, &number) && number == 0) ||
        (absl::ParseDuration(value, &duration) && duration == absl::ZeroDuration())) {
      return std::nullopt;
    }
    return std::string(rule.off);
  }
  if (absl::string_view(rule.flag) == "duration") {
    absl::Duration duration;
    if (!absl::ParseDuration(value, &duration)) return std::nullopt;
    const absl::Duration half = absl::Floor(duration / 2, absl::Milliseconds(1));
    if (half < absl::Milliseconds(100)) return std::nullopt;
    return absl::FormatDuration(half);
  }
  int64_t number = 0;
  if (!absl::SimpleAtoi(value, &number) || number <= rule.floor) return std::nullopt;
  const int64_t next = rule.how == Shrink::kHalve ? number / 2 : number - 1;
  return absl::StrCat(std::max(next, rule.floor));
}

std::string ValueOf(const std::vector<std::string>& args, absl::string_view flag) {
  const std::string prefix = absl::StrCat("--", flag, "=");
  std::string value;
  for (const std::string& arg : args) {
    if (absl::StartsWith(arg, prefix)) value = arg.substr(prefix.size());  // The last one counts.
  }
  return value;
}

}  // namespace

const std::vector<std::string>& ShrinkableFlags() {
  static const std::vector<std::string>* flags = [] {
    auto* list = new std::vector<std::string>;
    for (const ShrinkRule& rule : kRules) list->push_back(rule.flag);
    return list;
  }();
  return *flags;
}

std::optional<std::vector<std::string>> ShrinkFlag(const std::vector<std::string>& args,
                                                   const std::string& flag) {
  const ShrinkRule* rule = RuleFor(flag);
  if (rule == nullptr) return std::nullopt;
  const std::string prefix = absl::StrCat("--", flag, "=");
  bool present = false;
  for (const std::string& arg : args) present |= absl::StartsWith(arg, prefix);
  if (!present) return std::nullopt;
  // A controlled run bounded by operations ends by them: its --duration is only a cap.
  if (flag == "duration") {
    const std::string operations = ValueOf(args, "operations");
    if (!operations.empty() && operations != "0") return std::nullopt;
  }
  std::optional<std::string> smaller = Smaller(*rule, ValueOf(args, flag));
  if (!smaller.has_value()) return std::nullopt;
  std::vector<std::string> shrunk;
  for (const std::string& arg : args) {
    if (!absl::StartsWith(arg, prefix)) shrunk.push_back(arg);
  }
  shrunk.push_back(prefix + *smaller);
  return shrunk;
}

absl::StatusOr<MinimizeResult> MinimizeFinding(const Finding& finding,
                                               const MinimizeOptions& options) {
  FILE* log = options.replay.log;
  ReplayOptions replay = options.replay;
  replay.expect = std::string(kExpectReproduce);
  replay.check_determinism = 0;

  // It must reproduce as it is, strictly if it can: nothing else says which violation to keep.
  replay.strict = true;
  if (log != nullptr) std::fprintf(log, "minimize: the finding as recorded\n");
  absl::StatusOr<ReplayResult> first = ReplayFinding(finding, replay);
  if (!first.ok()) return first.status();
  MinimizeResult result;
  result.smallest = finding;
  if (first->interrupted) {
    result.interrupted = true;
    return result;
  }
  if (!first->reproduced) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the finding did not reproduce in ", first->runs.size(), " run(s): nothing to minimize"));
  }

  // Candidates run by seed with their changed arguments; their own schedule is what they record.
  replay.strict = false;
  int candidates = 0;
  bool shrank = true;
  while (shrank && candidates < options.max_candidates) {
    shrank = false;
    for (const std::string& flag : ShrinkableFlags()) {
      while (candidates < options.max_candidates) {
        std::optional<std::vector<std::string>> args = ShrinkFlag(result.smallest.args, flag);
        if (!args.has_value()) break;
        ++candidates;
        MinimizeStep step;
        step.change = absl::StrCat("--", flag, "=", ValueOf(result.smallest.args, flag), " -> ",
                                   ValueOf(*args, flag));
        if (log != nullptr) {
          std::fprintf(log, "minimize: candidate %d: %s\n", candidates, step.change.c_str());
          std::fflush(log);
        }
        Finding candidate = result.smallest;
        candidate.args = *std::move(args);
        candidate.schedule.reset();
        absl::StatusOr<ReplayResult> replayed = ReplayFinding(candidate, replay);
        if (!replayed.ok()) return replayed.status();
        if (replayed->interrupted) {
          result.interrupted = true;
          return result;
        }
        const ReplayRun* reproducing = nullptr;
        for (const ReplayRun& run : replayed->runs) {
          if (run.reproduced) reproducing = &run;
        }
        step.kept = reproducing != nullptr && !replayed->timed_out;
        if (log != nullptr) {
          std::fprintf(log, "minimize: candidate %d: %s\n", candidates,
                       step.kept ? "still reproduces: kept" : "no longer reproduces: dropped");
          std::fflush(log);
        }
        result.steps.push_back(step);
        if (!step.kept) break;
        ++result.kept;
        shrank = true;
        // The run's own file: its arguments as it recorded them, and its own schedule.
        Finding smaller = reproducing->written.has_value() ? *reproducing->written : candidate;
        smaller.expect = finding.expect;
        if (!smaller.exit_code.has_value()) smaller.exit_code = finding.exit_code;
        result.smallest = std::move(smaller);
      }
    }
  }

  if (result.kept > 0 && result.smallest.schedule.has_value()) {
    ReplayOptions strict = replay;
    strict.strict = true;
    strict.times = 1;
    if (log != nullptr) std::fprintf(log, "minimize: the smallest, replayed strictly once\n");
    absl::StatusOr<ReplayResult> check = ReplayFinding(result.smallest, strict);
    if (!check.ok()) return check.status();
    result.interrupted = check->interrupted;
    result.replays_strictly = check->reproduced;
  }
  return result;
}

}  // namespace netrig
