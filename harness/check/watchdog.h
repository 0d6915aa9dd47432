// Watchdog: a thread that polls ledgers and turns every item past its deadline into a `stuck`
// violation naming the id, its scope, its last state and its age (each id reported once).
//
// With `hang_after`, it also watches the client's callbacks into the harness (each wrapped in a
// netrig::WatchedCallback, sched/thread_census.h): one that has not returned after `hang_after`
// is a `hang` (reported once per run): the client deadlocked in or under its callback, typically
// because it runs callbacks while holding a lock that a re-entrant call from the callback needs.
// The report lists every thread of the census, callback threads first, each with its name, its
// last schedule point and its symbolized stack, so it says where the threads are, not only which
// tasks are stuck.
//
// Example:
//   netrig::Watchdog watchdog({&tasks}, &violations, absl::Milliseconds(200), stderr,
//                             /*hang_after=*/absl::Seconds(3));
//   ... run ...
//   watchdog.Stop();  // also done by the destructor
#ifndef NETRIG_HARNESS_CHECK_WATCHDOG_H_
#define NETRIG_HARNESS_CHECK_WATCHDOG_H_

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "harness/base/mutex.h"
#include "harness/check/ledger.h"
#include "harness/check/violation.h"
#include "harness/sched/thread.h"

namespace netrig {

class Watchdog {
 public:
  // Polls every `period`. Stuck items and hangs are also printed to `log` (nullptr: silent).
  // `hang_after` zero: callbacks are not watched.
  Watchdog(std::vector<const Ledger*> ledgers, ViolationLog* violations, absl::Duration period,
           FILE* log = stderr, absl::Duration hang_after = absl::ZeroDuration());
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Runs one poll now (also used by tests and at the end of a run). Returns the number of newly
  // stuck items (a newly found hang counts as one).
  size_t CheckNow();
  void Stop();
  uint64_t stuck_reported() const;
  bool hang_reported() const { return hang_reported_.load(); }

 private:
  void Loop();
  // The hang check of CheckNow: true if it reported one now.
  bool CheckCallbacks();

  const std::vector<const Ledger*> ledgers_;
  ViolationLog* const violations_;
  const absl::Duration period_;
  FILE* const log_;
  const absl::Duration hang_after_;
  std::atomic<bool> hang_reported_{false};
  mutable Mutex mu_;
  CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // (ledger index, id) pairs already reported.
  absl::flat_hash_set<std::pair<size_t, uint64_t>> reported_ ABSL_GUARDED_BY(mu_);
  Thread thread_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_WATCHDOG_H_
