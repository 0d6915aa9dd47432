// Leak checks during a run that cannot mistake a busy program for a leaking one.
//
// LeakSanitizer's recoverable check (__lsan_do_recoverable_leak_check) run while a client is busy
// reports objects that are only in flight: a result string on the fake stack of a task thread
// that is still running, the thread-exit destructor list of a thread that is exiting. LSan's own
// check at exit finds nothing then, so such a mid-run report is a false finding. netrig therefore
// runs mid-run checks quietly (the report goes to a scratch file, never to stderr where nightly
// triage would read it as a finding) and treats them as suspicions; only a check after the run's
// objects are gone (ConfirmLeaks, or LSan at exit) may report a leak.
//
// Example:
//   netrig::LeakCheckLog log;
//   log.CheckQuietly();                 // every --leak_check_interval, while tasks run
//   ...tear the client, sessions and server down...
//   if (log.Confirm()) violations.Report("leak", log.Describe());
//
// In builds without ASan every check finds nothing (LeakChecksAvailable() is false).
#ifndef NETRIG_HARNESS_BASE_LEAK_CHECK_H_
#define NETRIG_HARNESS_BASE_LEAK_CHECK_H_

#include <cstdint>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace netrig {

// True in ASan builds (with ASAN_OPTIONS=detect_leaks=0 every check then finds nothing).
bool LeakChecksAvailable();

struct QuietLeakCheck {
  bool found = false;  // The check saw unreachable objects.
  std::string report;  // LeakSanitizer's report, as it would have printed it.
};

// Runs a recoverable leak check with LeakSanitizer's output captured instead of printed. A
// sanitizer error that another thread hits during the check is still printed in full (the
// capture is copied to stderr before the process dies).
QuietLeakCheck RunQuietLeakCheck();

// Runs a recoverable leak check that prints LeakSanitizer's report to stderr as usual; true when
// it found leaks.
bool RunLeakCheck();

// The mid-run checks of one run and their confirmation. Thread-compatible: one monitor thread
// runs the checks, Confirm() runs after it stopped.
class LeakCheckLog {
 public:
  // A quiet mid-run check; a positive one is a suspicion, kept with its report.
  void CheckQuietly();
  // The check after the run's objects are gone (printed). True when it found leaks: then they
  // are leaks whatever the mid-run checks saw.
  bool Confirm();

  uint64_t mid_run_checks() const { return mid_run_checks_; }
  uint64_t suspected() const { return suspected_; }
  bool confirmed() const { return confirmed_; }
  // The first suspicion's time since the log was made (InfiniteDuration() if none).
  absl::Duration first_suspected_after() const { return first_suspected_after_; }
  // One line for the summary: "3 mid-run checks, 1 suspicion, not confirmed at the end ...".
  std::string Describe() const;

 private:
  absl::Time created_ = absl::Now();
  uint64_t mid_run_checks_ = 0;
  uint64_t suspected_ = 0;
  bool confirmed_ = false;
  bool confirm_ran_ = false;
  absl::Duration first_suspected_after_ = absl::InfiniteDuration();
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_BASE_LEAK_CHECK_H_
