// OptionTable<T>: every option of a command declared once (name, field, default, help, range,
// role), in the spirit of libFuzzer's FuzzerFlags.def; parsing, validation, `netrig help` and the
// replay arguments are all derived from the one declaration.
//
// The default of an option is the value of its field in a default-constructed T. Parsing is
// strict: a value that does not parse, is out of range, NaN or infinite, or is missing is an
// InvalidArgument error that names the option and the expected form; a separate value
// (`--json FILE`) never starts with "--", so `--json --duration=1s` is an error, not a file named
// "--duration=1s". Names take '-' and '_' alike (`--allow-remote` is `--allow_remote`); a bool
// option is set by `--name`, `--name=true|false` or `--noname`.
//
// Roles say what `netrig replay FILE` may take from a file (a finding file is data, not
// authority): only kWorkload options are recorded in replay arguments and accepted back;
// kOutput (where results go), kAuthority (opt-ins such as --allow_remote) and kAction (such as
// --list_flows) come only from the user's own command line.
//
// Example:
//   struct Options { absl::Duration duration = absl::Seconds(10); int threads = 2;
//                    std::string json; };
//   const auto& table = *new netrig::OptionTable<Options>(
//       netrig::OptionTable<Options>()
//           .Duration("duration", &Options::duration, absl::Milliseconds(1), absl::Hours(168),
//                     "How long to run.")
//           .Int("threads", &Options::threads, 1, 64, "Driver threads.")
//           .String("json", &Options::json, "Write the JSON report here.", "FILE",
//                   netrig::OptionRole::kOutput));
//   Options options;
//   absl::StatusOr<std::vector<std::string>> positional = table.Parse(args, options);
//   std::vector<std::string> replay = table.Render(options);  // {"--duration=10s", "--threads=2"}
#ifndef NETRIG_HARNESS_BASE_OPTION_TABLE_H_
#define NETRIG_HARNESS_BASE_OPTION_TABLE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace netrig {

enum class OptionRole {
  kWorkload,   // Shapes the run: recorded in replay arguments and accepted back from a file.
  kOutput,     // Where results go (--json, --finding_dir): never recorded, never from a file.
  kAuthority,  // An opt-in only the user's own command line may give (--allow_remote).
  kAction,     // Makes the command do something else instead (--list_flows).
};

namespace option_internal {

// Keeps an error message short and printable whatever the input: a hostile argument can be
// megabytes long or hold control bytes.
inline std::string Shorten(absl::string_view text) {
  constexpr size_t kShown = 60;
  std::string out;
  for (char c : text.substr(0, kShown)) {
    if (absl::ascii_isprint(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  if (text.size() > kShown) absl::StrAppend(&out, "... (", text.size(), " bytes)");
  return out;
}

inline std::string Quote(absl::string_view text) { return absl::StrCat("'", Shorten(text), "'"); }

inline std::string FormatDouble(double value) { return absl::StrCat(value); }

inline bool ParseBool(absl::string_view text, bool* out) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "1" || lower == "yes") {
    *out = true;
    return true;
  }
  if (lower == "false" || lower == "0" || lower == "no") {
    *out = false;
    return true;
  }
  return false;
}

inline std::string Normalize(absl::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == '-') c = '_';
  }
  return out;
}

}  // namespace option_internal

template <typename T>
class OptionTable {
 public:
  struct Option {
    std::string name;
    std::vector<std::string> aliases;
    std::string value_name;  // "N", "DURATION", "FILE"; empty for a bool option.
    std::string range;       // "1-64", "1ms-7d", "" when any value of the type goes.
    std::string help;
    OptionRole role = OptionRole::kWorkload;
    bool is_bool = false;
    std::function<absl::Status(absl::string_view text, T& options)> parse;
    std::function<std::string(const T& options)> format;
    // Whether Render() includes it for these options (null: always). E.g. --peer only when set.
    std::function<bool(const T& options)> recorded;
  };

