// Sanitizer options compiled into every netrig executable, so that a bare `./binary` behaves the
// same as under CI: halt on the first error, full symbolized stacks (both stacks of a race),
// the suppressions file in sanitizers/ loaded, and an exit code that names the sanitizer:
//
//   81 ASan   82 UBSan   83 LSan   84 TSan
//
// Environment variables (ASAN_OPTIONS, ...) still override everything here.
#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "harness/base/crash_context.h"
#include "harness/base/sanitizers.h"

#ifndef NETRIG_SUPPRESSIONS_DIR
#define NETRIG_SUPPRESSIONS_DIR ""
#endif

// These run inside the sanitizer's own start-up, before shadow memory exists: they must not be
// instrumented at all.
#if defined(__clang__)
#define NETRIG_UNINSTRUMENTED __attribute__((disable_sanitizer_instrumentation))
#else
#define NETRIG_UNINSTRUMENTED
#endif

// Fuzz builds trade two ASan settings for speed; the asan preset keeps the strict ones.
// - Stack use-after-return detection costs a fake stack frame per call: worth it for lifecycle
//   bugs, too slow for fuzzing, where libFuzzer's and OSS-Fuzz's defaults leave it off.
// - The free quarantine shrinks from 256 MiB to 10 MiB: a fuzz input frees a few kilobytes, so
//   10 MiB still holds the frees of thousands of inputs, and recycling warm memory instead of a
//   cold 256 MiB ring lifted endpoint_parse by ~10 %.
#ifdef NETRIG_FUZZING_BUILD
#define NETRIG_ASAN_BUILD_OPTIONS "detect_stack_use_after_return=0:quarantine_size_mb=10:"
#else
#define NETRIG_ASAN_BUILD_OPTIONS "detect_stack_use_after_return=1:"
#endif

namespace {

// Appends `text` to the NUL-terminated `buffer` of `size` bytes. Called before the sanitizer
// runtime is initialized, so it may not call intercepted libc functions (snprintf, strlen, ...).
NETRIG_UNINSTRUMENTED void Append(char* buffer, size_t size, const char* text) {
  size_t used = 0;
  while (used < size && buffer[used] != '\0') ++used;
  while (used + 1 < size && *text != '\0') buffer[used++] = *text++;
  if (used < size) buffer[used] = '\0';
}

// Builds "<common>:suppressions=<dir>/<file>" when the file exists; a missing file would make
// the sanitizer abort at start-up (installed binaries run far from the source tree).
[[maybe_unused]] NETRIG_UNINSTRUMENTED const char* WithSuppressions(char* buffer, size_t size,
                                                                    const char* common,
                                                                    const char* file) {
  char path[512] = "";
  Append(path, sizeof(path), NETRIG_SUPPRESSIONS_DIR);
  Append(path, sizeof(path), "/");
  Append(path, sizeof(path), file);
  buffer[0] = '\0';
  Append(buffer, size, common);
  if (NETRIG_SUPPRESSIONS_DIR[0] != '\0' && syscall(SYS_faccessat, AT_FDCWD, path, R_OK, 0) == 0) {
    Append(buffer, size, ":suppressions=");
    Append(buffer, size, path);
  }
  return buffer;
}

}  // namespace

namespace netrig {
namespace {
std::atomic<const char*> crash_context{nullptr};

void WriteAll(const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

[[maybe_unused]] void OnFatalSignal(int signal_number) {
  PrintCrashContext();
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}
}  // namespace

void SetCrashContext(const char* text) { crash_context.store(text); }

void PrintCrashContext() {
  const char* text = crash_context.load();
  if (text == nullptr) return;
  WriteAll("netrig: crashed while ");
  WriteAll(text);
  WriteAll("\n");
}

void InstallCrashContextSignalHandlers() {
#if !defined(NETRIG_ASAN) && !defined(NETRIG_TSAN)
  for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    ::signal(signal_number, OnFatalSignal);
  }
#endif
}

}  // namespace netrig

