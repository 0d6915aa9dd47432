#include "harness/base/leak_check.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "harness/base/sanitizers.h"

#if defined(NETRIG_ASAN)
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

namespace {
// The memfd a quiet check is writing LeakSanitizer's report into, -1 outside a check.
std::atomic<int> capture_fd{-1};
}  // namespace

// Called by netrig's sanitizer death callback (base/sanitizer_defaults.cc, weakly): a real error
// another thread hit during a quiet check went into the capture; print it before dying.
extern "C" void NetrigFlushLeakCheckCapture() {
  const int fd = capture_fd.exchange(-1);
  if (fd < 0) return;
  char buffer[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = pread(fd, buffer, sizeof(buffer), offset);
    if (n <= 0) break;
    offset += n;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = write(STDERR_FILENO, buffer + done, static_cast<size_t>(n - done));
      if (w <= 0) return;
      done += w;
    }
  }
}

namespace netrig {
namespace {

#if defined(NETRIG_ASAN)
// Where reports went before the capture: a path set by log_path or the API ("<path>.<pid>",
// which __sanitizer_set_report_path would suffix again), or stderr.
void RestoreReportDestination(const std::string& saved_path) {
  if (saved_path.empty()) {
    __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<uintptr_t>(STDERR_FILENO)));
    return;
  }
  std::string prefix = saved_path;
  const std::string pid_suffix = absl::StrCat(".", getpid());
  if (prefix.size() > pid_suffix.size() &&
      prefix.compare(prefix.size() - pid_suffix.size(), pid_suffix.size(), pid_suffix) == 0) {
    prefix.resize(prefix.size() - pid_suffix.size());
  }
  __sanitizer_set_report_path(prefix.c_str());
}
#endif

}  // namespace

bool LeakChecksAvailable() { return kBuiltWithAsan; }

QuietLeakCheck RunQuietLeakCheck() {
  QuietLeakCheck result;
#if defined(NETRIG_ASAN)
  const int fd = memfd_create("netrig-leak-check", MFD_CLOEXEC);
  if (fd < 0) return result;  // No capture possible: skip rather than print a suspicion.
  const char* current = __sanitizer_get_report_path();
  const std::string saved_path = current == nullptr ? "" : current;
  capture_fd.store(fd);
  __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<uintptr_t>(fd)));
  result.found = __lsan_do_recoverable_leak_check() != 0;
  RestoreReportDestination(saved_path);
  if (capture_fd.exchange(-1) < 0) return result;  // A death callback is printing it.
  char buffer[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = pread(fd, buffer, sizeof(buffer), offset);
    if (n <= 0) break;
    result.report.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  close(fd);
#endif
  return result;
}

bool RunLeakCheck() {
#if defined(NETRIG_ASAN)
  return __lsan_do_recoverable_leak_check() != 0;
#else
  return false;
#endif
}

void LeakCheckLog::CheckQuietly() {
  if (!LeakChecksAvailable()) return;
  ++mid_run_checks_;
  if (!RunQuietLeakCheck().found) return;
  if (suspected_++ == 0) first_suspected_after_ = absl::Now() - created_;
}

bool LeakCheckLog::Confirm() {
  if (!LeakChecksAvailable()) return false;
  confirm_ran_ = true;
  confirmed_ = RunLeakCheck();
  return confirmed_;
}

std::string LeakCheckLog::Describe() const {
  if (!LeakChecksAvailable()) return "not available (no ASan in this build)";
  std::string text =
      absl::StrFormat("%d mid-run check%s", mid_run_checks_, mid_run_checks_ == 1 ? "" : "s");
  if (suspected_ > 0) {
    absl::StrAppendFormat(
        &text, ", %d saw objects in flight as unreachable (first after %s)", suspected_,
        absl::FormatDuration(absl::Trunc(first_suspected_after_, absl::Milliseconds(100))));
  }
  if (!confirm_ran_) return absl::StrCat(text, "; no check after teardown");
  return absl::StrCat(
      text, confirmed_ ? "; leaks confirmed after teardown" : "; none leaked after teardown");
}

}  // namespace netrig