  // The table `make` builds, built once per process (for a command's `const OptionTable<T>&
  // XTable()` accessor).
  static const OptionTable& Once(OptionTable (*make)()) {
    static const OptionTable* const table = new OptionTable(make());
    return *table;
  }

  OptionTable& Add(Option option) {
    options_.push_back(std::move(option));
    return *this;
  }

  // Adds another spelling of the last option added.
  OptionTable& Alias(absl::string_view alias) {
    options_.back().aliases.emplace_back(alias);
    return *this;
  }
  // Render() includes the last option added only when `when(options)` holds.
  OptionTable& RecordedWhen(std::function<bool(const T&)> when) {
    options_.back().recorded = std::move(when);
    return *this;
  }

  OptionTable& Int(absl::string_view name, int T::*field, int min, int max,
                   absl::string_view help, OptionRole role = OptionRole::kWorkload) {
    return Integer<int>(name, field, min, max, help, role);
  }
  OptionTable& UInt32(absl::string_view name, uint32_t T::*field, uint32_t min, uint32_t max,
                      absl::string_view help, OptionRole role = OptionRole::kWorkload) {
    return Integer<uint32_t>(name, field, min, max, help, role);
  }
  OptionTable& UInt64(absl::string_view name, uint64_t T::*field, uint64_t min, uint64_t max,
                      absl::string_view help, OptionRole role = OptionRole::kWorkload) {
    return Integer<uint64_t>(name, field, min, max, help, role);
  }

