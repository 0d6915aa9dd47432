// Stack signatures: what makes two crashes "the same bug". A sanitizer or libFuzzer report is
// reduced to its tool, its kind of error and the top frames of its first stack (function names
// only, no addresses, no parameter lists, runtime and libFuzzer frames skipped), so the signature
// survives rebuilds, other inputs and other optimisation levels.
//
// Example:
//   netrig::SanitizerReport report = netrig::ParseSanitizerReport(stderr_text);
//   if (report.found()) {
//     netrig::StackSignature signature = netrig::ComputeStackSignature(report);
//     // signature.text: "asan heap-buffer-overflow | demo::Parser::Peek | Outer | main"
//     // signature.id:   "asan-heap-buffer-overflow-3f2a9c1d5e7b8a60" (a directory name)
//   }
#ifndef NETRIG_HARNESS_FINDINGS_STACK_SIGNATURE_H_
#define NETRIG_HARNESS_FINDINGS_STACK_SIGNATURE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace netrig {

struct StackFrame {
  std::string function;  // As symbolized, parameter list included; empty when unknown.
  std::string location;  // "file.cc:12:5", or the module ("libc.so.6+0x3c04f") when no file.
};

struct SanitizerReport {
  // "asan", "ubsan", "tsan", "lsan", "msan", "libfuzzer"; empty when the text holds no report.
  std::string tool;
  // Normalized kind, values removed: "heap-buffer-overflow", "signed integer overflow",
  // "data race", "deadly signal", "timeout", "out-of-memory", "detected memory leaks", ...
  std::string kind;
  std::string header;      // The line that starts the report.
  std::string ubsan_site;  // UBSan: "file.cc:7" of the runtime error (used when no stack).
  std::vector<std::vector<StackFrame>> stacks;  // Every stack after the header, in order.

  bool found() const { return !tool.empty(); }
};

struct StackSignature {
  std::string text;  // "tool kind | frame | frame | frame"
  std::string id;    // "tool-kind-<16 hex digits of a stable hash of text>", filename-safe.
  std::vector<std::string> frames;  // The frames that went into `text`.
};

// Parses the first report in `text` (libFuzzer output, a test log, ...).
SanitizerReport ParseSanitizerReport(absl::string_view text);

// `top_frames` frames of the first stack (of both access stacks, order-independent, for a TSan
// data race), after dropping sanitizer, libFuzzer, libc abort and allocator frames; stops after
// LLVMFuzzerTestOneInput or at main.
StackSignature ComputeStackSignature(const SanitizerReport& report, int top_frames = 3);

// "demo::Parser::Peek(char const*, int) const" -> "demo::Parser::Peek".
std::string FunctionNameWithoutParameters(absl::string_view function);

}  // namespace netrig

#endif  // NETRIG_HARNESS_FINDINGS_STACK_SIGNATURE_H_