extern "C" {

#ifdef NETRIG_ASAN
#include <sanitizer/asan_interface.h>

// base/leak_check.cc, when linked: prints what a quiet leak check captured (a real error another
// thread hit during it) before the process dies.
__attribute__((weak)) void NetrigFlushLeakCheckCapture();
// drive/stress_run.cc, when linked: a controlled run writes its schedule so far (a finding file
// with the exit code about to be used), so that a sanitizer finding can be replayed strictly.
__attribute__((weak)) void NetrigBeforeSanitizerExit(int exit_code);
// sched/controlled.cc, when linked: a controlled run keeps its trace as it stands when a report
// begins, before the report's own duration moves the schedule on.
__attribute__((weak)) void NetrigOnSanitizerReport();

// libFuzzer's death callback (it writes the crashing input as crash-<sha1>) and its flag "an
// input is running", weak references by their mangled names: null outside libFuzzer binaries.
// libFuzzer installs its callback in place of ours when its fuzzer starts, and the combined
// ASan+UBSan+LSan runtime then exits with the one shared exit code (LSan's 83, parsed last).
void NetrigLibFuzzerDeathCallback() __asm__("_ZN6fuzzer6Fuzzer19StaticDeathCallbackEv")
    __attribute__((weak));
extern bool netrig_libfuzzer_running_input __asm__("_ZN6fuzzer19RunningUserCallbackE")
    __attribute__((weak));

namespace {
volatile int ubsan_reported = 0;

// Die() runs death callbacks before exiting with the shared common exit code; this is the one
// place that can still tell which sanitizer called it.
void ExitWithSanitizerCode() {
  // libFuzzer's callback first, so the crashing input is still saved. It is only safe (and only
  // has an input to save) while libFuzzer runs one; a report from another thread between inputs
  // loses nothing.
  if (NetrigLibFuzzerDeathCallback != nullptr && &netrig_libfuzzer_running_input != nullptr &&
      *static_cast<volatile bool*>(&netrig_libfuzzer_running_input)) {
    NetrigLibFuzzerDeathCallback();
  }
  if (NetrigFlushLeakCheckCapture != nullptr) NetrigFlushLeakCheckCapture();
  netrig::PrintCrashContext();
  // A leak report at exit is the only other way Die() is reached here.
  const int code = ubsan_reported ? 82 : __asan_report_present() ? 81 : 83;
  if (NetrigBeforeSanitizerExit != nullptr) NetrigBeforeSanitizerExit(code);
  _exit(code);
}

__attribute__((constructor)) void InstallDeathCallback() {
  __sanitizer_set_death_callback(ExitWithSanitizerCode);
}
}  // namespace

// Both run when a report begins, before its Die(): ours is put back in case libFuzzer replaced
// it, and calls libFuzzer's. A leak report at exit keeps LSan's code (83) either way. A
// controlled run also keeps its trace as it stands now (the report's duration would move it on).
void __asan_on_error() {
  if (NetrigOnSanitizerReport != nullptr) NetrigOnSanitizerReport();
  __sanitizer_set_death_callback(ExitWithSanitizerCode);
}

void __ubsan_on_report() {
  ubsan_reported = 1;
  __sanitizer_set_death_callback(ExitWithSanitizerCode);
}

NETRIG_UNINSTRUMENTED const char* __asan_default_options() {
  static char buffer[1024];
  return WithSuppressions(
      buffer, sizeof(buffer),
      "halt_on_error=1:abort_on_error=0:exitcode=81:detect_leaks=1:" NETRIG_ASAN_BUILD_OPTIONS
      "strict_string_checks=1:"
      "check_initialization_order=1:symbolize=1:print_summary=1:"
      "handle_abort=1:allocator_may_return_null=1",
      "asan.supp");
}

NETRIG_UNINSTRUMENTED const char* __lsan_default_options() {
  static char buffer[1024];
  return WithSuppressions(buffer, sizeof(buffer), "exitcode=83:report_objects=1", "lsan.supp");
}

NETRIG_UNINSTRUMENTED const char* __ubsan_default_options() {
  static char buffer[1024];
  return WithSuppressions(buffer, sizeof(buffer),
                          "halt_on_error=1:print_stacktrace=1:symbolize=1:exitcode=82",
                          "ubsan.supp");
}
#endif  // NETRIG_ASAN

#ifdef NETRIG_TSAN
namespace {
__attribute__((constructor)) void InstallDeathCallback() {
  __sanitizer_set_death_callback(netrig::PrintCrashContext);
}
}  // namespace

NETRIG_UNINSTRUMENTED const char* __tsan_default_options() {
  static char buffer[1024];
  // second_deadlock_stack and history_size give both stacks of a race, fully.
  return WithSuppressions(buffer, sizeof(buffer),
                          "halt_on_error=1:exitcode=84:second_deadlock_stack=1:history_size=4:"
                          "symbolize=1:report_signal_unsafe=0",
                          "tsan.supp");
}
#endif  // NETRIG_TSAN

}  // extern "C"
