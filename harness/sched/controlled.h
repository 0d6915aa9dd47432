// Controlled scheduling: the threads netrig starts run one at a time, and a strategy (random,
// PCT, POS, or the replay of a recorded schedule) picks which one runs at every scheduling
// point. Every choice is recorded (thread and point), so a schedule is data: replayed strictly,
// checked for determinism, shrunk.
//
// What is a scheduling point: every SchedulePoint(name), netrig::Mutex lock (a shadow lock: the
// real mutex is then taken uncontended, so TSan and -Wthread-safety still see it), netrig::CondVar
// waits and their timeouts, netrig::Thread spawn, start, exit and join, harness sleeps, and the
// return of every blocking probe the harness makes (netrig::Poll). Only steps where two or more
// threads could run are choices; only choices are recorded.
//
// Blocking the scheduler does not know about never hangs a run: a watchdog hands the baton on when
// its holder has been blocked in the kernel for `blocked_handoff`, records the handoff (replay
// repeats it) and counts it as control leakage. Threads netrig did not start run free
// (uncontrolled).
//
// Time is virtual while a scheduler runs: netrig::Now() advances 50 us per scheduling step and
// jumps to the next deadline when every thread waits, so a 2 s drain costs no wall time.
//
// Sanitizers: the scheduler's own code is built without TSan instrumentation and every entry
// ignores synchronization and memory accesses (AnnotateIgnoreSync/Reads/WritesBegin), so the
// baton never creates a happens-before edge and its books are never reported: a race the
// schedule orders is still a race to TSan, and a correct program stays clean
// (tests/sched/controlled_tsan_test.cc and tests/sched/controlled_test.cc under the tsan preset).
//
// Example:
//   netrig::ControlledOptions options;
//   options.strategy = netrig::ScheduleStrategy::kPct;
//   options.seed = 42;
//   netrig::ControlledScheduler scheduler(options);
//   scheduler.Begin();                 // the calling thread holds the baton
//   netrig::Thread a("a", [] { ... }), b("b", [] { ... });
//   a.join();
//   b.join();
//   netrig::ScheduleTrace trace = scheduler.End();
//   // Later: options.strategy = kReplay; options.replay = trace.steps; -> the same interleaving.
#ifndef NETRIG_HARNESS_SCHED_CONTROLLED_H_
#define NETRIG_HARNESS_SCHED_CONTROLLED_H_

#include <poll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace netrig {

enum class ScheduleStrategy { kRandom, kPct, kPos, kReplay };

// "random", "pct", "pos", "replay".
absl::string_view ScheduleStrategyName(ScheduleStrategy strategy);

// One choice: the thread that ran (an index into ScheduleTrace::threads) and the point it had
// stopped at (an index into ScheduleTrace::points).
struct ScheduleStep {
  uint32_t thread = 0;
  uint32_t point = 0;
  bool operator==(const ScheduleStep&) const = default;
};

// Something that happened outside the strategy's choices, recorded so that replay repeats it.
struct ScheduleEvent {
  enum Kind { kWatchdogHandoff, kRejoin, kTimer, kDivergence, kDeadlock, kStepLimit };
  Kind kind = kTimer;
  uint64_t step = 0;    // The number of choices made before it.
  uint32_t thread = 0;  // Index into ScheduleTrace::threads.
  std::string detail;
};
absl::string_view ScheduleEventKindName(ScheduleEvent::Kind kind);

struct ScheduleTrace {
  ScheduleStrategy strategy = ScheduleStrategy::kRandom;
  uint64_t seed = 0;
  int pct_depth = 0;
  std::vector<uint64_t> change_points;  // PCT: the choice numbers where priorities changed.
  std::vector<std::string> threads;     // Stable ids ("t0", "t0.3"), in registration order.
  std::vector<std::string> points;      // Point names, in order of first use.
  std::vector<ScheduleStep> steps;      // One per choice.
  std::vector<ScheduleEvent> events;
  uint64_t max_enabled = 0;           // The largest number of threads that could run at once.
  uint64_t watchdog_handoffs = 0;     // Control leakage.
  uint64_t uncontrolled_enables = 0;  // Wake-ups that came from threads netrig does not control.
  bool diverged = false;              // Replay: the recorded schedule could not be followed.
  uint64_t divergence_step = 0;
  std::string divergence;  // "at step 640: expected t0.4@io.poll, enabled {...}".
  // FNV-1a over the steps and events: equal traces have equal hashes.
  uint64_t Hash() const;
};

struct ControlledOptions {
  ScheduleStrategy strategy = ScheduleStrategy::kRandom;
  uint64_t seed = 0;
  int pct_depth = 3;
  // PCT picks its d-1 change points in [1, k]; 0: 2000 (learn it from a first run's trace).
  uint64_t pct_k = 0;
  // kReplay: the steps to follow; after the last one (or a divergence) the strategy is random.
  std::vector<ScheduleStep> replay;
  std::vector<std::string> replay_threads;  // The trace's thread ids, to map indices.
  // Past this many choices the scheduler stops controlling (livelock guard), recorded.
  uint64_t step_limit = 1'000'000;
  // The baton holder blocked in the kernel this long (twice) is handed off.
  absl::Duration blocked_handoff = absl::Milliseconds(2);
  // Every controlled thread blocked, nothing timed, no wake-up from outside for this long (real
  // time): a deadlock, reported through `on_deadlock` and the trace, then control ends.
  absl::Duration deadlock_after = absl::Seconds(3);
  std::function<void(const std::string& description)> on_deadlock;
};

class ControlledScheduler {
 public:
  explicit ControlledScheduler(ControlledOptions options);
  ~ControlledScheduler();
  ControlledScheduler(const ControlledScheduler&) = delete;
  ControlledScheduler& operator=(const ControlledScheduler&) = delete;

  // Takes control: the calling thread becomes the first controlled thread and holds the baton.
  // Only one scheduler runs at a time in a process.
  void Begin();
  // Gives control up: every thread still controlled runs free again. Returns the trace.
  ScheduleTrace End();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Whether a controlled scheduler is running and the calling thread is one of its threads.
bool UnderControl();

// poll(2) as a scheduling point: under control, a non-blocking probe; when nothing is ready the
// caller waits (in harness time, up to `timeout_ms`; -1: no limit) while other threads run, and
// probes again after each of their steps. Without a scheduler it is poll(2).
int Poll(pollfd* fds, unsigned long count, int timeout_ms);

// The same for any wait that can be asked without blocking (epoll_wait with timeout 0,
// curl_multi_poll with timeout 0 and a look at a command queue): under control, calls `probe`
// until it returns non-zero, waiting between probes as Poll does, and returns its last result
// (0 at the timeout). Only for UnderControl() callers; others make their blocking call.
int ProbeUntil(const std::function<int()>& probe, int timeout_ms, absl::string_view point);

}  // namespace netrig

#endif  // NETRIG_HARNESS_SCHED_CONTROLLED_H_
