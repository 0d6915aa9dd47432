#include "harness/findings/stack_signature.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace netrig {
namespace {

struct HeaderMarker {
  absl::string_view marker;
  absl::string_view tool;
};

// The first line containing one of these starts the report. Order matters only within a line.
constexpr HeaderMarker kHeaders[] = {
    {"ERROR: AddressSanitizer: ", "asan"},
    {"ERROR: LeakSanitizer: ", "lsan"},
    {"WARNING: ThreadSanitizer: ", "tsan"},
    {"ERROR: ThreadSanitizer: ", "tsan"},
    {"WARNING: MemorySanitizer: ", "msan"},
    {"ERROR: MemorySanitizer: ", "msan"},
    {"ERROR: UndefinedBehaviorSanitizer: ", "ubsan"},
    {": runtime error: ", "ubsan"},
    {"ERROR: libFuzzer: ", "libfuzzer"},
};

// Frames that belong to the sanitizer runtime, libFuzzer, libc's abort path, the allocator or
// std::thread plumbing: they say nothing about which bug this is.
constexpr absl::string_view kSkippedPrefixes[] = {"__sanitizer",
                                                  "__asan",
                                                  "__ubsan",
                                                  "__tsan",
                                                  "__lsan",
                                                  "__msan",
                                                  "__interceptor_",
                                                  "___interceptor_",
                                                  "__interception::",
                                                  "fuzzer::",
                                                  "__pthread_kill",
                                                  "__GI_",
                                                  "__libc_",
                                                  "std::__invoke",
                                                  "std::__1::__invoke",
                                                  "std::thread::",
                                                  "std::__1::__thread",
                                                  "__restore_rt",
                                                  "__cxa_",
                                                  "__cxxabiv1::",
                                                  "__gnu_cxx::__verbose_terminate_handler",
                                                  "std::terminate",
                                                  "std::__terminate",
                                                  "__clang_call_terminate"};
constexpr absl::string_view kSkippedFunctions[] = {"raise",
                                                   "abort",
                                                   "gsignal",
                                                   "pthread_kill",
                                                   "__assert_fail",
                                                   "__assert_fail_base",
                                                   "__assert_perror_fail",
                                                   "malloc",
                                                   "calloc",
                                                   "realloc",
                                                   "free",
                                                   "valloc",
                                                   "memalign",
                                                   "posix_memalign",
                                                   "aligned_alloc",
                                                   "operator new",
                                                   "operator new[]",
                                                   "operator delete",
                                                   "operator delete[]",
                                                   "memcpy",
                                                   "memmove",
                                                   "memset",
                                                   "memcmp",
                                                   "bcmp",
                                                   "strlen",
                                                   "strnlen",
                                                   "strcmp",
                                                   "strncmp",
                                                   "strcpy",
                                                   "strncpy",
                                                   "pthread_create",
                                                   "pthread_mutex_lock",
                                                   "pthread_mutex_unlock"};
// Frames after which nothing is the code under test.
constexpr absl::string_view kLastFrames[] = {"LLVMFuzzerTestOneInput", "main"};
constexpr absl::string_view kEntryFrames[] = {"_start", "start_thread", "clone",
                                              "clone3", "__clone",      "__clone3"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "dir/file.cc:12:5" or "file.h:7" (with at least one '.' or '/' before the first colon).
bool LooksLikeSourceLocation(absl::string_view token) {
  const size_t colon = token.find(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  const absl::string_view path = token.substr(0, colon);
  if (path.find_first_of("./") == absl::string_view::npos) return false;
  absl::string_view rest = token.substr(colon + 1);
  if (rest.empty() || !IsDigit(rest.front())) return false;
  return std::all_of(rest.begin(), rest.end(), [](char c) { return IsDigit(c) || c == ':'; });
}

absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

// One "    #3 0x... in f(int) /x.cc:1:2" (ASan, UBSan, LSan) or "    #3 f(int) /x.cc:1:2 (m+0x1)"
// (TSan) line; returns the frame number too.
std::optional<std::pair<int, StackFrame>> ParseFrameLine(absl::string_view line) {
  absl::string_view s = absl::StripLeadingAsciiWhitespace(line);
  if (!absl::ConsumePrefix(&s, "#")) return std::nullopt;
  int number = 0;
  size_t digits = 0;
  while (digits < s.size() && IsDigit(s[digits])) {
    // A frame number is small; a line with more digits than a stack can have is not a frame
    // (and must not overflow: the netrig_inputs fuzzer found that).
    if (digits >= 6) return std::nullopt;
    number = number * 10 + (s[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits >= s.size() || s[digits] != ' ') return std::nullopt;
  s = absl::StripAsciiWhitespace(s.substr(digits));
  const size_t build_id = s.rfind(" (BuildId: ");
  if (build_id != absl::string_view::npos) s = absl::StripAsciiWhitespace(s.substr(0, build_id));

  StackFrame frame;
  if (absl::StartsWith(s, "0x")) {
    const size_t space = s.find(' ');
    s = space == absl::string_view::npos ? absl::string_view()
                                         : absl::StripAsciiWhitespace(s.substr(space));
    absl::ConsumePrefix(&s, "in ");
  }
  // A trailing "(module+0x1234)".
  if (absl::EndsWith(s, ")")) {
    size_t open = s.rfind(" (");
    if (open == absl::string_view::npos && absl::StartsWith(s, "(")) open = 0;
    if (open != absl::string_view::npos) {
      const absl::string_view inside =
          s.substr(open == 0 ? 1 : open + 2, s.size() - (open == 0 ? 1 : open + 2) - 1);
      if (absl::StrContains(inside, "+0x")) {
        frame.location = std::string(Basename(inside));
        s = absl::StripAsciiWhitespace(s.substr(0, open));
      }
    }
  }
  const size_t last_space = s.rfind(' ');
  if (last_space != absl::string_view::npos) {
    const absl::string_view last = s.substr(last_space + 1);
    if (last == "<null>" || LooksLikeSourceLocation(last)) {
      if (last != "<null>") frame.location = std::string(Basename(last));
      s = absl::StripAsciiWhitespace(s.substr(0, last_space));
    }
  }
  if (s != "<null>") frame.function = std::string(s);
  return std::make_pair(number, std::move(frame));
}

// Keeps the words of a report's kind that do not depend on the input: no numbers, addresses,
// quoted type names or parenthesised details.
std::string NormalizeKind(absl::string_view rest) {
  size_t cut = rest.size();
  for (absl::string_view separator :
       {" on ", " (", " after ", ": ", " of type", " for type", " at ", " in "}) {
    cut = std::min(cut, rest.find(separator));
  }
  std::vector<absl::string_view> kept;
  for (absl::string_view word : absl::StrSplit(rest.substr(0, cut), ' ', absl::SkipWhitespace())) {
    if (std::any_of(word.begin(), word.end(),
                    [](char c) { return IsDigit(c) || c == '\'' || c == '"'; })) {
      continue;
    }
    kept.push_back(word);
  }
  return absl::StrJoin(kept, " ");
}

std::string Slug(absl::string_view text) {
  std::string slug;
  for (char c : text) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      slug.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    } else if (!slug.empty() && slug.back() != '-') {
      slug.push_back('-');
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.size() > 40) slug.resize(40);
  return slug;
}

uint64_t Fnv1a64(absl::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

bool Skipped(const StackFrame& frame, absl::string_view function) {
  if (function.empty()) return true;
  if (absl::StrContains(frame.location, "compiler-rt") ||
      absl::StrContains(frame.location, "sanitizer_common")) {
    return true;
  }
  for (absl::string_view prefix : kSkippedPrefixes) {
    if (absl::StartsWith(function, prefix)) return true;
  }
  for (absl::string_view name : kSkippedFunctions) {
    if (function == name) return true;
  }
  return false;
}

std::vector<std::string> TopFrames(const std::vector<StackFrame>& stack, int top_frames) {
  std::vector<std::string> frames;
  for (const StackFrame& frame : stack) {
    if (static_cast<int>(frames.size()) >= top_frames) break;
    const std::string function = FunctionNameWithoutParameters(frame.function);
    if (std::find(std::begin(kEntryFrames), std::end(kEntryFrames), function) !=
        std::end(kEntryFrames)) {
      break;
    }
    if (Skipped(frame, function)) continue;
    frames.push_back(function);
    if (std::find(std::begin(kLastFrames), std::end(kLastFrames), function) !=
        std::end(kLastFrames)) {
      break;
    }
  }
  return frames;
}

}  // namespace

namespace {

// "void std::__invoke_impl<void, int>" -> "std::__invoke_impl<void, int>"; keeps
// "operator new[]" and "Foo::operator delete" whole.
std::string WithoutReturnType(absl::string_view name) {
  std::vector<absl::string_view> tokens;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '(' || c == '<' || c == '[') ++depth;
    if ((c == ')' || c == '>' || c == ']') && depth > 0) --depth;
    if (c == ' ' && depth == 0) {
      if (i > start) tokens.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < name.size()) tokens.push_back(name.substr(start));
  if (tokens.size() <= 1) return std::string(name);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (absl::StrContains(tokens[i], "operator")) {
      return std::string(name.substr(tokens[i].data() - name.data()));
    }
  }
  return std::string(tokens.back());
}

}  // namespace

std::string FunctionNameWithoutParameters(absl::string_view function) {
  absl::string_view f = absl::StripAsciiWhitespace(function);
  for (bool stripped = true; stripped;) {
    stripped = false;
    for (absl::string_view qualifier : {" const", " volatile", " &&", " &", " noexcept"}) {
      if (absl::ConsumeSuffix(&f, qualifier)) stripped = true;
    }
  }
  if (!absl::EndsWith(f, ")")) return WithoutReturnType(f);
  int depth = 0;
  for (size_t i = f.size(); i-- > 0;) {
    if (f[i] == ')') ++depth;
    if (f[i] == '(' && --depth == 0) {
      if (i == 0) return std::string(f);
      return WithoutReturnType(absl::StripTrailingAsciiWhitespace(f.substr(0, i)));
    }
  }
  return std::string(f);
}

SanitizerReport ParseSanitizerReport(absl::string_view text) {
  SanitizerReport report;
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  size_t first_stack_line = lines.size();
  for (size_t i = 0; i < lines.size() && !report.found(); ++i) {
    for (const HeaderMarker& header : kHeaders) {
      const size_t at = lines[i].find(header.marker);
      if (at == absl::string_view::npos) continue;
      report.tool = std::string(header.tool);
      report.header = std::string(absl::StripAsciiWhitespace(lines[i]));
      report.kind = NormalizeKind(lines[i].substr(at + header.marker.size()));
      if (header.marker == ": runtime error: ") {
        absl::string_view site = absl::StripAsciiWhitespace(lines[i].substr(0, at));
        // "dir/file.cc:7:54" -> "file.cc:7"
        site = Basename(site);
        const size_t second_colon = site.find(':', site.find(':') + 1);
        if (second_colon != absl::string_view::npos) site = site.substr(0, second_colon);
        report.ubsan_site = std::string(site);
      }
      first_stack_line = i + 1;
      break;
    }
  }
  for (size_t i = first_stack_line; i < lines.size(); ++i) {
    const absl::string_view line = absl::StripAsciiWhitespace(lines[i]);
    if (absl::StartsWith(line, "SUMMARY:")) break;
    auto frame = ParseFrameLine(line);
    if (!frame.has_value()) continue;
    if (frame->first == 0 || report.stacks.empty()) report.stacks.emplace_back();
    report.stacks.back().push_back(std::move(frame->second));
  }
  return report;
}

StackSignature ComputeStackSignature(const SanitizerReport& report, int top_frames) {
  StackSignature signature;
  std::vector<std::string> parts;
  if (!report.stacks.empty()) {
    std::string first = absl::StrJoin(TopFrames(report.stacks[0], top_frames), " | ");
    signature.frames = TopFrames(report.stacks[0], top_frames);
    if (report.tool == "tsan" && report.kind == "data race" && report.stacks.size() >= 2) {
      // The two accesses of a race come in either order.
      std::vector<std::string> second_frames = TopFrames(report.stacks[1], top_frames);
      std::string second = absl::StrJoin(second_frames, " | ");
      if (second < first) {
        std::swap(first, second);
        std::swap(signature.frames, second_frames);
      }
      signature.frames.push_back("~");
      signature.frames.insert(signature.frames.end(), second_frames.begin(), second_frames.end());
      first = absl::StrCat(first, " ~ ", second);
    }
    if (!first.empty()) parts.push_back(first);
  }
  if (parts.empty() && !report.ubsan_site.empty()) {
    parts.push_back(report.ubsan_site);
    signature.frames.push_back(report.ubsan_site);
  }
  if (parts.empty()) parts.push_back("<no symbolized frames>");
  const std::string head = report.found() ? absl::StrCat(report.tool, " ", report.kind) : "unknown";
  signature.text = absl::StrCat(head, " | ", absl::StrJoin(parts, " | "));
  signature.id = absl::StrFormat("%s-%016x", Slug(head), Fnv1a64(signature.text));
  return signature;
}

}  // namespace netrig
