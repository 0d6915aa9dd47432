// Every exit status a netrig binary gives, in one place: the netrig command's subcommands, the
// fuzzers and replay runners, and the sanitizer runtimes configured by sanitizer_defaults.cc.
// Scripts (scripts/nightly, CI) and `netrig replay` read them, so each means one thing:
//
//   0    clean: the run found nothing
//   1    a finding: an invariant or oracle violation (a finding file is written)
//   2    bad input or usage: nothing was run (or the run could not start)
//   3    inconclusive: the run ended but cannot vouch for the client, e.g. most operations failed
//        without an injected fault (an unreachable --target), so its "no violation" means little
//   81   AddressSanitizer report
//   82   UndefinedBehaviorSanitizer report
//   83   LeakSanitizer report
//   84   ThreadSanitizer report
//   128+N  interrupted by signal N before it finished, nothing found: 130 Ctrl-C (SIGINT), 143
//        SIGTERM, 129 SIGHUP (the shell's convention for a process ended by that signal)
//
// A finding wins over an interruption: a run stopped by Ctrl-C after a violation exits 1.
#ifndef NETRIG_HARNESS_BASE_EXIT_CODES_H_
#define NETRIG_HARNESS_BASE_EXIT_CODES_H_

#include <string>

namespace netrig {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFinding = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInconclusive = 3;
inline constexpr int kExitAsan = 81;
inline constexpr int kExitUbsan = 82;
inline constexpr int kExitLsan = 83;
inline constexpr int kExitTsan = 84;

inline constexpr bool IsSanitizerExit(int code) { return code >= kExitAsan && code <= kExitTsan; }

// The status of a run interrupted by `signal_number` (SIGINT: 130).
inline constexpr int InterruptedExit(int signal_number) { return 128 + signal_number; }
inline constexpr bool IsInterruptedExit(int code) { return code > 128 && code < 128 + 65; }

// What `code` means, from the table above: "ThreadSanitizer report", "interrupted by signal 2".
std::string ExitCodeMeaning(int code);

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_EXIT_CODES_H_