  // One of a closed set of words, each naming a value of an enum.
  template <typename E>
  OptionTable& Enum(absl::string_view name, E T::*field,
                    std::vector<std::pair<std::string, E>> choices, absl::string_view help,
                    OptionRole role = OptionRole::kWorkload) {
    std::vector<std::string> words;
    for (const auto& choice : choices) words.push_back(choice.first);
    const std::string range = absl::StrJoin(words, "|");
    return Add({std::string(name), {}, "WORD", range, std::string(help), role, false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  for (const auto& [word, value] : choices) {
                    if (text == word) {
                      options.*field = value;
                      return absl::OkStatus();
                    }
                  }
                  return Invalid(name, text, absl::StrCat("one of ", range));
                },
                [=](const T& options) {
                  for (const auto& [word, value] : choices) {
                    if (options.*field == value) return word;
                  }
                  return std::string("?");
                },
                nullptr});
  }

  // An option of any type: `parse` sets the field from text (an error says why, without the
  // option's name, which is added), `format` renders it back.
  OptionTable& Custom(absl::string_view name, absl::string_view value_name,
                      absl::string_view help,
                      std::function<absl::Status(absl::string_view, T&)> parse,
                      std::function<std::string(const T&)> format,
                      OptionRole role = OptionRole::kWorkload) {
    return Add({std::string(name), {}, std::string(value_name), "", std::string(help), role,
                false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  if (absl::Status ok = parse(text, options); !ok.ok()) {
                    return absl::InvalidArgumentError(absl::StrCat("--", name, "=",
                                                                   option_internal::Quote(text),
                                                                   ": ", ok.message()));
                  }
                  return absl::OkStatus();
                },
                std::move(format), nullptr});
  }

  OptionTable& Double(absl::string_view name, double T::*field, double min, double max,
                      absl::string_view help, OptionRole role = OptionRole::kWorkload) {
    const std::string range = absl::StrCat(min, "-", max);
    return Add({std::string(name), {}, "X", range, std::string(help), role, false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  double value = 0;
                  // SimpleAtod would take " 5" and "5 "; a flag value is the number alone.
                  if (text.empty() || absl::ascii_isspace(static_cast<unsigned char>(text.front())) ||
                      absl::ascii_isspace(static_cast<unsigned char>(text.back())) ||
                      !absl::SimpleAtod(text, &value) || !std::isfinite(value) || value < min ||
                      value > max) {
                    return Invalid(name, text, absl::StrCat("a number in [", range, "]"));
                  }
                  options.*field = value;
                  return absl::OkStatus();
                },
                [=](const T& options) { return option_internal::FormatDouble(options.*field); },
                nullptr});
  }

  OptionTable& Duration(absl::string_view name, absl::Duration T::*field, absl::Duration min,
                        absl::Duration max, absl::string_view help,
                        OptionRole role = OptionRole::kWorkload) {
    const std::string range =
        absl::StrCat(absl::FormatDuration(min), "-", absl::FormatDuration(max));
    return Add({std::string(name), {}, "DURATION", range, std::string(help), role, false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  absl::Duration value;
                  if (!absl::ParseDuration(text, &value) || value == absl::InfiniteDuration() ||
                      value == -absl::InfiniteDuration() || value < min || value > max) {
                    return Invalid(name, text,
                                   absl::StrCat("a duration with a unit (10s, 500ms, 2m) in [",
                                                range, "]"));
                  }
                  options.*field = value;
                  return absl::OkStatus();
                },
                [=](const T& options) { return absl::FormatDuration(options.*field); }, nullptr});
  }

  OptionTable& Bool(absl::string_view name, bool T::*field, absl::string_view help,
                    OptionRole role = OptionRole::kWorkload) {
    return Add({std::string(name), {}, "", "", std::string(help), role, true,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  bool value = false;
                  if (!option_internal::ParseBool(text, &value)) {
                    return Invalid(name, text, "true or false");
                  }
                  options.*field = value;
                  return absl::OkStatus();
                },
                [=](const T& options) { return std::string(options.*field ? "true" : "false"); },
                nullptr});
  }

  // Any string; `check` (optional) refuses some, with a reason.
  OptionTable& String(absl::string_view name, std::string T::*field, absl::string_view help,
                      absl::string_view value_name = "TEXT",
                      OptionRole role = OptionRole::kWorkload,
                      std::function<absl::Status(absl::string_view)> check = nullptr) {
    return Add({std::string(name), {}, std::string(value_name), "", std::string(help), role,
                false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  // An output path that looks like a flag is a mistake (`--json=--x`), not a
                  // file to create; "-" (stdout) and "./-x" still work.
                  if (role == OptionRole::kOutput && text.size() > 1 && text.front() == '-') {
                    return Invalid(name, text, "a path (write ./-x for a file named -x)");
                  }
                  if (check != nullptr) {
                    if (absl::Status ok = check(text); !ok.ok()) {
                      return absl::InvalidArgumentError(
                          absl::StrCat("--", name, ": ", ok.message()));
                    }
                  }
                  options.*field = std::string(text);
                  return absl::OkStatus();
                },
                [=](const T& options) { return options.*field; }, nullptr});
  }

  // One of a closed set of words.
  OptionTable& Choice(absl::string_view name, std::string T::*field,
                      std::vector<std::string> choices, absl::string_view help,
                      OptionRole role = OptionRole::kWorkload) {
    const std::string range = absl::StrJoin(choices, "|");
    return Add({std::string(name), {}, "WORD", range, std::string(help), role, false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  for (const std::string& choice : choices) {
                    if (text == choice) {
                      options.*field = choice;
                      return absl::OkStatus();
                    }
                  }
                  return Invalid(name, text, absl::StrCat("one of ", range));
                },
                [=](const T& options) { return options.*field; }, nullptr});
  }

  // A 64-bit seed in decimal; empty means "not given".
  OptionTable& Seed(absl::string_view name, std::optional<uint64_t> T::*field,
                    absl::string_view help) {
    return Add({std::string(name), {}, "N", "", std::string(help), OptionRole::kWorkload, false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  if (text.empty()) {
                    options.*field = std::nullopt;
                    return absl::OkStatus();
                  }
                  uint64_t value = 0;
                  if (!IsDecimal(text) || !absl::SimpleAtoi(text, &value)) {
                    return Invalid(name, text, "a decimal 64-bit number");
                  }
                  options.*field = value;
                  return absl::OkStatus();
                },
                [=](const T& options) {
                  return (options.*field).has_value() ? absl::StrCat(*(options.*field))
                                                      : std::string();
                },
                [=](const T& options) { return (options.*field).has_value(); }});
  }

  const std::vector<Option>& options() const { return options_; }

  // By name or alias; '-' and '_' alike.
  const Option* Find(absl::string_view name) const {
    const std::string wanted = option_internal::Normalize(name);
    for (const Option& option : options_) {
      if (option.name == wanted) return &option;
      for (const std::string& alias : option.aliases) {
        if (alias == wanted) return &option;
      }
    }
    return nullptr;
  }

  // Parses `args` (what follows the subcommand) into `options`, which holds the defaults or
  // earlier values. Returns the positional arguments. Everything after "--" is positional.
  absl::StatusOr<std::vector<std::string>> Parse(const std::vector<std::string>& args,
                                                 T& options) const {
    std::vector<std::string> positional;
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg == "--") {
        positional.insert(positional.end(), args.begin() + static_cast<ptrdiff_t>(i) + 1,
                          args.end());
        break;
      }
      if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
        positional.push_back(arg);
        continue;
      }
      absl::string_view body = arg;
      body.remove_prefix(absl::StartsWith(body, "--") ? 2 : 1);
      const size_t equals = body.find('=');
      const absl::string_view name = body.substr(0, equals);
      const Option* option = Find(name);
      bool negated = false;
      if (option == nullptr && absl::StartsWith(name, "no")) {
        option = Find(name.substr(2));
        negated = option != nullptr && option->is_bool;
        if (!negated) option = nullptr;
      }
      if (option == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown flag --", option_internal::Shorten(name)));
      }
      std::string value;
      if (negated) {
        if (equals != absl::string_view::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat("--no", option->name, " takes no value"));
        }
        value = "false";
      } else if (equals != absl::string_view::npos) {
        value = std::string(body.substr(equals + 1));
      } else if (option->is_bool) {
        value = "true";
      } else {
        if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
          return absl::InvalidArgumentError(
              absl::StrCat("--", option->name, " needs a value (", Expected(*option), ")"));
        }
        value = args[++i];
      }
      if (absl::Status parsed = option->parse(value, options); !parsed.ok()) return parsed;
    }
    return positional;
  }

  // Reads arguments that came from a file (a finding file's "args"), not from the user: only
  // kWorkload options are taken, every other option is left at its default and named in
  // `dropped`; a positional argument, an unknown flag, a NUL byte, more than kMaxRecordedArgs
  // arguments or one longer than kMaxRecordedArgBytes is an error. Values are validated as on a
  // command line.
  static constexpr size_t kMaxRecordedArgs = 256;
  static constexpr size_t kMaxRecordedArgBytes = 4096;
  absl::Status ParseRecorded(const std::vector<std::string>& args, T& options,
                             std::vector<std::string>* dropped) const {
    if (args.size() > kMaxRecordedArgs) {
      return absl::InvalidArgumentError(absl::StrCat(
          args.size(), " recorded arguments; at most ", kMaxRecordedArgs, " are accepted"));
    }
    std::vector<std::string> kept;
    for (const std::string& arg : args) {
      if (arg.find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("recorded argument ", option_internal::Quote(arg),
                         " holds a NUL byte (it would be cut there when run)"));
      }
      if (arg.size() > kMaxRecordedArgBytes) {
        return absl::InvalidArgumentError(
            absl::StrCat("recorded argument ", option_internal::Quote(arg), " is longer than ",
                         kMaxRecordedArgBytes, " bytes"));
      }
      if (!absl::StartsWith(arg, "--") || arg == "--") {
        return absl::InvalidArgumentError(absl::StrCat(
            "recorded argument ", option_internal::Quote(arg), " is not --name=value"));
      }
      absl::string_view body = arg;
      body.remove_prefix(2);
      absl::string_view name = body.substr(0, body.find('='));
      const Option* option = Find(name);
      if (option == nullptr && absl::StartsWith(name, "no")) option = Find(name.substr(2));
      if (option == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("recorded argument: unknown flag --", option_internal::Shorten(name)));
      }
      if (option->role != OptionRole::kWorkload) {
        if (dropped != nullptr) dropped->push_back(option_internal::Shorten(arg));
        continue;
      }
      if (!option->is_bool && body.find('=') == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("recorded argument --", option->name, " has no value"));
      }
      kept.push_back(arg);
    }
    absl::StatusOr<std::vector<std::string>> positional = Parse(kept, options);
    if (!positional.ok()) return positional.status();
    if (!positional->empty()) {
      return absl::InvalidArgumentError("recorded arguments hold a positional argument");
    }
    return absl::OkStatus();
  }

  // "--name=value" for every kWorkload option that is recorded for these options.
  std::vector<std::string> Render(const T& options) const {
    std::vector<std::string> args;
    for (const Option& option : options_) {
      if (option.role != OptionRole::kWorkload) continue;
      if (option.recorded != nullptr && !option.recorded(options)) continue;
      args.push_back(absl::StrCat("--", option.name, "=", option.format(options)));
    }
    return args;
  }

  // The flags section of `netrig help COMMAND`.
  std::string Help() const {
    const T defaults{};
    std::string out;
    for (const Option& option : options_) {
      absl::StrAppend(&out, "  --", option.name);
      if (!option.value_name.empty()) absl::StrAppend(&out, "=", option.value_name);
      std::vector<std::string> notes;
      if (!option.range.empty()) notes.push_back(option.range);
      const std::string fallback = option.format(defaults);
      notes.push_back(absl::StrCat("default: ", fallback.empty() ? "none" : fallback));
      for (const std::string& alias : option.aliases) notes.push_back("or --" + alias);
      absl::StrAppend(&out, "  (", absl::StrJoin(notes, "; "), ")\n");
      for (absl::string_view line : absl::StrSplit(option.help, '\n')) {
        absl::StrAppend(&out, "      ", line, "\n");
      }
    }
    return out;
  }

 private:
  template <typename Int>
  OptionTable& Integer(absl::string_view name, Int T::*field, Int min, Int max,
                       absl::string_view help, OptionRole role) {
    const std::string range = absl::StrCat(min, "-", max);
    return Add({std::string(name), {}, "N", range, std::string(help), role, false,
                [=, name = std::string(name)](absl::string_view text, T& options) {
                  Int value{};
                  if (!IsDecimal(text) || !absl::SimpleAtoi(text, &value) || value < min ||
                      value > max) {
                    return Invalid(name, text, absl::StrCat("an integer in [", range, "]"));
                  }
                  options.*field = value;
                  return absl::OkStatus();
                },
                [=](const T& options) { return absl::StrCat(options.*field); }, nullptr});
  }

  // Digits with an optional leading '-': no "+5", " 5", "0x10" or "1e3".
  static bool IsDecimal(absl::string_view text) {
    absl::ConsumePrefix(&text, "-");
    return !text.empty() &&
           std::all_of(text.begin(), text.end(),
                       [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
  }

  static std::string Expected(const Option& option) {
    std::string out = option.value_name.empty() ? "true|false" : option.value_name;
    if (!option.range.empty()) absl::StrAppend(&out, " in ", option.range);
    return out;
  }

  static absl::Status Invalid(absl::string_view name, absl::string_view text,
                              absl::string_view expected) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, "=",
                                                   option_internal::Quote(text), ": expected ",
                                                   expected));
  }

  std::vector<Option> options_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_OPTION_TABLE_H_
