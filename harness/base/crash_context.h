// A one-line note ("replaying corpora/x/abc") that netrig executables print when they die from
// a sanitizer report or a fatal signal, so the failing input is always named.
//
// Example:
//   netrig::SetCrashContext(path.c_str());
//   RunOneInput(bytes);
//   netrig::SetCrashContext(nullptr);
//
// Defined in sanitizer_defaults.cc, which every netrig executable links.
#ifndef NETRIG_HARNESS_BASE_CRASH_CONTEXT_H_
#define NETRIG_HARNESS_BASE_CRASH_CONTEXT_H_

namespace netrig {

// `text` must stay valid until it is replaced; nullptr clears it.
void SetCrashContext(const char* text);
// Writes "netrig: crashed while <context>\n" to stderr if a context is set (async-signal-safe).
void PrintCrashContext();
// Installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT that print the context and
// re-raise. A no-op under ASan and TSan, which report these signals themselves and print the
// context from their death callback.
void InstallCrashContextSignalHandlers();

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_CRASH_CONTEXT_H_
