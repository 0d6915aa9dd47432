// The driver core shared by every stress workload (`netrig udp`, `netrig http`): worker threads,
// open-loop pacing with intended start times (latency is measured from when an operation should
// have started, so a stalled client cannot hide its stall: no coordinated omission) or closed
// loop, duration and operation bounds, the one-line status each interval, and stopping on
// Ctrl-C or on the first violation.
//
// A workload implements Operate(); completions may arrive later on other threads and record
// their latency from `intended_start`.
//
// Example:
//   class Pinger : public netrig::Workload {
//     void Operate(int worker, uint64_t index, absl::Time intended_start) override {
//       client_.SendAsync([this, intended_start] { latency_.Record(netrig::Now() - intended_start);
//       });
//     }
//   };
//   netrig::ViolationLog violations(recipe);
//   Pinger pinger;
//   netrig::DriveResult result = netrig::Drive({.duration = absl::Seconds(5), .rate = 20000},
//                                              pinger, &violations);
#ifndef NETRIG_HARNESS_DRIVE_DRIVER_H_
#define NETRIG_HARNESS_DRIVE_DRIVER_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "harness/check/violation.h"
#include "harness/drive/run_series.h"
#include "harness/sched/clock.h"

namespace netrig {

struct DriveOptions {
  absl::Duration duration = absl::Seconds(10);
  int threads = 2;
  // Operations per second across all threads; 0 runs closed loop (as fast as possible).
  double rate = 0;
  // Stop after this many operations (0: only the duration bounds the run).
  uint64_t max_operations = 0;
  absl::Duration status_interval = absl::Seconds(1);
  FILE* status_out = stderr;  // nullptr: no status lines.
  bool stop_on_violation = false;
  // When set, the per-second series is recorded into it (run_series.h).
  RunSeries* series = nullptr;
};

class Workload {
 public:
  virtual ~Workload() = default;
  // Runs one operation on worker thread `worker` (0-based). `index` is global and unique.
  virtual void Operate(int worker, uint64_t index, absl::Time intended_start) = 0;
  virtual void WorkerStarted(int /*worker*/) {}
  virtual void WorkerFinished(int /*worker*/) {}
  // A short fragment for the status line, e.g. "delivered 1.2M dropped 31 waiting 0".
  virtual std::string StatusFragment() { return ""; }
  // For the per-second series (run_series.h), once a second from the driver's monitoring
  // thread: cumulative counters. `sample.started` holds the driver's count of started
  // operations; a workload whose unit differs (UDP: datagrams, not batches) replaces it.
  virtual void SampleSeries(SeriesSample& /*sample*/) {}
  // Band states now ({kBandPathDown, true}), every tick (20 ms) from the same thread: cheap.
  virtual void SampleBands(std::vector<std::pair<std::string, bool>>& /*states*/) {}
};

struct DriveResult {
  uint64_t operations = 0;  // Operations started.
  absl::Duration elapsed;
  // "duration", "max_operations", "violation" or "interrupted".
  std::string stop_reason;
  // Open loop only: operations that started more than 1 ms after their intended time.
  uint64_t late_starts = 0;
  // Open loop only: the operations the rate asked for by the end (rate x elapsed), to compare
  // with `operations`; 0 in closed loop.
  uint64_t intended_operations = 0;
};

// Runs `workload` until the duration passes (in open loop: until every start intended before the
// end has started, or a tenth of the duration (at most 1 s) after the end when the workers cannot
// keep up with the rate), max_operations are started, a violation is
// reported (with stop_on_violation), or RequestStop() is called. Returns when every worker has
// returned from its last Operate(); draining asynchronous completions is the workload's job.
DriveResult Drive(const DriveOptions& options, Workload& workload, ViolationLog* violations);

// Asks a running Drive() to stop (async-signal-safe: the netrig command calls it on SIGINT).
// Each call counts: the first stops traffic, a second asks the drain that follows to end at
// once (DrainCutRequested()).
void RequestStop();
// Clears previous stop requests (Drive() does it when it starts).
void ClearStopRequest();
bool StopRequested();
bool DrainCutRequested();

// "950", "12.3k", "4.56M".
std::string HumanCount(double value);

}  // namespace netrig

#endif  // NETRIG_HARNESS_DRIVE_DRIVER_H_
