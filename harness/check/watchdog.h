// Watchdog: a thread that polls ledgers and turns every item past its deadline into a `stuck`
// violation naming the id, its scope, its last state and its age (each id reported once).
//
// Example:
//   netrig::Watchdog watchdog({&tasks}, &violations, absl::Milliseconds(200));
//   ... run ...
//   watchdog.Stop();  // also done by the destructor
#ifndef NETRIG_HARNESS_CHECK_WATCHDOG_H_
#define NETRIG_HARNESS_CHECK_WATCHDOG_H_

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
  // Polls every `period`. Stuck items are also printed to `log` (nullptr: silent).
  Watchdog(std::vector<const Ledger*> ledgers, ViolationLog* violations, absl::Duration period,
           FILE* log = stderr);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Runs one poll now (also used by tests and at the end of a run). Returns the number of newly
  // stuck items.
  size_t CheckNow();
  void Stop();
  uint64_t stuck_reported() const;

 private:
  void Loop();

  const std::vector<const Ledger*> ledgers_;
  ViolationLog* const violations_;
  const absl::Duration period_;
  FILE* const log_;
  mutable Mutex mu_;
  CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // (ledger index, id) pairs already reported.
  absl::flat_hash_set<std::pair<size_t, uint64_t>> reported_ ABSL_GUARDED_BY(mu_);
  Thread thread_;
};

}  // namespace netrig

#endif  // NETRIG_HARNESS_CHECK_WATCHDOG_H_
