// NETRIG_NO_COVERAGE keeps one function out of libFuzzer's coverage feedback (SanitizerCoverage:
// edge counters and comparison tracing) while every sanitizer still checks it.
//
// For code whose branches say nothing about the input being explored: formatting an error
// message, a fuzz target's own property checks. Each instrumented edge there costs a feature
// lookup on every run and rewards the fuzzer for inputs that merely print differently.
//
// Example:
//   NETRIG_NO_COVERAGE absl::Status Error(size_t position, absl::string_view reason) const;
//
// The function is also never inlined: inlined into an instrumented caller, its code would be
// instrumented as the caller's. No effect outside clang.
#ifndef NETRIG_HARNESS_BASE_NO_COVERAGE_H_
#define NETRIG_HARNESS_BASE_NO_COVERAGE_H_

#if defined(__clang__)
#define NETRIG_NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NETRIG_NO_COVERAGE
#endif

#endif  // NETRIG_HARNESS_BASE_NO_COVERAGE_H_
